package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/flowpg/flowpg/connstr"
)

// Input is the connection-string argument shared by commands that read one:
// a literal string, "-" for standard input, or, with no argument,
// FLOWPG_CONNECTION_STRING.
type Input struct {
	String string `arg:"" optional:"" name:"STRING" help:"Connection string, or - to read it from standard input (default $$FLOWPG_CONNECTION_STRING)."`

	// from records where read found the string.
	from source
}

// source is where a connection string came from.
type source int8

const (
	fromNowhere  source = iota
	fromArgument        // the command line, where ps shows it
	fromStdin
	fromEnv // FLOWPG_CONNECTION_STRING
)

// given reports whether there is a connection string to read: an argument,
// or FLOWPG_CONNECTION_STRING.
func (in *Input) given(streams *IO) bool {
	return in.String != "" || streams.getenv("FLOWPG_CONNECTION_STRING") != ""
}

// read returns the connection string, reading stdin when asked, and records
// where it came from. Input is bounded to connstr.MaxInputSize so a runaway
// pipe cannot exhaust memory. A UTF-8 byte-order mark at the start, which
// Windows editors write, is dropped, so that a basic-authentication JSON
// object is still seen as one.
func (in *Input) read(streams *IO) (string, error) {
	const bom = "\uFEFF" // local: the name is short, and other files read input too
	switch in.String {
	case "":
		if s, ok := streams.lookupEnv("FLOWPG_CONNECTION_STRING"); ok && s != "" {
			in.from = fromEnv
			return strings.TrimPrefix(s, bom), nil
		}
		return "", invalid(errors.New("no connection string: pass it as an argument, as - on standard input, or in FLOWPG_CONNECTION_STRING"))
	case "-":
		in.from = fromStdin
		b, err := io.ReadAll(io.LimitReader(streams.Stdin, connstr.MaxInputSize+1))
		if err != nil {
			return "", invalid(fmt.Errorf("reading standard input: %w", err))
		}
		// A pasted string usually ends with one newline; nothing else is trimmed.
		return strings.TrimPrefix(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), bom), nil
	default:
		in.from = fromArgument
		return strings.TrimPrefix(in.String, bom), nil
	}
}
