package connstr

import (
	"fmt"
	"strings"
)

// Warning codes. They are stable: scripts may match on them.
const (
	// WarnTLSKeysIgnored: a TLS key is set but has no effect on the result
	// (for example ValidateServerCertificate without encryption).
	WarnTLSKeysIgnored = "tls-keys-ignored"
	// WarnLossyVerificationDropped: EncryptionMethod=6 with
	// ValidateServerCertificate=1 maps to Prefer, which does not verify.
	WarnLossyVerificationDropped = "lossy-verification-dropped"
	// WarnRequireNotInTutorial: Require is missing from the API tutorial's
	// list of sslMode values.
	WarnRequireNotInTutorial = "require-not-in-tutorial"
	// WarnHostnameNotRepresentable: HostNameInCertificate names a host other
	// than Server, which sslMode cannot express.
	WarnHostnameNotRepresentable = "hostname-not-representable"
	// WarnAllowOrderReversed: libpq's allow tries plaintext first;
	// EncryptionMethod=6 tries TLS first.
	WarnAllowOrderReversed = "allow-order-reversed"
	// WarnHostNameInCertificateUndocumented: a connection string was written
	// with HostNameInCertificate, which AEP does not document.
	WarnHostNameInCertificateUndocumented = "hostnameincertificate-undocumented"
	// WarnBraceQuoting: a value had to be brace-quoted, which AEP does not
	// document.
	WarnBraceQuoting = "brace-quoting"
	// WarnUnknownKey: a key connstr does not know; it is kept, in order.
	WarnUnknownKey = "unknown-key"
	// WarnMisspelledKey: the documented misspelling
	// ValidationServerCertificate was read as ValidateServerCertificate.
	WarnMisspelledKey = "misspelled-key"
	// WarnPasswordOnCommandLine: a secret was passed as a command-line
	// argument, visible to other users in ps.
	WarnPasswordOnCommandLine = "password-on-command-line"
	// WarnSSLModeBoolean: sslMode was given as "true" or "false", as in
	// AEP's AWS example.
	WarnSSLModeBoolean = "sslmode-boolean"
	// WarnNpgsqlDefaultSSLMode: an Npgsql string without SSL Mode was read
	// with Npgsql's default, Prefer.
	WarnNpgsqlDefaultSSLMode = "npgsql-default-sslmode"
	// WarnDiscarded: a setting that cannot be carried by the output form was
	// left out.
	WarnDiscarded = "discarded"
	// WarnSystemRoots: sslrootcert=system was read as Verify Full against
	// the system's trusted roots.
	WarnSystemRoots = "sslrootcert-system"
)

// SSLModeStyle selects the spelling of sslMode values for AEP.
type SSLModeStyle int8

const (
	// StyleTutorial is the Flow Service API tutorial's vocabulary and the
	// default: Disable, Allow, Prefer, Verify Ca, Verify Full. It has no
	// Require; Require is emitted as Verify Ca (stricter), with a warning.
	StyleTutorial SSLModeStyle = iota
	// StyleOverview is the connector overview's vocabulary: Disable, Allow,
	// Prefer, Require, Verify-Ca, Verify-Full.
	StyleOverview
)

// String returns "tutorial" or "overview".
func (s SSLModeStyle) String() string {
	if s == StyleOverview {
		return "overview"
	}
	return "tutorial"
}

// ParseSSLModeStyle parses "tutorial" or "overview" (case-insensitive).
func ParseSSLModeStyle(s string) (SSLModeStyle, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "tutorial":
		return StyleTutorial, nil
	case "overview":
		return StyleOverview, nil
	}
	return StyleTutorial, fmt.Errorf("connstr: unknown sslMode style %q (want tutorial or overview)", s)
}

var libpqNames = [...]string{"", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// LibPQ returns libpq's (and pgx's, case-sensitive) name for m: "disable",
// "allow", "prefer", "require", "verify-ca" or "verify-full"; "" when unset.
func (m SSLMode) LibPQ() string {
	if m < 0 || int(m) >= len(libpqNames) {
		return ""
	}
	return libpqNames[m]
}

// String returns m's libpq name, or "unset".
func (m SSLMode) String() string {
	if s := m.LibPQ(); s != "" {
		return s
	}
	if m == SSLModeUnset {
		return "unset"
	}
	return fmt.Sprintf("SSLMode(%d)", int8(m))
}

// MarshalText writes m's libpq name, so that JSON and other text encodings
// carry an sslMode as libpq and pgx spell it ("verify-full"); SSLModeUnset
// is the empty string. A value outside the constants is an error.
func (m SSLMode) MarshalText() ([]byte, error) {
	if m != SSLModeUnset && m.LibPQ() == "" {
		return nil, fmt.Errorf("connstr: no sslMode %d", int8(m))
	}
	return []byte(m.LibPQ()), nil
}

// UnmarshalText reads an sslMode in any spelling ParseSSLMode accepts; the
// empty string is SSLModeUnset.
func (m *SSLMode) UnmarshalText(b []byte) error {
	v, err := ParseSSLMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Spelling returns m as AEP's basic authentication spells it in style.
// StyleTutorial has no Require and spells it "Verify Ca" (stricter); use
// Conn.BasicAuth to get the accompanying warning. Unset spells as "".
func (m SSLMode) Spelling(style SSLModeStyle) string {
	switch m {
	case SSLDisable:
		return "Disable"
	case SSLAllow:
		return "Allow"
	case SSLPrefer:
		return "Prefer"
	case SSLRequire:
		if style == StyleOverview {
			return "Require"
		}
		return "Verify Ca"
	case SSLVerifyCA:
		if style == StyleOverview {
			return "Verify-Ca"
		}
		return "Verify Ca"
	case SSLVerifyFull:
		if style == StyleOverview {
			return "Verify-Full"
		}
		return "Verify Full"
	}
	return ""
}

// ParseSSLMode reads an sslMode in any of its spellings: case-insensitive,
// with space, '-' and '_' equivalent (and optional), so "Verify Ca",
// "Verify-Ca", "verify-ca", "VERIFY_CA" and Npgsql's "VerifyCA" are all
// SSLVerifyCA. The AWS example's booleans are accepted too: "false" is
// SSLDisable (what it literally says) and "true" is SSLRequire (TLS is
// mandatory, verification unspecified); FromBasicAuth warns about both.
// The empty string is SSLModeUnset.
func ParseSSLMode(s string) (SSLMode, error) {
	var buf [16]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '_' || c == '\t':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if n == len(buf) {
			return SSLModeUnset, fmt.Errorf("connstr: unknown sslMode %q", s)
		}
		buf[n] = c
		n++
	}
	switch string(buf[:n]) {
	case "":
		return SSLModeUnset, nil
	case "disable", "false":
		return SSLDisable, nil
	case "allow":
		return SSLAllow, nil
	case "prefer":
		return SSLPrefer, nil
	case "require", "true":
		return SSLRequire, nil
	case "verifyca":
		return SSLVerifyCA, nil
	case "verifyfull":
		return SSLVerifyFull, nil
	}
	return SSLModeUnset, fmt.Errorf("connstr: unknown sslMode %q (want Disable, Allow, Prefer, Require, Verify Ca or Verify Full)", s)
}

// SSLMode maps c's DataDirect TLS keys to an sslMode. Adobe's documentation
// of the PostgreSQL source (the connector overview and the Flow Service API
// tutorial) shows the DataDirect connection string and lists basic
// authentication's sslMode values, but maps neither to the other: this
// table is connstr's. Where no exact mapping exists it picks the stricter
// side and says so:
//
//	EncryptionMethod  ValidateServerCertificate  HostNameInCertificate    sslMode
//	absent / 0        any                        any                      Disable (warns if TLS keys are set: tls-keys-ignored)
//	6                 0 / absent                 –                        Prefer
//	6                 1                          any                      Prefer (warns: lossy-verification-dropped)
//	1                 0 / absent                 –                        Require
//	1                 1                          absent                   Verify Ca
//	1                 1                          #SERVERNAME# or Server   Verify Full
//	1                 1                          another name             Verify Ca (warns: hostname-not-representable)
//
// HostNameInCertificate without ValidateServerCertificate=1 has no effect
// and warns (tls-keys-ignored); so do TrustStore and CryptoProtocolVersion
// with encryption on, which sslMode cannot carry. Require's absence from
// the tutorial's vocabulary is reported by BasicAuth, which spells it.
func (c Conn) SSLMode() (SSLMode, []Warning) {
	var warns []Warning
	switch c.Encryption {
	case EncryptionSSL, EncryptionRequestSSL:
	default:
		var set []string
		if c.ValidateServerCertificate != Unset {
			set = append(set, "ValidateServerCertificate")
		}
		if c.HostNameInCertificate != "" {
			set = append(set, "HostNameInCertificate")
		}
		if c.TrustStore != "" {
			set = append(set, "TrustStore")
		}
		if c.CryptoProtocolVersion != "" {
			set = append(set, "CryptoProtocolVersion")
		}
		if len(set) > 0 {
			warns = append(warns, Warning{Code: WarnTLSKeysIgnored, Field: "sslMode",
				Message: strings.Join(set, ", ") + " set but ignored: without EncryptionMethod=1 or 6 the connection is not encrypted (sslMode Disable)"})
		}
		return SSLDisable, warns
	}
	if c.TrustStore != "" || c.CryptoProtocolVersion != "" {
		warns = append(warns, Warning{Code: WarnTLSKeysIgnored, Field: "sslMode",
			Message: "TrustStore and CryptoProtocolVersion cannot be carried by sslMode; AEP uses its own trust store and protocol versions"})
	}
	verify := c.ValidateServerCertificate == True
	if !verify && c.HostNameInCertificate != "" {
		warns = append(warns, Warning{Code: WarnTLSKeysIgnored, Field: "sslMode",
			Message: "HostNameInCertificate is ignored without ValidateServerCertificate=1"})
	}
	if c.Encryption == EncryptionRequestSSL {
		if verify {
			warns = append(warns, Warning{Code: WarnLossyVerificationDropped, Field: "sslMode",
				Message: "EncryptionMethod=6 with ValidateServerCertificate=1 has no sslMode equivalent: Prefer falls back to plaintext and does not verify the certificate; use EncryptionMethod=1 (Verify Ca or Verify Full) to keep verification"})
		}
		return SSLPrefer, warns
	}
	if !verify {
		return SSLRequire, warns
	}
	switch {
	case c.HostNameInCertificate == "":
		return SSLVerifyCA, warns
	case strings.EqualFold(c.HostNameInCertificate, "#SERVERNAME#") ||
		(c.Server != "" && strings.EqualFold(c.HostNameInCertificate, c.Server)):
		return SSLVerifyFull, warns
	}
	warns = append(warns, Warning{Code: WarnHostnameNotRepresentable, Field: "sslMode",
		Message: "HostNameInCertificate names a host other than Server, which sslMode cannot express: using Verify Ca (the chain is verified, the host name is not)"})
	return SSLVerifyCA, warns
}

// SetSSLMode sets c's DataDirect TLS keys from an sslMode, the reverse of
// the table at Conn.SSLMode, and clears HostNameInCertificate unless the
// mode sets it:
//
//	Disable      EncryptionMethod=0
//	Allow        EncryptionMethod=6 (warns: allow-order-reversed)
//	Prefer       EncryptionMethod=6;ValidateServerCertificate=0
//	Require      EncryptionMethod=1;ValidateServerCertificate=0
//	Verify Ca    EncryptionMethod=1;ValidateServerCertificate=1
//	Verify Full  EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#
//
// Build warns (hostnameincertificate-undocumented) where it writes
// HostNameInCertificate; the other forms carry Verify Full without it.
//
// SSLModeUnset leaves c unchanged.
func (c *Conn) SetSSLMode(m SSLMode) []Warning {
	if m == SSLModeUnset {
		return nil
	}
	c.ValidateServerCertificate = Unset
	c.HostNameInCertificate = ""
	switch m {
	case SSLDisable:
		c.Encryption = EncryptionNone
	case SSLAllow:
		c.Encryption = EncryptionRequestSSL
		return []Warning{{Code: WarnAllowOrderReversed, Field: "EncryptionMethod",
			Message: "Allow tries plaintext first, then TLS; EncryptionMethod=6 tries TLS first, then plaintext. Neither verifies the certificate"}}
	case SSLPrefer:
		c.Encryption, c.ValidateServerCertificate = EncryptionRequestSSL, False
	case SSLRequire:
		c.Encryption, c.ValidateServerCertificate = EncryptionSSL, False
	case SSLVerifyCA:
		c.Encryption, c.ValidateServerCertificate = EncryptionSSL, True
	case SSLVerifyFull:
		c.Encryption, c.ValidateServerCertificate = EncryptionSSL, True
		c.HostNameInCertificate = "#SERVERNAME#"
	}
	return nil
}
