package cli

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/flowpg/flowpg/internal/printable"
	"github.com/flowpg/flowpg/preflight"
)

// check -o junit writes JUnit XML, the report format CI systems (GitHub
// Actions reporters, GitLab, Jenkins, Azure Pipelines) show on dashboards:
// one <testcase> per target. A target whose input is invalid is an <error>
// (the check could not run, exit 2); any other failed check is a <failure>
// (exit 1); a check the run was interrupted in, or never began, is
// <skipped>. Every text comes from the same report as the text and JSON
// output, so it is masked the same way: targets carry no password, and
// neither do stage messages or parse errors.

// junitClassname groups flowpg's cases on dashboards that group by class.
const junitClassname = "flowpg.check"

// junitSuites is the document's root. Its counts repeat the single suite's,
// for readers that only look at the root.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	// Time is the whole check in seconds.
	Time string `xml:"time,attr"`
	// File and Line point at the target's line of a --file.
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

// junitProblem is a <failure> or an <error>: a one-line message, the stage
// as its type, and the full account as its text.
type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	junitText
}

// junitText is an element's text, escaped by xmlText. encoding/xml would
// escape every newline as &#xA;, which is valid but makes a multi-line
// report unreadable in the file itself.
type junitText struct {
	XML string `xml:",innerxml"`
}

// xmlText escapes s as XML character data: markup characters become
// entities, and characters XML 1.0 cannot carry at all (most control
// characters, invalid UTF-8) become U+FFFD, so any text gives a valid
// document.
func xmlText(s string) junitText {
	var b strings.Builder
	for _, r := range s { // invalid UTF-8 arrives as U+FFFD
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\r':
			b.WriteString("&#xD;") // a literal CR would be read back as LF
		case r == '\t' || r == '\n' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000:
			b.WriteRune(r)
		default:
			b.WriteRune('\uFFFD')
		}
	}
	return junitText{XML: b.String()}
}

// junitReportCase turns one check report into a test case named name.
func junitReportCase(name string, rep *preflight.Report) junitCase {
	c := junitCase{Name: name, Classname: junitClassname, Time: junitSeconds(rep)}
	if f := rep.Failed(); f != nil {
		var text strings.Builder
		fmt.Fprintf(&text, "stage: %s\n", f.ID)
		if f.Field != "" {
			fmt.Fprintf(&text, "field: %s\n", printable.Line(string(f.Field)))
		}
		fmt.Fprintf(&text, "message: %s\n", printable.Line(f.Message))
		if f.Remediation != "" {
			fmt.Fprintf(&text, "fix: %s\n", printable.Line(f.Remediation))
		}
		if f.Kind != "" {
			fmt.Fprintf(&text, "kind: %s\n", f.Kind)
		}
		text.WriteString("\n")
		_ = renderText(&text, rep, style{}) // a strings.Builder never fails
		p := &junitProblem{Message: junitMessage(f), Type: string(f.ID), junitText: xmlText(text.String())}
		if f.ID == preflight.StageInput {
			c.Error = p
		} else {
			c.Failure = p
		}
	} else if rep.Verdict == preflight.Interrupted {
		// Not a pass: the run was stopped before the check proved anything,
		// and a dashboard must not show it green.
		msg := "interrupted: the run was stopped before this check finished, so it proved nothing"
		for _, r := range rep.Checks {
			if r.Kind == preflight.KindInterrupted {
				msg = fmt.Sprintf("interrupted during the %s stage: the run was stopped before this check finished, so it proved nothing", r.ID)
				break
			}
		}
		c.Skipped = &junitProblem{Message: msg, Type: "interrupted"}
	}
	var out strings.Builder
	for _, r := range rep.Checks {
		if r.Status == preflight.Warn {
			fmt.Fprintf(&out, "warning: %s\n", junitMessage(&r))
		}
	}
	if out.Len() > 0 {
		c.SystemOut = new(xmlText(out.String()))
	}
	return c
}

// junitInvalidCase is a --file line that could not be parsed. err is the
// parser's error, which masks the password like every parse error.
func junitInvalidCase(name string, err error) junitCase {
	msg := oneLine(err.Error())
	return junitCase{
		Name: name, Classname: junitClassname, Time: "0.000",
		Error: &junitProblem{Message: "input: " + msg, Type: string(preflight.StageInput), junitText: xmlText(err.Error() + "\n")},
	}
}

// junitMessage is a stage's outcome on one line: the stage, what it found,
// the field to blame and the fix.
func junitMessage(r *preflight.Result) string {
	msg := fmt.Sprintf("%s: %s", r.ID, printable.Line(r.Message))
	if r.Field != "" {
		msg += "; field: " + printable.Line(string(r.Field))
	}
	if r.Remediation != "" {
		msg += "; fix: " + printable.Line(r.Remediation)
	}
	return msg
}

func junitSeconds(rep *preflight.Report) string {
	return fmt.Sprintf("%.3f", rep.Timings.Total.Seconds())
}

// writeJUnit writes cases as one suite. encoding/xml escapes markup and
// replaces characters XML cannot carry, so any message yields a valid
// document.
func writeJUnit(w io.Writer, cases []junitCase) error {
	s := junitSuite{Name: "flowpg check", Tests: len(cases), Cases: cases}
	for _, c := range cases {
		if c.Failure != nil {
			s.Failures++
		}
		if c.Error != nil {
			s.Errors++
		}
		if c.Skipped != nil {
			s.Skipped++
		}
	}
	doc := junitSuites{Name: s.Name, Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Suites: []junitSuite{s}}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s%s\n", xml.Header, b)
	return err
}

// junitCase is the test case of one --file target, pointing at its line.
func (c *CheckCmd) junitCase(t *batchTarget) junitCase {
	var jc junitCase
	switch {
	case t.err != nil:
		jc = junitInvalidCase(t.target, t.err)
	case t.report == nil:
		jc = junitCase{Name: t.target, Classname: junitClassname, Time: "0.000",
			Skipped: &junitProblem{Message: "not checked: the run was interrupted before this check began", Type: "not-checked"}}
	default:
		jc = junitReportCase(t.target, t.report)
	}
	if c.File != "-" {
		jc.File = c.File
	}
	jc.Line = t.line
	return jc
}

// inputError ends a check whose input could not be read or parsed, with err.
// With -o junit the report is still written, as one <error> case named name,
// so a pipeline that publishes it finds a document, not an empty file.
func (c *CheckCmd) inputError(streams *IO, name string, err error) error {
	if c.Output == "junit" {
		if werr := writeJUnit(streams.Stdout, []junitCase{junitInvalidCase(name, err)}); werr != nil {
			return failed(werr)
		}
	}
	return err
}
