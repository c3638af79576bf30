package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/printable"
)

// ParseCmd parses a connection string and reports what it means for AEP.
type ParseCmd struct {
	Input

	Output       string `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
	Reveal       bool   `help:"Show the password instead of ********."`
	SSLModeStyle string `name:"ssl-mode-style" enum:"tutorial,overview" default:"tutorial" help:"sslMode vocabulary: tutorial (Disable, Allow, Prefer, Verify Ca, Verify Full) or overview (Disable, Allow, Prefer, Require, Verify-Ca, Verify-Full)."`
}

// Help is shown by flowpg parse --help.
func (ParseCmd) Help() string {
	return `Reads a DataDirect connection string as AEP takes it, or a libpq DSN, a
postgres:// URL or an Npgsql string, and shows its fields, the detected form,
the sslMode it maps to, the basic-authentication params, warnings, and whether
it is complete. The password is shown as ******** unless --reveal is given.

Examples:
  flowpg parse 'Server=db.example.com;Database=sales;UID=aep;PWD=…;EncryptionMethod=1;ValidateServerCertificate=1'
  echo "$CONN" | flowpg parse - -o json
  flowpg parse 'postgres://aep@db.example.com/sales?sslmode=verify-full' --ssl-mode-style=overview

A password given as an argument is visible to other users in ps: prefer
standard input (-) or $FLOWPG_CONNECTION_STRING.

Exit codes: 0 valid (warnings allowed), 2 a syntax error or a missing or
invalid field.`
}

// parseReport is parse's JSON document.
type parseReport struct {
	InputFormat      connstr.Format       `json:"inputFormat"`
	Properties       []connstr.Property   `json:"properties"`
	BasicAuth        connstr.BasicAuth    `json:"basicAuth"`
	ConnectionString string               `json:"connectionString"`
	SSLMode          string               `json:"sslMode"`
	Warnings         []connstr.Warning    `json:"warnings"`
	Valid            bool                 `json:"valid"`
	Errors           []connstr.FieldError `json:"errors"`
	// Error is the syntax error of input that does not parse, in the shape
	// every -o json failure has.
	Error *errorInfo `json:"error,omitempty"`
}

// Run parses and reports.
func (c *ParseCmd) Run(streams *IO) error {
	style, err := connstr.ParseSSLModeStyle(c.SSLModeStyle)
	if err != nil {
		return invalid(err)
	}
	s, err := c.read(streams)
	if err != nil {
		return err
	}
	p, err := connstr.Parse(s)
	if err != nil {
		if c.Output == "json" {
			info := describeError(ExitInvalid, err)
			rep := parseReport{Properties: []connstr.Property{}, Warnings: []connstr.Warning{}, Errors: []connstr.FieldError{},
				Error: &info}
			if werr := writeJSON(streams.Stdout, rep); werr != nil {
				return failed(werr)
			}
			return invalid(err)
		}
		return invalidInput(streams, s, err)
	}
	warnCommandLineSecret(streams, c.Input, p)

	mode, _ := p.Conn.SSLMode()
	basic, basicWarns := p.Conn.BasicAuth(style)
	built, buildWarns := connstr.Build(p.Conn)
	warns := mergeWarnings(p.Warnings, basicWarns, buildWarns)
	props := p.Properties
	shown := p.Conn
	if !c.Reveal {
		props = p.Redacted().Properties
		basic = basic.Redacted()
		shown = p.Conn.Redacted()
		built, _ = connstr.Build(shown)
	}
	verr := p.Conn.Validate()
	var fieldErrs []connstr.FieldError
	var ve *connstr.ValidationError
	if errors.As(verr, &ve) {
		fieldErrs = ve.Fields
	}

	if c.Output == "json" {
		rep := parseReport{
			InputFormat:      p.Format,
			Properties:       nonNil(props),
			BasicAuth:        basic,
			ConnectionString: built,
			SSLMode:          basic.SSLMode,
			Warnings:         nonNil(warns),
			Valid:            verr == nil,
			Errors:           nonNil(fieldErrs),
		}
		if err := writeJSON(streams.Stdout, rep); err != nil {
			return failed(err)
		}
	} else if err := writeParseText(streams.Stdout, p.Format, shown, mode, basic, props, built, warns, fieldErrs); err != nil {
		return failed(err)
	}
	if verr != nil {
		return invalid(verr)
	}
	return nil
}

func writeParseText(w io.Writer, format connstr.Format, c connstr.Conn, mode connstr.SSLMode, basic connstr.BasicAuth,
	props []connstr.Property, built string, warns []connstr.Warning, errs []connstr.FieldError) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	port := basic.Port
	if c.Port == 0 {
		port += " (default)"
	}
	rows := [][2]string{
		{"Format", format.String()},
		{"Server", c.Server},
		{"Port", port},
		{"Database", c.Database},
		{"Username", c.User},
		{"Password", c.Password},
		{"sslMode", sslModeLine(basic.SSLMode, mode)},
		{"Connection string", built},
	}
	for _, r := range rows {
		// Values as written, which may hold anything: shown, not acted on.
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], printable.Line(r[1]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var b strings.Builder
	if len(props) > 0 {
		b.WriteString("\nProperties (as written):\n")
		for _, p := range props {
			fmt.Fprintf(&b, "  %s = %s", printable.Line(p.Key), strconv.Quote(p.Value))
			if p.Offset >= 0 {
				fmt.Fprintf(&b, "  (offset %d)", p.Offset)
			}
			b.WriteByte('\n')
		}
	}
	if len(warns) > 0 {
		b.WriteString("\nWarnings:\n")
		for _, wn := range warns {
			fmt.Fprintf(&b, "  [%s] %s\n", wn.Code, printable.Line(warningText(wn)))
		}
	}
	if len(errs) == 0 {
		b.WriteString("\nValid: yes\n")
	} else {
		b.WriteString("\nValid: no\n")
		for _, e := range errs {
			fmt.Fprintf(&b, "  %s: %s\n", e.Field, printable.Line(e.Message))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sslModeLine says what basic auth sends and what that means, and what the
// string itself means when that differs (Require sent as Verify Ca).
func sslModeLine(sent string, asked connstr.SSLMode) string {
	m, err := connstr.ParseSSLMode(sent)
	if err != nil || m == asked {
		return fmt.Sprintf("%s (libpq %s)", sent, asked.LibPQ())
	}
	return fmt.Sprintf("%s (libpq %s, which Adobe will dial; the string itself means %s)", sent, m.LibPQ(), asked.LibPQ())
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// mergeWarnings concatenates warning lists, dropping exact repeats (the
// same TLS remark can come from parsing and from converting).
func mergeWarnings(lists ...[]connstr.Warning) []connstr.Warning {
	var out []connstr.Warning
	seen := map[connstr.Warning]bool{}
	for _, l := range lists {
		for _, w := range l {
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// printWarnings writes warnings to stderr, one a line.
func printWarnings(w io.Writer, warns []connstr.Warning) {
	for _, wn := range warns {
		fmt.Fprintf(w, "flowpg: warning: [%s] %s\n", wn.Code, printable.Line(warningText(wn)))
	}
}

// warningText is a warning as the CLI says it: connstr's message, with the
// command that acts on it where there is one.
func warningText(w connstr.Warning) string {
	if w.Code == connstr.WarnBraceQuoting && w.Field == "Password" {
		return w.Message + " (flowpg convert --to basic)"
	}
	return w.Message
}

// warnCommandLineSecret warns when the connection string holding a
// password came as an argument, where ps shows it.
func warnCommandLineSecret(streams *IO, in Input, p *connstr.Parsed) {
	if in.from != fromArgument || p.Conn.Password == "" {
		return
	}
	printWarnings(streams.Stderr, []connstr.Warning{{Code: connstr.WarnPasswordOnCommandLine, Field: "password",
		Message: "the connection string with its password was given as an argument, visible to other users in ps; pass - and use standard input, or $FLOWPG_CONNECTION_STRING"}})
}

// invalidInput reports a parse error with the input echoed and a caret under
// the offending byte, secrets masked, and ends with exit 2.
func invalidInput(streams *IO, s string, err error) error {
	var pe *connstr.ParseError
	if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(s) {
		return invalid(err)
	}
	line, caret := caretEcho(s, pe.Offset, pe.Hidden)
	fmt.Fprintf(streams.Stderr, "flowpg: %s\n  %s\n  %s^\n", printable.Line(err.Error()), line, strings.Repeat(" ", caret))
	return &ExitError{Code: ExitInvalid, Err: err, shown: true}
}

// caretEcho returns a one-line, printable copy of s with every secret masked
// (connstr.SecretSpans, and the hidden bytes at offset a ParseError names),
// and the column of the byte at offset in it. Each secret becomes
// connstr.Redacted whatever its length, so not even the length shows; an
// offset inside a secret points at the start of its mask. Long input is cut
// to a window around the offset.
func caretEcho(s string, offset, hidden int) (string, int) {
	mask := make([]bool, len(s))
	for _, sp := range connstr.SecretSpans(s) {
		for k := sp.Start; k < sp.End; k++ {
			mask[k] = true
		}
	}
	for k := offset; k < min(offset+hidden, len(s)); k++ {
		mask[k] = true
	}
	var b strings.Builder
	col, caret, runCol := 0, -1, 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if mask[i] {
			if i == 0 || !mask[i-1] {
				runCol = col
				b.WriteString(connstr.Redacted)
				col += len(connstr.Redacted)
			}
			if i >= offset && caret < 0 {
				caret = runCol
			}
			i += n
			continue
		}
		if i >= offset && caret < 0 {
			caret = col
		}
		switch {
		case r == utf8.RuneError && n == 1, !unicode.IsPrint(r):
			// One column, as the rune would take, so the caret stays
			// under its byte; nothing a terminal would act on.
			b.WriteByte('?')
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
		col++
	}
	if caret < 0 {
		caret = col
	}
	line := []rune(b.String())
	const window = 100
	if len(line) > window {
		start := max(0, caret-window/2)
		end := min(len(line), start+window)
		out := string(line[start:end])
		if start > 0 {
			out = "…" + out
			caret = caret - start + 1
		} else {
			caret -= start
		}
		if end < len(line) {
			out += "…"
		}
		return out, caret
	}
	return string(line), caret
}
