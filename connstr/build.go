package connstr

import (
	"strconv"
	"strings"
)

// Build writes c as a DataDirect connection string for AEP, with the
// canonical key spelling and order
//
//	Server;Database;Port;UID;Password;EncryptionMethod;ValidateServerCertificate;
//	HostNameInCertificate;TrustStore;CryptoProtocolVersion
//
// followed by the extra keys in order. Absent fields (empty, zero, Unset)
// are left out. An IPv6 server is written without brackets, as
// DataDirect's documentation writes it (HOST=2001:DB8:0:0:8:800:200C:417A).
// A value is brace-quoted when it contains ';', '{', '}' or '=' or has
// leading or trailing whitespace, with '}' doubled inside; each quoted
// value adds a brace-quoting warning, since AEP does not document brace
// quoting. Extra keys that cannot be written back are left out with a
// warning: an empty key, one with leading or trailing whitespace, one
// starting with '#' or holding '=', ';', '{', '}' or "://", one that
// repeats a known key or an earlier extra, and a key only Npgsql knows
// (which would make the string read as Npgsql). HostNameInCertificate,
// which AEP does not document, is written with a warning too.
//
// Parse(Build(c)).Conn equals c (see Conn.Equal) for every value the
// grammar can carry: any valid UTF-8 without NUL bytes, within MaxInputSize.
func Build(c Conn) (string, []Warning) {
	var b strings.Builder
	b.Grow(128)
	var warns []Warning
	put := func(key, value string) {
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(key)
		b.WriteByte('=')
		if needsBraces(value) {
			b.WriteByte('{')
			b.WriteString(strings.ReplaceAll(value, "}", "}}"))
			b.WriteByte('}')
			msg := key + " is brace-quoted: AEP does not document brace quoting"
			if key == "Password" {
				msg += "; for such a password use basic authentication, which carries it as it is"
			}
			warns = append(warns, Warning{Code: WarnBraceQuoting, Field: key, Message: msg})
			return
		}
		b.WriteString(value)
	}
	if h := c.host(); h != "" {
		put("Server", h)
	}
	if c.Database != "" {
		put("Database", c.Database)
	}
	if c.Port != 0 {
		put("Port", strconv.Itoa(c.Port))
	}
	if c.User != "" {
		put("UID", c.User)
	}
	if c.Password != "" {
		put("Password", c.Password)
	}
	switch c.Encryption {
	case EncryptionNone:
		put("EncryptionMethod", "0")
	case EncryptionSSL:
		put("EncryptionMethod", "1")
	case EncryptionRequestSSL:
		put("EncryptionMethod", "6")
	}
	switch c.ValidateServerCertificate {
	case False:
		put("ValidateServerCertificate", "0")
	case True:
		put("ValidateServerCertificate", "1")
	}
	if c.HostNameInCertificate != "" {
		put("HostNameInCertificate", c.HostNameInCertificate)
		warns = append(warns, Warning{Code: WarnHostNameInCertificateUndocumented, Field: "HostNameInCertificate",
			Message: "the connection string carries HostNameInCertificate (Verify Full), which AEP does not document; if AEP rejects it use basic authentication with sslMode Verify Full"})
	}
	if c.TrustStore != "" {
		put("TrustStore", c.TrustStore)
	}
	if c.CryptoProtocolVersion != "" {
		put("CryptoProtocolVersion", c.CryptoProtocolVersion)
	}
	for i, e := range c.Extra {
		if !extraKeyOK(c.Extra, i) {
			warns = append(warns, Warning{Code: WarnDiscarded, Field: e.Key,
				Message: "extra key " + strconv.Quote(e.Key) + " cannot be written: it is empty, starts with '#', holds '=', ';', '{' or '}', or repeats a known or earlier key"})
			continue
		}
		put(e.Key, e.Value)
	}
	return b.String(), warns
}

func needsBraces(v string) bool {
	if v == "" {
		return false
	}
	if isSpace(v[0]) || isSpace(v[len(v)-1]) {
		return true
	}
	return strings.ContainsAny(v, ";{}=")
}

func extraKeyOK(extra []Property, i int) bool {
	k := extra[i].Key
	if k == "" || isSpace(k[0]) || isSpace(k[len(k)-1]) || k[0] == '#' || strings.ContainsAny(k, "=;{}") ||
		strings.Contains(k, "://") || lookupDD(k) != nil {
		return false
	}
	for _, o := range npgsqlOnly { // would make the string read as Npgsql
		if foldEqNoSpace(k, o) {
			return false
		}
	}
	for j := 0; j < i; j++ {
		if foldEq(extra[j].Key, k) {
			return false
		}
	}
	return true
}
