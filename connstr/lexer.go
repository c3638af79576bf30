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
		if s[i] == '#' {
			// The key is not quoted: a "comment" can hold anything.
			return nil, &ParseError{Offset: keyStart, Msg: "a key cannot start with '#': '#' does not start a comment in a connection string"}
		}
		semi := strings.IndexByte(s[i:], ';')
		if semi < 0 {
			semi = n
		} else {
			semi += i
		}
		eq := strings.IndexByte(s[i:semi], '=')
		if eq < 0 {
			seg := trimSpaceRight(s[keyStart:semi])
			if lookupDD(seg) != nil || lookupNpgsql(seg) != nil {
				return nil, &ParseError{Offset: keyStart, Key: seg, Msg: "key without '='"}
			}
			// Not a key flowpg knows: perhaps the rest of a password that
			// holds ';', so it is neither quoted nor echoed.
			return nil, &ParseError{Offset: keyStart, Hidden: len(seg),
				Msg: "text without '=' (not shown: if it is part of a value that holds ';', such as a password, brace-quote that value: Password={…})"}
		}
		eq += i
		key := trimSpaceRight(s[keyStart:eq])
		if key == "" {
			return nil, &ParseError{Offset: eq, Msg: "'=' without a key"}
		}
		if strings.IndexByte(key, '{') >= 0 || strings.IndexByte(key, '}') >= 0 {
			return nil, &ParseError{Offset: keyStart, Key: key, Msg: "a key cannot contain '{' or '}'"}
		}
		i = skipSpace(s, eq+1)
		valStart := i
		var value string
		if i < n && (!quotes && s[i] == '{' || quotes && (s[i] == '"' || s[i] == '\'')) {
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
					return nil, &ParseError{Offset: valStart, Key: key, Msg: fmt.Sprintf("unterminated %q opened here", string(open))}
				}
				k += c
				if k+1 < n && s[k+1] == closing {
					escaped = true
					k += 2
					continue
				}
				break
			}
			value = s[i+1 : k]
			if escaped {
				value = strings.ReplaceAll(value, string([]byte{closing, closing}), string(closing))
			}
			i = skipSpace(s, k+1)
			if i < n && s[i] != ';' {
				return nil, &ParseError{Offset: i, Key: key, Msg: fmt.Sprintf("unexpected text after closing %q", string(closing))}
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
