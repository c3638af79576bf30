package cli

import (
	"io"

	"github.com/flowpg/flowpg/connstr"
)

// BuildCmd assembles a connection from flags and prints it in one of the
// forms convert writes.
type BuildCmd struct {
	Fields `embed:""`

	To           string `default:"connstr" enum:"connstr,basic,libpq,url" placeholder:"FORM" help:"Output form: connstr (default), basic, libpq or url."`
	SSLModeStyle string `name:"ssl-mode-style" enum:"tutorial,overview" default:"tutorial" help:"sslMode vocabulary for --to basic: tutorial or overview."`
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
	conn, warns, err := c.Fields.conn(streams)
	if err != nil {
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
