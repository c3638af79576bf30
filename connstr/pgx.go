package connstr

import (
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
)

// libpqKeywords are libpq's connection keywords. A string whose first key is
// one of these, spelled exactly (libpq keywords are case-sensitive), and whose
// first value (not brace-quoted) is followed by the end of the string or by
// whitespace and another key= is a libpq DSN.
var libpqKeywords = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true,
	"password": true, "passfile": true, "require_auth": true, "channel_binding": true,
	"connect_timeout": true, "client_encoding": true, "options": true,
	"application_name": true, "fallback_application_name": true, "keepalives": true,
	"keepalives_idle": true, "keepalives_interval": true, "keepalives_count": true,
	"tcp_user_timeout": true, "replication": true, "gssencmode": true, "sslmode": true,
	"requiressl": true, "sslcompression": true, "sslcert": true, "sslkey": true,
	"sslpassword": true, "sslcertmode": true, "sslrootcert": true, "sslcrl": true,
	"sslcrldir": true, "sslsni": true, "sslnegotiation": true, "requirepeer": true,
	"ssl_min_protocol_version": true, "ssl_max_protocol_version": true,
	"krbsrvname": true, "gsslib": true, "gssdelegation": true, "service": true,
	"servicefile": true, "target_session_attrs": true, "load_balance_hosts": true,
	"min_protocol_version": true, "max_protocol_version": true,
}

// detectForm tells URLs and libpq DSNs from the ';'-separated forms. For a
// URL it also returns where the scheme starts.
func detectForm(s string) (Format, int) {
	i := skipSpace(s, 0)
	t := s[i:]
	for _, scheme := range []string{"postgres://", "postgresql://"} {
		if len(t) >= len(scheme) && foldEq(t[:len(scheme)], scheme) {
			return FormatURL, i
		}
	}
	j := i
	for j < len(s) && s[j] != '=' && s[j] != ';' && !isSpace(s[j]) {
		j++
	}
	if !libpqKeywords[s[i:j]] {
		return FormatDataDirect, 0
	}
	j = skipSpace(s, j)
	if j == len(s) || s[j] != '=' {
		return FormatDataDirect, 0
	}
	j = skipSpace(s, j+1)
	if j < len(s) && s[j] == '{' {
		return FormatDataDirect, 0 // an ODBC brace-quoted value
	}
	if j < len(s) && s[j] == '\'' {
		// libpq quoting: backslash escapes, ends at the next unescaped quote.
		for j++; j < len(s) && s[j] != '\''; j++ {
			if s[j] == '\\' {
				j++
			}
		}
		if j >= len(s) {
			return FormatDataDirect, 0
		}
		j++
	} else {
		for j < len(s) && !isSpace(s[j]) && s[j] != ';' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
	}
	// The first value must be followed by the end or by another key=.
	j = skipSpace(s, j)
	if j == len(s) {
		return FormatLibPQ, 0
	}
	k := j
	for k < len(s) && (s[k] == '_' || 'a' <= lower(s[k]) && lower(s[k]) <= 'z' || '0' <= s[k] && s[k] <= '9') {
		k++
	}
	if k == j {
		return FormatDataDirect, 0
	}
	if k = skipSpace(s, k); k < len(s) && s[k] == '=' {
		return FormatLibPQ, 0
	}
	return FormatDataDirect, 0
}

// probe holds two sentinel prefixes. Later keys override earlier ones in a
// libpq DSN, so a setting the input leaves out keeps the prefix's value, and
// one it sets overrides it. Prefixes also override the PG* environment and
// libpq's defaults (~/.postgresql/root.crt turning require into verify-ca,
// the OS user, ~/.pgpass), which is how Parse keeps only what the input
// says. A setting is absent when both probes show their own sentinel; two
// probes make that exact even when the input repeats a sentinel's value.
var probes = [2]string{
	"host=flowpg.probe.a port=1 dbname=a user=a password=a sslmode=disable application_name=a timezone=a options=a " + probeCommon,
	"host=flowpg.probe.b port=2 dbname=b user=b password=b sslmode=verify-full application_name=b timezone=b options=b " + probeCommon,
}

const probeCommon = "passfile='' sslrootcert='' sslcert='' sslkey='' sslcertmode=allow sslnegotiation=postgres target_session_attrs=any "

// pgxError turns a pgconn parse failure into a ParseError without quoting
// the input, which could hold a password.
func pgxError(form string, err error) error {
	msg := "pgconn cannot parse it as a " + form
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		if inner := errors.Unwrap(pce); inner != nil && !strings.ContainsAny(inner.Error(), "'\"`") {
			msg += ": " + inner.Error()
		}
	}
	return &ParseError{Offset: -1, Msg: msg}
}

// sslModeOf reads the libpq sslmode pgconn built cfg with.
func sslModeOf(cfg *pgconn.Config) SSLMode {
	var plainFallback, tlsFallback bool
	for _, fb := range cfg.Fallbacks {
		if fb.Host == cfg.Host && fb.Port == cfg.Port {
			plainFallback = plainFallback || fb.TLSConfig == nil
			tlsFallback = tlsFallback || fb.TLSConfig != nil
		}
	}
	t := cfg.TLSConfig
	switch {
	case t == nil && tlsFallback:
		return SSLAllow
	case t == nil:
		return SSLDisable
	case plainFallback:
		return SSLPrefer
	case !t.InsecureSkipVerify:
		return SSLVerifyFull
	case t.VerifyPeerCertificate != nil:
		return SSLVerifyCA
	}
	return SSLRequire
}

func multiHost(cfg *pgconn.Config) bool {
	for _, fb := range cfg.Fallbacks {
		if fb.Host != cfg.Host || fb.Port != cfg.Port {
			return true
		}
	}
	return false
}

// fileKeys are the libpq keys that make pgconn read a local file. Parse
// rejects them: a pasted string must not make flowpg read (or hang on)
// /dev/zero or a FIFO, and the file would be this machine's, not AEP's.
var fileKeys = [...]string{"passfile", "servicefile", "service", "sslrootcert", "sslcert", "sslkey"}

// checkFileKeys finds a file key followed by '=' anywhere in s, ignoring
// case, and for URLs after percent-decoding. It may reject a string that
// merely mentions one inside a value; that errs on the safe side.
func checkFileKeys(s string, isURL bool) error {
	t := strings.ToLower(s)
	if isURL {
		if u, err := url.PathUnescape(t); err == nil {
			t = u
		}
	}
	for _, k := range fileKeys {
		for from := 0; ; {
			i := strings.Index(t[from:], k)
			if i < 0 {
				break
			}
			i += from
			from = i + len(k)
			if j := skipSpace(t, i+len(k)); j < len(t) && t[j] == '=' {
				off := i
				if isURL {
					off = -1
				}
				return &ParseError{Offset: off, Key: k, Msg: "names a local file; flowpg does not read files named in a connection string"}
			}
		}
	}
	return nil
}

func parseLibPQ(s string) (*Parsed, error) {
	if err := checkFileKeys(s, false); err != nil {
		return nil, err
	}
	var cfg, base [2]*pgconn.Config
	for i, pre := range probes {
		var err error
		if cfg[i], err = pgconn.ParseConfig(pre + s); err != nil {
			return nil, pgxError("libpq connection string", err)
		}
		if base[i], err = pgconn.ParseConfig(pre); err != nil {
			return nil, pgxError("libpq connection string", err)
		}
	}
	if multiHost(cfg[0]) {
		return nil, &ParseError{Offset: -1, Key: "host", Msg: "several hosts: AEP takes one"}
	}
	p := &Parsed{Format: FormatLibPQ}
	type kv struct{ key, value string }
	var found []kv
	differs := func(get func(*pgconn.Config) string) (string, bool) {
		a, b := get(cfg[0]), get(cfg[1])
		return a, a != get(base[0]) || b != get(base[1])
	}
	if v, ok := differs(func(c *pgconn.Config) string { return c.Host }); ok {
		found = append(found, kv{"host", v})
	}
	if v, ok := differs(func(c *pgconn.Config) string { return strconv.Itoa(int(c.Port)) }); ok {
		found = append(found, kv{"port", v})
	}
	if v, ok := differs(func(c *pgconn.Config) string { return c.Database }); ok {
		found = append(found, kv{"dbname", v})
	}
	if v, ok := differs(func(c *pgconn.Config) string { return c.User }); ok {
		found = append(found, kv{"user", v})
	}
	if v, ok := differs(func(c *pgconn.Config) string { return c.Password }); ok {
		found = append(found, kv{"password", v})
	}
	if v, ok := differs(func(c *pgconn.Config) string { return sslModeOf(c).LibPQ() }); ok {
		found = append(found, kv{"sslmode", v})
	}
	for k, v := range cfg[0].RuntimeParams {
		if bv, ok := base[0].RuntimeParams[k]; !ok || bv != v || cfg[1].RuntimeParams[k] != base[1].RuntimeParams[k] {
			found = append(found, kv{k, v})
		}
	}
	for _, e := range found {
		off := keyOffset(s, e.key)
		p.Properties = append(p.Properties, Property{Key: e.key, Value: e.value, Offset: off, ValueOffset: -1})
	}
	sort.SliceStable(p.Properties, func(i, j int) bool {
		a, b := p.Properties[i].Offset, p.Properties[j].Offset
		return a >= 0 && (b < 0 || a < b)
	})
	var index map[string]int
	for i := range p.Properties {
		if err := applyPG(p, p.Properties, i, "libpq", &index); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// applyPG sets the Conn field a libpq or URL property names.
func applyPG(p *Parsed, props []Property, i int, form string, index *map[string]int) error {
	pr := &props[i]
	if !utf8.ValidString(pr.Key+pr.Value) || strings.IndexByte(pr.Key+pr.Value, 0) >= 0 {
		// Percent-decoding can produce bytes no connection string may carry.
		return &ParseError{Offset: pr.Offset, Msg: "a key or value decodes to invalid UTF-8 or a NUL byte"}
	}
	switch pr.Key {
	case "host":
		p.Conn.Server = pr.Value
	case "port":
		port, ok := parsePort(pr.Value)
		if !ok {
			return &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: "port is not a number in 1-65535"}
		}
		p.Conn.Port = port
	case "dbname":
		p.Conn.Database = pr.Value
	case "user":
		p.Conn.User = pr.Value
	case "password":
		p.Conn.Password = pr.Value
	case "sslmode":
		m, err := ParseSSLMode(pr.Value)
		if err != nil {
			return &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: "sslmode is not disable, allow, prefer, require, verify-ca or verify-full"}
		}
		p.Warnings = append(p.Warnings, p.Conn.SetSSLMode(m)...)
	default:
		return addExtra(p, props, i, form, index)
	}
	return nil
}

// keyOffset finds where key= is written in a libpq DSN, or -1.
func keyOffset(s, key string) int {
	for from := 0; from < len(s); {
		i := strings.Index(s[from:], key)
		if i < 0 {
			return -1
		}
		i += from
		j := skipSpace(s, i+len(key))
		if (i == 0 || isSpace(s[i-1])) && j < len(s) && s[j] == '=' {
			return i
		}
		from = i + 1
	}
	return -1
}

// parseURL parses a postgres:// URL with pgconn, and reads which parts the
// URL sets with net/url: pgconn fills in whatever it leaves out from the
// environment and defaults, and those must not reach Conn.
func parseURL(s string, start int) (*Parsed, error) {
	if err := checkFileKeys(s, true); err != nil {
		return nil, err
	}
	s = s[start:]
	// pgconn wants the scheme in lower case, as libpq does; the rest is untouched.
	schemeEnd := strings.Index(s, "://") + 3
	pgs := strings.ToLower(s[:schemeEnd]) + s[schemeEnd:]
	cfg, err := pgconn.ParseConfig(pgs)
	if err != nil {
		return nil, pgxError("postgres:// URL", err)
	}
	if multiHost(cfg) {
		return nil, &ParseError{Offset: start, Key: "host", Msg: "several hosts: AEP takes one"}
	}
	u, err := url.Parse(pgs)
	if err != nil {
		return nil, &ParseError{Offset: start, Msg: "not a valid URL"}
	}
	p := &Parsed{Format: FormatURL}
	add := func(key, value, raw string) {
		off := -1
		if raw != "" {
			if i := strings.Index(s[schemeEnd:], raw); i >= 0 {
				off = start + schemeEnd + i
			}
		}
		p.Properties = append(p.Properties, Property{Key: key, Value: value, Offset: off, ValueOffset: off})
	}
	offs := urlOffsets(s[schemeEnd:])
	if u.User != nil {
		if u.User.Username() != "" {
			add("user", cfg.User, "")
		}
		if pw, ok := u.User.Password(); ok && pw != "" {
			add("password", cfg.Password, "")
		}
	}
	if h := u.Hostname(); h != "" {
		add("host", cfg.Host, "")
	}
	if u.Port() != "" {
		add("port", strconv.Itoa(int(cfg.Port)), "")
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		add("dbname", cfg.Database, "")
	}
	for i := range p.Properties {
		o := start + schemeEnd + offs[p.Properties[i].Key]
		p.Properties[i].Offset, p.Properties[i].ValueOffset = o, o
	}
	if u.RawQuery != "" {
		for _, kv := range strings.Split(u.RawQuery, "&") {
			if kv == "" {
				continue
			}
			rk, rv, _ := strings.Cut(kv, "=")
			k, err1 := url.QueryUnescape(rk)
			v, err2 := url.QueryUnescape(rv)
			if err1 != nil || err2 != nil {
				return nil, &ParseError{Offset: -1, Msg: "bad escape in URL query"}
			}
			if k == "ssl" && v == "true" {
				k, v = "sslmode", "require"
			}
			// A query parameter overrides the same part of the URL.
			kept := p.Properties[:0]
			for _, q := range p.Properties {
				if q.Key != k {
					kept = append(kept, q)
				}
			}
			p.Properties = kept
			add(k, v, kv)
		}
	}
	var index map[string]int
	for i := range p.Properties {
		if p.Properties[i].Key == "hostaddr" {
			continue
		}
		if err := applyPG(p, p.Properties, i, "URL", &index); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// urlOffsets finds where each part of a URL (after "scheme://") starts,
// following libpq's layout: [user[:password]@]host[:port][/dbname][?query].
func urlOffsets(rest string) map[string]int {
	offs := map[string]int{}
	hostStart := 0
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		offs["user"] = 0
		if c := strings.IndexByte(rest[:i], ':'); c >= 0 {
			offs["password"] = c + 1
		}
		hostStart = i + 1
	}
	offs["host"] = hostStart
	end := len(rest)
	if i := strings.IndexAny(rest[hostStart:], "/?"); i >= 0 {
		end = hostStart + i
	}
	hostPort := rest[hostStart:end]
	if c := strings.LastIndexByte(hostPort, ':'); c >= 0 && c > strings.LastIndexByte(hostPort, ']') {
		offs["port"] = hostStart + c + 1
	}
	if end < len(rest) && rest[end] == '/' {
		offs["dbname"] = end + 1
	}
	return offs
}
