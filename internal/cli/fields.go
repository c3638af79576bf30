package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flowpg/flowpg/connstr"
)

// Fields describe a connection field by field, for build and connect. The
// password comes from standard input, a file or $FLOWPG_PASSWORD; the
// --password flag works but is visible in ps and draws a warning.
type Fields struct {
	Server        string `help:"Database host name or address, as AEP will reach it."`
	Port          int    `default:"5432" help:"TCP port (1-65535)."`
	Database      string `help:"Database name."`
	User          string `help:"User name AEP logs in as."`
	SSLMode       string `name:"ssl-mode" default:"verify-full" help:"sslMode in any spelling: disable, allow, prefer, require, verify-ca, verify-full (Verify Ca, Verify-Full, … also accepted)."`
	PasswordFlags `embed:""`
}

// PasswordFlags say where a password comes from: standard input, a file or
// $FLOWPG_PASSWORD; --password works but is visible in ps and draws a
// warning.
type PasswordFlags struct {
	PasswordStdin bool   `name:"password-stdin" help:"Read the password from standard input (one line)."`
	PasswordFile  string `name:"password-file" type:"path" placeholder:"FILE" help:"Read the password from this file (a trailing newline is dropped)."`
	Password      string `help:"The password itself. Insecure: visible to other users in ps; prefer --password-stdin, --password-file or $$FLOWPG_PASSWORD."`
}

// given reports whether any identifying field was set.
func (f *Fields) given() bool { return f.Server != "" || f.Database != "" || f.User != "" }

// conn assembles and validates the connection the fields describe.
func (f *Fields) conn(streams *IO) (connstr.Conn, []connstr.Warning, error) {
	password, warns, err := f.password(streams)
	if err != nil {
		return connstr.Conn{}, nil, err
	}
	if f.Port < 1 || f.Port > 65535 {
		return connstr.Conn{}, warns, fmt.Errorf("--port %d is out of range 1-65535", f.Port)
	}
	mode, err := connstr.ParseSSLMode(f.SSLMode)
	if err != nil {
		return connstr.Conn{}, warns, err
	}
	conn := connstr.Conn{Server: f.Server, Port: f.Port, Database: f.Database, User: f.User, Password: password}
	warns = append(warns, conn.SetSSLMode(mode)...)
	return conn, warns, conn.Validate()
}

// password reads the password from the one source given, else from
// $FLOWPG_PASSWORD.
func (f *PasswordFlags) password(streams *IO) (string, []connstr.Warning, error) {
	n := 0
	for _, set := range []bool{f.PasswordStdin, f.PasswordFile != "", f.Password != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return "", nil, errors.New("give the password one way only: --password-stdin, --password-file or --password")
	}
	switch {
	case f.PasswordStdin:
		b, err := io.ReadAll(io.LimitReader(streams.Stdin, connstr.MaxInputSize+1))
		if err != nil {
			return "", nil, fmt.Errorf("reading the password from standard input: %w", err)
		}
		return trimNewline(string(b)), nil, nil
	case f.PasswordFile != "":
		b, err := os.ReadFile(f.PasswordFile)
		if err != nil {
			return "", nil, fmt.Errorf("reading the password file: %w", err)
		}
		return trimNewline(string(b)), nil, nil
	case f.Password != "":
		return f.Password, []connstr.Warning{{Code: connstr.WarnPasswordOnCommandLine, Field: "password",
			Message: "--password is visible to other users in ps; prefer --password-stdin, --password-file or $FLOWPG_PASSWORD"}}, nil
	}
	// The environment is read here, not through a flag's env tag, so that a
	// password from the environment never triggers the ps warning.
	return os.Getenv("FLOWPG_PASSWORD"), nil, nil
}

// trimNewline drops one trailing line ending.
func trimNewline(s string) string {
	return strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
}
