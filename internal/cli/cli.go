// Package cli is flowpg's command-line interface. It is the only package that
// wires connstr, preflight and flowclient together. Main runs one invocation
// in-process with injected arguments and streams, so tests can drive it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/internal/printable"
	"github.com/flowpg/flowpg/preflight"
)

// Exit codes, as documented in the README.
const (
	ExitOK      = 0 // success; warnings allowed
	ExitFailed  = 1 // a check or a remote call failed
	ExitInvalid = 2 // invalid input or usage
)

// CLI is the root of flowpg's command tree. Each command lives in a file
// named after it.
type CLI struct {
	Globals

	Version     VersionCmd     `cmd:"" help:"Print flowpg's version."`
	Check       CheckCmd       `cmd:"" help:"Check that AEP can connect: network, TLS, login, privileges."`
	Parse       ParseCmd       `cmd:"" help:"Parse a connection string and show its fields, sslMode, warnings and validity."`
	Convert     ConvertCmd     `cmd:"" help:"Convert a credential between AEP's connection string, basic auth, libpq DSN and URL."`
	Build       BuildCmd       `cmd:"" help:"Build AEP's connection string (or another form) from flags."`
	Connect     ConnectCmd     `cmd:"" help:"Register the connection with Flow Service after the pre-flight passes, then verify it from Adobe's side."`
	Connections ConnectionsCmd `cmd:"" help:"Keep registered base connections working: list, show, test, update (password rotation), delete."`
	Allowlist   AllowlistCmd   `cmd:"" help:"Print the addresses AEP connects from, as CIDRs, pg_hba.conf lines or firewall commands."`
	// Commands are added here, one line each, in the order they appear in help.

	// Last in help: it sets up the shell, not a connection.
	Completion CompletionCmd `cmd:"" help:"Print a shell completion script for bash, zsh or fish."`
}

// Globals are the flags every command shares.
type Globals struct {
	// NO_COLOR is read by run, not through an env tag: no-color.org says
	// any non-empty value counts, and a bool flag would reject most of them.
	NoColor bool `help:"Disable colour even on a terminal (so does a non-empty $$NO_COLOR)."`

	ShowVersion kong.VersionFlag `name:"version" help:"Print the version and exit."`
}

// IO carries the streams and environment of one invocation. Commands receive
// it through kong's bindings, never through globals: every variable flowpg
// reads, the flags' included, is read through LookupEnv.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(key string) (string, bool)

	// dialer and resolver are a seam for this package's tests only: when
	// set, they carry every connection a command opens (the pre-flight's
	// lookups and dials, and the HTTP calls to Flow Service), so that a
	// test fails at once on traffic that would leave the machine. They are
	// nil in the product, and then change nothing.
	dialer   preflight.Dialer
	resolver preflight.Resolver
}

// getenv returns the variable key, or "" when it is not set.
func (s *IO) getenv(key string) string {
	v, _ := s.lookupEnv(key)
	return v
}

func (s *IO) lookupEnv(key string) (string, bool) {
	if s.LookupEnv == nil {
		return os.LookupEnv(key)
	}
	return s.LookupEnv(key)
}

// ExitError ends a command with a specific exit code. Its message, if any,
// is printed to stderr by Main.
type ExitError struct {
	Code int
	Err  error
	// shown says that Err is already on stderr, in a fuller form (the
	// input echoed with a caret), so Main does not print it again.
	shown bool
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// invalid wraps err as a usage or input error (exit 2).
func invalid(err error) error { return &ExitError{Code: ExitInvalid, Err: err} }

// failed wraps err as a failed check or remote call (exit 1).
func failed(err error) error { return &ExitError{Code: ExitFailed, Err: err} }

// Main runs flowpg with args (without the program name) and returns the exit
// code. It never calls os.Exit.
// Ending ctx interrupts the command as a signal does (see MainWithSignals);
// clean-up then runs on a context that ctx's end does not end.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, args, &IO{Stdin: stdin, Stdout: stdout, Stderr: stderr}, &Session{Cleanup: context.WithoutCancel(ctx)})
}

func run(ctx context.Context, args []string, streams *IO, session *Session) int {
	// With -o json, stdout holds one JSON document whatever happens: a
	// failure that wrote none gets an errorDoc (see reportError).
	out := &watchedWriter{w: streams.Stdout}
	s := *streams
	s.Stdout = out
	streams = &s
	var root CLI
	exitCode := -1
	env := &flagEnv{io: streams}
	parser, err := kong.New(&root,
		kong.Resolvers(env),
		kong.ValueFormatter(env.help),
		kong.Name("flowpg"),
		kong.Description("Check and register PostgreSQL connections for Adobe Experience Platform's Flow Service.\n\nExit codes: 0 success (warnings allowed), 1 a check or remote call failed, 2 invalid input or usage."),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Writers(out, streams.Stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.Vars{"version": currentBuild().text(), "flowURL": flowclient.DefaultBaseURL, "imsURL": flowclient.DefaultIMSTokenURL},
		kong.BindTo(ctx, (*context.Context)(nil)),
		kong.Bind(streams, session),
	)
	if err != nil {
		fmt.Fprintf(streams.Stderr, "flowpg: %v\n", err)
		return ExitInvalid
	}
	env.take(parser.Model)
	if completing(streams) {
		return completeLine(parser, streams)
	}
	kctx, err := parser.Parse(joinNegativeValues(parser, args))
	if exitCode >= 0 { // --help or kong-level exit
		return exitCode
	}
	if err != nil {
		return usageError(parser, streams, args, err)
	}
	root.NoColor = root.NoColor || streams.getenv("NO_COLOR") != ""
	err = kctx.Run(&root.Globals)
	code, shown := ExitOK, false
	if err != nil {
		code = ExitFailed
		var ee *ExitError
		if errors.As(err, &ee) {
			code, err, shown = ee.Code, ee.Err, ee.shown
		}
	}
	if err != nil {
		if !shown {
			// An error may quote a server, Flow Service or the input; the
			// line breaks are flowpg's own (text from outside is made one
			// line where it enters).
			fmt.Fprintf(streams.Stderr, "flowpg: %s\n", printable.Text(err.Error()))
		}
		if !out.wrote && wantsJSON(args) {
			_ = writeJSON(out, errorDoc{describeError(code, err)})
		}
		if !out.wrote && wantsJUnit(args) {
			_ = writeJUnit(out, []junitCase{junitInvalidCase("flowpg check", err)})
		}
	}
	if code == ExitOK && exitCode >= 0 {
		return exitCode
	}
	return code
}

// usageError reports a command line the parser, or a command's Validate,
// refused: the error (its secrets masked) on stderr, then the usage there
// too, for stdout may be redirected to a file that must hold only the
// command's output; with -o json or -o junit, stdout gets the one document
// that says it.
func usageError(parser *kong.Kong, streams *IO, args []string, err error) int {
	msg := redactArgs(err.Error(), args)
	fmt.Fprintf(streams.Stderr, "flowpg: %s\n", printable.Text(msg))
	if wantsJUnit(args) {
		// A pipeline publishes the report whatever the exit code: it gets
		// a document with the error, not an empty file.
		_ = writeJUnit(streams.Stdout, []junitCase{junitInvalidCase("flowpg check", errors.New(msg))})
	}
	if wantsJSON(args) {
		_ = writeJSON(streams.Stdout, errorDoc{errorInfo{Code: "usage", Message: msg}})
	} else if pe := (*kong.ParseError)(nil); errors.As(err, &pe) && pe.Context != nil {
		parser.Stdout = streams.Stderr
		_ = pe.Context.PrintUsage(true)
	}
	return ExitInvalid
}

// watchedWriter remembers whether anything was written through it.
type watchedWriter struct {
	w     io.Writer
	wrote bool
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.wrote = w.wrote || len(p) > 0
	return w.w.Write(p)
}

// wantsJSON reports whether args ask for -o json (in any of the spellings
// the parser takes), so that even arguments the parser rejects get their
// error as JSON.
func wantsJSON(args []string) bool { return outputFormat(args) == "json" }

// wantsJUnit reports whether args ask check for -o junit, the one command
// that writes it.
func wantsJUnit(args []string) bool {
	if outputFormat(args) != "junit" {
		return false
	}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a == "check"
		}
	}
	return false
}

// outputFormat is the value of -o/--output in args, in any of the
// spellings the parser takes; "" without one.
func outputFormat(args []string) string {
	for i, a := range args {
		switch {
		case a == "--":
			return ""
		case a == "-o" || a == "--output":
			if i+1 < len(args) {
				return args[i+1]
			}
		case strings.HasPrefix(a, "--output="):
			return strings.TrimPrefix(a, "--output=")
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			return a[2:]
		}
	}
	return ""
}

// joinNegativeValues joins a flag that takes a value to a following
// negative number (--concurrency -1 becomes --concurrency=-1), which the
// parser would otherwise read as a short flag named 1; the command then
// says what is wrong with the number.
func joinNegativeValues(parser *kong.Kong, args []string) []string {
	takesValue := map[string]bool{}
	_ = kong.Visit(parser.Model, func(n kong.Visitable, next kong.Next) error {
		if f, ok := n.(*kong.Flag); ok && !f.IsBool() && !f.IsCounter() {
			takesValue["--"+f.Name] = true
			if f.Short != 0 {
				takesValue["-"+string(f.Short)] = true
			}
		}
		return next(nil)
	})
	var joined []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(joined, args[i:]...)
		}
		if takesValue[a] && i+1 < len(args) && isNegativeNumber(args[i+1]) {
			joined = append(joined, a+"="+args[i+1])
			i++
			continue
		}
		joined = append(joined, a)
	}
	return joined
}

// isNegativeNumber reports whether s is a minus sign and a number, such as
// -1, -0.5 or -3s.
func isNegativeNumber(s string) bool {
	return len(s) > 1 && s[0] == '-' && (s[1] >= '0' && s[1] <= '9' || s[1] == '.')
}

// redactArgs masks the secrets in a command-line parser's message, which
// quotes the arguments it could not place: a connection string given where
// a flag's value belongs, or with the command name forgotten. Each argument
// is masked as connstr.Redact masks it, wherever the message quotes it, and
// the message itself once more, in case it quoted an argument in part.
func redactArgs(msg string, args []string) string {
	for _, a := range args {
		if r := connstr.Redact(a); r != a {
			msg = strings.ReplaceAll(msg, a, r)
			msg = strings.ReplaceAll(msg, strconv.Quote(a), strconv.Quote(r))
		}
	}
	return connstr.Redact(msg)
}
