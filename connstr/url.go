package connstr

import (
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// parseURL parses a postgres:// URL with pgconn, and reads which parts the
// URL sets with scanURL: pgconn fills in whatever it leaves out from the
// environment and defaults, and those must not reach Conn.
func parseURL(s string, start int) (*Parsed, error) {
	// pgconn wants the scheme in lower case, as libpq does; the rest is untouched.
	schemeEnd := start + strings.Index(s[start:], "://") + 3
	// The scan comes first: pgconn reads the files some keys name.
	props, err := scanURL(s, schemeEnd)
	if err != nil {
		return nil, err
	}
	if err := checkFileKeys(props); err != nil {
		return nil, err
	}
	pgs := strings.ToLower(s[start:schemeEnd]) + s[schemeEnd:]
	cfg, err := pgconn.ParseConfig(pgs)
	if err != nil {
		return nil, pgxError("postgres:// URL", err)
	}
	p := &Parsed{Format: FormatURL, Properties: sslAlias(lastWins(props))}
	var index map[string]int
	for i := range p.Properties {
		if err := applyPG(p, s, p.Properties, i, "URL", &index); err != nil {
			return nil, err
		}
		if err := agrees(cfg, &p.Properties[i]); err != nil {
			return nil, err
		}
	}
	if multiHost(cfg) {
		return nil, &ParseError{Offset: start, Key: "host", Msg: "several hosts: AEP takes one"}
	}
	if len(p.Properties) == 0 {
		return nil, &ParseError{Offset: start, Msg: "the URL names no host, port, database, user, password or sslmode: nothing to connect to"}
	}
	if _, err := finishPG(p); err != nil {
		return nil, err
	}
	return p, nil
}

// scanURL lists the parts of a postgres:// URL that s sets, from offset
// rest (just past "://"), as properties named like libpq keys, in order,
// with their offsets. It follows libpq's URI grammar, which pgconn
// implements too (and which is not RFC 3986's): [user[:password]@] ends at
// the first '@' before any '/'; then host[:port], several separated by
// ','; then /dbname up to '?'; then '&'-separated key=value pairs. Each
// part is percent-decoded, %XX only ('+' is a plus and '#' is part of the
// value). parseURL checks that pgconn read the same.
func scanURL(s string, rest int) ([]Property, error) {
	u := &urlScanner{s: s, p: s[rest:]}
	for _, step := range [...]func() error{u.userinfo, u.hosts, u.path, u.query} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return u.props, nil
}

// urlScanner reads a URL's parts in the grammar's order, each step
// consuming its part of p.
type urlScanner struct {
	s     string // the whole input, which offsets count in
	p     string // the rest of s, not yet read
	props []Property
}

// at is the offset in s of what is left to read.
func (u *urlScanner) at() int { return len(u.s) - len(u.p) }

// add percent-decodes raw, written at offset at, as the value of key.
func (u *urlScanner) add(key, raw string, at int) error {
	v, ok := uriDecode(raw)
	if !ok {
		return &ParseError{Offset: at, Key: key, Msg: "bad percent-encoding, or a space that is not %20"}
	}
	u.props = append(u.props, Property{Key: key, Value: v, Offset: at, ValueOffset: at})
	return nil
}

// userinfo reads user[:password]@, which ends at the first '@' before any
// '/'.
func (u *urlScanner) userinfo() error {
	i := strings.IndexAny(u.p, "@/")
	if i < 0 || u.p[i] != '@' {
		return nil
	}
	user, password, hasPassword := strings.Cut(u.p[:i], ":")
	if user != "" {
		if err := u.add("user", user, u.at()); err != nil {
			return err
		}
	}
	if hasPassword && password != "" {
		if err := u.add("password", password, u.at()+len(user)+1); err != nil {
			return err
		}
	}
	u.p = u.p[i+1:]
	return nil
}

// hosts reads the host list, host[:port] separated by ',', as one host
// and one port property, each a comma-separated list (as pgconn reads a
// list; parseURL then refuses several hosts).
func (u *urlScanner) hosts() error {
	hostAt, portAt := u.at(), -1
	var host, port strings.Builder
	for {
		if err := u.host(&host); err != nil {
			return err
		}
		if strings.HasPrefix(u.p, ":") {
			u.p = u.p[1:]
			if portAt < 0 {
				portAt = u.at()
			}
			port.WriteString(u.upTo("/?,"))
		}
		if !strings.HasPrefix(u.p, ",") {
			break
		}
		u.p = u.p[1:]
		host.WriteByte(',')
		port.WriteByte(',')
	}
	if host.Len() > 0 {
		if err := u.add("host", host.String(), hostAt); err != nil {
			return err
		}
	}
	if port.Len() > 0 && strings.Trim(port.String(), ", ") != "" {
		return u.add("port", port.String(), portAt)
	}
	return nil
}

// host reads one host into b: a bracketed IPv6 literal (written without
// its brackets), or a name or address up to ':', '/', '?' or ','.
func (u *urlScanner) host(b *strings.Builder) error {
	if !strings.HasPrefix(u.p, "[") {
		b.WriteString(u.upTo(":/?,"))
		return nil
	}
	end := strings.IndexByte(u.p, ']')
	if end < 0 {
		return &ParseError{Offset: u.at(), Key: "host", Msg: "'[' without ']'"}
	}
	b.WriteString(u.p[1:end])
	u.p = u.p[end+1:]
	return nil
}

// upTo consumes and returns the text before the first of the bytes in
// stops, or all that is left.
func (u *urlScanner) upTo(stops string) string {
	i := strings.IndexAny(u.p, stops)
	if i < 0 {
		i = len(u.p)
	}
	part := u.p[:i]
	u.p = u.p[i:]
	return part
}

// path reads /dbname, which runs to the '?' of the query or the end.
func (u *urlScanner) path() error {
	if !strings.HasPrefix(u.p, "/") {
		return nil
	}
	u.p = u.p[1:]
	dbAt := u.at()
	db := u.upTo("?")
	if db == "" {
		return nil
	}
	return u.add("dbname", db, dbAt)
}

// query reads ?key=value&…, each pair with exactly one '='.
func (u *urlScanner) query() error {
	if !strings.HasPrefix(u.p, "?") {
		return nil
	}
	u.p = u.p[1:]
	for u.p != "" {
		pairAt := u.at()
		pair := u.upTo("&")
		u.p = strings.TrimPrefix(u.p, "&")
		rk, rv, ok := strings.Cut(pair, "=")
		if !ok || strings.IndexByte(rv, '=') >= 0 {
			return &ParseError{Offset: pairAt, Msg: "a URL query parameter needs exactly one '='"}
		}
		k, ok := uriDecode(rk)
		if !ok {
			return &ParseError{Offset: pairAt, Msg: "bad percent-encoding in a URL query key"}
		}
		if err := u.add(k, rv, pairAt); err != nil {
			return err
		}
	}
	return nil
}

// sslAlias reads ssl=true, pgx's and JDBC's alias, as pgx does: when the
// last ssl is true and comes after the last sslmode, it is
// sslmode=require; otherwise a true ssl is dropped.
func sslAlias(props []Property) []Property {
	ssl, mode := -1, -1
	for i := range props {
		switch props[i].Key {
		case "ssl":
			ssl = i
		case "sslmode":
			mode = i
		}
	}
	if ssl < 0 || props[ssl].Value != "true" {
		return props
	}
	out := props[:0]
	for i, pr := range props {
		switch {
		case i == ssl && ssl > mode:
			pr.Key, pr.Value = "sslmode", "require"
		case i == ssl, i == mode && ssl > mode:
			continue
		}
		out = append(out, pr)
	}
	return out
}

// uriDecode decodes a URL part as libpq does: %XX only (not %00), leading
// and trailing spaces dropped, no other space.
func uriDecode(raw string) (string, bool) {
	raw = strings.Trim(raw, " ")
	if strings.IndexByte(raw, ' ') >= 0 {
		return "", false
	}
	if strings.IndexByte(raw, '%') < 0 {
		return raw, true
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] != '%' {
			b.WriteByte(raw[i])
			continue
		}
		if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
			return "", false
		}
		c := unhex(raw[i+1])<<4 | unhex(raw[i+2])
		if c == 0 {
			return "", false
		}
		b.WriteByte(c)
		i += 2
	}
	return b.String(), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= lower(c) && lower(c) <= 'f'
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return lower(c) - 'a' + 10
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
