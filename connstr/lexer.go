package connstr

import (
	"fmt"
	"strings"
)

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

func trimSpaceRight(s string) string {
	n := len(s)
	for n > 0 && isSpace(s[n-1]) {
		n--
	}
	return s[:n]
}

// lower folds an ASCII letter to lower case.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldEq reports whether a equals b, ignoring ASCII case, without allocating.
func foldEq(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] && lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// foldEqNoSpace reports whether a equals the lowercase, space-free b,
// ignoring ASCII case and spaces in a.
func foldEqNoSpace(a, b string) bool {
	j := 0
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c == ' ' {
			continue
		}
		if j == len(b) || lower(c) != b[j] {
			return false
		}
		j++
	}
	return j == len(b)
}

// tokenize splits s into properties in one pass, keeping substrings of s
// (no copies unless "}}" or a doubled quote must be unescaped). quotes
// selects ADO.NET quoting ("…" and '…') instead of ODBC braces.
func tokenize(s string, quotes bool, props []Property) ([]Property, error) {
	n := len(s)
	i := 0
	for i < n {
		i = skipSpace(s, i)
		if i == n {
			break
		}
		if s[i] == ';' {
			i++
			continue
		}
		keyStart := i
		semi := strings.IndexByte(s[i:], ';')
		if semi < 0 {
			semi = n
		} else {
			semi += i
		}
		key, eq, err := lexKey(s, keyStart, semi)
		if err != nil {
			return nil, err
		}
		i = skipSpace(s, eq+1)
		valStart := i
		var value string
		if i < n && opensQuote(s[i], quotes) {
			if value, i, err = lexQuoted(s, i, key); err != nil {
				return nil, err
			}
		} else {
			value = trimSpaceRight(s[i:semi])
			i = semi
		}
		props = append(props, Property{Key: key, Value: value, Offset: keyStart, ValueOffset: valStart})
		if i < n {
			i++ // the ';'
		}
	}
	return props, nil
}

// lexKey reads the key of the pair that starts at keyStart and whose
// segment ends at semi (the next ';' or the end), and returns it with the
// offset of its '='.
func lexKey(s string, keyStart, semi int) (string, int, error) {
	if s[keyStart] == '#' {
		// The key is not quoted: a "comment" can hold anything.
		return "", 0, &ParseError{Offset: keyStart, Msg: "a key cannot start with '#': '#' does not start a comment in a connection string"}
	}
	eq := strings.IndexByte(s[keyStart:semi], '=')
	if eq < 0 {
		seg := trimSpaceRight(s[keyStart:semi])
		if lookupDD(seg) != nil || lookupNpgsql(seg) != nil {
			return "", 0, &ParseError{Offset: keyStart, Key: seg, Msg: "key without '='"}
		}
		// Not a key connstr knows: perhaps the rest of a password that
		// holds ';', so it is neither quoted nor echoed.
		return "", 0, &ParseError{Offset: keyStart, Hidden: len(seg),
			Msg: "text without '=' (not shown: if it is part of a value that holds ';', such as a password, brace-quote that value: Password={…})"}
	}
	eq += keyStart
	key := trimSpaceRight(s[keyStart:eq])
	if key == "" {
		return "", 0, &ParseError{Offset: eq, Msg: "'=' without a key"}
	}
	if strings.IndexByte(key, '{') >= 0 || strings.IndexByte(key, '}') >= 0 {
		return "", 0, &ParseError{Offset: keyStart, Key: key, Msg: "a key cannot contain '{' or '}'"}
	}
	return key, eq, nil
}

// opensQuote reports whether c opens a quoted value: '{' in ODBC's
// grammar, a double or single quote in ADO.NET's (quotes).
func opensQuote(c byte, quotes bool) bool {
	if quotes {
		return c == '"' || c == '\''
	}
	return c == '{'
}

// lexQuoted reads the value whose opening brace or quote is at i, up to
// the matching closing one (doubled inside to stand for itself), and
// returns it unescaped with the offset of what follows: the ';' or the
// end, past any whitespace. Other text after the closing one is an error.
func lexQuoted(s string, i int, key string) (string, int, error) {
	open := s[i]
	closing := byte('}')
	if open != '{' {
		closing = open
	}
	k := i + 1
	escaped := false
	for {
		c := strings.IndexByte(s[k:], closing)
		if c < 0 {
			return "", 0, &ParseError{Offset: i, Key: key, Msg: fmt.Sprintf("unterminated %q opened here", string(open))}
		}
		k += c
		if k+1 < len(s) && s[k+1] == closing {
			escaped = true
			k += 2
			continue
		}
		break
	}
	value := s[i+1 : k]
	if escaped {
		value = strings.ReplaceAll(value, string([]byte{closing, closing}), string(closing))
	}
	next := skipSpace(s, k+1)
	if next < len(s) && s[next] != ';' {
		return "", 0, &ParseError{Offset: next, Key: key, Msg: fmt.Sprintf("unexpected text after closing %q", string(closing))}
	}
	return value, next, nil
}
