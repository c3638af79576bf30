// Package connstr parses, validates, builds and converts the DataDirect-style
// connection string that Adobe Experience Platform's PostgreSQL source takes,
// and the other forms users paste (libpq keyword DSNs, postgres:// URLs and
// Npgsql/ADO.NET strings). It knows nothing about the network.
package connstr

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

// SSLMode values, weakest first.
const (
	SSLModeUnset SSLMode = iota
	SSLDisable
	SSLAllow
	SSLPrefer
	SSLRequire
	SSLVerifyCA
	SSLVerifyFull
)

// Property is one key=value pair exactly as written in the input.
type Property struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Offset int    `json:"offset"` // byte offset of the key in the input
}

// Warning is a non-fatal remark about an input or a conversion.
type Warning struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Conn is one PostgreSQL source connection in DataDirect terms. Empty strings
// and zero values mean "absent". Extra holds unknown keys in input order.
// Its String, GoString and Format methods never show the password.
type Conn struct {
	Server                    string
	Port                      int // 0: absent, DefaultPort assumed
	Database                  string
	User                      string
	Password                  string
	Encryption                EncryptionMethod
	ValidateServerCertificate Tristate
	HostNameInCertificate     string
	TrustStore                string
	CryptoProtocolVersion     string
	Extra                     []Property
}

// MaxInputSize is the largest connection string Parse accepts, in bytes.
const MaxInputSize = 64 << 10
