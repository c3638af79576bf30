package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/cli"
	"github.com/flowpg/flowpg/internal/faultproxy"
)

// typical is the connection string of the parse row, as a user pastes it
// from AEP's UI.
const typical = "Server=db.example.com;Database=sales;Port=5432;UID=aep_reader;Password=s3cret!;EncryptionMethod=1;ValidateServerCertificate=1"

// Batch shape: the brief's 200 and 1000 targets at concurrency 50, below
// PostgreSQL's default max_connections of 100.
const concurrency = 50

// measureParse is row 1. It runs before the server starts, so that
// starting a container does not load the machine while it runs.
func measureParse(p plan, logf func(string, ...any)) ([]row, error) {
	var rows []row
	logf("1/6 connstr.Parse vs pgconn.ParseConfig (testing.Benchmark, %s each)", p.parseTime)
	parsed, err := connstr.Parse(typical)
	if err != nil {
		return nil, err
	}
	dsn, _ := parsed.Conn.LibPQ() // the equivalent libpq DSN, by flowpg's own conversion
	ours := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := connstr.Parse(typical); err != nil {
				b.Fatal(err)
			}
		}
	})
	theirs := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pgconn.ParseConfig(dsn); err != nil {
				b.Fatal(err)
			}
		}
	})
	if ours.N == 0 || theirs.N == 0 {
		return nil, fmt.Errorf("parse benchmark failed")
	}
	nsOurs, nsTheirs := nsPerOp(ours), nsPerOp(theirs)
	speed := nsOurs / nsTheirs
	rows = append(rows,
		row{
			Measurement: "connstr.Parse, typical DataDirect string", Unit: "ns/op", N: ours.N,
			Value: nsOurs, Figure: fmt.Sprintf("%.0f ns/op", nsOurs),
			Baseline: "pgconn.ParseConfig, same settings as libpq DSN", BaselineValue: nsTheirs, BaselineFigure: fmt.Sprintf("%.0f ns/op", nsTheirs),
			Ratio: fmt.Sprintf("%.3f (%.1f× faster)", speed, 1/speed), Target: "≥ 10× faster and < 1 µs",
			Met: met(speed <= 0.1 && nsOurs < 1000),
		},
		row{
			Measurement: "connstr.Parse allocations", Unit: "allocs/op", N: ours.N,
			Value: float64(ours.AllocsPerOp()), Figure: fmt.Sprintf("%d allocs/op (%d B/op)", ours.AllocsPerOp(), ours.AllocedBytesPerOp()),
			Baseline: "pgconn.ParseConfig", BaselineValue: float64(theirs.AllocsPerOp()), BaselineFigure: fmt.Sprintf("%d allocs/op (%d B/op)", theirs.AllocsPerOp(), theirs.AllocedBytesPerOp()),
			Ratio: ratio(float64(ours.AllocsPerOp()), float64(theirs.AllocsPerOp())), Target: "≤ 4 allocs",
			Met: met(ours.AllocsPerOp() <= 4),
		})
	return rows, nil
}

// measure runs rows 2 to 6 against the server, directly (local) and
// through the latency proxy (slow).
// serverCPU, when it can, reads the CPU time PostgreSQL has used so far.
func measure(ctx context.Context, p plan, local, slow, counted target, counter *faultproxy.Proxy, serverCPU func() (time.Duration, error), logf func(string, ...any)) ([]row, error) {
	var rows []row

	// Fail early, with the reason, when the setup is wrong.
	for _, t := range []target{local, slow} {
		if err := check(ctx, t, false); err != nil {
			return nil, fmt.Errorf("sanity check: %w", err)
		}
		if err := bare(ctx, t); err != nil {
			return nil, fmt.Errorf("sanity bare connect: %w", err)
		}
	}

	// 2. Check vs bare connect on loopback.
	logf("2/6 check vs bare pgx connect, loopback (≤ %d pairs, ≤ %s)", p.loopN, p.loopD)
	chk, brk, n, err := pair(ctx, p.loopN, p.loopD,
		func() error { return check(ctx, local, false) },
		func() error { return bare(ctx, local) })
	if err != nil {
		return rows, err
	}
	r := float64(chk) / float64(brk)
	rows = append(rows, row{
		Measurement: "check, TLS verify-full, loopback", Unit: "ms/op", N: n,
		Value: ms(chk), Figure: fmtMS(chk),
		Baseline: "pgx.Connect + SELECT 1 + Close, same TLS", BaselineValue: ms(brk), BaselineFigure: fmtMS(brk),
		Ratio: fmt.Sprintf("%.3f", r), Target: "≤ 1.3", Met: met(r <= 1.3),
	})

	// 3. The same at 40 ms RTT, in round trips.
	logf("3/6 check vs bare pgx connect, %s RTT (≤ %d pairs, ≤ %s)", rtt, p.latencyN, p.latencyD)
	chkSlow, brkSlow, n, err := pair(ctx, p.latencyN, p.latencyD,
		func() error { return check(ctx, slow, false) },
		func() error { return bare(ctx, slow) })
	if err != nil {
		return rows, err
	}
	extra := rtts(chkSlow) - rtts(brkSlow)
	rows = append(rows, row{
		Measurement: "check at 40 ms RTT, in round trips", Unit: "RTT", N: n,
		Value: rtts(chkSlow), Figure: fmt.Sprintf("%.2f RTT (%s)", rtts(chkSlow), fmtMS(chkSlow)),
		Baseline: "bare pgx connect at 40 ms RTT", BaselineValue: rtts(brkSlow), BaselineFigure: fmt.Sprintf("%.2f RTT (%s)", rtts(brkSlow), fmtMS(brkSlow)),
		Ratio: fmt.Sprintf("%.3f (%+.2f RTT)", float64(chkSlow)/float64(brkSlow), extra), Target: "≤ bare + 1 RTT", Met: met(extra <= 1),
	})

	logf("3/6 round trips of a check and of psql, counted at the proxy (%d runs each)", p.countRuns)
	counts, err := measureRoundTrips(ctx, p.countRuns, counted, counter, logf)
	rows = append(rows, counts...)
	if err != nil {
		return rows, err
	}

	// 4. Audit vs one check.
	logf("4/6 check --audit vs check, loopback (≤ %d pairs, ≤ %s)", p.auditN, p.auditD)
	aud, chk, n, err := pair(ctx, p.auditN, p.auditD,
		func() error { return check(ctx, local, true) },
		func() error { return check(ctx, local, false) })
	if err != nil {
		return rows, err
	}
	r = float64(aud) / float64(chk)
	rows = append(rows, row{
		Measurement: "check --audit, loopback", Unit: "ms/op", N: n,
		Value: ms(aud), Figure: fmtMS(aud),
		Baseline: "check, loopback", BaselineValue: ms(chk), BaselineFigure: fmtMS(chk),
		Ratio: fmt.Sprintf("%.3f", r), Target: "≤ 1.5", Met: met(r <= 1.5),
	})
	logf("4/6 check --audit vs check, %s RTT (≤ %d pairs, ≤ %s)", rtt, p.latencyN, p.latencyD)
	aud, chk, n, err = pair(ctx, p.latencyN, p.latencyD,
		func() error { return check(ctx, slow, true) },
		func() error { return check(ctx, slow, false) })
	if err != nil {
		return rows, err
	}
	r = float64(aud) / float64(chk)
	rows = append(rows, row{
		Measurement: "check --audit at 40 ms RTT", Unit: "ms/op", N: n,
		Value: ms(aud), Figure: fmt.Sprintf("%s (%.2f RTT)", fmtMS(aud), rtts(aud)),
		Baseline: "check at 40 ms RTT", BaselineValue: ms(chk), BaselineFigure: fmt.Sprintf("%s (%.2f RTT)", fmtMS(chk), rtts(chk)),
		Ratio: fmt.Sprintf("%.3f", r), Target: "≤ 1.1", Met: met(r <= 1.1),
	})

	// 5 and 6. Batches through the CLI, each beside the same batch of bare
	// pgx connects at the same concurrency and latency: what this machine
	// allows any client, since on two cores a batch is bound by CPU (the
	// client's and PostgreSQL's), not by the network.
	dir, err := os.MkdirTemp("", "flowpg-bench-")
	if err != nil {
		return rows, err
	}
	defer os.RemoveAll(dir)
	for _, b := range []struct {
		targets, runs int
		t             target
		where         string
	}{
		{200, p.batch200Runs, local, "loopback"},
		{200, p.batch200Runs, slow, "40 ms RTT"},
		{1000, p.batch1kRuns, slow, "40 ms RTT"},
	} {
		logf("5/6 check --file vs bare pgx batch, %d targets, concurrency %d, %s (%d runs each)", b.targets, concurrency, b.where, b.runs)
		file := filepath.Join(dir, fmt.Sprintf("targets-%d-%s.txt", b.targets, b.t.host))
		if err := os.WriteFile(file, []byte(strings.Repeat(b.t.conn+"\n", b.targets)), 0o600); err != nil {
			return rows, err
		}
		args := []string{"check", "--file", file, "--concurrency", strconv.Itoa(concurrency), "-o", "json",
			"--ca-file", b.t.caFile, "--timeout", opTimeout.String()}
		flowpg := func() error { return batch(ctx, args) }
		pgxBatch := func() error { return bareBatch(ctx, b.t, b.targets) }
		ours, theirs := runs{serverCPU: serverCPU}, runs{serverCPU: serverCPU}
		var mem memPeak
		for i := range b.runs {
			// Alternate which goes first, as pair does.
			first, second, fr, sr := flowpg, pgxBatch, &ours, &theirs
			if i%2 == 1 {
				first, second, fr, sr = pgxBatch, flowpg, &theirs, &ours
			}
			sample := b.targets == 1000 && i == 0 // flowpg runs first then
			var stop func() memPeak
			if sample {
				stop = sampleMemory()
			}
			err := fr.time(first)
			if sample {
				mem = stop()
			}
			if err != nil {
				return rows, err
			}
			if err := sr.time(second); err != nil {
				return rows, err
			}
		}
		d, bd := median(ours.wall), median(theirs.wall)
		per := func(ds []time.Duration) time.Duration { return median(ds) / time.Duration(b.targets) }
		cpu, bcpu := per(ours.cpu), per(theirs.cpu)
		r := float64(d) / float64(bd)
		rows = append(rows, row{
			Measurement: fmt.Sprintf("check --file, %d targets, concurrency %d, %s", b.targets, concurrency, b.where), Unit: "ms/batch", N: b.runs,
			Value: ms(d), Figure: fmt.Sprintf("%s (CPU per check: client %.2f ms, server %s)", fmtMS(d), ms(cpu), ours.serverPer(b.targets)),
			Baseline:      fmt.Sprintf("bare pgx batch: %d × (pgx.Connect + SELECT 1 + Close), same TLS, concurrency and latency", b.targets),
			BaselineValue: ms(bd), BaselineFigure: fmt.Sprintf("%s (CPU per connect: client %.2f ms, server %s)", fmtMS(bd), ms(bcpu), theirs.serverPer(b.targets)),
			Ratio: fmt.Sprintf("%.3f", r), Target: "≤ 1.15", Met: met(r <= 1.15),
		})
		if b.targets == 200 && b.t == slow {
			rows = append(rows, row{
				Measurement: "client CPU per check, 200-target batch at 40 ms RTT", Unit: "ms/check", N: b.runs,
				Value: ms(cpu), Figure: fmt.Sprintf("%.2f ms (batch total %s)", ms(cpu), fmtMS(median(ours.cpu))),
				Baseline: "bare pgx, per connect, same batch shape", BaselineValue: ms(bcpu),
				BaselineFigure: fmt.Sprintf("%.2f ms (batch total %s)", ms(bcpu), fmtMS(median(theirs.cpu))),
				Ratio:          ratio(float64(cpu), float64(bcpu)), Target: "— (informational)",
			})
			if len(ours.srv) > 0 && len(theirs.srv) > 0 {
				scpu, sbcpu := per(ours.srv), per(theirs.srv)
				rows = append(rows, row{
					Measurement: "server CPU per check, 200-target batch at 40 ms RTT", Unit: "ms/check", N: b.runs,
					Value: ms(scpu), Figure: fmt.Sprintf("%.2f ms (PostgreSQL's container, batch total %s)", ms(scpu), fmtMS(median(ours.srv))),
					Baseline: "bare pgx, per connect, same batch shape", BaselineValue: ms(sbcpu),
					BaselineFigure: fmt.Sprintf("%.2f ms (batch total %s)", ms(sbcpu), fmtMS(median(theirs.srv))),
					Ratio:          ratio(float64(scpu), float64(sbcpu)), Target: "— (informational)",
				})
			}
		}
		if b.targets == 1000 {
			logf("6/6 memory of the 1000-target batch (%d samples)", mem.samples)
			rows = append(rows,
				row{
					Measurement: "peak heap in use, 1000-target batch", Unit: "MiB", N: mem.samples,
					Value: mib(mem.peakHeap), Figure: fmtMiB(mem.peakHeap),
					Baseline: "heap in use before the batch (after GC)", BaselineValue: mib(mem.baseHeap), BaselineFigure: fmtMiB(mem.baseHeap),
					Ratio: ratio(float64(mem.peakHeap), float64(mem.baseHeap)), Target: "— (informational)",
				},
				row{
					Measurement: "peak RSS, 1000-target batch", Unit: "MiB", N: mem.samples,
					Value: mib(mem.peakRSS), Figure: fmtMiB(mem.peakRSS) + fmt.Sprintf(" (Go Sys %s)", fmtMiB(mem.peakSys)),
					Baseline: "RSS before the batch", BaselineValue: mib(mem.baseRSS), BaselineFigure: fmtMiB(mem.baseRSS) + fmt.Sprintf(" (Go Sys %s)", fmtMiB(mem.baseSys)),
					Ratio: ratio(float64(mem.peakRSS), float64(mem.baseRSS)), Target: "— (informational)",
				})
		}
	}
	return rows, nil
}

// runs collects the wall-clock and CPU time of repeated runs.
type runs struct {
	wall, cpu, srv []time.Duration
	serverCPU      func() (time.Duration, error) // nil, or failing: no server figures
}

// time runs f once and records its wall-clock time, this process's CPU time
// over it (the client side of every connection and the in-process proxy),
// and PostgreSQL's when it can be read.
func (r *runs) time(f func() error) error {
	var s0 time.Duration
	srvOK := r.serverCPU != nil
	if srvOK {
		var err error
		s0, err = r.serverCPU()
		srvOK = err == nil
	}
	start, cpu0 := time.Now(), cpuTime()
	err := f()
	r.wall = append(r.wall, time.Since(start))
	r.cpu = append(r.cpu, cpuTime()-cpu0)
	if srvOK {
		if s1, e := r.serverCPU(); e == nil {
			r.srv = append(r.srv, s1-s0)
		}
	}
	return err
}

// serverPer words the server's CPU per target, or "n/a".
func (r *runs) serverPer(targets int) string {
	if len(r.srv) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f ms", ms(median(r.srv)/time.Duration(targets)))
}

// bareBatch runs n bare connects to t, concurrency at a time, scheduled as
// check --file schedules its targets.
func bareBatch(ctx context.Context, t target, n int) error {
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := bare(ctx, t); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// batch runs flowpg check --file in-process, its JSON Lines discarded.
func batch(ctx context.Context, args []string) error {
	var stderr bytes.Buffer
	if code := cli.Main(ctx, args, strings.NewReader(""), io.Discard, &stderr); code != 0 {
		msg := stderr.String()
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return fmt.Errorf("flowpg %s exited %d: %s", strings.Join(args[:2], " "), code, msg)
	}
	return nil
}

// pair times a and b alternately, at most n times each and, after the first
// pair, for no longer than limit, after one untimed warm-up of each. It
// returns the median of each and how many pairs ran.
func pair(ctx context.Context, n int, limit time.Duration, a, b func() error) (time.Duration, time.Duration, int, error) {
	if err := a(); err != nil {
		return 0, 0, 0, err
	}
	if err := b(); err != nil {
		return 0, 0, 0, err
	}
	var as, bs []time.Duration
	start := time.Now()
	for i := 0; i < n && (i == 0 || time.Since(start) < limit); i++ {
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		// Alternate which goes first, so neither always follows the other.
		first, second, fs, ss := a, b, &as, &bs
		if i%2 == 1 {
			first, second, fs, ss = b, a, &bs, &as
		}
		t := time.Now()
		if err := first(); err != nil {
			return 0, 0, 0, err
		}
		*fs = append(*fs, time.Since(t))
		t = time.Now()
		if err := second(); err != nil {
			return 0, 0, 0, err
		}
		*ss = append(*ss, time.Since(t))
	}
	return median(as), median(bs), len(as), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// memPeak is the memory before a batch and the most seen while it ran.
type memPeak struct {
	baseHeap, baseSys, baseRSS uint64
	peakHeap, peakSys, peakRSS uint64
	samples                    int
}

// sampleMemory records the memory now, after a GC, and then every 5 ms
// until the returned function is called.
func sampleMemory() func() memPeak {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memPeak{baseHeap: ms.HeapInuse, baseSys: ms.Sys, baseRSS: rss()}
	m.peakHeap, m.peakSys, m.peakRSS = m.baseHeap, m.baseSys, m.baseRSS
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			m.peakHeap = max(m.peakHeap, ms.HeapInuse)
			m.peakSys = max(m.peakSys, ms.Sys)
			m.peakRSS = max(m.peakRSS, rss())
			m.samples++
		}
	})
	return func() memPeak {
		close(done)
		wg.Wait()
		return m
	}
}

// rss is the process's resident set size from /proc/self/statm, or 0 where
// there is none.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func nsPerOp(r testing.BenchmarkResult) float64 {
	return float64(r.T.Nanoseconds()) / float64(r.N)
}

func ms(d time.Duration) float64   { return float64(d) / float64(time.Millisecond) }
func rtts(d time.Duration) float64 { return float64(d) / float64(rtt) }
func mib(b uint64) float64         { return float64(b) / (1 << 20) }
func fmtMS(d time.Duration) string { return fmt.Sprintf("%.1f ms", ms(d)) }
func fmtMiB(b uint64) string       { return fmt.Sprintf("%.1f MiB", mib(b)) }

func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func met(ok bool) *bool { return &ok }
