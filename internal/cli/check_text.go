package cli

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/flowpg/flowpg/internal/printable"
	"github.com/flowpg/flowpg/preflight"
)

// termIsTerminal reports whether f is a terminal. A variable, so that this
// package's tests can say which file is one.
var termIsTerminal = func(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// style colours text only on a terminal, and never with --no-color (which
// a non-empty NO_COLOR sets, as https://no-color.org asks).
type style struct{ color bool }

func newStyle(w io.Writer, noColor bool) style {
	return style{color: !noColor && isTerminal(w)}
}

func (s style) paint(code, text string) string {
	if !s.color {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s style) status(st preflight.Status) string {
	switch st {
	case preflight.Pass:
		return s.paint("32", "✓")
	case preflight.Warn:
		return s.paint("33", "!")
	case preflight.Fail:
		return s.paint("31", "✗")
	default:
		return s.paint("2", "-")
	}
}

func (s style) verdict(st preflight.Status) string {
	switch st {
	case preflight.Pass:
		return s.paint("1;32", "PASS")
	case preflight.Warn:
		return s.paint("1;33", "PASS with warnings")
	case preflight.Interrupted:
		return s.paint("1;33", "INTERRUPTED (nothing was proven)")
	default:
		return s.paint("1;31", "FAIL")
	}
}

// renderText writes the step list, the audit and the timing waterfall.
func renderText(w io.Writer, rep *preflight.Report, s style) error {
	return newTextReport(w, s, false).finish(rep)
}

// textReport renders a report as text, streamed: the header and each stage
// as the pre-flight tells of them (preflight.Options.Progress), the rest
// once the report is done. On a terminal (live), the stage being waited on
// shows on a line of its own until it finishes, so that a hang shows where.
type textReport struct {
	w       io.Writer
	s       style
	live    bool
	header  bool
	shown   int  // stages written
	waiting bool // a transient line is on screen
	err     error
}

func newTextReport(w io.Writer, s style, live bool) *textReport {
	return &textReport{w: w, s: s, live: live}
}

// progress is a preflight.Options.Progress.
func (t *textReport) progress(e preflight.Event) {
	switch {
	case e.Target != "":
		t.writeHeader(e.Target)
	case e.Result != nil:
		t.clearWaiting()
		t.writeStage(*e.Result)
	case t.live:
		t.clearWaiting()
		t.write(fmt.Sprintf("  %s %-11s %s", t.s.paint("2", "…"), e.Stage, t.s.paint("2", "waiting")))
		t.waiting = true
	}
}

// finish writes what the stream has not: the header and stages not yet
// shown, the string's own mode, the audit, the waterfall and the verdict.
func (t *textReport) finish(rep *preflight.Report) error {
	t.clearWaiting()
	if !t.header {
		t.writeHeader(rep.Target)
	}
	for _, c := range rep.Checks[min(t.shown, len(rep.Checks)):] {
		t.writeStage(c)
	}
	var b strings.Builder
	s := t.s
	if rq := rep.Requested; rq != nil {
		// The checked mode is what Adobe will dial; this is what the string
		// itself asks for.
		st, outcome := preflight.Fail, "fails too: "+printable.Line(rq.Error)
		if rq.OK {
			st, outcome = preflight.Pass, "connects, with TLS"
			if !rq.TLS {
				outcome = "connects, in plaintext"
			}
		}
		fmt.Fprintf(&b, "\n  The connection string itself asks for %s: %s %s\n", rq.SSLMode.LibPQ(), s.status(st), outcome)
	}
	if len(rep.Audit) > 0 {
		b.WriteString("\nsslMode audit\n")
		for _, a := range rep.Audit {
			st, note := preflight.Fail, printable.Line(a.Error)
			if a.OK {
				st, note = preflight.Pass, "connects"
				if !a.TLS {
					note = "connects in plaintext"
				}
			}
			mark := ""
			if a.SSLMode == rep.RecommendedSSLMode {
				mark = s.paint("1", "  ← recommended")
			}
			fmt.Fprintf(&b, "  %s %-11s %s%s\n", s.status(st), a.SSLMode.LibPQ(), note, mark)
		}
		if rep.RecommendationReason != "" {
			fmt.Fprintf(&b, "  %s\n", printable.Line(rep.RecommendationReason))
		}
	}
	b.WriteString("\n")
	b.WriteString(waterfall(rep.Timings, s))
	fmt.Fprintf(&b, "\nResult: %s\n", s.verdict(rep.Verdict))
	t.write(b.String())
	return t.err
}

func (t *textReport) writeHeader(target string) {
	t.header = true
	t.write(fmt.Sprintf("Checking %s\n\n", printable.Line(target)))
}

// writeStage writes one stage's line, and its field and fix when it warns
// or fails.
func (t *textReport) writeStage(c preflight.Result) {
	t.shown++
	s := t.s
	var b strings.Builder
	// A stage's text quotes the server (its error messages, table and
	// certificate names) and the input: one line each, shown, never acted on.
	msg := printable.Line(c.Message)
	if c.Status == preflight.Skip {
		msg = s.paint("2", msg)
	}
	dur := ""
	if c.Duration > 0 {
		dur = s.paint("2", "  "+fmtMillis(c.Duration))
	}
	fmt.Fprintf(&b, "  %s %-11s %s%s\n", s.status(c.Status), c.ID, msg, dur)
	if c.Status == preflight.Warn || c.Status == preflight.Fail {
		if c.Field != "" {
			fmt.Fprintf(&b, "  %-13s field: %s\n", "", printable.Line(string(c.Field)))
		}
		if c.Remediation != "" {
			fmt.Fprintf(&b, "  %-13s fix: %s\n", "", printable.Line(c.Remediation))
		}
		writePins(&b, c)
	}
	t.write(b.String())
}

// writePins lists, under a certificate stage whose chain matched no pin,
// the chain's fingerprints and the pins given: the fix asks to compare them,
// and text has no other place to show them (JSON has them in the details).
func writePins(b *strings.Builder, c preflight.Result) {
	d, ok := c.Certificate()
	if !ok || d.PinMatched == nil || *d.PinMatched {
		return
	}
	label := "chain:"
	for _, cert := range d.Chain {
		fmt.Fprintf(b, "  %-13s %-7s %s  %s\n", "", label, cert.SHA256, printable.Line(cert.Subject))
		label = ""
	}
	label = "pinned:"
	for _, p := range d.PinSHA256 {
		fmt.Fprintf(b, "  %-13s %-7s %s\n", "", label, printable.Line(p))
		label = ""
	}
}

// clearWaiting erases the transient line, if one is on screen.
func (t *textReport) clearWaiting() {
	if t.waiting {
		t.write("\r\x1b[K")
		t.waiting = false
	}
}

func (t *textReport) write(s string) {
	if t.err == nil {
		_, t.err = io.WriteString(t.w, s)
	}
}

func fmtMillis(d time.Duration) string {
	ms := float64(d.Microseconds()) / 1000
	if ms >= 100 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}

// waterfallWidth is the width of the bar area, in columns.
const waterfallWidth = 40

// waterfall draws the connection phases as consecutive bars on one time
// axis, the way httpstat draws an HTTP request: each phase starts where the
// previous one ended, and the axis is the run's total. A phase that did not
// happen has no bar. Time in no phase (an attempt that a fallback or
// another address replaced, the audit outlasting the checked connection)
// shows as Other when it would fill a column, so the bars add up to the
// total.
func waterfall(t preflight.Timings, s style) string {
	phases := []struct {
		name string
		d    time.Duration
	}{{"DNS", t.DNS}, {"TCP", t.TCP}, {"TLS", t.TLS}, {"Auth", t.Auth}, {"Queries", t.Queries}}
	var sum time.Duration
	for _, p := range phases {
		sum += p.d
	}
	var b strings.Builder
	b.WriteString("Timings\n")
	total := max(t.Total, sum)
	if total <= 0 {
		fmt.Fprintf(&b, "  %-8s %10s\n", "Total", fmtMillis(t.Total))
		return b.String()
	}
	scale := float64(waterfallWidth) / float64(total)
	other := total - sum
	showOther := other >= time.Millisecond && math.Round(float64(other)*scale) >= 1
	if showOther {
		phases = append(phases, struct {
			name string
			d    time.Duration
		}{"Other", other})
	}
	col := 0
	var elapsed time.Duration
	for _, p := range phases {
		elapsed += p.d
		end := int(math.Round(float64(elapsed) * scale))
		width := end - col
		bar := ""
		switch {
		case p.d <= 0:
		case width <= 0:
			bar = "▏" // too short to show at this scale, but it happened
		default:
			bar = strings.Repeat("█", width)
		}
		if bar == "" {
			fmt.Fprintf(&b, "  %-8s %10s  │\n", p.name, fmtMillis(p.d))
		} else {
			pad := strings.Repeat(" ", min(col, waterfallWidth))
			fmt.Fprintf(&b, "  %-8s %10s  │%s%s\n", p.name, fmtMillis(p.d), pad, s.paint("36", bar))
		}
		if width > 0 {
			col = end
		}
	}
	fmt.Fprintf(&b, "  %-8s %10s  │%s│\n", "Total", fmtMillis(t.Total), strings.Repeat("─", waterfallWidth))
	if showOther {
		fmt.Fprintf(&b, "  %-8s %s\n", "", s.paint("2", "Other: time in none of the phases above (earlier attempts, the audit, waiting)"))
	}
	return b.String()
}
