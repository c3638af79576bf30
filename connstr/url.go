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
// the first '@' before any '/'; then host[:port]; then /dbname up to '?';
// then '&'-separated key=value pairs. Each part is percent-decoded, %XX
// only ('+' is a plus and '#' is part of the value). parseURL checks that
// pgconn read the same.
func scanURL(s string, rest int) ([]Property, error) {
	var props []Property
	add := func(key, raw string, at int) error {
		v, ok := uriDecode(raw)
		if !ok {
			return &ParseError{Offset: at, Key: key, Msg: "bad percent-encoding, or a space that is not %20"}
		}
		props = append(props, Property{Key: key, Value: v, Offset: at, ValueOffset: at})
		return nil
	}
	p := s[rest:]
	at := func() int { return len(s) - len(p) }
	if i := strings.IndexAny(p, "@/"); i >= 0 && p[i] == '@' {
		user, password, hasPassword := strings.Cut(p[:i], ":")
		if user != "" {
			if err := add("user", user, at()); err != nil {
				return nil, err
			}
		}
		if hasPassword && password != "" {
			if err := add("password", password, at()+len(user)+1); err != nil {
				return nil, err
			}
		}
		p = p[i+1:]
	}
	hostAt, portAt := at(), -1
	var host, port strings.Builder
	for {
		if strings.HasPrefix(p, "[") {
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return nil, &ParseError{Offset: at(), Key: "host", Msg: "'[' without ']'"}
			}
			host.WriteString(p[1:end])
			p = p[end+1:]
		} else {
			i := strings.IndexAny(p, ":/?,")
			if i < 0 {
				i = len(p)
			}
			host.WriteString(p[:i])
			p = p[i:]
		}
		if strings.HasPrefix(p, ":") {
			p = p[1:]
			if portAt < 0 {
				portAt = at()
			}
			i := strings.IndexAny(p, "/?,")
			if i < 0 {
				i = len(p)
			}
			port.WriteString(p[:i])
			p = p[i:]
		}
		if !strings.HasPrefix(p, ",") {
			break
		}
		p = p[1:]
		host.WriteByte(',')
		port.WriteByte(',')
	}
	if host.Len() > 0 {
		if err := add("host", host.String(), hostAt); err != nil {
			return nil, err
		}
	}
	if port.Len() > 0 && strings.Trim(port.String(), ", ") != "" {
		if err := add("port", port.String(), portAt); err != nil {
			return nil, err
		}
	}
	if strings.HasPrefix(p, "/") {
		p = p[1:]
		db := p
		p = ""
		if i := strings.IndexByte(db, '?'); i >= 0 {
			db, p = db[:i], db[i:]
		}
		if db != "" {
			if err := add("dbname", db, at()-len(db)); err != nil {
				return nil, err
			}
		}
	}
	if strings.HasPrefix(p, "?") {
		p = p[1:]
		for p != "" {
			pairAt := at()
			pair := p
			if i := strings.IndexByte(p, '&'); i >= 0 {
				pair, p = p[:i], p[i+1:]
			} else {
				p = ""
			}
			rk, rv, ok := strings.Cut(pair, "=")
			if !ok || strings.IndexByte(rv, '=') >= 0 {
				return nil, &ParseError{Offset: pairAt, Msg: "a URL query parameter needs exactly one '='"}
			}
			k, ok := uriDecode(rk)
			if !ok {
				return nil, &ParseError{Offset: pairAt, Msg: "bad percent-encoding in a URL query key"}
			}
			if err := add(k, rv, pairAt); err != nil {
				return nil, err
			}
		}
	}
	return props, nil
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
