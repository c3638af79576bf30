package connstr

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Format is the form a connection string was written in.
type Format int8

// The forms Parse detects.
const (
	FormatUnknown    Format = iota // not one of the forms below; a successful Parse never has it
	FormatDataDirect               // AEP's DataDirect/ODBC form: Server=…;Database=…;…
	FormatLibPQ                    // libpq keyword DSN: host=… port=… dbname=…
	FormatURL                      // postgres://, postgresql:// or jdbc:postgresql:// URL
	FormatNpgsql                   // Npgsql/ADO.NET form: Host=…;Username=…;SSL Mode=…
	FormatJSON                     // AEP's basic authentication as JSON: {"server": …, "sslMode": …} or {"specName": …, "params": {…}}
)

var formatNames = [...]string{"unknown", "datadirect", "libpq", "url", "npgsql", "json"}

// String returns "datadirect", "libpq", "url", "npgsql", "json" or "unknown".
func (f Format) String() string {
	if f < 0 || int(f) >= len(formatNames) {
		return "unknown"
	}
	return formatNames[f]
}

// MarshalText writes f as its String, so Format reads well in JSON.
func (f Format) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads a Format written by MarshalText.
func (f *Format) UnmarshalText(b []byte) error {
	for i, n := range formatNames {
		if string(b) == n {
			*f = Format(i)
			return nil
		}
	}
	return fmt.Errorf("connstr: unknown format %q", b)
}

// Parsed is the result of Parse.
type Parsed struct {
	// Format is the detected form of the input.
	Format Format `json:"inputFormat"`
	// Conn is the connection the input describes, in DataDirect terms. It
	// holds only what the input says: no defaults, no environment. In
	// JSON it is its String, password redacted (see Conn.MarshalJSON).
	Conn Conn `json:"connection"`
	// Properties are the key/value pairs as written, in input order: keys
	// with their spelling, values decoded (braces and quotes removed).
	Properties []Property `json:"properties"`
	// Warnings are non-fatal remarks, in input order.
	Warnings []Warning `json:"warnings"`
}

// Redacted returns a copy of p whose Conn and secret Properties are
// redacted (see Conn.Redacted and Property.Secret).
func (p Parsed) Redacted() Parsed {
	p.Conn = p.Conn.Redacted()
	p.Properties = redactProperties(p.Properties)
	return p
}

// String returns the format and the canonical string, password redacted.
// Parsed has no Format method (its Format field takes the name), but fmt
// prints it through String or GoString for %v, %+v, %#v, %s and %q, and
// through Conn's and Property's Format methods for any other verb. One
// case escapes both: a *Parsed inside another value, printed with a verb
// that fits no pointer (%c, %e, %t, %U, …), for which fmt calls no method
// and prints the fields raw; print the Parsed itself, or its String.
func (p Parsed) String() string { return p.Format.String() + ": " + p.Conn.String() }

// parsedFields has Parsed's fields and none of its methods.
type parsedFields Parsed

// GoString returns a Go-syntax representation of p with secrets redacted.
func (p Parsed) GoString() string { return goStringRedacted("Parsed", parsedFields(p.Redacted())) }

// Parse detects the form of s and parses it.
//
// A string starting with '{' is AEP's basic authentication as JSON, the auth
// object ({"specName": "Basic Authentication", "params": {…}}) or its params
// alone, every value a string; the sslMode is read as FromBasicAuth reads it.
// A string starting with postgres://, postgresql:// or jdbc:postgresql://
// is a URL, and a URL of any other scheme is an error; a string whose
// first key is a lowercase libpq keyword followed by a space-separated (not
// ';'-separated) value is a libpq DSN. Both go through pgx's
// pgconn.ParseConfig. Anything else is ';'-separated: it is Npgsql when a
// key only Npgsql knows appears (SSL Mode, Trust Server Certificate, Root
// Certificate, SSL Certificate, SSL Key, SSL Password, Search Path, Command
// Timeout, Pooling, …), or when Host and Username both appear and no key
// only DataDirect knows (EncryptionMethod and the other TLS keys, HostName,
// PortNumber, DatabaseName, LogonID) does; otherwise it is DataDirect.
//
// The DataDirect grammar (ODBC SQLDriverConnect rules):
//
//   - key=value pairs separated by ';'; a trailing ';' and empty segments
//     are allowed;
//   - whitespace around keys is ignored and keys are case-insensitive;
//   - whitespace around an unbraced value is also ignored (trimmed): a value
//     with leading or trailing spaces must be brace-quoted, and Build does so;
//   - a value starting with '{' runs to the matching '}' and may hold ';',
//     '=' and spaces; inside it "}}" is a literal '}'; only whitespace may
//     follow the closing brace;
//   - a repeated key, or a key and its alias, is an error naming both.
//
// Keys and their aliases:
//
//	Server (Host, HostName)          the database host name or address
//	Port (PortNumber)                the TCP port, 1–65535; DefaultPort if absent
//	Database (DatabaseName, DB)      the database name
//	UID (User, User ID, Username, LogonID)  the user name
//	Password (PWD)                   the password
//	EncryptionMethod                 0 none (default), 1 TLS required, 6 TLS if the server offers it
//	ValidateServerCertificate        0 or 1: verify the certificate chain (ValidationServerCertificate
//	                                 is accepted with a warning)
//	HostNameInCertificate            the host name the certificate must carry; #SERVERNAME# means Server
//	TrustStore                       the CA file the driver verifies against
//	CryptoProtocolVersion            the TLS versions the driver allows
//
// Other keys are kept in Conn.Extra, in order, with an unknown-key warning.
//
// Npgsql strings use Npgsql's key names (Host, Server, Port, Database,
// Username, User ID, Password, SSL Mode, Trust Server Certificate; spaces in
// keys are ignored) and ADO.NET quoting ("…" or '…', doubled to escape); the
// SSL Mode is turned into DataDirect TLS keys with Conn.SetSSLMode. Without
// an SSL Mode, Npgsql's default, Prefer, is used and a warning says so.
//
// In every form:
//
//   - the server must be one host AEP can dial over TCP, as Validate says:
//     a port inside it ("db:5433"), whitespace, several hosts ("db1,db2"),
//     a number that is not an IPv4 address ("256.1.1.1") or a Unix-socket
//     path is an error naming the key, the byte and the fix; a bracketed
//     IPv6 literal ("[2001:db8::1]") means the address inside, and
//     Conn.Server holds it without brackets;
//   - '#' is part of a value, never the start of a comment, as libpq and
//     pgx read it (in a URL too: neither knows fragments), so a password
//     may hold one; a key starting with '#' is an error saying so. (A file
//     of connection strings may take whole lines starting with '#' as
//     comments; that is the file's syntax, not this one's.)
//   - a UTF-8 byte-order mark at the start is ignored; offsets still count
//     from the start of s;
//   - input that sets no field of Conn (foo=bar: no key Parse knows; or
//     only empty ones) is an error, not an empty success.
//
// Input over MaxInputSize, with a NUL byte or invalid UTF-8, or blank, is an
// error. So is a libpq or URL string with a key that makes pgconn read a
// local file (passfile, service, servicefile, sslrootcert, sslcert, sslkey;
// matched exactly, as libpq does). sslrootcert=system names no file: libpq
// 16 and pgx read it as the system's trusted roots with verify-full, so it
// means Verify Full, and a weaker sslmode with it is an error. For those
// two forms Conn holds only what the string says: PG* environment
// variables, ~/.pgpass and ~/.postgresql files, and pgconn's defaults are
// kept out. The string is read by libpq's grammar and checked against
// what pgconn read; host, port, dbname, user, password and sslmode set
// Conn's fields, and every other setting, libpq's (such as connect_timeout
// or channel_binding) or a run-time parameter, is kept in Conn.Extra.
// Errors are *ParseError and never contain a secret value.
func Parse(s string) (*Parsed, error) {
	if strings.HasPrefix(s, bom) {
		p, err := parse(s[len(bom):])
		shiftOffsets(p, err, len(bom))
		return p, err
	}
	return parse(s)
}

// bom is the UTF-8 byte-order mark, which Windows editors put at the start
// of a file.
const bom = "\uFEFF"

// parse hands s, past any byte-order mark, to the parser of its form:
// parseJSON, parseURL (postgres://, postgresql://, jdbc:postgresql://),
// parseLibPQ, or parseSemicolon for DataDirect and Npgsql.
func parse(s string) (*Parsed, error) {
	if err := checkInput(s); err != nil {
		return nil, err
	}
	t := skipSpace(s, 0)
	if t < len(s) && s[t] == '{' {
		// A '{' opens no DataDirect key, only a JSON object.
		return parseJSON(s)
	}
	if scheme, ok := urlScheme(s[t:]); ok {
		switch {
		case strings.EqualFold(scheme, "jdbc:postgresql"):
			// JDBC's URL is a postgresql:// URL behind "jdbc:"; blanking the
			// prefix keeps every offset that of the input.
			return parseURL(strings.Repeat(" ", t+len("jdbc:"))+s[t+len("jdbc:"):], t+len("jdbc:"))
		case !strings.EqualFold(scheme, "postgres") && !strings.EqualFold(scheme, "postgresql"):
			return nil, &ParseError{Offset: t, Msg: fmt.Sprintf("a %s:// URL is not a PostgreSQL connection: connstr reads postgres://, postgresql:// and jdbc:postgresql:// URLs", scheme)}
		}
	}
	switch f, start := detectForm(s); f {
	case FormatURL:
		return parseURL(s, start)
	case FormatLibPQ:
		return parseLibPQ(s)
	}
	return parseSemicolon(s)
}

// shiftOffsets moves the offsets of a result or an error by n bytes, so
// that they count from the start of the input as given.
func shiftOffsets(p *Parsed, err error, n int) {
	shift := func(o *int) {
		if *o >= 0 {
			*o += n
		}
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		shift(&pe.Offset)
	}
	if p == nil {
		return
	}
	for _, props := range [][]Property{p.Properties, p.Conn.Extra} {
		for i := range props {
			shift(&props[i].Offset)
			shift(&props[i].ValueOffset)
		}
	}
}

// checkInput refuses what no form accepts: input over MaxInputSize, a NUL
// byte, invalid UTF-8, or nothing but whitespace.
func checkInput(s string) error {
	if len(s) > MaxInputSize {
		return &ParseError{Offset: MaxInputSize, Msg: fmt.Sprintf("input is %d bytes, over the %d-byte limit", len(s), MaxInputSize)}
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return &ParseError{Offset: i, Msg: "NUL byte in input"}
	}
	if !utf8.ValidString(s) {
		for i, r := range s {
			if r == utf8.RuneError {
				if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
					return &ParseError{Offset: i, Msg: "invalid UTF-8 in input"}
				}
			}
		}
	}
	if skipSpace(s, 0) == len(s) {
		return &ParseError{Offset: 0, Msg: "empty connection string"}
	}
	return nil
}

// dupError reports second as a repeat of first, naming both.
func dupError(first, second *Property) error {
	return &ParseError{Offset: second.Offset, Key: second.Key,
		Msg: fmt.Sprintf("repeated key: %q at offset %d and %q at offset %d", first.Key, first.Offset, second.Key, second.Offset)}
}

// addExtra keeps an unknown key, rejecting a repeat of an earlier one.
// Past a few extras it indexes them by lower-cased key, so that 64 KiB of
// short unknown keys stays linear.
func addExtra(p *Parsed, props []Property, i int, form string, index *map[string]int) error {
	pr := &props[i]
	first := -1
	if len(p.Conn.Extra) < 16 {
		for j := range p.Conn.Extra {
			if foldEq(p.Conn.Extra[j].Key, pr.Key) {
				first = j
				break
			}
		}
	} else {
		if *index == nil {
			*index = make(map[string]int, 2*len(p.Conn.Extra))
			for j := len(p.Conn.Extra) - 1; j >= 0; j-- {
				(*index)[strings.ToLower(p.Conn.Extra[j].Key)] = j
			}
		}
		if j, ok := (*index)[strings.ToLower(pr.Key)]; ok {
			first = j
		}
	}
	if first >= 0 {
		prev := p.Conn.Extra[first]
		return dupError(&prev, pr)
	}
	if (*index) != nil {
		(*index)[strings.ToLower(pr.Key)] = len(p.Conn.Extra)
	}
	p.Conn.Extra = append(p.Conn.Extra, *pr)
	msg := fmt.Sprintf("unknown %s key %q kept as written; AEP may reject or ignore it", form, pr.Key)
	if (form == "libpq" || form == "URL") && libpqCarried[pr.Key] {
		msg = fmt.Sprintf("libpq setting %q kept as written (libpq and URL output carry it); AEP's DataDirect driver does not know it and basic authentication cannot carry it", pr.Key)
	}
	p.Warnings = append(p.Warnings, Warning{Code: WarnUnknownKey, Field: pr.Key, Message: msg})
	return nil
}

// nothingKnown is the error for input that sets no field of Conn: it has
// no key flowpg knows (a typo, or not a connection string at all), or
// only empty ones. known is the index of the first known key, or -1.
func nothingKnown(props []Property, known int) error {
	switch {
	case len(props) == 0:
		return &ParseError{Offset: 0, Msg: "no key=value pair: nothing to connect to"}
	case known < 0:
		return &ParseError{Offset: props[0].Offset, Msg: "no key flowpg knows: a connection string names at least one of Server, Port, Database, UID, Password or EncryptionMethod (or the libpq, URL or Npgsql equivalent)"}
	}
	return &ParseError{Offset: props[known].Offset, Key: props[known].Key, Msg: "every key flowpg knows is empty: nothing to connect to"}
}

// fieldsEmpty reports whether c sets no field but Extra.
func (c Conn) fieldsEmpty() bool {
	return c.Server == "" && c.Port == 0 && c.Database == "" && c.User == "" && c.Password == "" &&
		c.Encryption == EncryptionUnset && c.ValidateServerCertificate == Unset &&
		c.HostNameInCertificate == "" && c.TrustStore == "" && c.CryptoProtocolVersion == ""
}

// valueStart is the offset of the first byte of pr's decoded value in s:
// past its opening brace or quote, if any.
func valueStart(pr *Property, s string) int {
	o := pr.ValueOffset
	if o >= 0 && o < len(s) && (s[o] == '{' || s[o] == '"' || s[o] == '\'') {
		o++
	}
	return o
}

// serverError reports a bad Server value at the byte that is wrong, where
// the value can be found in s; portKey is the form's port key.
func serverError(pr *Property, f *serverFault, s, portKey string) error {
	off := pr.ValueOffset
	if st := valueStart(pr, s); st >= 0 && st+f.at <= len(s) && strings.HasPrefix(s[st:], pr.Value) {
		off = st + f.at
	} else if off < 0 {
		off = pr.Offset
	}
	return &ParseError{Offset: off, Key: pr.Key, Msg: f.message(pr.Key, portKey)}
}

// parsePort reads a decimal port in 1–65535.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n >= 1 && n <= 65535
}

// MarshalJSON encodes p as its field tags say, with secrets redacted
// (see Redacted): inputFormat, connection (Conn's String), properties and
// warnings. Property has no MarshalJSON of its own, so this is what keeps
// the secret values of Properties out of JSON.
func (p Parsed) MarshalJSON() ([]byte, error) { return json.Marshal(parsedFields(p.Redacted())) }
