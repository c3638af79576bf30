package flowclient

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/flowpg/flowpg/internal/wording"
)

// TestMessages_NoCLIWording: flowclient is a library, so no string of it
// names a flowpg command or a --flag. It reads every non-test Go file of
// the package.
func TestMessages_NoCLIWording(t *testing.T) {
	checked := wording.Check(t, ".", nil)
	assert.Greater(t, checked, 100, "the test must see the package's strings")
}
