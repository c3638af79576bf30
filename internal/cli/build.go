package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flowpg/flowpg/connstr"
)

// BuildCmd assembles a connection from flags and prints it in one of the
// forms convert writes.
type BuildCmd struct {
	Server        string `required:"" help:"Database host name or address, as AEP will reach it."`
	Port          int    `default:"5432" help:"TCP port (1-65535)."`
	Database      string `required:"" help:"Database name."`
	User          string `required:"" help:"User name AEP logs in as."`
	SSLMode       string `name:"ssl-mode" default:"verify-full" help:"sslMode in any spelling: disable, allow, prefer, require, verify-ca, verify-full (Verify Ca, Verify-Full, … also accepted)."`
	PasswordStdin bool   `name:"password-stdin" help:"Read the password from standard input (one line)."`
	PasswordFile  string `name:"password-file" type:"path" placeholder:"FILE" help:"Read the password from this file (a trailing newline is dropped)."`
	Password      string `help:"The password itself. Insecure: visible to other users in ps; prefer --password-stdin, --password-file or $${FLOWPG_PASSWORD}."`
	To            string `default:"connstr" enum:"connstr,basic,libpq,url" placeholder:"FORM" help:"Output form: connstr (default), basic, libpq or url."`
	SSLModeStyle  string `name:"ssl-mode-style" enum:"tutorial,overview" default:"tutorial" help:"sslMode vocabulary for --to basic: tutorial or overview."`
}

// Help is shown by flowpg build --help.
func (BuildCmd) Help() string {
	return `Builds AEP's connection string (or basic-authentication params, a libpq DSN or
a URL) from its parts, with canonical keys and the TLS keys that match the
sslMode. The password is read from standard input (--password-stdin), a file
(--password-file) or $FLOWPG_PASSWORD, in that order of preference; --password
works but is visible in ps.

Examples:
  printf %s "$PW" | flowpg build --server db.example.com --database sales --user aep --password-stdin
  FLOWPG_PASSWORD=… flowpg build --server db.example.com --database sales --user aep --ssl-mode require --to basic
  flowpg build --server db --database sales --user aep --password-file pw.txt --to url

Exit codes: 0 built (warnings allowed), 2 a missing or invalid field.`
}

// Run builds and prints.
func (c *BuildCmd) Run(streams *IO) error {
	style, err := connstr.ParseSSLModeStyle(c.SSLModeStyle)
	if err != nil {
		return invalid(err)
	}
	password, warns, err := c.password(streams)
	if err != nil {
		return invalid(err)
	}
	if c.Port < 1 || c.Port > 65535 {
		return invalid(fmt.Errorf("--port %d is out of range 1-65535", c.Port))
	}
	mode, err := connstr.ParseSSLMode(c.SSLMode)
	if err != nil {
		return invalid(err)
	}
	conn := connstr.Conn{Server: c.Server, Port: c.Port, Database: c.Database, User: c.User, Password: password}
	warns = append(warns, conn.SetSSLMode(mode)...)
	if err := conn.Validate(); err != nil {
		printWarnings(streams.Stderr, warns)
		return invalid(err)
	}
	out, more, err := convertTo(conn, c.To, style)
	if err != nil {
		return invalid(err)
	}
	printWarnings(streams.Stderr, mergeWarnings(warns, more))
	if _, err := io.WriteString(streams.Stdout, out); err != nil {
		return failed(err)
	}
	return nil
}

// password reads the password from the one source given.
func (c *BuildCmd) password(streams *IO) (string, []connstr.Warning, error) {
	n := 0
	for _, set := range []bool{c.PasswordStdin, c.PasswordFile != "", c.Password != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return "", nil, errors.New("give the password one way only: --password-stdin, --password-file or --password")
	}
	switch {
	case c.PasswordStdin:
		b, err := io.ReadAll(io.LimitReader(streams.Stdin, connstr.MaxInputSize+1))
		if err != nil {
			return "", nil, fmt.Errorf("reading the password from standard input: %w", err)
		}
		return trimNewline(string(b)), nil, nil
	case c.PasswordFile != "":
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return "", nil, fmt.Errorf("reading the password file: %w", err)
		}
		return trimNewline(string(b)), nil, nil
	case c.Password != "":
		return c.Password, []connstr.Warning{{Code: connstr.WarnPasswordOnCommandLine, Field: "password",
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
