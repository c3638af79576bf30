package connstr

import (
	"errors"
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

// probe is a prefix for pgconn. Later keys override earlier ones in a
// libpq DSN, so whatever the input leaves out keeps the probe's value and
// not one from the PG* environment or libpq's defaults (~/.pgpass,
// ~/.postgresql/root.crt turning require into verify-ca, the OS user).
// What the input sets is read by scanLibPQ and checked against what
// pgconn made of it.
const probe = "host=flowpg.probe port=1 dbname=probe user=probe password=probe sslmode=disable " +
	"passfile='' sslrootcert='' sslcert='' sslkey='' sslcertmode=allow sslnegotiation=postgres " +
	"target_session_attrs=any connect_timeout=0 channel_binding=prefer require_auth='' "

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
// rejects them: a pasted string must not make Parse read (or hang on)
// /dev/zero or a FIFO, and the file would be this machine's, not AEP's.
// sslrootcert=system names no file (libpq 16 and pgx read it as "the
// system's trusted roots") and is accepted.
var fileKeys = [...]string{"passfile", "servicefile", "service", "sslrootcert", "sslcert", "sslkey"}

// checkFileKeys rejects a file key among the keys of a libpq or URL
// string, before pgconn sees it. Keys are matched exactly, as pgconn and
// libpq match them.
func checkFileKeys(props []Property) error {
	for i := range props {
		pr := &props[i]
		for _, k := range fileKeys {
			if pr.Key == k && !(k == "sslrootcert" && pr.Value == "system") {
				return &ParseError{Offset: pr.Offset, Key: k, Msg: "names a local file; connstr does not read files named in a connection string"}
			}
		}
	}
	return nil
}

// scanLibPQ lists the key=value pairs of a libpq keyword/value string in
// order, with their offsets, by the grammar libpq and pgconn share: pairs
// separated by whitespace; a value is single-quoted or runs to the next
// whitespace; a backslash takes the next byte literally; "user=" with an
// empty value is skipped (pgconn does so). pgconn decides what the string
// means and parseLibPQ checks that the two agree; the scan adds what
// pgconn does not report: where each key is written, and the settings it
// consumes without exposing their text (connect_timeout, channel_binding,
// sslrootcert=system, …).
func scanLibPQ(s string) ([]Property, error) {
	var props []Property
	i := skipSpace(s, 0)
	for i < len(s) {
		keyStart := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[keyStart:i]
		i = skipSpace(s, i)
		switch {
		case key == "":
			return nil, &ParseError{Offset: keyStart, Msg: "'=' without a key"}
		case i == len(s) || s[i] != '=':
			return nil, &ParseError{Offset: keyStart, Msg: "a libpq key must be followed by '='"}
		}
		i = skipSpace(s, i+1)
		valStart := i
		var raw string
		if i < len(s) && s[i] == '\'' {
			j := i + 1
			for ; j < len(s) && s[j] != '\''; j++ {
				if s[j] == '\\' {
					j++
				}
			}
			if j >= len(s) {
				return nil, &ParseError{Offset: valStart, Key: key, Msg: "unterminated quoted value"}
			}
			raw, i = s[i+1:j], j+1
		} else {
			j := i
			for ; j < len(s) && !isSpace(s[j]); j++ {
				if s[j] == '\\' {
					j++
				}
			}
			j = min(j, len(s))
			raw, i = s[i:j], j
		}
		i = skipSpace(s, i)
		v := unescapeLibPQ(raw)
		if key == "user" && v == "" {
			continue
		}
		props = append(props, Property{Key: key, Value: v, Offset: keyStart, ValueOffset: valStart})
	}
	return props, nil
}

// unescapeLibPQ drops each backslash and keeps the byte after it.
func unescapeLibPQ(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			if i == len(s) {
				break
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// libpqKey is the key pgconn files a libpq key under: dbname and database
// are one setting.
func libpqKey(k string) string {
	if k == "database" {
		return "dbname"
	}
	return k
}

// lastWins keeps the last of repeated keys, as libpq does, in the order
// of those last occurrences.
func lastWins(props []Property) []Property {
	last := make(map[string]int, len(props))
	for i := range props {
		last[libpqKey(props[i].Key)] = i
	}
	if len(last) == len(props) {
		return props
	}
	out := make([]Property, 0, len(last))
	for i := range props {
		if last[libpqKey(props[i].Key)] == i {
			out = append(out, props[i])
		}
	}
	return out
}

func parseLibPQ(s string) (*Parsed, error) {
	// The scan comes first: pgconn reads the files some keys name.
	scanned, err := scanLibPQ(s)
	if err != nil {
		return nil, err
	}
	if err := checkFileKeys(scanned); err != nil {
		return nil, err
	}
	cfg, err := pgconn.ParseConfig(probe + s)
	if err != nil {
		return nil, pgxError("libpq connection string", err)
	}
	p := &Parsed{Format: FormatLibPQ, Properties: lastWins(scanned)}
	var index map[string]int
	for i := range p.Properties {
		if err := applyPG(p, s, p.Properties, i, "libpq", &index); err != nil {
			return nil, err
		}
		if err := agrees(cfg, &p.Properties[i]); err != nil {
			return nil, err
		}
	}
	if multiHost(cfg) {
		return nil, &ParseError{Offset: -1, Key: "host", Msg: "several hosts: AEP takes one"}
	}
	mode, err := finishPG(p)
	if err != nil {
		return nil, err
	}
	if want := mode; sslModeOf(cfg) != want && !(want == SSLModeUnset && sslModeOf(cfg) == SSLDisable) {
		return nil, &ParseError{Offset: -1, Key: "sslmode", Msg: "connstr and pgconn read the sslmode of this string differently"}
	}
	return p, nil
}

// agrees checks that pgconn read a setting of a libpq string as scanLibPQ
// did. They follow one grammar; this keeps them honest.
func agrees(cfg *pgconn.Config, pr *Property) error {
	var got string
	switch libpqKey(pr.Key) {
	case "host":
		got = cfg.Host
		if pr.Value == "" || strings.IndexByte(pr.Value, ',') >= 0 {
			return nil // pgconn's default host, or a list
		}
	case "port":
		if n, ok := parsePort(pr.Value); pr.Value == "" || ok && n == int(cfg.Port) {
			return nil // pgconn's default port, or the same number
		}
		got = strconv.Itoa(int(cfg.Port))
	case "dbname":
		got = cfg.Database
	case "user":
		if pr.Value == "" {
			return nil // pgconn's default user
		}
		got = cfg.User
	case "password":
		if pr.Value == "" {
			return nil // pgconn may read ~/.pgpass
		}
		got = cfg.Password
	default:
		v, ok := cfg.RuntimeParams[pr.Key]
		if !ok {
			return nil // a setting pgconn consumes
		}
		got = v
	}
	if got != pr.Value {
		return &ParseError{Offset: pr.Offset, Key: pr.Key, Msg: "connstr and pgconn read this value differently"}
	}
	return nil
}

// applyPG sets the Conn field a libpq or URL property names; s is the
// input, for positions.
func applyPG(p *Parsed, s string, props []Property, i int, form string, index *map[string]int) error {
	pr := &props[i]
	if !utf8.ValidString(pr.Key+pr.Value) || strings.IndexByte(pr.Key+pr.Value, 0) >= 0 {
		// Percent-decoding can produce bytes no connection string may carry.
		return &ParseError{Offset: pr.Offset, Msg: "a key or value decodes to invalid UTF-8 or a NUL byte"}
	}
	switch libpqKey(pr.Key) {
	case "host":
		h, bad := checkServer(pr.Value)
		if bad != nil {
			return serverError(pr, bad, s, "port")
		}
		p.Conn.Server = h
	case "port":
		if pr.Value == "" {
			return nil // libpq's default port: absent
		}
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
		if err != nil || m == SSLModeUnset {
			return &ParseError{Offset: pr.ValueOffset, Key: pr.Key, Msg: "sslmode is not disable, allow, prefer, require, verify-ca or verify-full"}
		}
		p.Warnings = append(p.Warnings, p.Conn.SetSSLMode(m)...)
	case "sslrootcert":
		// checkFileKeys let only the word system through.
		if err := addExtra(p, props, i, form, index); err != nil {
			return err
		}
		p.Warnings[len(p.Warnings)-1] = Warning{Code: WarnSystemRoots, Field: pr.Key,
			Message: "sslrootcert=system: libpq 16+ and pgx verify the certificate against the system's trusted roots with verify-full, as AEP, which trusts public roots only, does with Verify Full"}
	default:
		return addExtra(p, props, i, form, index)
	}
	return nil
}

// finishPG applies the rules that tie settings of a libpq or URL string
// together, and returns the sslmode the string sets (SSLModeUnset if none).
//   - sslrootcert=system makes libpq 16 and pgx verify the host name: it
//     means Verify Full, and a weaker sslmode with it is an error (libpq
//     refuses it; pgx ignores it).
//   - sslnegotiation=direct needs require or stronger (libpq refuses a
//     weaker one; pgx reads prefer as require).
//   - A string that sets no field of Conn is an error.
func finishPG(p *Parsed) (SSLMode, error) {
	var mode SSLMode
	var modeProp, known *Property
	system, direct := -1, -1
	for i := range p.Properties {
		pr := &p.Properties[i]
		switch libpqKey(pr.Key) {
		case "sslmode":
			mode, _ = ParseSSLMode(pr.Value)
			modeProp = pr
		case "sslrootcert":
			system = i
		case "sslnegotiation":
			if pr.Value == "direct" {
				direct = i
			}
		}
		switch libpqKey(pr.Key) {
		case "host", "port", "dbname", "user", "password", "sslmode":
			if known == nil {
				known = pr
			}
		}
	}
	if system >= 0 {
		switch {
		case modeProp == nil:
			mode = SSLVerifyFull
			p.Warnings = append(p.Warnings, p.Conn.SetSSLMode(mode)...)
		case mode != SSLVerifyFull:
			return 0, &ParseError{Offset: modeProp.Offset, Key: modeProp.Key,
				Msg: "sslrootcert=system needs sslmode=verify-full: libpq refuses a weaker sslmode with it, and pgx uses verify-full whatever sslmode says"}
		}
	}
	if direct >= 0 && mode < SSLRequire {
		pr := &p.Properties[direct]
		return 0, &ParseError{Offset: pr.Offset, Key: pr.Key,
			Msg: "sslnegotiation=direct needs sslmode=require, verify-ca or verify-full: libpq refuses a weaker sslmode with it, and pgx reads prefer as require"}
	}
	if p.Conn.fieldsEmpty() {
		if known == nil {
			return 0, nothingKnown(p.Properties, -1)
		}
		return 0, &ParseError{Offset: known.Offset, Key: known.Key, Msg: "every key flowpg knows is empty: nothing to connect to"}
	}
	return mode, nil
}
