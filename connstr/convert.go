package connstr

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
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

// BasicAuthSpecName is the specName of AEP's basic authentication.
const BasicAuthSpecName = "Basic Authentication"

// ConnectionStringSpecName is the specName of AEP's connection-string
// authentication (documented for AEP on Azure only).
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
func (b BasicAuth) GoString() string {
	s := fmt.Sprintf("%#v", basicFields(b.Redacted()))
	return "connstr.BasicAuth" + strings.TrimPrefix(s, "connstr.basicFields")
}

// Format implements fmt.Formatter so that no verb prints the password.
func (b BasicAuth) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, b.GoString())
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(b.String()))
	default:
		_, _ = io.WriteString(f, b.String())
	}
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
		Server:   c.Server,
		Port:     strconv.Itoa(c.PortOrDefault()),
		Database: c.Database,
		Username: c.User,
		Password: c.Password,
		SSLMode:  reg.Value,
	}, reg, warns
}

// FromBasicAuth converts AEP's basic authentication params to a Conn. The
// port must be empty (absent) or a number in 1–65535. The sslMode is read
// by ParseSSLMode, so every spelling works; its DataDirect keys are set by
// Conn.SetSSLMode, with its warnings. "false", as in AEP's AWS example,
// means Disable and "true" means Require; both warn.
func FromBasicAuth(b BasicAuth) (Conn, []Warning, error) {
	c := Conn{Server: b.Server, Database: b.Database, User: b.Username, Password: b.Password}
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
// password, sslmode), which pgconn.ParseConfig and libpq read back. Values
// are single-quoted when empty or holding whitespace, a quote, a backslash,
// ';', '=', '{' or '}' (so that Parse cannot mistake the DSN for the
// DataDirect form), with quote and backslash escaped by a backslash. sslmode is
// always written, from Conn.SSLMode, because libpq's default (prefer)
// differs from DataDirect's (no encryption). Extra keys are left out: libpq
// would send unknown ones to the server as run-time parameters.
func (c Conn) LibPQ() string {
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
	if c.Server != "" {
		put("host", c.Server)
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
	mode, _ := c.SSLMode()
	put("sslmode", mode.LibPQ())
	return b.String()
}

// URL returns c as a postgres:// URL, escaped with net/url, with sslmode
// as a query parameter (always written, as for LibPQ). Extra keys are left
// out.
func (c Conn) URL() string {
	u := url.URL{Scheme: "postgres", Host: c.Server}
	if strings.Contains(c.Server, ":") {
		u.Host = "[" + c.Server + "]"
	}
	if c.Port != 0 {
		u.Host = net.JoinHostPort(c.Server, strconv.Itoa(c.Port))
	}
	if c.User != "" || c.Password != "" {
		if c.Password != "" {
			u.User = url.UserPassword(c.User, c.Password)
		} else {
			u.User = url.User(c.User)
		}
	}
	if c.Database != "" {
		u.Path = "/" + c.Database
	} else {
		u.Path = "/"
	}
	mode, _ := c.SSLMode()
	u.RawQuery = url.Values{"sslmode": {mode.LibPQ()}}.Encode()
	return u.String()
}
