package connstr

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVocabulary_Register(t *testing.T) {
	tutorial, overview, boolean := VocabularyOf(StyleTutorial), VocabularyOf(StyleOverview), BooleanVocabulary()
	live := NewVocabulary([]string{"disable", "REQUIRE", "verify-full"})
	tests := []struct {
		name  string
		v     Vocabulary
		in    SSLMode
		value string
		mode  SSLMode
		warn  string
	}{
		{"tutorial has no Require: Verify Ca, stricter", tutorial, SSLRequire, "Verify Ca", SSLVerifyCA, WarnSSLModeStricter},
		{"tutorial Verify Full", tutorial, SSLVerifyFull, "Verify Full", SSLVerifyFull, ""},
		{"tutorial Prefer", tutorial, SSLPrefer, "Prefer", SSLPrefer, ""},
		{"unset is DataDirect's default, Disable", tutorial, SSLModeUnset, "Disable", SSLDisable, ""},
		{"overview Require", overview, SSLRequire, "Require", SSLRequire, ""},
		{"overview spelling", overview, SSLVerifyCA, "Verify-Ca", SSLVerifyCA, ""},
		{"live spelling kept", live, SSLRequire, "REQUIRE", SSLRequire, ""},
		{"live: Prefer becomes the next stricter, Require", live, SSLPrefer, "REQUIRE", SSLRequire, WarnSSLModeStricter},
		{"live: Verify Ca becomes Verify Full", live, SSLVerifyCA, "verify-full", SSLVerifyFull, WarnSSLModeStricter},
		{"boolean: false is Disable", boolean, SSLDisable, "false", SSLDisable, ""},
		{"boolean: true is Require", boolean, SSLRequire, "true", SSLRequire, ""},
		{"boolean: Prefer is sent as true, stricter", boolean, SSLPrefer, "true", SSLRequire, WarnSSLModeStricter},
		{"boolean: Verify Full can only be true, weaker", boolean, SSLVerifyFull, "true", SSLRequire, WarnSSLModeWeaker},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, warns, err := tt.v.Register(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.value, reg.Value)
			assert.Equal(t, tt.mode, reg.Mode)
			got, err := ParseSSLMode(reg.Value)
			require.NoError(t, err)
			assert.Equal(t, reg.Mode, got, "Mode is what the value means")
			if tt.warn == "" {
				assert.Empty(t, warns)
			} else {
				require.Len(t, warns, 1)
				assert.Equal(t, tt.warn, warns[0].Code)
				assert.Equal(t, "sslMode", warns[0].Field)
			}
		})
	}

	_, _, err := NewVocabulary([]string{"sometimes"}).Register(SSLRequire)
	assert.Error(t, err, "an empty vocabulary sends nothing")
}

func TestVocabulary_Read(t *testing.T) {
	assert.True(t, BooleanVocabulary().Boolean())
	assert.True(t, NewVocabulary([]string{"True", "False"}).Boolean())
	assert.False(t, VocabularyOf(StyleTutorial).Boolean())
	assert.Equal(t, []string{"Disable", "Allow", "Prefer", "Verify Ca", "Verify Full"}, VocabularyOf(StyleTutorial).Values())
	assert.False(t, VocabularyOf(StyleTutorial).Offers(SSLRequire))
	assert.True(t, VocabularyOf(StyleOverview).Offers(SSLRequire))
	// The first spelling of a mode wins; unknown values are ignored.
	v := NewVocabulary([]string{"Verify-Full", "Verify Full", "bogus"})
	assert.Equal(t, []string{"Verify-Full"}, v.Values())
}

// TestConn_BasicAuthIn: the registration carries what the receiver will dial.
func TestConn_BasicAuthIn(t *testing.T) {
	p, err := Parse("Server=db;Database=d;UID=u;Password=p;EncryptionMethod=1;ValidateServerCertificate=0")
	require.NoError(t, err)
	b, reg, warns := p.Conn.BasicAuthIn(VocabularyOf(StyleTutorial))
	assert.Equal(t, "Verify Ca", b.SSLMode)
	assert.Equal(t, SSLVerifyCA, reg.Mode)
	assert.Equal(t, []string{WarnSSLModeStricter}, codes(warns))

	// BasicAuth keeps its stable code for the tutorial's missing Require.
	_, warns = p.Conn.BasicAuth(StyleTutorial)
	assert.Equal(t, []string{WarnRequireNotInTutorial}, codes(warns))
}
