// Command flowpg-bench measures flowpg's speed and memory beside baselines
// measured in the same run, for `make bench`, and prints one table.
//
// It starts a TLS PostgreSQL (internal/pgtest, Docker) and an in-process
// proxy that adds 20 ms in each direction (internal/faultproxy, 40 ms round
// trip), then measures:
//
//   - connstr.Parse beside pgconn.ParseConfig on the equivalent libpq DSN;
//   - a full check (preflight.Run, verify-full with the server's CA) beside
//     the cheapest proof that a login works: pgx.Connect, SELECT 1, Close,
//     with the same TLS settings, on loopback and at 40 ms RTT;
//   - the round trips of one check and of its tls stage, counted from the
//     flights a tracing proxy (40 ms RTT) sees, beside the floor the
//     protocol allows and beside psql (libpq) through the same proxy;
//   - a check with the sslmode audit beside a plain check;
//   - flowpg check --file with 200 targets at concurrency 50 on loopback,
//     and with 200 and 1000 at 40 ms RTT, each beside a batch of bare pgx
//     connects of the same size, concurrency and latency, with the CPU per
//     check of both, the client's and PostgreSQL's (its container's, as
//     the Docker engine counts it);
//   - the peak memory of the 1000-target batch beside the memory before it.
//
// Paired measurements alternate their two operations, so drift in the
// machine's load affects both alike, and report the median. Iteration
// counts and time are bounded; -quick runs fewer. The server and the proxy
// are closed on every exit path, an interrupt included.
//
// Usage:
//
//	go run ./cmd/flowpg-bench [-quick] [-o markdown|json]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/pgtest"
)

// oneWay is the latency the proxy adds in each direction; a round trip
// through it costs rtt.
const (
	oneWay = 20 * time.Millisecond
	rtt    = 2 * oneWay
)

func main() {
	// testcontainers' log would bury the table.
	tclog.SetDefault(tclog.NewNoopLogger())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// plan bounds each measurement: at most n iterations (pairs, for paired
// measurements) and, after the first, at most d of wall-clock time.
type plan struct {
	parseTime                 time.Duration // testing.Benchmark's benchtime
	loopN, latencyN, auditN   int
	loopD, latencyD, auditD   time.Duration
	batch200Runs, batch1kRuns int
	countRuns                 int // checks and psql runs counted at the tracing proxy
}

var (
	fullPlan = plan{
		parseTime: time.Second,
		loopN:     40, loopD: 25 * time.Second,
		latencyN: 15, latencyD: 30 * time.Second,
		auditN: 20, auditD: 25 * time.Second,
		batch200Runs: 5, batch1kRuns: 2,
		countRuns: 3,
	}
	quickPlan = plan{
		parseTime: 200 * time.Millisecond,
		loopN:     10, loopD: 8 * time.Second,
		latencyN: 5, latencyD: 10 * time.Second,
		auditN: 5, auditD: 8 * time.Second,
		batch200Runs: 1, batch1kRuns: 1,
		countRuns: 2,
	}
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flowpg-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "fewer iterations: a rough table in about a minute")
	output := fs.String("o", "markdown", "output format: markdown or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *output != "markdown" && *output != "json" {
		fmt.Fprintf(stderr, "flowpg-bench: -o must be markdown or json, not %q\n", *output)
		return 2
	}
	p := fullPlan
	if *quick {
		p = quickPlan
	}
	// testing.Benchmark reads its benchtime from the testing flags.
	testing.Init()
	if err := flag.Set("test.benchtime", p.parseTime.String()); err != nil {
		fmt.Fprintf(stderr, "flowpg-bench: %v\n", err)
		return 1
	}

	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	res := result{Machine: machineInfo(), Quick: *quick, Command: "go run ./cmd/flowpg-bench " + joinArgs(args)}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "flowpg-bench: "+format+"\n", a...) }

	rows, err := measureParse(p, logf)
	res.Rows = rows
	if err != nil {
		logf("%v", err)
		return 1
	}

	logf("starting PostgreSQL with TLS (pgtest)")
	srv, err := pgtest.Start(ctx, pgtest.Options{TLS: pgtest.TLSOn})
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer func() {
		if err := srv.Close(context.WithoutCancel(ctx)); err != nil {
			logf("cleanup: %v", err)
		}
	}()
	res.Machine.PostgreSQL = srv.Version
	proxy, err := faultproxy.New(net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)), faultproxy.Options{Latency: oneWay})
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer proxy.Close()
	// A second proxy with the same latency records the flights of the
	// operations whose round trips are counted; the batches would only
	// fill its trace.
	counter, err := faultproxy.New(net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)), faultproxy.Options{Latency: oneWay, Trace: true})
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer counter.Close()

	local := newTarget(srv.Host, srv.Port, srv.CAFile)
	slow := proxied(proxy, srv.CAFile)
	counted := proxied(counter, srv.CAFile)

	serverCPU := func() (time.Duration, error) { return srv.CPUTime(ctx) }
	rows, err = measure(ctx, p, local, slow, counted, counter, serverCPU, logf)
	res.Rows = append(res.Rows, rows...)
	res.Machine.LoadAvgEnd = loadAvg()
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			logf("interrupted")
		} else {
			logf("%v", err)
		}
		return 1
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			logf("%v", err)
			return 1
		}
		return 0
	}
	writeMarkdown(stdout, res)
	return 0
}

// proxied is the target through px.
func proxied(px *faultproxy.Proxy, caFile string) target {
	h, p, _ := net.SplitHostPort(px.Addr)
	port, _ := strconv.Atoi(p)
	return newTarget(h, port, caFile)
}

func joinArgs(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}
