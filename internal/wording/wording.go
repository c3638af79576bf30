// Package wording keeps command-line wording out of the libraries: a test
// of a library package reads the string literals of its Go files and fails
// on any that names a --flag or a flowpg command. The CLI renders what a
// library names (an option, a field) in its own words.
package wording

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// cliFlag matches a command-line flag such as --timeout or (--ca-file, but
// not the "--" inside xn--.
var cliFlag = regexp.MustCompile(`(^|[\s(])--[a-z]`)

// Offends reports why s would be command-line wording in a library: it
// names a --flag, or says "flowpg " (a command, or the product where the
// library should speak in its own terms). It returns "" for a fine s.
func Offends(s string) string {
	switch {
	case cliFlag.MatchString(s):
		return "names a --flag: name the option or field instead"
	case strings.Contains(s, "flowpg "):
		return "names flowpg: say it in the library's terms"
	}
	return ""
}

// Check reads the string literals of the non-test Go files in dir and
// fails t for each that Offends, unless pinned lists it (wording that
// names flowpg as the client that spoke, which callers match on). It
// returns how many literals it read, so that a caller can tell that it saw
// the package.
func Check(t testing.TB, dir string, pinned map[string]bool) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if _, ok := n.(*ast.ImportSpec); ok {
				return false // import paths name the module, not a command
			}
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			if why := Offends(s); why != "" && !pinned[s] {
				t.Errorf("%s: %q %s", fset.Position(lit.Pos()), s, why)
			}
			return true
		})
	}
	return checked
}
