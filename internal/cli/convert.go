package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/flowpg/flowpg/connstr"
)

// ConvertCmd converts a credential between AEP's connection string, AEP's
// basic authentication params, a libpq DSN and a postgres:// URL.
type ConvertCmd struct {
	Input

	To           string `required:"" enum:"connstr,basic,libpq,url" placeholder:"FORM" help:"Output form: connstr (AEP's DataDirect string), basic (AEP's basic authentication auth object, JSON), libpq (keyword DSN) or url (postgres://)."`
	SSLModeStyle string `name:"ssl-mode-style" enum:"tutorial,overview" default:"tutorial" help:"sslMode vocabulary for --to basic: tutorial (Disable, Allow, Prefer, Verify Ca, Verify Full) or overview (…, Require, Verify-Ca, Verify-Full)."`
}

// Help is shown by flowpg convert --help.
func (ConvertCmd) Help() string {
	return `Converts a connection string (DataDirect, libpq, URL or Npgsql form) or a
basic-authentication JSON object ({"specName":…,"params":{…}} or the params
alone) into another form, and prints it in full, password included: that is
its purpose. Warnings about anything the target form cannot carry go to
standard error.

Examples:
  echo "$CONN" | flowpg convert --to basic -
  flowpg convert --to connstr 'postgres://aep@db.example.com:5432/sales?sslmode=verify-full'
  flowpg convert --to libpq - < conn.txt | xargs -0 psql
  echo '{"server":"db","port":"5432","database":"sales","username":"aep","password":"…","sslMode":"Verify Full"}' | flowpg convert --to connstr -

A password given as an argument is visible to other users in ps: prefer
standard input (-) or $FLOWPG_CONNECTION_STRING.

Exit codes: 0 converted (warnings allowed), 2 the input cannot be read.`
}

// authObject is the auth object of a Flow Service connection.
type authObject struct {
	SpecName string            `json:"specName"`
	Params   connstr.BasicAuth `json:"params"`
}

// Run converts and prints.
func (c *ConvertCmd) Run(streams *IO) error {
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
		return invalidInput(streams, s, err)
	}
	warnCommandLineSecret(streams, c.Input, p)
	conn, warns := p.Conn, p.Warnings
	out, more, err := convertTo(conn, c.To, style)
	if err != nil {
		return invalid(err)
	}
	warns = mergeWarnings(warns, more)
	if verr := conn.Validate(); verr != nil {
		var ve *connstr.ValidationError
		if errors.As(verr, &ve) {
			for _, f := range ve.Fields {
				warns = append(warns, connstr.Warning{Code: "incomplete", Field: f.Field, Message: f.Field + ": " + f.Message})
			}
		}
	}
	printWarnings(streams.Stderr, warns)
	if _, err := io.WriteString(streams.Stdout, out); err != nil {
		return failed(err)
	}
	return nil
}

// convertTo renders conn in the form to names, newline-terminated.
func convertTo(conn connstr.Conn, to string, style connstr.SSLModeStyle) (string, []connstr.Warning, error) {
	switch to {
	case "connstr":
		s, warns := connstr.Build(conn)
		return s + "\n", warns, nil
	case "basic":
		params, warns := conn.BasicAuth(style)
		var b strings.Builder
		if err := writeJSON(&b, authObject{SpecName: connstr.BasicAuthSpecName, Params: params}); err != nil {
			return "", nil, err
		}
		return b.String(), warns, nil
	case "libpq":
		s, warns := conn.LibPQ()
		return s + "\n", warns, nil
	case "url":
		s, warns := conn.URL()
		return s + "\n", warns, nil
	}
	return "", nil, fmt.Errorf("unknown output form %q (want connstr, basic, libpq or url)", to)
}
