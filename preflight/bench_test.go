package preflight_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/preflight"
)

// Benchmarks compare a full check with the cheapest thing that proves a
// login works: pgx.Connect + SELECT 1 + Close, over TLS (sslmode=require in
// both). They skip without Docker. Targets (from the brief):
//   - check/bare ≤ 1.3 on loopback;
//   - with 20 ms latency each way, check ≤ bare + 1 round trip;
//   - audit ≤ 1.5 × one check on loopback, ≤ 1.1 × with latency;
//   - 200 targets at concurrency 50 with latency ≤ 1.15 × the same batch of
//     bare connects.

// oneWay is the latency injected each way; a round trip costs 2×oneWay.
const oneWay = 20 * time.Millisecond

type benchTarget struct {
	dsn  string       // for pgx.Connect
	conn connstr.Conn // for preflight.Run
}

func benchServer(b *testing.B, latency time.Duration) benchTarget {
	b.Helper()
	s := pgtest.StartT(b, pgtest.Options{TLS: pgtest.TLSOn})
	host, port := s.Host, s.Port
	if latency > 0 {
		p, err := faultproxy.New(net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), faultproxy.Options{Latency: latency})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		h, ps, _ := net.SplitHostPort(p.Addr)
		host = h
		port, _ = strconv.Atoi(ps)
	}
	c := connstr.Conn{Server: host, Port: port, Database: pgtest.Database, User: pgtest.ScramUser, Password: pgtest.ScramPassword}
	c.SetSSLMode(connstr.SSLRequire)
	dsn := fmt.Sprintf("host=%s port=%d dbname=%s user=%s password=%s sslmode=require sslrootcert='' connect_timeout=30",
		host, port, pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword)
	return benchTarget{dsn: dsn, conn: c}
}

func bare(b *testing.B, t benchTarget) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, t.dsn)
	if err != nil {
		b.Fatal(err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		b.Fatal(err)
	}
	if err := conn.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

func check(b *testing.B, t benchTarget, opts preflight.Options) {
	opts.Timeout = 30 * time.Second
	rep := preflight.Run(context.Background(), t.conn, guarded(b, opts))
	if rep.Verdict == preflight.Fail {
		b.Fatalf("check failed: %s: %s", rep.Failed().ID, rep.Failed().Message)
	}
}

// timeEach alternates the functions, so drift affects both alike, and
// returns the mean duration of each.
func timeEach(b *testing.B, fns ...func()) []time.Duration {
	sums := make([]time.Duration, len(fns))
	n := 0
	for b.Loop() {
		for i, f := range fns {
			start := time.Now()
			f()
			sums[i] += time.Since(start)
		}
		n++
	}
	for i := range sums {
		sums[i] /= time.Duration(n)
	}
	return sums
}

func BenchmarkBareConnect(b *testing.B) {
	t := benchServer(b, 0)
	for b.Loop() {
		bare(b, t)
	}
}

func BenchmarkCheck(b *testing.B) {
	t := benchServer(b, 0)
	for b.Loop() {
		check(b, t, preflight.Options{})
	}
}

// BenchmarkCheckVsBare reports check/bare on loopback (target ≤ 1.3).
func BenchmarkCheckVsBare(b *testing.B) {
	t := benchServer(b, 0)
	d := timeEach(b, func() { bare(b, t) }, func() { check(b, t, preflight.Options{}) })
	b.ReportMetric(float64(d[0].Microseconds())/1000, "bare-ms")
	b.ReportMetric(float64(d[1].Microseconds())/1000, "check-ms")
	b.ReportMetric(float64(d[1])/float64(d[0]), "check/bare")
}

// BenchmarkLatency20ms runs both through a proxy adding 20 ms each way and
// reports each in round trips (ns ÷ 40 ms); target: check ≤ bare + 1.
func BenchmarkLatency20ms(b *testing.B) {
	t := benchServer(b, oneWay)
	d := timeEach(b, func() { bare(b, t) }, func() { check(b, t, preflight.Options{}) })
	rtt := float64(2 * oneWay)
	b.ReportMetric(float64(d[0])/rtt, "bare-RTTs")
	b.ReportMetric(float64(d[1])/rtt, "check-RTTs")
	b.ReportMetric(float64(d[1]-d[0])/rtt, "extra-RTTs")
}

// BenchmarkAudit reports audit/check with 20 ms latency each way (target
// ≤ 1.1): the audit's one extra dial here (plaintext; the TLS modes are
// derived from the check's handshake) runs in parallel with the check.
func BenchmarkAudit(b *testing.B) {
	t := benchServer(b, oneWay)
	d := timeEach(b, func() { check(b, t, preflight.Options{}) }, func() { check(b, t, preflight.Options{Audit: true}) })
	b.ReportMetric(float64(d[1].Microseconds())/1000, "audit-ms")
	b.ReportMetric(float64(d[1])/float64(d[0]), "audit/check")
}

// BenchmarkBatch200 checks 200 targets at concurrency 50 with 20 ms latency
// each way, as flowpg check --file does, beside the same batch of bare
// connects: on a small machine the CPU (the client's and the server's), not
// the network, bounds a batch, and the bare batch is what the machine
// allows any client. It reports batch/bare (target ≤ 1.15), the batch's
// time over 4 × one check (200/50 = 4 waves, if latency alone bounded it),
// and the client CPU per check of both (this process's, which includes
// the latency proxy's).
func BenchmarkBatch200(b *testing.B) {
	t := benchServer(b, oneWay)
	const targets, concurrency = 200, 50
	var cpu [3]time.Duration
	batch := func(i int, one func()) func() {
		return func() {
			c0 := processCPU()
			defer func() { cpu[i] += processCPU() - c0 }()
			sem := make(chan struct{}, concurrency)
			var wg sync.WaitGroup
			for range targets {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					one()
				}()
			}
			wg.Wait()
		}
	}
	one := func() { check(b, t, preflight.Options{}) }
	n := 0
	d := timeEach(b, func() { n++; one() }, batch(1, one), batch(2, func() { bare(b, t) }))
	b.ReportMetric(float64(d[1].Microseconds())/1000, "batch-ms")
	b.ReportMetric(float64(d[2].Microseconds())/1000, "bare-batch-ms")
	b.ReportMetric(float64(d[1])/float64(d[2]), "batch/bare")
	b.ReportMetric(float64(d[1])/float64(4*d[0]), "batch/(4×check)")
	b.ReportMetric(float64(cpu[1])/float64(n*targets)/1e6, "cpu-ms/check")
	b.ReportMetric(float64(cpu[2])/float64(n*targets)/1e6, "bare-cpu-ms/connect")
}
