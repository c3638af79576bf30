package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/preflight"
)

// CheckCmd runs the pre-flight checks against one connection string, or
// against every line of a file.
type CheckCmd struct {
	Input

	GateFlags     `embed:""`
	RegisterFlags `embed:""`

	Output      string `short:"o" enum:"text,json,junit" default:"text" help:"Output format: text, json (JSON Lines with --file) or junit (JUnit XML, one test case per target)."`
	Audit       bool   `help:"Also say for every sslMode whether it connects, and recommend the strictest that does. The password is never sent in cleartext or as MD5 to a connection weaker than the one asked for."`
	File        string `name:"file" type:"path" placeholder:"TARGETS" help:"Check every connection string in this file, one per line (# comments and blank lines skipped; - reads standard input)."`
	Concurrency int    `default:"16" help:"With --file, how many targets to check at once."`
}

// Help is shown by flowpg check --help.
func (CheckCmd) Help() string {
	return `Dials the database with the settings AEP would use and proves, step by step,
that it is reachable, that TLS works as the sslMode says, that the user logs in
and can read tables. Every failure names the input field to blame and a fix.

It checks what connect would register, the way Adobe will dial it: the sslMode
Adobe receives with the same --auth and --ssl-mode-style (the API tutorial's
list has no Require, so EncryptionMethod=1 without validation is sent, and
checked, as Verify Ca), and a chain trusted only through --ca-file is flagged,
since Adobe will not have that CA. Where the mode checked differs from what
the string itself asks for, the report says so and whether that mode works.

Stages: input, address, dns, tcp, tls, certificate, sslmode, auth, server,
privileges. A failed stage skips the stages after it.

Examples:
  flowpg check 'Server=db.example.com;Database=sales;UID=aep;PWD=…;EncryptionMethod=1;ValidateServerCertificate=1'
  echo "$CONN" | flowpg check - --audit
  flowpg check - -o json --table public.orders --ca-file corp-ca.pem < conn.txt
  flowpg check --file targets.txt --concurrency 32 -o json > results.jsonl
  flowpg check --file targets.txt -o junit > flowpg-junit.xml

A password given as an argument is visible to other users in ps: prefer
standard input (-) or $FLOWPG_CONNECTION_STRING.

Exit codes: 0 every check passed (warnings allowed), 1 a check failed,
2 invalid input; 130 or 143 when interrupted (SIGINT, SIGTERM). With --file,
each target is one of: pass, warn, fail, invalid (the line does not parse,
or lacks a field AEP requires), interrupted (stopped while it ran) or not
checked (the run was stopped before it began); the summary counts them, and
the exit code is 2 when any line is invalid (the other lines are still
checked), else 1 when any failed, was interrupted or not checked, else 0.`
}

// Validate refuses flags that cannot work, before any work.
func (c *CheckCmd) Validate() error {
	if c.Concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1, not %d", c.Concurrency)
	}
	return c.GateFlags.validate()
}

// Run checks one connection string, or a file of them.
func (c *CheckCmd) Run(ctx context.Context, g *Globals, streams *IO) error {
	// Flags are checked before any work, so a batch does not fail line by line.
	if _, err := c.options(streams, connstr.Conn{}, nil); err != nil {
		return invalid(err)
	}
	if c.File != "" {
		if c.String != "" {
			return invalid(errors.New("pass either a connection string or --file, not both"))
		}
		return c.runBatch(ctx, g, streams)
	}
	s, err := c.read(streams)
	if err != nil {
		return c.inputError(streams, "connection string", err)
	}
	parsed, err := connstr.Parse(s)
	if err != nil {
		return c.inputError(streams, "connection string", invalidInput(streams, s, err))
	}
	warnCommandLineSecret(streams, c.Input, parsed)
	opts, err := c.options(streams, parsed.Conn, parsed.Warnings)
	if err != nil {
		return invalid(err)
	}
	var stream *textReport
	if c.Output == "text" {
		// The report streams as the check runs: a hang shows where.
		stream = newTextReport(streams.Stdout, newStyle(streams.Stdout, g.NoColor), isTerminal(streams.Stdout))
		opts.Progress = stream.progress
	}
	rep := runPreflight(ctx, parsed.Conn, opts)

	switch c.Output {
	case "json":
		enc := json.NewEncoder(streams.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	case "junit":
		if err := writeJUnit(streams.Stdout, []junitCase{junitReportCase(rep.Target, rep)}); err != nil {
			return err
		}
	default:
		if err := stream.finish(rep); err != nil {
			return err
		}
	}
	return exitFor(rep)
}

// options are the pre-flight's options for conn: the sslMode connect would
// register offline, with the same --auth and --ssl-mode-style.
func (c *CheckCmd) options(streams *IO, conn connstr.Conn, warns []connstr.Warning) (preflight.Options, error) {
	vocab, source, err := c.offlineVocabulary()
	if err != nil {
		return preflight.Options{}, err
	}
	reg, err := newRegistration(conn, c.specName(), vocab, source)
	if err != nil {
		return preflight.Options{}, err
	}
	opts, err := c.GateFlags.options(streams, reg, append(warns, weakened(reg.Warnings)...), false, false)
	opts.Audit = c.Audit
	return opts, err
}

// exitFor maps a report to the command's exit: invalid input is 2, a
// failed check 1. The report already says why, so no message is added.
func exitFor(rep *preflight.Report) error {
	if in := rep.Check(preflight.StageInput); in != nil && in.Status == preflight.Fail {
		return &ExitError{Code: ExitInvalid}
	}
	if rep.Verdict == preflight.Fail {
		return &ExitError{Code: ExitFailed}
	}
	return nil
}

// isTerminal reports whether w is a terminal, seen through the writer Main
// wraps stdout in.
func isTerminal(w io.Writer) bool {
	if ww, ok := w.(*watchedWriter); ok {
		w = ww.w
	}
	f, ok := w.(*os.File)
	return ok && termIsTerminal(f)
}
