// Package printable makes text that comes from outside flowpg safe to show
// on a terminal: a PostgreSQL server's error message, a table name, a Flow
// Service reply, a line of an input file. Such text may hold escape
// sequences (which clear the screen, retitle the window, hide what follows
// or fake a coloured line), carriage returns and line breaks (which fake a
// line of flowpg's own), or bidirectional overrides (which show text in
// another order than it is). Line and Text escape every rune a terminal
// would not print as itself, the way Go writes it in a string literal
// (\x1b, \r, \u202e), so what the text holds stays visible and nothing in it
// acts on the terminal.
package printable

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line returns s on one line, with every rune that unicode.IsPrint refuses
// escaped: the C0 and C1 controls (line breaks and tabs included), DEL,
// format characters such as bidirectional overrides and zero-width spaces,
// and every space but the ASCII one. A byte
// that is not UTF-8 is escaped as \xNN. Printable text is returned as it is;
// Line(Line(s)) == Line(s).
func Line(s string) string { return escape(s, false) }

// Text is Line, except that line breaks ('\n') are kept: for a message of
// several lines that flowpg wrote itself, whose parts from outside were
// already made one line each.
func Text(s string) string { return escape(s, true) }

func escape(s string, keepNewline bool) string {
	if printable(s, keepNewline) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case keepNewline && r == '\n', unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			// QuoteRuneToASCII writes '\x1b', '\n' or '\u202e': drop its quotes.
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}

func printable(s string, keepNewline bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && !(keepNewline && c == '\n') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !unicode.IsPrint(r) {
			return false
		}
		i += size
	}
	return true
}
