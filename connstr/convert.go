package connstr

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// BasicAuth is the params object of AEP's "Basic Authentication" auth spec
// for PostgreSQL, exactly as Flow Service takes it in auth.params. Its
// String, GoString and Format methods never show the password; encoding it
// as JSON does, on purpose: that is the credential.
type BasicAuth struct {
	Server   string `json:"server"`   // host name or address
	Port     string `json:"port"`     // a JSON string, e.g. "5432"
	Database string `json:"database"` // database name
	Username string `json:"username"` // user name
	Password string `json:"password"` // password
	SSLMode  string `json:"sslMode"`  // e.g. "Verify Full" (see SSLMode.Spelling)
}

// BasicAuthSpecName is the specName of AEP's basic authentication, whose
// params are a BasicAuth. It and ConnectionStringSpecName are defined here
// only, in the lowest package that needs them: flowclient and its emulator
// flowtest use these names too.
const BasicAuthSpecName = "Basic Authentication"

// ConnectionStringSpecName is the specName of AEP's connection-string
// authentication (documented for AEP on Azure only), whose one param is
// connectionString.
const ConnectionStringSpecName = "Connection String Based Authentication"

// Redacted returns a copy of b with the password replaced by Redacted.
func (b BasicAuth) Redacted() BasicAuth {
	if b.Password != "" {
		b.Password = Redacted
	}
	return b
}

type basicFields BasicAuth

// String prints b's fields with the password redacted.
func (b BasicAuth) String() string { return fmt.Sprintf("%+v", basicFields(b.Redacted())) }

// GoString returns a Go-syntax representation of b, password redacted.
func (b BasicAuth) GoString() string { return goStringRedacted("BasicAuth", basicFields(b.Redacted())) }

// Format implements fmt.Formatter so that no verb prints the password: %v
// and %s print String, %+v the same fields by name, %#v GoString, %q a
// quoted String, and any other verb %!verb(connstr.BasicAuth=String).
func (b BasicAuth) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, "BasicAuth", basicFields(b.Redacted()), b.String())
}

// BasicAuth converts c to AEP's basic authentication params, with the
// sslMode of Conn.SSLMode spelled in style (see BasicAuthIn). Require is in
// the connector overview's vocabulary but not the API tutorial's:
// StyleTutorial sends Verify Ca (stricter) and warns (require-not-in-tutorial),
// StyleOverview sends Require and warns that the tutorial lacks it.
func (c Conn) BasicAuth(style SSLModeStyle) (BasicAuth, []Warning) {
	b, reg, warns := c.BasicAuthIn(VocabularyOf(style))
	for i := range warns {
		if warns[i].Code == WarnSSLModeStricter {
			warns[i].Code = WarnRequireNotInTutorial
		}
	}
	if style == StyleOverview && reg.Mode == SSLRequire {
		warns = append(warns, Warning{Code: WarnRequireNotInTutorial, Field: "sslMode",
			Message: "Require is in the connector overview but not in the API tutorial's sslMode list; if Flow Service rejects it, use Verify Ca"})
	}
	return b, warns
}

// BasicAuthIn converts c to AEP's basic authentication params, with the
// sslMode of Conn.SSLMode registered in vocabulary v (see
// Vocabulary.Register, whose result it also returns: Registered.Mode is the
// mode the receiver will dial in). The port is PortOrDefault as a string.
// Extra keys cannot be carried and are reported.
func (c Conn) BasicAuthIn(v Vocabulary) (BasicAuth, Registered, []Warning) {
	mode, warns := c.SSLMode()
	reg, more, err := v.Register(mode)
	if err != nil {
		// An empty vocabulary sends no sslMode; the receiver then applies
		// its own default, which the caller cannot predict.
		reg = Registered{Mode: SSLModeUnset}
	}
	warns = append(warns, more...)
	for _, e := range c.Extra {
		warns = append(warns, Warning{Code: WarnDiscarded, Field: e.Key,
			Message: fmt.Sprintf("basic authentication cannot carry %q; it is left out", e.Key)})
	}
	return BasicAuth{
		Server:   c.host(),
		Port:     strconv.Itoa(c.PortOrDefault()),
		Database: c.Database,
		Username: c.User,
		Password: c.Password,
		SSLMode:  reg.Value,
	}, reg, warns
}

// FromBasicAuth converts AEP's basic authentication params to a Conn. The
// server is checked as Validate checks it (an empty one passes), and a
// bracketed IPv6 literal gives the address inside; a bad server is a
// FieldError. The port must be empty (absent) or a number in 1–65535. The sslMode is read
// by ParseSSLMode, so every spelling works; its DataDirect keys are set by
// Conn.SetSSLMode, with its warnings. "false", as in AEP's AWS example,
// means Disable and "true" means Require; both warn.
func FromBasicAuth(b BasicAuth) (Conn, []Warning, error) {
	host, f := checkServer(b.Server)
	if f != nil {
		return Conn{}, nil, FieldError{Field: "server", Message: f.message("server", "port")}
	}
	c := Conn{Server: host, Database: b.Database, User: b.Username, Password: b.Password}
	if p := strings.TrimSpace(b.Port); p != "" {
		port, ok := parsePort(p)
		if !ok {
			return Conn{}, nil, fmt.Errorf("connstr: basic auth port %q is not a number in 1-65535", b.Port)
		}
		c.Port = port
	}
	mode, err := ParseSSLMode(b.SSLMode)
	if err != nil {
		return Conn{}, nil, err
	}
	var warns []Warning
	switch strings.ToLower(strings.TrimSpace(b.SSLMode)) {
	case "false":
		warns = append(warns, Warning{Code: WarnSSLModeBoolean, Field: "sslMode",
			Message: `sslMode "false" read as Disable: the connection is not encrypted; use Require or Verify Full if the server offers TLS`})
	case "true":
		warns = append(warns, Warning{Code: WarnSSLModeBoolean, Field: "sslMode",
			Message: `sslMode "true" read as Require: TLS without certificate verification; use Verify Full to verify`})
	}
	warns = append(warns, c.SetSSLMode(mode)...)
	return c, warns, nil
}

// LibPQ returns c as a libpq keyword/value DSN (host, port, dbname, user,
// password, sslmode, then the extras it can carry), which psql,
// pgconn.ParseConfig and Parse read back. sslmode is always written, from
// Conn.SSLMode, because libpq's default (prefer) differs from DataDirect's
// (no encryption). Values are single-quoted when empty or holding
// whitespace, a quote, a backslash, ';', '=', '{' or '}' (so that Parse
// cannot mistake the DSN for the DataDirect form), with quote and
// backslash escaped by a backslash. An IPv6 server is written bare
// (host=2001:db8::1), as libpq wants it.
//
// Extra keys that are libpq keywords naming no file and holding no secret
// are written, in order:
//
//	hostaddr application_name fallback_application_name connect_timeout
//	client_encoding options keepalives keepalives_idle keepalives_interval
//	keepalives_count tcp_user_timeout replication channel_binding
//	require_auth target_session_attrs load_balance_hosts gssencmode gsslib
//	gssdelegation krbsrvname sslcompression sslsni sslnegotiation
//	sslcertmode ssl_min_protocol_version ssl_max_protocol_version
//	min_protocol_version max_protocol_version requirepeer sslrootcert
//
// sslrootcert only as sslrootcert=system with Verify Full, and
// sslnegotiation=direct only with Require or stronger: libpq refuses them
// otherwise. A value pgconn rejects (connect_timeout=soon, a
// min_protocol_version above max_protocol_version) is left out too, so
// that the output reads back. Each key is read by psql versions that know
// it; pgx sends those it does not know (keepalives, …) to the server as
// run-time parameters, as it would for the input. Every other extra, and
// TrustStore and CryptoProtocolVersion, is left out with a discarded
// warning naming it. The warnings include Conn.SSLMode's.
func (c Conn) LibPQ() (string, []Warning) {
	mode, warns := c.SSLMode()
	extras, more := c.pgExtras(mode, "a libpq DSN")
	warns = append(warns, more...)
	var b strings.Builder
	put := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		if v != "" && !strings.ContainsAny(v, " \t\n\r\v\f'\\;{}=") {
			b.WriteString(v)
			return
		}
		b.WriteByte('\'')
		for i := 0; i < len(v); i++ {
			if v[i] == '\'' || v[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[i])
		}
		b.WriteByte('\'')
	}
	if h := c.host(); h != "" {
		put("host", h)
	}
	if c.Port != 0 {
		put("port", strconv.Itoa(c.Port))
	}
	if c.Database != "" {
		put("dbname", c.Database)
	}
	if c.User != "" {
		put("user", c.User)
	}
	if c.Password != "" {
		put("password", c.Password)
	}
	put("sslmode", mode.LibPQ())
	for _, e := range extras {
		put(e.Key, e.Value)
	}
	return b.String(), warns
}

// URL returns c as a postgres:// URL, with sslmode and then the extras
// LibPQ carries as query parameters, in order; an IPv6 server is
// bracketed. Every byte of the user, password, database and query but
// letters, digits and "-._~" is percent-encoded, the one escape libpq and
// pgx decode alike (neither reads '+' as a space). Like LibPQ, it warns for
// everything it leaves out.
func (c Conn) URL() (string, []Warning) {
	mode, warns := c.SSLMode()
	extras, more := c.pgExtras(mode, "a URL")
	warns = append(warns, more...)
	var b strings.Builder
	b.WriteString("postgres://")
	if c.User != "" || c.Password != "" {
		b.WriteString(uriEncode(c.User))
		if c.Password != "" {
			b.WriteByte(':')
			b.WriteString(uriEncode(c.Password))
		}
		b.WriteByte('@')
	}
	if h := c.host(); strings.Contains(h, ":") {
		b.WriteString("[" + h + "]")
	} else {
		b.WriteString(uriEncode(h))
	}
	if c.Port != 0 {
		b.WriteString(":" + strconv.Itoa(c.Port))
	}
	b.WriteString("/" + uriEncode(c.Database) + "?sslmode=" + mode.LibPQ())
	for _, e := range extras {
		b.WriteString("&" + uriEncode(e.Key) + "=" + uriEncode(e.Value))
	}
	return b.String(), warns
}

// uriEncode percent-encodes every byte but letters, digits and "-._~".
func uriEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= lower(c) && lower(c) <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// libpqCarried are the extra keys LibPQ and URL write (see LibPQ).
var libpqCarried = map[string]bool{
	"hostaddr": true, "application_name": true, "fallback_application_name": true,
	"connect_timeout": true, "client_encoding": true, "options": true,
	"keepalives": true, "keepalives_idle": true, "keepalives_interval": true,
	"keepalives_count": true, "tcp_user_timeout": true, "replication": true,
	"channel_binding": true, "require_auth": true, "target_session_attrs": true,
	"load_balance_hosts": true, "gssencmode": true, "gsslib": true,
	"gssdelegation": true, "krbsrvname": true, "sslcompression": true,
	"sslsni": true, "sslnegotiation": true, "sslcertmode": true,
	"ssl_min_protocol_version": true, "ssl_max_protocol_version": true,
	"min_protocol_version": true, "max_protocol_version": true,
	"requirepeer": true, "sslrootcert": true,
}

// pgconnChecks are the carried keys whose values pgconn checks when it
// parses (the others it passes to the server as they are).
var pgconnChecks = map[string]bool{
	"connect_timeout": true, "channel_binding": true, "require_auth": true,
	"target_session_attrs": true, "sslnegotiation": true, "sslcertmode": true,
	"sslsni": true, "min_protocol_version": true, "max_protocol_version": true,
	"krbsrvname": true, "sslrootcert": true,
}

// pgExtras picks the extras LibPQ and URL write, and warns for the rest.
func (c Conn) pgExtras(mode SSLMode, form string) ([]Property, []Warning) {
	var out []Property
	var warns []Warning
	drop := func(key, why string) {
		warns = append(warns, Warning{Code: WarnDiscarded, Field: key,
			Message: fmt.Sprintf("%q is not carried to %s: %s", key, form, why)})
	}
	if c.TrustStore != "" {
		drop("TrustStore", "give the file as sslrootcert where it exists")
	}
	if c.CryptoProtocolVersion != "" {
		drop("CryptoProtocolVersion", "libpq's nearest settings are ssl_min_protocol_version and ssl_max_protocol_version")
	}
	checked := false
	for _, e := range c.Extra {
		switch {
		case !libpqKeywords[e.Key]:
			drop(e.Key, "it is not a libpq keyword, and psql refuses other keys")
		case e.Key == "host" || e.Key == "port" || e.Key == "dbname" || e.Key == "user" ||
			e.Key == "password" || e.Key == "sslmode" || e.Key == "requiressl":
			drop(e.Key, "it would override the connection's own setting")
		case !libpqCarried[e.Key]:
			drop(e.Key, "it names a local file or holds a secret")
		case e.Key == "sslrootcert" && (e.Value != "system" || mode != SSLVerifyFull):
			drop(e.Key, "only sslrootcert=system with sslmode verify-full is carried")
		case e.Key == "sslnegotiation" && e.Value == "direct" && mode < SSLRequire:
			drop(e.Key, "sslnegotiation=direct needs sslmode require or stronger")
		default:
			checked = checked || pgconnChecks[e.Key]
			out = append(out, e)
		}
	}
	if !checked {
		return out, warns
	}
	// pgconn rejects some values (connect_timeout=abc) and pairs
	// (min_protocol_version above max_protocol_version) of the settings it
	// reads: leave those out rather than write what would not read back.
	base := probe + "sslmode=" + mode.LibPQ() + " "
	try := func(ps []Property) bool {
		var b strings.Builder
		b.WriteString(base)
		for _, e := range ps {
			b.WriteString(e.Key + "='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(e.Value) + "' ")
		}
		_, err := pgconn.ParseConfig(b.String())
		return err == nil
	}
	if try(out) {
		return out, warns
	}
	kept := out[:0:0]
	for _, e := range out {
		if pgconnChecks[e.Key] && !try(append(kept, e)) {
			drop(e.Key, "pgx does not accept its value (or its value with the settings before it)")
			continue
		}
		kept = append(kept, e)
	}
	return kept, warns
}
