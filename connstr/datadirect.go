package connstr

import (
	"fmt"
	"strings"
)

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
// lower case, so that lookupDD compares a key with one to four candidates,
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
