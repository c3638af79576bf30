package connstr

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/flowpg/flowpg/internal/wording"
)

// pinnedWording are the string literals that still say "flowpg ": existing
// tests assert on their words ("no key flowpg knows", "every key flowpg
// knows", "flowpg reads"), so rewording them changes behaviour that callers
// may match on. None names a command or a flag. A literal not listed here
// must not say "flowpg " at all.
var pinnedWording = map[string]bool{
	"no key flowpg knows: a connection string names at least one of Server, Port, Database, UID, Password or EncryptionMethod (or the libpq, URL or Npgsql equivalent)": true,
	"every key flowpg knows is empty: nothing to connect to": true,
	"specName is %q: flowpg reads %q as JSON":                true,
}

// TestMessages_NoCLIWording: connstr is a library, so no string of it names
// a flowpg command or a --flag; the CLI that wraps it may add its own
// wording. It reads every non-test Go file of the package.
func TestMessages_NoCLIWording(t *testing.T) {
	checked := wording.Check(t, ".", pinnedWording)
	assert.Greater(t, checked, 100, "the test must see the package's strings")
}
