package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"golang.org/x/sync/errgroup"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/printable"
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
	class  string        // the summary's class: see batchClass
	done   chan struct{} // closed once report and class are set
}

// The classes of a batch's targets, in the summary's order. Each maps to an
// exit code (batchExit): invalid input is 2; fail, interrupted and
// not-checked are 1; pass and warn are 0.
const (
	classPass        = "pass"
	classWarn        = "warn"
	classFail        = "fail"
	classInvalid     = "invalid"     // the line cannot be checked: it does not parse, or lacks a required field
	classInterrupted = "interrupted" // the run was stopped while the check ran
	classNotChecked  = "not checked" // the run was stopped before the check began
)

var batchClasses = []string{classPass, classWarn, classFail, classInvalid, classInterrupted, classNotChecked}

// batchClass classifies a finished target.
func batchClass(t *batchTarget) string {
	switch {
	case t.err != nil:
		return classInvalid
	case t.report == nil:
		return classNotChecked
	case t.report.Verdict == preflight.Interrupted:
		return classInterrupted
	}
	if in := t.report.Check(preflight.StageInput); in != nil && in.Status == preflight.Fail {
		return classInvalid
	}
	return string(t.report.Verdict)
}

// batchLine is one JSON Lines record of a batch.
type batchLine struct {
	Line   int    `json:"line"`
	Target string `json:"target,omitempty"`
	Class  string `json:"class"`
	// Error is why the line could not be checked, in the shape of every
	// -o json error (errorInfo): code, message, and field and offset when
	// known.
	Error  *errorInfo        `json:"error,omitempty"`
	Report *preflight.Report `json:"report,omitempty"`
}

func (c *CheckCmd) runBatch(ctx context.Context, g *Globals, streams *IO) error {
	targets, err := c.readFile(streams)
	if err != nil {
		return c.inputError(streams, "--file", invalid(err))
	}
	progress := newProgress(streams.Stderr, len(targets))
	for _, t := range targets {
		t.done = make(chan struct{})
	}
	// Checks run concurrently, at most --concurrency at once; results are
	// written in input order by one more goroutine of the group, each as
	// soon as it and every line before it are done, so a long batch streams
	// and its finished reports can be dropped from memory. A failed write
	// ends the group's context: no check begins after it, those running
	// end, and Wait returns only when every goroutine has.
	grp, gctx := errgroup.WithContext(ctx)
	grp.SetLimit(c.Concurrency + 1)
	var cases []junitCase
	grp.Go(func() error { return c.writeInOrder(streams, targets, &cases) })
	for _, t := range targets {
		finish := func() { t.class = batchClass(t); progress.step(); close(t.done) }
		if t.err != nil || gctx.Err() != nil {
			finish()
			continue
		}
		grp.Go(func() error { // waits for a free slot
			if gctx.Err() == nil { // a run stopped meanwhile begins no check
				c.checkTarget(gctx, streams, t)
			}
			finish()
			return nil
		})
	}
	if err := grp.Wait(); err != nil {
		return failed(err)
	}
	progress.done()
	switch c.Output {
	case "junit":
		if err := writeJUnit(streams.Stdout, cases); err != nil {
			return failed(err)
		}
	case "text":
		if err := renderSummary(streams.Stdout, targets, ctx.Err() != nil, newStyle(streams.Stdout, g.NoColor)); err != nil {
			return failed(err)
		}
	}
	return batchExit(targets)
}

// readFile reads --file's targets, from standard input for -.
func (c *CheckCmd) readFile(streams *IO) ([]*batchTarget, error) {
	r := streams.Stdin
	if c.File != "-" {
		f, err := os.Open(c.File)
		if err != nil {
			return nil, fmt.Errorf("reading --file: %w", err)
		}
		defer f.Close()
		r = f
	}
	return readTargets(r)
}

// checkTarget runs the pre-flight on one target of a batch.
func (c *CheckCmd) checkTarget(ctx context.Context, streams *IO, t *batchTarget) {
	opts, err := c.options(streams, t.conn, t.warns)
	if err != nil { // the flags are checked before the batch starts
		opts = preflight.Options{}
	}
	t.report = runPreflight(ctx, t.conn, opts)
	t.report.Target = t.target
}

// writeInOrder writes each target's result as it and every target before it
// are done: a JSON Lines record, or a JUnit case kept for the end (JUnit's
// counts come first); text keeps the reports for the summary.
func (c *CheckCmd) writeInOrder(streams *IO, targets []*batchTarget, cases *[]junitCase) error {
	enc := json.NewEncoder(streams.Stdout)
	for _, t := range targets {
		<-t.done
		switch c.Output {
		case "json":
			rec := batchLine{Line: t.line, Target: t.target, Class: t.class, Report: t.report}
			if t.err != nil {
				info := describeError(ExitInvalid, t.err)
				rec.Error = &info
			}
			if err := enc.Encode(rec); err != nil {
				return err
			}
		case "junit":
			*cases = append(*cases, c.junitCase(t))
		default:
			continue // the summary needs the report
		}
		t.report = nil // written; the exit code is all that is still needed
	}
	return nil
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
		text := sc.Text()
		if n == 1 {
			text = strings.TrimPrefix(text, "\uFEFF") // a byte-order mark an editor wrote
		}
		line := strings.TrimSpace(text)
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
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("--file, line %d: over %d bytes, longer than any connection string (is it the right file?)", n+1, connstr.MaxInputSize)
		}
		return nil, fmt.Errorf("reading --file, line %d: %w", n+1, err)
	}
	return out, nil
}

// maskTarget names a target by host, port and database only.
func maskTarget(c connstr.Conn) string {
	return net.JoinHostPort(strings.Trim(c.Server, "[]"), strconv.Itoa(c.PortOrDefault())) + "/" + c.Database
}

// batchExit: 2 when any line is invalid (the file needs fixing, even though
// the valid lines were checked), else 1 when any target failed, was
// interrupted or not checked, else 0.
func batchExit(targets []*batchTarget) error {
	code := ExitOK // the codes are ordered: ok < failed < invalid
	for _, t := range targets {
		switch t.class {
		case classInvalid:
			code = ExitInvalid
		case classFail, classInterrupted, classNotChecked:
			code = max(code, ExitFailed)
		}
	}
	if code == ExitOK {
		return nil
	}
	return &ExitError{Code: code}
}

// renderSummary writes one row per target and the totals, by class; it
// says when the run was interrupted.
func renderSummary(w io.Writer, targets []*batchTarget, interrupted bool, s style) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LINE\tTARGET\tRESULT\tSTAGE\tFIELD\tMESSAGE\tTOTAL")
	counts := map[string]int{}
	for _, t := range targets {
		counts[t.class]++
		switch {
		case t.err != nil:
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t\n", t.line, printable.Line(t.target), s.status(preflight.Fail)+" invalid", "input", "", oneLine(t.err.Error()))
			continue
		case t.report == nil:
			fmt.Fprintf(tw, "%d\t%s\t%s\t\t\t%s\t\n", t.line, printable.Line(t.target), s.status(preflight.Skip)+" not checked", "the run was interrupted before this check began")
			continue
		}
		rep := t.report
		stage, field, msg := "", "", ""
		if f := rep.Failed(); f != nil {
			stage, field, msg = string(f.ID), string(f.Field), f.Message
		} else {
			for _, c := range rep.Checks {
				if c.Status == preflight.Warn {
					stage, field, msg = string(c.ID), string(c.Field), c.Message
					break
				}
			}
		}
		mark := s.status(rep.Verdict)
		if t.class == classInterrupted {
			mark, field, msg = s.status(preflight.Skip), "", "not finished: the run was interrupted"
			for _, c := range rep.Checks {
				if c.Kind == preflight.KindInterrupted {
					stage = string(c.ID)
					break
				}
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s %s\t%s\t%s\t%s\t%s\n", t.line, printable.Line(t.target), mark, t.class, stage, field, oneLine(msg), fmtMillis(rep.Timings.Total))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var parts []string
	for _, c := range batchClasses {
		if n := counts[c]; n > 0 || c != classInterrupted && c != classNotChecked {
			parts = append(parts, fmt.Sprintf("%d %s", n, c))
		}
	}
	line := fmt.Sprintf("\n%d targets: %s\n", len(targets), strings.Join(parts, ", "))
	if interrupted {
		line += "The run was interrupted: the targets not checked were not tried, and those interrupted proved nothing.\n"
	}
	_, err := io.WriteString(w, line)
	return err
}

// oneLine shortens a message for a table cell.
func oneLine(s string) string {
	s = printable.Line(strings.Join(strings.Fields(s), " "))
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
