package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flowpg/flowpg/connstr"
)

// Input is the connection-string argument shared by commands that read one:
// a literal string, "-" for standard input, or FLOWPG_CONNECTION_STRING.
type Input struct {
	String string `arg:"" optional:"" name:"STRING" help:"Connection string, or - to read it from standard input." env:"FLOWPG_CONNECTION_STRING"`
}

// read returns the connection string, reading stdin when asked. Input is
// bounded to connstr.MaxInputSize so a runaway pipe cannot exhaust memory.
// A UTF-8 byte-order mark at the start, which Windows editors write, is
// dropped, so that a basic-authentication JSON object is still seen as one.
func (in Input) read(streams *IO) (string, error) {
	const bom = "\uFEFF" // local: the name is short, and other files read input too
	switch in.String {
	case "":
		return "", invalid(errors.New("no connection string: pass it as an argument, as - on standard input, or in FLOWPG_CONNECTION_STRING"))
	case "-":
		b, err := io.ReadAll(io.LimitReader(streams.Stdin, connstr.MaxInputSize+1))
		if err != nil {
			return "", invalid(fmt.Errorf("reading standard input: %w", err))
		}
		// A pasted string usually ends with one newline; nothing else is trimmed.
		return strings.TrimPrefix(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), bom), nil
	default:
		return strings.TrimPrefix(in.String, bom), nil
	}
}

// envConnString is $FLOWPG_CONNECTION_STRING, which kong also gives the
// STRING argument when none is given.
func envConnString() string { return os.Getenv("FLOWPG_CONNECTION_STRING") }
