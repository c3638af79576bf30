package connstr

import (
	"fmt"
	"strings"
)

// ParseError is a syntax or value error at a byte offset of the input. Its
// text never contains a secret value.
type ParseError struct {
	Offset int    // byte offset of the offending byte; -1 when unknown
	Key    string // the key concerned, as written; "" when none
	Msg    string // what is wrong and, where it helps, the fix; never a secret value
	// Hidden, when positive, is how many bytes from Offset may be part of a
	// secret (a segment without '=', which a password holding ';' leaves
	// behind): an echo of the input must not show them.
	Hidden int
}

// Error describes the error with its offset and key, never a value that
// could be a secret: a key that is not a plain name (mangled input, a URL
// of another scheme) is shown through Redact.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("connstr: ")
	if e.Offset >= 0 {
		fmt.Fprintf(&b, "offset %d: ", e.Offset)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", Redact(e.Key))
	}
	b.WriteString(e.Msg)
	return b.String()
}

// FieldError is one invalid field of a Conn. Field is the basic
// authentication name of the field: server, port, database, username,
// password or sslMode.
type FieldError struct {
	Field   string `json:"field"`   // server, port, database, username, password or sslMode
	Message string `json:"message"` // what is wrong with it, and the fix where there is one
}

// Error names the field and what is wrong with it.
func (e FieldError) Error() string { return "connstr: " + e.Field + ": " + e.Message }

// ValidationError lists every invalid field of a Conn.
type ValidationError struct {
	Fields []FieldError // every invalid field, in the order of basic authentication's params
}

// Error lists every invalid field.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "connstr: invalid connection: " + strings.Join(parts, "; ")
}

// Validate checks that c holds what AEP requires: a server, a port in
// 1–65535 (0 means DefaultPort), a database, a user and a password (AEP's
// basic authentication requires one, and a string without one cannot log
// in), and an EncryptionMethod PostgreSQL supports. The server must be one
// host AEP can dial over TCP: a host name, an IPv4 address or an IPv6
// address (bracketed or not), with no port, no spaces, no list of hosts
// and no Unix-socket path; each fault is named with its fix. It returns
// nil or a *ValidationError naming every bad field.
func (c Conn) Validate() error {
	var errs []FieldError
	if strings.TrimSpace(c.Server) == "" {
		errs = append(errs, FieldError{"server", "required"})
	} else if _, f := checkServer(c.Server); f != nil {
		errs = append(errs, FieldError{"server", f.message("Server", "Port")})
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, FieldError{"port", fmt.Sprintf("%d is out of range 1-65535", c.Port)})
	}
	if c.Database == "" {
		errs = append(errs, FieldError{"database", "required"})
	}
	if c.User == "" {
		errs = append(errs, FieldError{"username", "required"})
	}
	if c.Password == "" {
		errs = append(errs, FieldError{"password", "required by AEP"})
	}
	if c.Encryption < EncryptionUnset || c.Encryption > EncryptionRequestSSL {
		errs = append(errs, FieldError{"sslMode", "EncryptionMethod must be 0, 1 or 6"})
	}
	if c.ValidateServerCertificate < Unset || c.ValidateServerCertificate > True {
		errs = append(errs, FieldError{"sslMode", "ValidateServerCertificate must be 0 or 1"})
	}
	if errs != nil {
		return &ValidationError{Fields: errs}
	}
	return nil
}
