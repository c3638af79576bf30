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
	FormatUnknown    Format = iota
	FormatDataDirect        // AEP's DataDirect/ODBC form: Server=…;Database=…;…
	FormatLibPQ             // libpq keyword DSN: host=… port=… dbname=…
	FormatURL               // postgres:// or postgresql:// URL
	FormatNpgsql            // Npgsql/ADO.NET form: Host=…;Username=…;SSL Mode=…
	FormatJSON              // AEP's basic authentication as JSON: {"server": …, "sslMode": …} or {"specName": …, "params": {…}}
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
	// holds only what the input says: no defaults, no environment.
	Conn Conn `json:"-"`
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
// through Conn's and Property's Format methods for any other verb, so no
// verb shows a secret.
func (p Parsed) String() string { return p.Format.String() + ": " + p.Conn.String() }

type parsedFields Parsed

// GoString returns a Go-syntax representation of p with secrets redacted.
func (p Parsed) GoString() string {
	s := fmt.Sprintf("%#v", parsedFields(p.Redacted()))
	return "connstr.Parsed" + strings.TrimPrefix(s, "connstr.parsedFields")
}

// Parse detects the form of s and parses it.
//
// A string starting with '{' is AEP's basic authentication as JSON, the auth
// object ({"specName": "Basic Authentication", "params": {…}}) or its params
// alone, every value a string; the sslMode is read as FromBasicAuth reads it.
// A string starting with postgres:// or postgresql:// is a URL; one whose
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
//   - input that sets no field of Conn (foo=bar: no key flowpg knows; or
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
// kept out (see parseLibPQ). The string is read by libpq's grammar and
// checked against what pgconn read; host, port, dbname, user, password and
// sslmode set Conn's fields, and every other setting, libpq's (such as
// connect_timeout or channel_binding) or a run-time parameter, is kept in
// Conn.Extra. Errors are *ParseError and never contain a secret value.
func Parse(s string) (*Parsed, error) {
	if strings.HasPrefix(s, bom) {
		p, err := parse(s[len(bom):])
		shiftOffsets(p, err, len(bom))
		return p, err
	}
	return parse(s)
}

// urlScheme returns the scheme of a URL at the start of s ("mysql",
// "jdbc:postgresql"): letters, digits, '+', '-', '.' and ':' before "://".
func urlScheme(s string) (string, bool) {
	k := strings.Index(s, "://")
	if k <= 0 {
		return "", false
	}
	for i := 0; i < k; i++ {
		c := s[i] | 0x20
		if !('a' <= c && c <= 'z' || '0' <= s[i] && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.' || s[i] == ':') {
			return "", false
		}
	}
	return s[:k], true
}

// bom is the UTF-8 byte-order mark, which Windows editors put at the start
// of a file.
const bom = "\uFEFF"

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
			return nil, &ParseError{Offset: t, Msg: fmt.Sprintf("a %s:// URL is not a PostgreSQL connection: flowpg reads postgres://, postgresql:// and jdbc:postgresql:// URLs", scheme)}
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

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

func trimSpaceRight(s string) string {
	n := len(s)
	for n > 0 && isSpace(s[n-1]) {
		n--
	}
	return s[:n]
}

// lower folds an ASCII letter to lower case.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldEq reports whether a equals b, ignoring ASCII case, without allocating.
func foldEq(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// foldEqNoSpace reports whether a equals the lowercase, space-free b,
// ignoring ASCII case and spaces in a.
func foldEqNoSpace(a, b string) bool {
	j := 0
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c == ' ' {
			continue
		}
		if j == len(b) || lower(c) != b[j] {
			return false
		}
		j++
	}
	return j == len(b)
}

// field indexes Conn's typed fields.
type field int8

const (
	fServer field = iota
	fPort
	fDatabase
	fUser
	fPassword
	fEncryption
	fValidate
	fHostNameInCert
	fTrustStore
	fCrypto
	nDDFields
)

// Npgsql-only fields.
const (
	fSSLMode         = nDDFields
	fTrustServerCert = nDDFields + 1
	nFields          = nDDFields + 2
)

type alias struct {
	key        string
	f          field
	misspelled bool
	ddOnly     bool // a key Npgsql does not know
}

// ddAliases is the DataDirect alias table, matched case-insensitively.
var ddAliases = [...]alias{
	{key: "Server", f: fServer},
	{key: "Host", f: fServer},
	{key: "HostName", f: fServer, ddOnly: true},
	{key: "Port", f: fPort},
	{key: "PortNumber", f: fPort, ddOnly: true},
	{key: "Database", f: fDatabase},
	{key: "DatabaseName", f: fDatabase, ddOnly: true},
	{key: "DB", f: fDatabase},
	{key: "UID", f: fUser},
	{key: "User", f: fUser},
	{key: "User ID", f: fUser},
	{key: "Username", f: fUser},
	{key: "LogonID", f: fUser, ddOnly: true},
	{key: "Password", f: fPassword},
	{key: "PWD", f: fPassword},
	{key: "EncryptionMethod", f: fEncryption, ddOnly: true},
	{key: "ValidateServerCertificate", f: fValidate, ddOnly: true},
	{key: "ValidationServerCertificate", f: fValidate, misspelled: true, ddOnly: true},
	{key: "HostNameInCertificate", f: fHostNameInCert, ddOnly: true},
	{key: "TrustStore", f: fTrustStore, ddOnly: true},
	{key: "CryptoProtocolVersion", f: fCrypto, ddOnly: true},
}

// ddByLen indexes ddAliases by key length, and ddLower holds their keys in
// lower case, so that lookupDD compares a key with one to three candidates,
// without allocating.
var (
	ddByLen [32][]uint8
	ddLower [len(ddAliases)]string
)

func init() {
	for i, a := range ddAliases {
		ddByLen[len(a.key)] = append(ddByLen[len(a.key)], uint8(i))
		ddLower[i] = strings.ToLower(a.key)
	}
}

// lookupDD finds key in the DataDirect alias table, ignoring ASCII case.
func lookupDD(key string) *alias {
	if len(key) >= len(ddByLen) {
		return nil
	}
	for _, i := range ddByLen[len(key)] {
		if matchLower(key, ddLower[i]) {
			return &ddAliases[i]
		}
	}
	return nil
}

// matchLower reports whether key equals lowerKey, a lowercase key of
// letters and spaces, ignoring ASCII case. OR-ing 0x20 folds upper to lower
// case and maps only NUL (never in input) besides space onto space.
func matchLower(key, lowerKey string) bool {
	if len(key) != len(lowerKey) {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i]|0x20 != lowerKey[i] {
			return false
		}
	}
	return true
}

// npgsqlAliases are Npgsql's keys, lowercase and without spaces; a key
// matches ignoring case and spaces.
var npgsqlAliases = [...]alias{
	{key: "host", f: fServer},
	{key: "server", f: fServer},
	{key: "port", f: fPort},
	{key: "database", f: fDatabase},
	{key: "db", f: fDatabase},
	{key: "username", f: fUser},
	{key: "userid", f: fUser},
	{key: "user", f: fUser},
	{key: "uid", f: fUser},
	{key: "password", f: fPassword},
	{key: "pwd", f: fPassword},
	{key: "sslmode", f: fSSLMode},
	{key: "trustservercertificate", f: fTrustServerCert},
}

// npgsqlOnly are keys (lowercase, no spaces) that mark a string as Npgsql.
var npgsqlOnly = [...]string{
	"sslmode", "trustservercertificate", "rootcertificate", "sslcertificate",
	"sslkey", "sslpassword", "searchpath", "commandtimeout", "pooling",
	"minpoolsize", "maxpoolsize", "connectionidlelifetime", "includeerrordetail",
	"servercompatibilitymode", "sslnegotiation", "gssencryptionmode",
}

func lookupNpgsql(key string) *alias {
	for i := range npgsqlAliases {
		if foldEqNoSpace(key, npgsqlAliases[i].key) {
			return &npgsqlAliases[i]
		}
	}
	return nil
}

// parsedBox lets a typical Parse allocate once: the Parsed and room for
// its properties.
type parsedBox struct {
	p   Parsed
	buf [10]Property
}

// newParsed returns a Parsed whose Properties has room for n entries.
func newParsed(n int) *Parsed {
	if n <= len(parsedBox{}.buf) {
		b := &parsedBox{}
		b.p.Properties = b.buf[:0]
		return &b.p
	}
	return &Parsed{Properties: make([]Property, 0, n)}
}

// parseSemicolon parses the ';'-separated forms, DataDirect and Npgsql.
func parseSemicolon(s string) (*Parsed, error) {
	p := newParsed(strings.Count(s, ";") + 1)
	props, err := tokenize(s, false, p.Properties)
	if err != nil {
		// A quoted Npgsql value can hold a ';' or '{' that the DataDirect
		// grammar misreads.
		if p2, err2 := tokenize(s, true, nil); err2 == nil && looksNpgsql(p2) {
			p.Properties = p2
			return interpretNpgsql(p, s)
		}
		return nil, err
	}
	p.Properties = props
	// interpretDD tells, on the way, whether the keys are Npgsql's, so the
	// common DataDirect case looks each key up once.
	q, npgsql, err := interpretDD(p, s)
	if npgsql || err != nil && looksNpgsql(props) {
		p.Conn, p.Warnings = Conn{}, nil
		if p.Properties, err = tokenize(s, true, props[:0]); err != nil {
			return nil, err
		}
		return interpretNpgsql(p, s)
	}
	return q, err
}

// tokenize splits s into properties in one pass, keeping substrings of s
// (no copies unless "}}" or a doubled quote must be unescaped). quotes
// selects ADO.NET quoting ("…" and '…') instead of ODBC braces.
func tokenize(s string, quotes bool, props []Property) ([]Property, error) {
	n := len(s)
	i := 0
	for i < n {
		i = skipSpace(s, i)
		if i == n {
			break
		}
		if s[i] == ';' {
			i++
			continue
		}
		keyStart := i
		if s[i] == '#' {
			// The key is not quoted: a "comment" can hold anything.
			return nil, &ParseError{Offset: keyStart, Msg: "a key cannot start with '#': '#' does not start a comment in a connection string"}
		}
		semi := strings.IndexByte(s[i:], ';')
		if semi < 0 {
			semi = n
		} else {
			semi += i
		}
		eq := strings.IndexByte(s[i:semi], '=')
		if eq < 0 {
			seg := trimSpaceRight(s[keyStart:semi])
			if lookupDD(seg) != nil || lookupNpgsql(seg) != nil {
				return nil, &ParseError{Offset: keyStart, Key: seg, Msg: "key without '='"}
			}
			// Not a key flowpg knows: perhaps the rest of a password that
			// holds ';', so it is neither quoted nor echoed.
			return nil, &ParseError{Offset: keyStart, Hidden: len(seg),
				Msg: "text without '=' (not shown: if it is part of a value that holds ';', such as a password, brace-quote that value: Password={…})"}
		}
		eq += i
		key := trimSpaceRight(s[keyStart:eq])
		if key == "" {
			return nil, &ParseError{Offset: eq, Msg: "'=' without a key"}
		}
		if strings.IndexByte(key, '{') >= 0 || strings.IndexByte(key, '}') >= 0 {
			return nil, &ParseError{Offset: keyStart, Key: key, Msg: "a key cannot contain '{' or '}'"}
		}
		i = skipSpace(s, eq+1)
		valStart := i
		var value string
		if i < n && (!quotes && s[i] == '{' || quotes && (s[i] == '"' || s[i] == '\'')) {
			open := s[i]
			closing := byte('}')
			if open != '{' {
				closing = open
			}
			k := i + 1
			escaped := false
			for {
				c := strings.IndexByte(s[k:], closing)
				if c < 0 {
					return nil, &ParseError{Offset: valStart, Key: key, Msg: fmt.Sprintf("unterminated %q opened here", string(open))}
				}
				k += c
				if k+1 < n && s[k+1] == closing {
					escaped = true
					k += 2
					continue
				}
				break
			}
			value = s[i+1 : k]
			if escaped {
				value = strings.ReplaceAll(value, string([]byte{closing, closing}), string(closing))
			}
			i = skipSpace(s, k+1)
			if i < n && s[i] != ';' {
				return nil, &ParseError{Offset: i, Key: key, Msg: fmt.Sprintf("unexpected text after closing %q", string(closing))}
			}
		} else {
			value = trimSpaceRight(s[i:semi])
			i = semi
		}
		props = append(props, Property{Key: key, Value: value, Offset: keyStart, ValueOffset: valStart})
		if i < n {
			i++ // the ';'
		}
	}
	return props, nil
}

// looksNpgsql applies the detection rule of Parse's doc comment.
func looksNpgsql(props []Property) bool {
	host, user, ddOnly := false, false, false
	for i := range props {
		k := props[i].Key
		if a := lookupDD(k); a != nil {
			ddOnly = ddOnly || a.ddOnly
			host = host || a.f == fServer && len(k) == 4 // Host
			user = user || a.f == fUser && len(k) == 8   // Username
			continue
		}
		if isNpgsqlOnly(k) {
			return true
		}
	}
	return host && user && !ddOnly
}

func isNpgsqlOnly(k string) bool {
	for _, o := range npgsqlOnly {
		if foldEqNoSpace(k, o) {
			return true
		}
	}
	return false
}

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

// interpretDD reads DataDirect properties into p. It also reports whether
// the keys look like Npgsql's (see looksNpgsql); on an error, that report
// may be incomplete.
func interpretDD(p *Parsed, s string) (*Parsed, bool, error) {
	p.Format = FormatDataDirect
	props := p.Properties
	var seen [nDDFields]int // index+1 of the property that set the field
	var index map[string]int
	known := -1 // index of the first known key
	host, user, ddOnly, npgsqlOnly := false, false, false, false
	for i := range props {
		pr := &props[i]
		a := lookupDD(pr.Key)
		if a == nil {
			npgsqlOnly = npgsqlOnly || isNpgsqlOnly(pr.Key)
			if err := addExtra(p, props, i, "DataDirect", &index); err != nil {
				return nil, npgsqlOnly, err
			}
			continue
		}
		if known < 0 {
			known = i
		}
		ddOnly = ddOnly || a.ddOnly
		host = host || a.f == fServer && len(pr.Key) == 4
		user = user || a.f == fUser && len(pr.Key) == 8
		if seen[a.f] != 0 {
			return nil, false, dupError(&props[seen[a.f]-1], pr)
		}
		seen[a.f] = i + 1
		if err := setField(&p.Conn, a.f, pr, s); err != nil {
			return nil, false, err
		}
		if a.misspelled {
			p.Warnings = append(p.Warnings, Warning{Code: WarnMisspelledKey, Field: pr.Key,
				Message: fmt.Sprintf("%q read as ValidateServerCertificate", pr.Key)})
		}
	}
	npgsql := npgsqlOnly || host && user && !ddOnly
	if !npgsql && p.Conn.fieldsEmpty() {
		return nil, false, nothingKnown(props, known)
	}
	return p, npgsql, nil
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

func setField(c *Conn, f field, pr *Property, s string) error {
	v := pr.Value
	switch f {
	case fServer:
		h, bad := checkServer(v)
		if bad != nil {
			return serverError(pr, bad, s, "Port")
		}
		c.Server = h
	case fPort:
		port, ok := parsePort(v)
		if !ok {
			return &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: fmt.Sprintf("port %q is not a number in 1-65535", v)}
		}
		c.Port = port
	case fDatabase:
		c.Database = v
	case fUser:
		c.User = v
	case fPassword:
		c.Password = v
	case fEncryption:
		switch v {
		case "0":
			c.Encryption = EncryptionNone
		case "1":
			c.Encryption = EncryptionSSL
		case "6":
			c.Encryption = EncryptionRequestSSL
		default:
			return &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: fmt.Sprintf("EncryptionMethod %q is not supported for PostgreSQL (want 0, 1 or 6)", v)}
		}
	case fValidate:
		switch v {
		case "0":
			c.ValidateServerCertificate = False
		case "1":
			c.ValidateServerCertificate = True
		default:
			return &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: fmt.Sprintf("ValidateServerCertificate %q must be 0 or 1", v)}
		}
	case fHostNameInCert:
		c.HostNameInCertificate = v
	case fTrustStore:
		c.TrustStore = v
	case fCrypto:
		c.CryptoProtocolVersion = v
	}
	return nil
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

func interpretNpgsql(p *Parsed, s string) (*Parsed, error) {
	p.Format = FormatNpgsql
	props := p.Properties
	var seen [nFields]int
	var index map[string]int
	mode, trust := SSLModeUnset, false
	for i := range props {
		pr := &props[i]
		a := lookupNpgsql(pr.Key)
		if a == nil {
			if dd := lookupDD(pr.Key); dd != nil && dd.ddOnly && dd.f >= fEncryption {
				return nil, &ParseError{Offset: pr.Offset, Key: pr.Key, Msg: "a DataDirect TLS key cannot be mixed with Npgsql's SSL Mode; use one form"}
			}
			if err := addExtra(p, props, i, "Npgsql", &index); err != nil {
				return nil, err
			}
			continue
		}
		if seen[a.f] != 0 {
			return nil, dupError(&props[seen[a.f]-1], pr)
		}
		seen[a.f] = i + 1
		switch a.f {
		case fSSLMode:
			m, err := ParseSSLMode(pr.Value)
			if err != nil || m == SSLModeUnset || strings.EqualFold(pr.Value, "true") || strings.EqualFold(pr.Value, "false") {
				return nil, &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: fmt.Sprintf("SSL Mode %q is not Disable, Allow, Prefer, Require, VerifyCA or VerifyFull", pr.Value)}
			}
			mode = m
		case fTrustServerCert:
			switch strings.ToLower(pr.Value) {
			case "true":
				trust = true
			case "false":
			default:
				return nil, &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: fmt.Sprintf("Trust Server Certificate %q must be true or false", pr.Value)}
			}
		default:
			if err := setField(&p.Conn, a.f, pr, s); err != nil {
				return nil, err
			}
		}
	}
	if seen == [nFields]int{} {
		return nil, nothingKnown(props, -1)
	}
	if trust && mode >= SSLVerifyCA {
		pr := &props[seen[fTrustServerCert]-1]
		return nil, &ParseError{Offset: pr.Offset, Key: pr.Key, Msg: "Trust Server Certificate=true contradicts a verifying SSL Mode"}
	}
	if mode == SSLModeUnset {
		mode = SSLPrefer
		p.Warnings = append(p.Warnings, Warning{Code: WarnNpgsqlDefaultSSLMode, Field: "sslMode",
			Message: "no SSL Mode: using Npgsql's default, Prefer (TLS if offered, else plaintext, no verification)"})
	}
	p.Warnings = append(p.Warnings, p.Conn.SetSSLMode(mode)...)
	return p, nil
}

// MarshalJSON encodes p with secrets redacted: inputFormat, connection
// (Conn's String), properties and warnings.
func (p Parsed) MarshalJSON() ([]byte, error) {
	r := p.Redacted()
	return json.Marshal(struct {
		Format     Format     `json:"inputFormat"`
		Conn       Conn       `json:"connection"`
		Properties []Property `json:"properties"`
		Warnings   []Warning  `json:"warnings"`
	}{r.Format, r.Conn, r.Properties, r.Warnings})
}
