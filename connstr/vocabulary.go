package connstr

import (
	"fmt"
	"strings"
)

// Warning codes of Vocabulary.Register.
const (
	// WarnSSLModeStricter: the vocabulary lacks the connection's sslMode, so
	// the next stricter one it offers is sent (Require as Verify Ca, in the
	// API tutorial's list).
	WarnSSLModeStricter = "sslmode-stricter"
	// WarnSSLModeWeaker: the vocabulary offers nothing as strict as the
	// connection's sslMode, so the strictest it offers is sent (Verify Full
	// as "true" when the spec types sslMode as a boolean).
	WarnSSLModeWeaker = "sslmode-weaker"
)

// Vocabulary is the set of sslMode values a registration with AEP can send,
// each spelled as the receiver accepts it: the API tutorial's list, the
// connector overview's, the enum of a live connection spec, or the "true" and
// "false" of a spec that types sslMode as a boolean (AEP on AWS). What a
// value means is what ParseSSLMode reads it as: "Verify Ca" is SSLVerifyCA,
// "true" is SSLRequire (TLS required, no verification stated), "false" is
// SSLDisable.
type Vocabulary struct {
	spell   [SSLVerifyFull + 1]string // "" where the mode cannot be sent
	boolean bool
}

// VocabularyOf returns the vocabulary of an offline style: StyleTutorial
// (Disable, Allow, Prefer, Verify Ca, Verify Full: no Require) or
// StyleOverview (Disable, Allow, Prefer, Require, Verify-Ca, Verify-Full).
func VocabularyOf(style SSLModeStyle) Vocabulary {
	if style == StyleOverview {
		return NewVocabulary([]string{"Disable", "Allow", "Prefer", "Require", "Verify-Ca", "Verify-Full"})
	}
	return NewVocabulary([]string{"Disable", "Allow", "Prefer", "Verify Ca", "Verify Full"})
}

// BooleanVocabulary is the vocabulary of a spec that types sslMode as a
// boolean sent as a string: "false" (no TLS) and "true" (TLS required).
func BooleanVocabulary() Vocabulary { return NewVocabulary([]string{"false", "true"}) }

// NewVocabulary reads the values of a live connection spec's sslMode enum.
// Values ParseSSLMode does not know are ignored; the first spelling of a mode
// wins. An enum of only "true" and "false" is a boolean vocabulary.
func NewVocabulary(values []string) Vocabulary {
	var v Vocabulary
	boolean := len(values) > 0
	for _, s := range values {
		t := strings.ToLower(strings.TrimSpace(s))
		boolean = boolean && (t == "true" || t == "false")
		m, err := ParseSSLMode(s)
		if err != nil || m == SSLModeUnset || v.spell[m] != "" {
			continue
		}
		v.spell[m] = s
	}
	v.boolean = boolean
	return v
}

// Boolean reports whether the vocabulary is "true"/"false".
func (v Vocabulary) Boolean() bool { return v.boolean }

// Offers reports whether m can be sent as it is.
func (v Vocabulary) Offers(m SSLMode) bool {
	return m > SSLModeUnset && int(m) < len(v.spell) && v.spell[m] != ""
}

// Values lists the values that can be sent, weakest first.
func (v Vocabulary) Values() []string {
	var out []string
	for _, s := range v.spell {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Registered is an sslMode as a registration sends it.
type Registered struct {
	// Value is the sslMode value sent, as the vocabulary spells it.
	Value string
	// Mode is what the receiver makes of Value, in libpq's terms: the mode a
	// pre-flight must dial in to predict the receiver.
	Mode SSLMode
}

// Register chooses the value to send for a connection whose TLS keys map to
// m (SSLModeUnset reads as SSLDisable, DataDirect's default). When the
// vocabulary lacks m it sends the weakest stricter mode it offers, with a
// warning, because security is never weakened silently; when it offers
// nothing as strict, it sends the strictest it has and warns that this is
// weaker. It fails only for an empty vocabulary.
func (v Vocabulary) Register(m SSLMode) (Registered, []Warning, error) {
	if m == SSLModeUnset {
		m = SSLDisable
	}
	if v.Offers(m) {
		return Registered{Value: v.spell[m], Mode: m}, nil, nil
	}
	for s := m + 1; int(s) < len(v.spell); s++ {
		if v.Offers(s) {
			return Registered{Value: v.spell[s], Mode: s}, []Warning{{Code: WarnSSLModeStricter, Field: "sslMode",
				Message: fmt.Sprintf("the sslMode values on offer (%s) have no %s: sending %q, which is stricter (%s); that is the mode that must work",
					strings.Join(v.Values(), ", "), m.name(), v.spell[s], stricterBecause(m, s))}}, nil
		}
	}
	for s := m - 1; s > SSLModeUnset; s-- {
		if v.Offers(s) {
			return Registered{Value: v.spell[s], Mode: s}, []Warning{{Code: WarnSSLModeWeaker, Field: "sslMode",
				Message: fmt.Sprintf("the sslMode values on offer (%s) cannot express %s: sending %q, which means %s, weaker than the connection string asks",
					strings.Join(v.Values(), ", "), m.name(), v.spell[s], s.LibPQ())}}, nil
		}
	}
	return Registered{}, nil, fmt.Errorf("connstr: no sslMode value to send: the vocabulary is empty")
}

// stricterBecause says what the stricter mode s adds over m.
func stricterBecause(m, s SSLMode) string {
	switch {
	case s == SSLVerifyFull && m >= SSLRequire:
		return "it also verifies the certificate chain and the host name"
	case s >= SSLVerifyCA && m >= SSLRequire:
		return "it also verifies the certificate chain"
	case s >= SSLRequire:
		return "it never falls back to plaintext"
	default:
		return "it tries TLS first"
	}
}

var modeNames = [...]string{"", "Disable", "Allow", "Prefer", "Require", "Verify Ca", "Verify Full"}

// name is m's name in words, whatever the vocabulary: Require and Verify Ca
// alike.
func (m SSLMode) name() string {
	if m < 0 || int(m) >= len(modeNames) {
		return m.String()
	}
	return modeNames[m]
}
