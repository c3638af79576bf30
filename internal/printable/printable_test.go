package printable

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name, in, line, text string
	}{
		{"plain text is kept", "permission denied for table orders", "permission denied for table orders", "permission denied for table orders"},
		{"non-ASCII letters and symbols are kept", "Ünïcødé ✓ 表", "Ünïcødé ✓ 表", "Ünïcødé ✓ 表"},
		{"an escape sequence is shown, not run", "a\x1b[2Jb", `a\x1b[2Jb`, `a\x1b[2Jb`},
		{"an OSC title with BEL", "\x1b]0;pwned\x07", `\x1b]0;pwned\a`, `\x1b]0;pwned\a`},
		{"a line break fakes no line", "x\r\n  ✓ auth", `x\r\n  ✓ auth`, "x\\r\n  ✓ auth"},
		{"a tab is escaped", "a\tb", `a\tb`, `a\tb`},
		{"DEL and a C1 control", "a\x7fb\u009bc", `a\x7fb\u009bc`, `a\x7fb\u009bc`},
		{"a bidirectional override", "abc\u202edef", `abc\u202edef`, `abc\u202edef`},
		{"a zero-width space", "a\u200bb", `a\u200bb`, `a\u200bb`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`, `a\xffb\xc3`},
		{"NUL", "a\x00b", `a\x00b`, `a\x00b`},
		{"a backslash is kept as it is", `C:\path`, `C:\path`, `C:\path`},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.line, Line(tt.in))
			assert.Equal(t, tt.text, Text(tt.in))
			assert.Equal(t, Line(tt.in), Line(Line(tt.in)), "Line is idempotent")
		})
	}
}

// FuzzLine: whatever the input, the output holds no control character, no
// invalid UTF-8 and no character a terminal would act on.
func FuzzLine(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[2J\r\n", "\u202e\u200b\x7f", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{Line(s), Text(s)} {
			assert.True(t, printable(out, true), "%q", out)
		}
		assert.NotContains(t, Line(s), "\n")
		assert.Equal(t, strings.Count(s, "\n"), strings.Count(Text(s), "\n"))
	})
}
