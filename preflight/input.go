package preflight

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/flowpg/flowpg/connstr"
)

// InputDetails are the findings of the input stage. The password is never
// included.
type InputDetails struct {
	Server   string `json:"server"`
	Port     int    `json:"port"`
	Database string `json:"database"`
	User     string `json:"username"`
	// SSLMode is the mode checked: Options.SSLMode, or else the mode the
	// connection's TLS keys map to.
	SSLMode connstr.SSLMode `json:"sslMode"`
	// RequestedSSLMode is the mode the connection's own TLS keys map to, when
	// another is checked.
	RequestedSSLMode connstr.SSLMode `json:"requestedSslMode,omitempty"`
	// SSLModeReason is Options.SSLModeReason, when another mode is checked.
	SSLModeReason string            `json:"sslModeReason,omitempty"`
	Warnings      []connstr.Warning `json:"warnings,omitempty"`
}

// input validates the connection and maps its TLS keys to an sslmode.
func (r *runner) input() Result {
	res := Result{ID: StageInput}
	c := r.conn
	var ve *connstr.ValidationError
	if err := c.Validate(); err != nil {
		res.Status = Fail
		res.Message = err.Error()
		if errors.As(err, &ve) && len(ve.Fields) > 0 {
			res.Field = Field(ve.Fields[0].Field)
		}
		res.Remediation = "fix the connection string; every field AEP's basic authentication takes is required"
		return res
	}
	for i, t := range r.opts.Tables {
		if !ValidTable(t) {
			res.Status, res.Field = Fail, FieldTable
			res.Message = fmt.Sprintf("table %d of the tables to check, %q, names no table: a schema or a name is empty", i+1, t)
			res.Remediation = "name each table to check as schema.name, or as name for one in the public schema"
			return res
		}
	}
	var warns []connstr.Warning
	r.own, warns = c.SSLMode()
	warns = append(append([]connstr.Warning(nil), r.opts.InputWarnings...), warns...)
	if r.own == connstr.SSLModeUnset {
		r.own = connstr.SSLDisable
	}
	r.mode = r.opts.SSLMode
	if r.mode == connstr.SSLModeUnset {
		r.mode = r.own
	}
	r.libpq = r.mode.LibPQ()
	if len(r.opts.PinSHA256) > 0 && plaintextFirst(r.mode) {
		res.Status, res.Field = Fail, FieldSSLMode
		res.Message = fmt.Sprintf("a pin needs TLS before the password, and sslMode %s sends the password in plaintext before any certificate is seen", r.libpq)
		res.Remediation = "check under an sslMode that starts with TLS (Prefer or stricter), or leave out " + OptionPinSHA256.String()
		res.Option = OptionPinSHA256
		return res
	}
	r.host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(c.Server), "["), "]")
	r.port = c.PortOrDefault()

	v, err := newVerifier(r.host, r.opts.RootCAs, r.opts.PinSHA256, r.opts.Now)
	if err != nil {
		res.Status, res.Message = Fail, err.Error()
		res.Remediation = "fix " + OptionPinSHA256.String()
		res.Option = OptionPinSHA256
		return res
	}
	r.verifier = v

	d := &InputDetails{Server: r.host, Port: r.port, Database: c.Database, User: c.User, SSLMode: r.mode, Warnings: warns}
	res.Details = d
	res.Status = Pass
	res.Message = fmt.Sprintf("%s@%s/%s, sslMode %s", c.User, net.JoinHostPort(r.host, strconv.Itoa(r.port)), c.Database, r.libpq)
	if r.own != r.mode {
		d.RequestedSSLMode, d.SSLModeReason = r.own, r.opts.SSLModeReason
		why := r.opts.SSLModeReason
		if why == "" {
			why = "as asked"
		}
		res.Message += fmt.Sprintf(" (%s; the connection string itself asks for %s)", why, r.own.LibPQ())
	}
	if len(warns) > 0 {
		res.Status = Warn
		res.Field = Field(warns[0].Field)
		msgs := make([]string, len(warns))
		for i, w := range warns {
			msgs[i] = w.Message
		}
		res.Message += ": " + strings.Join(msgs, "; ")
	}
	return res
}

// target names the connection for reports, without the password.
func (r *runner) target() string {
	host := r.host
	if host == "" {
		host = strings.TrimSpace(r.conn.Server)
	}
	port := r.port
	if port == 0 {
		port = r.conn.PortOrDefault()
	}
	return fmt.Sprintf("%s@%s/%s", r.conn.User, net.JoinHostPort(host, strconv.Itoa(port)), r.conn.Database)
}
