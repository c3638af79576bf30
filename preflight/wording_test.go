package preflight

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cliFlag matches a command-line flag such as --timeout or (--ca-file, but
// not the "--" inside xn--.
var cliFlag = regexp.MustCompile(`(^|[\s(])--[a-z]`)

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
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			if _, ok := n.(*ast.ImportSpec); ok {
				return false // import paths name the module, not a command
			}
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			require.NoError(t, err)
			checked++
			pos := fset.Position(lit.Pos())
			if cliFlag.MatchString(s) {
				t.Errorf("%s: %q names a --flag: name the Options field (Option.String) instead", pos, s)
			}
			if strings.Contains(s, "flowpg ") && !pinnedWording[s] {
				t.Errorf("%s: %q names flowpg: say it in the library's terms", pos, s)
			}
			return true
		})
	}
	assert.Greater(t, checked, 200, "the test must see the package's strings")
}

// TestMessages_NoCLIWording_Catches: the checks above fire on the wording
// they exist to keep out.
func TestMessages_NoCLIWording_Catches(t *testing.T) {
	for _, s := range []string{"(flowpg check --ca-file x)", "--pin-sha256", "raise --timeout (2s now)"} {
		assert.True(t, cliFlag.MatchString(s) || strings.Contains(s, "flowpg "), s)
	}
	for _, s := range []string{"xn--", "a-b", "-- comment", "Options.Timeout"} {
		assert.False(t, cliFlag.MatchString(s), s)
	}
}
