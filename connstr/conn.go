// Package connstr parses, validates, builds and converts the DataDirect-style
// connection string that Adobe Experience Platform's PostgreSQL source takes,
// and the other forms users paste: libpq keyword DSNs, postgres:// and
// jdbc:postgresql:// URLs, Npgsql/ADO.NET strings, and AEP's basic
// authentication as JSON. It knows nothing about the network, and no value
// of it prints a password (see Conn, Redact and SecretSpans).
package connstr

import (
	"encoding/json"
	"fmt"
)

// DefaultPort is the PostgreSQL port assumed when a connection names none.
const DefaultPort = 5432

// Redacted replaces a secret wherever one would otherwise be shown.
const Redacted = "********"

// EncryptionMethod is DataDirect's EncryptionMethod key. Its zero value means
// the key is absent, which DataDirect treats like EncryptionNone.
type EncryptionMethod int8

// The EncryptionMethod values PostgreSQL's DataDirect driver accepts.
const (
	EncryptionUnset      EncryptionMethod = iota // key absent
	EncryptionNone                               // EncryptionMethod=0: plaintext
	EncryptionSSL                                // EncryptionMethod=1: TLS, fail if the server has none
	EncryptionRequestSSL                         // EncryptionMethod=6: TLS if offered, else plaintext
)

// Tristate is an optional boolean key such as ValidateServerCertificate.
type Tristate int8

// Tristate values.
const (
	Unset Tristate = iota // key absent
	False                 // written as 0
	True                  // written as 1
)

// SSLMode is the sslMode of AEP's basic authentication, in libpq's terms.
type SSLMode int8

// SSLMode values, weakest first, so that m >= SSLRequire means "never
// plaintext".
const (
	SSLModeUnset  SSLMode = iota // no sslMode given
	SSLDisable                   // plaintext only
	SSLAllow                     // plaintext first, TLS if the server insists; no verification
	SSLPrefer                    // TLS if the server offers it, else plaintext; no verification
	SSLRequire                   // TLS, the certificate not verified
	SSLVerifyCA                  // TLS, the certificate chain verified, not the host name
	SSLVerifyFull                // TLS, the certificate chain and the host name verified
)

// Property is one key=value pair of the input: the key spelled as written,
// the value decoded (ODBC braces or ADO.NET quotes removed, "}}" and doubled
// quotes undone; for libpq and URL forms, as pgconn decodes it). Offsets are
// byte offsets into the input. Print it freely: its Format method redacts
// secret values (see Secret); its JSON encoding does not.
type Property struct {
	Key    string `json:"key"`    // the key, spelled as written
	Value  string `json:"value"`  // the value, decoded
	Offset int    `json:"offset"` // byte offset of the key in the input; -1 if unknown
	// ValueOffset is the byte offset of the value's first byte (its opening
	// brace or quote, if any); -1 if unknown.
	ValueOffset int `json:"valueOffset"`
}

// Warning is a non-fatal remark about an input or a conversion.
type Warning struct {
	Code    string `json:"code"`            // one of the Warn… constants, stable for scripts to match
	Field   string `json:"field,omitempty"` // the key or field concerned, if any
	Message string `json:"message"`         // the remark in words, for people
}

// Conn is one PostgreSQL source connection in DataDirect terms. Empty strings
// and zero values mean "absent". Extra holds unknown keys in input order.
// Its String, GoString and Format methods never show the password.
type Conn struct {
	Server                    string           // host name or IP address; Parse gives an IPv6 address without brackets
	Port                      int              // 0: absent, DefaultPort assumed
	Database                  string           // database name
	User                      string           // user name (UID)
	Password                  string           // password; String, GoString, Format and MarshalJSON mask it
	Encryption                EncryptionMethod // EncryptionMethod: whether TLS is used
	ValidateServerCertificate Tristate         // ValidateServerCertificate: whether the certificate chain is verified
	HostNameInCertificate     string           // the host name the certificate must carry; #SERVERNAME# means Server
	TrustStore                string           // the CA file DataDirect verifies against; sslMode cannot carry it
	CryptoProtocolVersion     string           // the TLS versions DataDirect allows; sslMode cannot carry it
	Extra                     []Property       // other keys, as written, in input order
}

// MaxInputSize is the largest connection string Parse accepts, in bytes.
const MaxInputSize = 64 << 10

// PortOrDefault returns c.Port, or DefaultPort when the connection names none.
func (c Conn) PortOrDefault() int {
	if c.Port == 0 {
		return DefaultPort
	}
	return c.Port
}

// Secret reports whether the property holds a secret (a password or the
// like) that must be shown as Redacted. It goes by the key (IsSecretKey).
func (p Property) Secret() bool { return IsSecretKey(p.Key) }

// Redacted returns a copy of c whose password, and every secret extra
// property, is replaced by Redacted. Empty secrets stay empty.
func (c Conn) Redacted() Conn {
	if c.Password != "" {
		c.Password = Redacted
	}
	if len(c.Extra) > 0 {
		c.Extra = redactProperties(c.Extra)
	}
	return c
}

// redactProperties returns a copy of ps with the values of secret keys
// redacted.
func redactProperties(ps []Property) []Property {
	out := make([]Property, len(ps))
	for i := range ps {
		out[i] = ps[i].redacted()
	}
	return out
}

// redacted returns p with its value replaced by Redacted if it is a
// secret (see Secret) and not empty.
func (p Property) redacted() Property {
	if p.Secret() && p.Value != "" {
		p.Value = Redacted
	}
	return p
}

// Equal reports whether c and d describe the same connection. Extra
// properties are compared by key and value, in order; their offsets in
// the input they came from are ignored.
func (c Conn) Equal(d Conn) bool {
	if c.Server != d.Server || c.Port != d.Port || c.Database != d.Database ||
		c.User != d.User || c.Password != d.Password || c.Encryption != d.Encryption ||
		c.ValidateServerCertificate != d.ValidateServerCertificate ||
		c.HostNameInCertificate != d.HostNameInCertificate || c.TrustStore != d.TrustStore ||
		c.CryptoProtocolVersion != d.CryptoProtocolVersion || len(c.Extra) != len(d.Extra) {
		return false
	}
	for i := range c.Extra {
		if c.Extra[i].Key != d.Extra[i].Key || c.Extra[i].Value != d.Extra[i].Value {
			return false
		}
	}
	return true
}

// String returns the canonical connection string (see Build) with the
// password shown as Redacted.
func (c Conn) String() string {
	s, _ := Build(c.Redacted())
	return s
}

// connFields has Conn's fields and none of its methods, so fmt can print
// a (redacted) copy field by field.
type connFields Conn

// GoString returns a Go-syntax representation of c with the password
// shown as Redacted, for %#v.
func (c Conn) GoString() string { return goStringRedacted("Conn", connFields(c.Redacted())) }

// Format implements fmt.Formatter so that no verb can print the password:
// %v and %s print String, %+v the fields by name, %#v GoString, %q a
// quoted String, and any other verb %!verb(connstr.Conn=String).
func (c Conn) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, "Conn", connFields(c.Redacted()), c.String())
}

// propFields has Property's fields and none of its methods.
type propFields Property

// Format implements fmt.Formatter so that no verb prints a secret value
// (see Secret): %v and %s print the fields as fmt would, {Key Value Offset
// ValueOffset}, value redacted; %+v names them; %#v is Go syntax; %q
// quotes what %v prints; any other verb prints
// %!verb(connstr.Property={…}).
func (p Property) Format(f fmt.State, verb rune) {
	r := propFields(p.redacted())
	formatRedacted(f, verb, "Property", r, fmt.Sprint(r))
}

// MarshalJSON encodes c as its String, password redacted, so that a Conn
// dropped into a JSON document or log never carries the password. Encode
// BasicAuth, or the output of Build, to emit the credential on purpose.
func (c Conn) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }
