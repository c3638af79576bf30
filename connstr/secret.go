package connstr

import "strings"

// secretWords are what a key names when it names a secret: matched inside
// the key, ignoring case and the separators ' ', '_', '-' and '.', so that
// "Password", "PWD", "sslpassword", "client_secret", "access-token" and
// "connectionString" all count.
var secretWords = [...]string{
	"password", "passwd", "pwd", "secret", "token", "credential",
	"privatekey", "accesskey", "connectionstring",
}

// IsSecretKey reports whether a key names a secret whose value must never be
// shown: a key of a connection string, a URL query, a JSON member or an auth
// param. It is flowpg's one rule for what a secret key is.
func IsSecretKey(k string) bool {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == ' ' || c == '_' || c == '-' || c == '.' || c == '\t':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	n := b.String()
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Span is a byte range [Start, End) of a text.
type Span struct {
	Start int // offset of the first byte
	End   int // offset just past the last byte
}

// SecretSpans finds the secrets in text that may quote a credential in any
// form Parse reads, or a mangled one: the value of every secret key
// (IsSecretKey) written key=value (DataDirect, Npgsql, libpq, a URL's query,
// a JDBC URL), with braces, quotes and escapes followed, and running to the
// end of the text when they are not closed; a JSON member "key": value; and
// the password of a URL's userinfo, whatever the scheme. It errs on the side
// of masking: a span may take more than the secret, never less.
func SecretSpans(text string) []Span {
	var spans []Span
	semicolons := strings.IndexByte(text, ';') >= 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '=':
			key, keyStart := keyBefore(text, i)
			if !IsSecretKey(key) {
				continue
			}
			query := keyStart > 0 && (text[keyStart-1] == '?' || text[keyStart-1] == '&')
			end := valueEnd(text, i+1, query, semicolons)
			if start := skipBlanks(text, i+1, end); start < end {
				spans = append(spans, Span{start, end})
			}
			i = max(i, end-1)
		case ':':
			if key, ok := jsonKeyBefore(text, i); ok && IsSecretKey(key) {
				start := skipBlanks(text, i+1, len(text))
				end := jsonValueEnd(text, start)
				if start < end {
					spans = append(spans, Span{start, end})
				}
				i = max(i, end-1)
			}
		}
	}
	spans = append(spans, userinfoSpans(text)...)
	return mergeSpans(spans)
}

// Redact returns text with every secret SecretSpans finds replaced by
// Redacted, whatever its length, so that not even the length shows.
func Redact(text string) string {
	spans := SecretSpans(text)
	if len(spans) == 0 {
		return text
	}
	var b strings.Builder
	at := 0
	for _, s := range spans {
		b.WriteString(text[at:s.Start])
		b.WriteString(Redacted)
		at = s.End
	}
	b.WriteString(text[at:])
	return b.String()
}

// keyBefore returns the key written just before the '=' at eq: a run of
// letters, digits, spaces and "_-." (spaces around it trimmed), and where it
// starts.
func keyBefore(text string, eq int) (string, int) {
	j := eq
	for j > 0 {
		c := text[j-1]
		if c == '_' || c == '-' || c == '.' || c == ' ' || c == '\t' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z' {
			j--
			continue
		}
		break
	}
	for j < eq && (text[j] == ' ' || text[j] == '\t') {
		j++
	}
	return strings.TrimSpace(text[j:eq]), j
}

func skipBlanks(text string, i, end int) int {
	for i < end && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	return i
}

// valueEnd finds where the value after '=' at start ends: past a closing
// brace or quote (doubled, or escaped with a backslash), or at the end of
// the text when it is never closed; an unquoted value ends at ';' when the
// text has any (DataDirect, Npgsql), at '&' or '#' in a URL's query, else at
// whitespace (libpq).
func valueEnd(text string, start int, query, semicolons bool) int {
	i := skipBlanks(text, start, len(text))
	if i < len(text) && (text[i] == '{' || text[i] == '"' || text[i] == '\'') {
		closing := text[i]
		if closing == '{' {
			closing = '}'
		}
		for k := i + 1; k < len(text); k++ {
			switch {
			case text[k] == '\\' && closing != '}':
				k++
			case text[k] == closing && k+1 < len(text) && text[k+1] == closing:
				k++
			case text[k] == closing:
				return k + 1
			}
		}
		return len(text)
	}
	stops := " \t\r\n"
	switch {
	case query:
		stops = "&# \t\r\n"
	case semicolons:
		stops = ";\r\n"
	}
	if k := strings.IndexAny(text[i:], stops); k >= 0 {
		return i + k
	}
	return len(text)
}

// jsonKeyBefore returns the JSON string key that ends just before the ':'
// at colon, if there is one.
func jsonKeyBefore(text string, colon int) (string, bool) {
	j := colon
	for j > 0 && (text[j-1] == ' ' || text[j-1] == '\t' || text[j-1] == '\n' || text[j-1] == '\r') {
		j--
	}
	if j == 0 || text[j-1] != '"' {
		return "", false
	}
	end := j - 1
	for k := end - 1; k >= 0; k-- {
		c := text[k]
		if c == '"' {
			return text[k+1 : end], k+1 < end
		}
		// A JSON key here is a name: anything else is not one.
		if !(c == '_' || c == '-' || c == '.' || c == ' ' || '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z') {
			return "", false
		}
	}
	return "", false
}

// jsonValueEnd finds the end of the JSON value at start: a string with its
// escapes (to the end of the text when unterminated), or a bare scalar up to
// ',', '}', ']' or whitespace.
func jsonValueEnd(text string, start int) int {
	if start < len(text) && text[start] == '"' {
		for k := start + 1; k < len(text); k++ {
			switch text[k] {
			case '\\':
				k++
			case '"':
				return k + 1
			}
		}
		return len(text)
	}
	if k := strings.IndexAny(text[start:], ",}] \t\r\n"); k >= 0 {
		return start + k
	}
	return len(text)
}

// userinfoSpans finds the password of every URL userinfo in text, whatever
// the scheme: scheme://user:password@host. The userinfo ends at the last '@'
// before the path, query or fragment, as URL parsers read it.
func userinfoSpans(text string) []Span {
	var spans []Span
	for from := 0; ; {
		k := strings.Index(text[from:], "://")
		if k < 0 {
			return spans
		}
		start := from + k + 3
		end := len(text)
		if e := strings.IndexAny(text[start:], "/?# \t\r\n\"'"); e >= 0 {
			end = start + e
		}
		if at := strings.LastIndexByte(text[start:end], '@'); at >= 0 {
			if c := strings.IndexByte(text[start:start+at], ':'); c >= 0 && c+1 < at {
				spans = append(spans, Span{start + c + 1, start + at})
			}
		}
		from = start
	}
}

// mergeSpans sorts spans and merges those that overlap or touch.
func mergeSpans(spans []Span) []Span {
	if len(spans) < 2 {
		return spans
	}
	for i := 1; i < len(spans); i++ { // insertion sort: spans are few
		for j := i; j > 0 && spans[j].Start < spans[j-1].Start; j-- {
			spans[j], spans[j-1] = spans[j-1], spans[j]
		}
	}
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.Start <= last.End {
			last.End = max(last.End, s.End)
			continue
		}
		out = append(out, s)
	}
	return out
}
