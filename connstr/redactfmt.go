package connstr

import (
	"fmt"
	"io"
	"strings"
)

// This file is the one implementation of fmt's methods for the types that
// hold a secret: Conn, Property and BasicAuth (Format and GoString) and
// Parsed (GoString; its field named Format leaves it no Format method).
// Each passes a copy whose secrets are already replaced by Redacted,
// converted to a type of the same fields and no methods, so that fmt
// prints it field by field instead of calling back into these methods.

// formatRedacted implements fmt.Formatter for the type called name:
//
//	%#v      Go syntax, as GoString
//	%+v      the fields by name
//	%v %s %q str, with the verb's flags, width and precision
//	others   %!verb(connstr.name=str), as fmt marks a verb that does not fit
//
// fields is the redacted copy, str the redacted String. Every verb prints
// one or the other, so none can show a secret. fmt bypasses Format in one
// case only: %p of a value that is not a pointer, which go vet reports,
// prints the fields raw.
func formatRedacted(f fmt.State, verb rune, name string, fields any, str string) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, goStringRedacted(name, fields))
	case verb == 'v' && f.Flag('+'):
		_, _ = fmt.Fprintf(f, "%+v", fields)
	case verb == 'v' || verb == 's' || verb == 'q':
		_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), str)
	default:
		_, _ = fmt.Fprintf(f, "%%!%c(connstr.%s=%s)", verb, name, str)
	}
}

// goStringRedacted returns the Go syntax of fields, the redacted copy of a
// value of the type called name, under that name: fmt would name the
// method-free type (connstr.connFields{…}).
func goStringRedacted(name string, fields any) string {
	s := fmt.Sprintf("%#v", fields)
	if i := strings.IndexByte(s, '{'); i >= 0 {
		return "connstr." + name + s[i:]
	}
	return s
}
