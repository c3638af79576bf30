package connstr

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

// cliFlag matches a command-line flag such as --to or (--ca-file, but not
// the "--" inside xn--.
var cliFlag = regexp.MustCompile(`(^|[\s(])--[a-z]`)

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
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			require.NoError(t, err)
			checked++
			pos := fset.Position(lit.Pos())
			if cliFlag.MatchString(s) {
				t.Errorf("%s: %q names a --flag: name the option or field instead", pos, s)
			}
			if strings.Contains(s, "flowpg ") && !pinnedWording[s] {
				t.Errorf("%s: %q names flowpg: say it in the library's terms", pos, s)
			}
			return true
		})
	}
	assert.Greater(t, checked, 100, "the test must see the package's strings")
}

// TestMessages_NoCLIWording_Catches: the checks above fire on the wording
// they exist to keep out.
func TestMessages_NoCLIWording_Catches(t *testing.T) {
	for _, s := range []string{"(flowpg convert --to basic)", "--ca-file", "use --timeout"} {
		assert.True(t, cliFlag.MatchString(s) || strings.Contains(s, "flowpg "), s)
	}
	for _, s := range []string{"xn--", "a-b", "-- comment"} {
		assert.False(t, cliFlag.MatchString(s), s)
	}
}
