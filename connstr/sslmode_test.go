package connstr

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func codes(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Code)
	}
	return out
}

// TestConn_SSLMode covers every row of the table at Conn.SSLMode.
func TestConn_SSLMode(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  SSLMode
		warns []string
	}{
		{"absent", "Server=h", SSLDisable, nil},
		{"0", "Server=h;EncryptionMethod=0", SSLDisable, nil},
		{"absent with validate", "Server=h;ValidateServerCertificate=1", SSLDisable, []string{WarnTLSKeysIgnored}},
		{"0 with hostname", "Server=h;EncryptionMethod=0;HostNameInCertificate=h", SSLDisable, []string{WarnTLSKeysIgnored}},
		{"0 with truststore", "Server=h;EncryptionMethod=0;TrustStore=/ca.pem;CryptoProtocolVersion=TLSv1.2", SSLDisable, []string{WarnTLSKeysIgnored}},
		{"6 validate absent", "Server=h;EncryptionMethod=6", SSLPrefer, nil},
		{"6 validate 0", "Server=h;EncryptionMethod=6;ValidateServerCertificate=0", SSLPrefer, nil},
		{"6 validate 1", "Server=h;EncryptionMethod=6;ValidateServerCertificate=1", SSLPrefer, []string{WarnLossyVerificationDropped}},
		{"6 validate 1 hostname", "Server=h;EncryptionMethod=6;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#", SSLPrefer, []string{WarnLossyVerificationDropped}},
		{"1 validate absent", "Server=h;EncryptionMethod=1", SSLRequire, nil},
		{"1 validate 0", "Server=h;EncryptionMethod=1;ValidateServerCertificate=0", SSLRequire, nil},
		{"1 validate 0 hostname ignored", "Server=h;EncryptionMethod=1;ValidateServerCertificate=0;HostNameInCertificate=h", SSLRequire, []string{WarnTLSKeysIgnored}},
		{"1 1 no hostname", "Server=h;EncryptionMethod=1;ValidateServerCertificate=1", SSLVerifyCA, nil},
		{"1 1 #SERVERNAME#", "Server=h;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#", SSLVerifyFull, nil},
		{"1 1 #servername# any case", "Server=h;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#servername#", SSLVerifyFull, nil},
		{"1 1 equal to server", "Server=DB.example.com;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=db.example.com", SSLVerifyFull, nil},
		{"1 1 other name", "Server=db.example.com;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=other.example.com", SSLVerifyCA, []string{WarnHostnameNotRepresentable}},
		{"1 truststore", "Server=h;EncryptionMethod=1;ValidateServerCertificate=1;TrustStore=/ca.pem", SSLVerifyCA, []string{WarnTLSKeysIgnored}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.in)
			require.NoError(t, err)
			got, warns := p.Conn.SSLMode()
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.warns, codes(warns))
		})
	}
}

// TestConn_SetSSLMode covers every row of the table at Conn.SetSSLMode.
func TestConn_SetSSLMode(t *testing.T) {
	tests := []struct {
		name  string
		mode  SSLMode
		want  string
		warns []string
	}{
		{"disable", SSLDisable, "Server=h;EncryptionMethod=0", nil},
		{"allow", SSLAllow, "Server=h;EncryptionMethod=6", []string{WarnAllowOrderReversed}},
		{"prefer", SSLPrefer, "Server=h;EncryptionMethod=6;ValidateServerCertificate=0", nil},
		{"require", SSLRequire, "Server=h;EncryptionMethod=1;ValidateServerCertificate=0", nil},
		{"verify-ca", SSLVerifyCA, "Server=h;EncryptionMethod=1;ValidateServerCertificate=1", nil},
		{"verify-full", SSLVerifyFull, "Server=h;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#", nil},
		{"unset leaves it", SSLModeUnset, "Server=h;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Conn{Server: "h", Encryption: EncryptionSSL, ValidateServerCertificate: True, HostNameInCertificate: "x"}
			warns := c.SetSSLMode(tt.mode)
			assert.Equal(t, tt.warns, codes(warns))
			s, _ := Build(c)
			assert.Equal(t, tt.want, s)
			if tt.mode != SSLModeUnset {
				back, _ := c.SSLMode()
				want := tt.mode
				if want == SSLAllow {
					want = SSLPrefer // lossy, warned
				}
				assert.Equal(t, want, back)
			}
		})
	}
}

func TestParseSSLMode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want SSLMode
	}{
		{"empty", "", SSLModeUnset},
		{"tutorial disable", "Disable", SSLDisable},
		{"tutorial allow", "Allow", SSLAllow},
		{"tutorial prefer", "Prefer", SSLPrefer},
		{"tutorial verify ca", "Verify Ca", SSLVerifyCA},
		{"tutorial verify full", "Verify Full", SSLVerifyFull},
		{"overview require", "Require", SSLRequire},
		{"overview verify-ca", "Verify-Ca", SSLVerifyCA},
		{"overview verify-full", "Verify-Full", SSLVerifyFull},
		{"libpq verify-full", "verify-full", SSLVerifyFull},
		{"underscore upper", "VERIFY_CA", SSLVerifyCA},
		{"npgsql", "VerifyFull", SSLVerifyFull},
		{"aws false", "false", SSLDisable},
		{"true", "TRUE", SSLRequire},
		{"padded", " prefer ", SSLPrefer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSSLMode(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	for _, bad := range []string{"verify", "strict", "yes", "verify-fullest-of-them-all"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := ParseSSLMode(bad)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "connstr: ")
		})
	}
}

func TestSSLMode_Spelling(t *testing.T) {
	tests := []struct {
		mode               SSLMode
		tutorial, overview string
		libpq              string
	}{
		{SSLModeUnset, "", "", ""},
		{SSLDisable, "Disable", "Disable", "disable"},
		{SSLAllow, "Allow", "Allow", "allow"},
		{SSLPrefer, "Prefer", "Prefer", "prefer"},
		{SSLRequire, "Verify Ca", "Require", "require"},
		{SSLVerifyCA, "Verify Ca", "Verify-Ca", "verify-ca"},
		{SSLVerifyFull, "Verify Full", "Verify-Full", "verify-full"},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			assert.Equal(t, tt.tutorial, tt.mode.Spelling(StyleTutorial))
			assert.Equal(t, tt.overview, tt.mode.Spelling(StyleOverview))
			assert.Equal(t, tt.libpq, tt.mode.LibPQ())
			if tt.mode != SSLModeUnset {
				for _, s := range []string{tt.tutorial, tt.overview, tt.libpq} {
					m, err := ParseSSLMode(s)
					require.NoError(t, err)
					if tt.mode == SSLRequire && s == "Verify Ca" {
						continue // the tutorial has no Require
					}
					assert.Equal(t, tt.mode, m, s)
				}
			}
		})
	}
}

// TestSSLMode_Text: an sslMode travels in JSON under its libpq name, the
// unset mode as "", and reads back in any spelling ParseSSLMode takes.
func TestSSLMode_Text(t *testing.T) {
	type doc struct {
		Mode  SSLMode `json:"mode"`
		Other SSLMode `json:"other,omitempty"`
	}
	for _, m := range []SSLMode{SSLModeUnset, SSLDisable, SSLAllow, SSLPrefer, SSLRequire, SSLVerifyCA, SSLVerifyFull} {
		b, err := json.Marshal(doc{Mode: m})
		require.NoError(t, err)
		assert.JSONEq(t, `{"mode":"`+m.LibPQ()+`"}`, string(b), m.String())
		var back doc
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, m, back.Mode)
	}
	var d doc
	require.NoError(t, json.Unmarshal([]byte(`{"mode":"Verify Full"}`), &d))
	assert.Equal(t, SSLVerifyFull, d.Mode)
	require.Error(t, json.Unmarshal([]byte(`{"mode":"strict"}`), &d))
	_, err := json.Marshal(doc{Mode: SSLMode(42)})
	require.ErrorContains(t, err, "connstr: no sslMode 42")
}
