package wording

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestOffends: the check fires on the wording it exists to keep out, and
// not on what merely looks like it.
func TestOffends(t *testing.T) {
	for _, s := range []string{"(flowpg convert --to basic)", "--ca-file", "use --timeout", "raise --timeout (2s now)", "run flowpg check"} {
		assert.NotEmpty(t, Offends(s), s)
	}
	for _, s := range []string{"xn--", "a-b", "-- comment", "Options.Timeout", "flowpg-preflight"} {
		assert.Empty(t, Offends(s), s)
	}
}
