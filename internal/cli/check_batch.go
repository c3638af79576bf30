package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/preflight"
)

// maxTargets bounds a --file, so a runaway input cannot exhaust memory.
const maxTargets = 100_000

// batchTarget is one line of a --file.
type batchTarget struct {
	line   int
	target string // host:port/database: never the password, nor the user
	conn   connstr.Conn
	warns  []connstr.Warning
	err    error // the line could not be parsed
	report *preflight.Report
	exit   int           // the target's exit code: ExitOK, ExitFailed or ExitInvalid
	done   chan struct{} // closed once report and exit are set
}

// batchLine is one JSON Lines record of a batch.
type batchLine struct {
	Line   int               `json:"line"`
	Target string            `json:"target,omitempty"`
	Error  string            `json:"error,omitempty"`
	Report *preflight.Report `json:"report,omitempty"`
}

func (c *CheckCmd) runBatch(ctx context.Context, g *Globals, streams *IO) error {
	var r io.Reader
	if c.File == "-" {
		r = streams.Stdin
	} else {
		f, err := os.Open(c.File)
		if err != nil {
			return c.inputError(streams, "--file", invalid(fmt.Errorf("reading --file: %w", err)))
		}
		defer f.Close()
		r = f
	}
	targets, err := readTargets(r)
	if err != nil {
		return c.inputError(streams, "--file", invalid(err))
	}

	// Checks run concurrently; results are written in input order, each as
	// soon as it and every line before it are done, so a long batch streams
	// and its finished reports can be dropped from memory.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	progress := newProgress(streams.Stderr, len(targets))
	for _, t := range targets {
		t.done = make(chan struct{})
	}
	go func() {
		sem := make(chan struct{}, c.Concurrency)
		for _, t := range targets {
			if t.err != nil {
				t.exit = ExitInvalid
				progress.step()
				close(t.done)
				continue
			}
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; progress.step(); close(t.done) }()
				opts, err := c.options(t.conn, t.warns)
				if err != nil { // the flags are checked before the batch starts
					opts = preflight.Options{}
				}
				t.report = preflight.Run(ctx, t.conn, opts)
				t.report.Target = t.target
				if ee, ok := exitFor(t.report).(*ExitError); ok {
					t.exit = ee.Code
				}
			}()
		}
	}()

	var enc *json.Encoder
	if c.Output == "json" {
		enc = json.NewEncoder(streams.Stdout)
	}
	var cases []junitCase // JUnit's counts come first, so its cases are written at the end
	for _, t := range targets {
		<-t.done
		switch c.Output {
		case "json":
			rec := batchLine{Line: t.line, Target: t.target, Report: t.report}
			if t.err != nil {
				rec.Error = t.err.Error()
			}
			if err := enc.Encode(rec); err != nil {
				return failed(err)
			}
		case "junit":
			cases = append(cases, c.junitCase(t))
		default:
			continue // the summary needs the report
		}
		t.report = nil // written; the exit code is all that is still needed
	}
	progress.done()
	switch c.Output {
	case "json":
	case "junit":
		if err := writeJUnit(streams.Stdout, cases); err != nil {
			return failed(err)
		}
	default:
		if err := renderSummary(streams.Stdout, targets, newStyle(streams.Stdout, g.NoColor)); err != nil {
			return failed(err)
		}
	}
	return batchExit(targets)
}

// readTargets reads one connection string per line; # comments and blank
// lines are skipped. A line that does not parse is kept, with its error.
func readTargets(r io.Reader) ([]*batchTarget, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), connstr.MaxInputSize+2)
	var out []*batchTarget
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(out) == maxTargets {
			return nil, fmt.Errorf("--file has more than %d targets", maxTargets)
		}
		t := &batchTarget{line: n, target: "line " + strconv.Itoa(n)}
		p, err := connstr.Parse(line)
		if err != nil {
			t.err = err
		} else {
			t.conn, t.warns = p.Conn, p.Warnings
			t.target = maskTarget(p.Conn)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading --file, line %d: %w", n+1, err)
	}
	return out, nil
}

// maskTarget names a target by host, port and database only.
func maskTarget(c connstr.Conn) string {
	return net.JoinHostPort(strings.Trim(c.Server, "[]"), strconv.Itoa(c.PortOrDefault())) + "/" + c.Database
}

// batchExit: 2 when any line is invalid (the file needs fixing, even though
// the valid lines were checked), else 1 when any target failed.
func batchExit(targets []*batchTarget) error {
	code := ExitOK // the codes are ordered: ok < failed < invalid
	for _, t := range targets {
		code = max(code, t.exit)
	}
	if code == ExitOK {
		return nil
	}
	return &ExitError{Code: code}
}

// renderSummary writes one row per target and the totals.
func renderSummary(w io.Writer, targets []*batchTarget, s style) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LINE\tTARGET\tRESULT\tSTAGE\tFIELD\tMESSAGE\tTOTAL")
	counts := map[string]int{}
	for _, t := range targets {
		if t.err != nil {
			counts["invalid"]++
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t\n", t.line, t.target, s.status(preflight.Fail)+" invalid", "input", "", oneLine(t.err.Error()))
			continue
		}
		rep := t.report
		counts[string(rep.Verdict)]++
		stage, field, msg := "", "", ""
		if f := rep.Failed(); f != nil {
			stage, field, msg = string(f.ID), f.Field, f.Message
		} else {
			for _, c := range rep.Checks {
				if c.Status == preflight.Warn {
					stage, field, msg = string(c.ID), c.Field, c.Message
					break
				}
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s %s\t%s\t%s\t%s\t%s\n", t.line, t.target, s.status(rep.Verdict), rep.Verdict, stage, field, oneLine(msg), fmtMillis(rep.Timings.Total))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d targets: %d pass, %d warn, %d fail, %d invalid\n", len(targets), counts["pass"], counts["warn"], counts["fail"], counts["invalid"])
	return err
}

// oneLine shortens a message for a table cell.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 80 {
		return string(r[:79]) + "…"
	}
	return s
}

// progress draws a bar on stderr while a batch runs, only on a terminal.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	total int
	n     int
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, on: isTerminal(w), total: total}
}

func (p *progress) step() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if !p.on || p.total == 0 {
		return
	}
	const width = 30
	fill := p.n * width / p.total
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), p.n, p.total)
}

func (p *progress) done() {
	if p.on && p.total > 0 {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
