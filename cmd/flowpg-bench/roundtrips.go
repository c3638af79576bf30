package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/preflight"
)

// floor is the fewest round trips a check can take, from the protocol: the
// TCP handshake, the SSLRequest, one TLS 1.3 handshake, SCRAM-SHA-256's
// three (startup, client-first, client-final), and the pipelined queries.
const (
	floorTLS   = 1 + 1 // SSLRequest, TLS 1.3 handshake
	floorCheck = 1 + floorTLS + 3 + 1
)

// sslRequestBytes is PostgreSQL's 8-byte SSLRequest.
var sslRequestBytes = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// wireCount is what the proxy saw of one operation: its round trips,
// counted from the flights rather than from a clock.
type wireCount struct {
	conns int
	// total is every round trip: per connection, one for the TCP handshake
	// (the proxy's own is on loopback, so the clock cannot see it) plus
	// the server flights the client answered.
	total int
	// tls is the SSLRequest plus the client's TLS handshake flights: the
	// tls stage's share of total.
	tls          int
	clientHellos int
	wall         time.Duration
}

// count reads the flights of every connection the operation made.
func count(conns [][]faultproxy.Flight, wall time.Duration) (wireCount, error) {
	c := wireCount{conns: len(conns), wall: wall}
	if len(conns) == 0 {
		return c, errors.New("the proxy saw no connection")
	}
	for _, fs := range conns {
		c.total += 1 + faultproxy.Turns(fs)
		if len(fs) > 1 && fs[0].FromClient && bytes.Equal(fs[0].Head, sslRequestBytes) && !fs[1].FromClient && bytes.HasPrefix(fs[1].Head, []byte{'S'}) {
			c.tls++
		}
		for _, f := range fs {
			if !f.FromClient {
				continue
			}
			hs, ch := f.TLSHandshake()
			if hs {
				c.tls++
			}
			if ch {
				c.clientHellos++
			}
		}
	}
	return c, nil
}

// settled waits until the client side of every connection through px has
// closed, so that the flights are complete, and returns them.
func settled(ctx context.Context, px *faultproxy.Proxy) [][]faultproxy.Flight {
	deadline := time.Now().Add(5 * time.Second)
	for {
		fs := px.Flights()
		done := len(fs) > 0
		for _, c := range fs {
			if !slices.ContainsFunc(c, func(f faultproxy.Flight) bool { return f.FromClient && f.Closed }) {
				done = false
			}
		}
		if done || time.Now().After(deadline) || ctx.Err() != nil {
			return fs
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// breakdown words a count: "7: TCP 1, SSLRequest and TLS 2, login and queries 4".
func (c wireCount) breakdown() string {
	s := fmt.Sprintf("%d: TCP %d, SSLRequest and TLS %d, login and queries %d", c.total, c.conns, c.tls, c.total-c.conns-c.tls)
	if c.conns > 1 {
		s += fmt.Sprintf(", over %d connections", c.conns)
	}
	return s
}

// hellos words the ClientHellos of a count.
func (c wireCount) hellos() string {
	switch c.clientHellos {
	case 1:
		return "1 ClientHello, no HelloRetryRequest"
	case 2:
		return "2 ClientHellos: a HelloRetryRequest"
	}
	return fmt.Sprintf("%d ClientHellos", c.clientHellos)
}

// countedCheck runs one check through px and counts it.
func countedCheck(ctx context.Context, t target, px *faultproxy.Proxy) (wireCount, *preflight.Report, error) {
	p, err := connstr.Parse(t.conn)
	if err != nil {
		return wireCount{}, nil, err
	}
	roots, err := t.roots()
	if err != nil {
		return wireCount{}, nil, err
	}
	px.ResetFlights()
	start := time.Now()
	rep := preflight.Run(ctx, p.Conn, preflight.Options{Timeout: opTimeout, RootCAs: roots, InputWarnings: p.Warnings})
	wall := time.Since(start)
	if f := rep.Failed(); f != nil {
		return wireCount{}, rep, fmt.Errorf("check failed at %s: %s", f.ID, f.Message)
	}
	c, err := count(settled(ctx, px), wall)
	return c, rep, err
}

// psqlPath finds psql, the libpq baseline; "" when it is not installed.
func psqlPath() string {
	p, err := exec.LookPath("psql")
	if err != nil {
		return ""
	}
	return p
}

// countedPsql runs psql -c 'SELECT 1' through px, with the check's TLS
// settings (verify-full against the same CA), and counts it. The password
// travels in the environment, never on the command line.
func countedPsql(ctx context.Context, psql string, t target, px *faultproxy.Proxy) (wireCount, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	dsn := fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=verify-full sslrootcert=%s connect_timeout=60",
		t.host, t.port, pgtest.Database, pgtest.ScramUser, t.caFile)
	cmd := exec.CommandContext(ctx, psql, "-X", "-A", "-t", "-q", "-c", "SELECT 1", dsn)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+pgtest.ScramPassword)
	px.ResetFlights()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		return wireCount{}, fmt.Errorf("psql: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if strings.TrimSpace(string(out)) != "1" {
		return wireCount{}, fmt.Errorf("psql printed %q, not 1", out)
	}
	return count(settled(ctx, px), wall)
}

// psqlVersion is psql's own --version line, for the row's label.
func psqlVersion(ctx context.Context, psql string) string {
	out, err := exec.CommandContext(ctx, psql, "--version").Output()
	if err != nil {
		return "psql"
	}
	return strings.TrimSpace(string(out))
}

// measureRoundTrips counts the round trips of one check, of its tls stage,
// and of psql against the same server through the same tracing proxy
// (40 ms RTT). Counts do not drift with the machine's load, but every run
// is shown: they must agree.
func measureRoundTrips(ctx context.Context, runs int, t target, px *faultproxy.Proxy, logf func(string, ...any)) ([]row, error) {
	var checks []wireCount
	var rep *preflight.Report
	for range runs {
		c, r, err := countedCheck(ctx, t, px)
		if err != nil {
			return nil, err
		}
		checks, rep = append(checks, c), r
	}
	chk, agree := modal(checks)
	var rows []row
	note := ""
	if !agree {
		note = fmt.Sprintf("; runs disagree: %s", totals(checks))
	}
	extra := chk.total - floorCheck
	rows = append(rows, row{
		Measurement: "round trips of one check at 40 ms RTT, counted at the proxy", Unit: "RTT", N: len(checks),
		Value: float64(chk.total), Figure: fmt.Sprintf("%s (clock: %.2f RTT, %s, without the loopback TCP handshake)%s", chk.breakdown(), rtts(chk.wall), fmtMS(chk.wall), note),
		Baseline: "floor from the protocol: TCP, SSLRequest, TLS 1.3, SCRAM × 3, pipelined queries", BaselineValue: floorCheck,
		BaselineFigure: fmt.Sprintf("%d: 1 + 1 + 1 + 3 + 1", floorCheck),
		Ratio:          fmt.Sprintf("%+d RTT", extra), Target: "= floor", Met: met(extra == 0),
	})
	tlsExtra := chk.tls - floorTLS
	rows = append(rows, row{
		Measurement: "its tls stage (SSLRequest and handshake), counted", Unit: "RTT", N: len(checks),
		Value: float64(chk.tls), Figure: fmt.Sprintf("%d: %s%s (stage time %s)", chk.tls, chk.hellos(), tlsReported(rep), fmtMS(rep.Check(preflight.StageTLS).Duration)),
		Baseline: "floor: SSLRequest, one TLS 1.3 flight", BaselineValue: floorTLS, BaselineFigure: fmt.Sprintf("%d", floorTLS),
		Ratio: fmt.Sprintf("%+d RTT", tlsExtra), Target: "= floor", Met: met(tlsExtra == 0),
	})

	psql := psqlPath()
	if psql == "" {
		logf("psql is not installed: its row is left out")
		return rows, nil
	}
	label := psqlVersion(ctx, psql)
	var ps []wireCount
	for range runs {
		c, err := countedPsql(ctx, psql, t, px)
		if err != nil {
			return rows, err
		}
		ps = append(ps, c)
	}
	lib, libAgree := modal(ps)
	note = ""
	if !libAgree {
		note = fmt.Sprintf("; runs disagree: %s", totals(ps))
	}
	fewer := lib.total - chk.total
	rows = append(rows, row{
		Measurement: "round trips of one check, counted (as above)", Unit: "RTT", N: len(checks),
		Value: float64(chk.total), Figure: fmt.Sprintf("%d (tls stage %d)", chk.total, chk.tls),
		Baseline: label + " -c 'SELECT 1' (libpq), verify-full, same server and proxy, counted", BaselineValue: float64(lib.total),
		BaselineFigure: fmt.Sprintf("%s; %s%s", lib.breakdown(), lib.hellos(), note),
		Ratio:          fmt.Sprintf("%+d RTT", -fewer), Target: "fewer than psql", Met: met(fewer > 0),
	})
	return rows, nil
}

// tlsReported is what the check's own report says of its handshake, for
// the tls row; empty where the report does not say.
func tlsReported(rep *preflight.Report) string {
	if rep == nil {
		return ""
	}
	return "; report: " + rep.Check(preflight.StageTLS).Message
}

// modal returns the most frequent count, with the median wall time of all
// runs, and whether all runs agree.
func modal(cs []wireCount) (wireCount, bool) {
	best, bestN := cs[0], 0
	for _, c := range cs {
		n := 0
		for _, d := range cs {
			if d.total == c.total && d.tls == c.tls {
				n++
			}
		}
		if n > bestN {
			best, bestN = c, n
		}
	}
	walls := make([]time.Duration, len(cs))
	for i, c := range cs {
		walls[i] = c.wall
	}
	best.wall = median(walls)
	return best, bestN == len(cs)
}

func totals(cs []wireCount) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = fmt.Sprintf("%d/%d", c.total, c.tls)
	}
	return strings.Join(s, ", ")
}
