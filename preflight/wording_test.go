package preflight

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/flowpg/flowpg/internal/wording"
)

// pinnedWording are the string literals that still say "flowpg ": they name
// the product as the client that spoke (an existing test asserts on the
// first), not a command or a flag. A literal not listed here must not say
// "flowpg " at all.
var pinnedWording = map[string]bool{
	"the server asks for %s %s: a client in this mode would answer; flowpg did not (%s)":                                                                                                  true,
	"the server and flowpg share no TLS version, cipher suite or key-exchange group: allow TLS 1.2 or 1.3 with modern ciphers, and the group P-256 (prime256v1) or X25519, on the server": true,
}

// TestMessages_NoCLIWording: preflight is a library, so no string of it
// names a flowpg command or a --flag; results name Options fields
// (Result.Option), and the CLI renders them as its flags. It reads every
// non-test Go file of the package.
func TestMessages_NoCLIWording(t *testing.T) {
	checked := wording.Check(t, ".", pinnedWording)
	assert.Greater(t, checked, 200, "the test must see the package's strings")
}
