package preflight

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowpg/flowpg/connstr"
)

// external masks the password in text that comes from outside flowpg: a
// server's error message or version, a driver's error. flowpg's own text
// (user names, addresses, versions, prose) is built from structured fields
// and never passes through here, so it is never garbled.
//
// Only where the password appears as the password is it masked. A password
// of eight bytes or more is masked wherever it occurs; a shorter one only as
// a whole token, not inside a longer word, number, address or version ("1"
// is not masked in "127.0.0.1" or "TLS 1.3", nor "port" in "ports"). And a
// password equal to the user, the database or the server is not masked at
// all: the text may quote those names as such, and masking them would tell
// the reader what the password is.
//
// The result is cut at maxExternalText bytes, after masking (a cut before
// it could leave the start of the password), so that a server answering
// with megabytes makes no report of megabytes.
func (r *runner) external(s string) string {
	return cutText(r.masked(s), maxExternalText)
}

// maxExternalText bounds one text from outside in a report. PostgreSQL's
// messages are a line or two.
const maxExternalText = 1 << 10

// cutText cuts s to at most n bytes, on a rune boundary, marking the cut.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// masked is external before the cut.
func (r *runner) masked(s string) string {
	p := r.conn.Password
	if p == "" || !strings.Contains(s, p) || p == r.conn.User || p == r.conn.Database || p == r.host {
		return s
	}
	if len(p) >= 8 {
		// Too long to be there by chance, even inside a longer token.
		return strings.ReplaceAll(s, p, connstr.Redacted)
	}
	var b strings.Builder
	for {
		i := strings.Index(s, p)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(p)
		if tokenByte(s, i-1) && tokenByte(s, i) || tokenByte(s, end-1) && tokenByte(s, end) {
			b.WriteString(s[:i+1]) // part of a longer token: keep, and look again one byte on
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(connstr.Redacted)
		s = s[end:]
	}
}

// serverText quotes a server's error as a report does, the message masked
// by external.
func (r *runner) serverText(e *pgconn.PgError) string {
	return fmt.Sprintf("%s (SQLSTATE %s)", r.external(e.Message), e.Code)
}

// tokenByte reports whether s[i] exists and belongs to a token: a letter,
// a digit, or one of the characters that join the parts of a name, a number,
// an address or a version ("_", ".", "-", ":", "/", "@").
func tokenByte(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c == '.' || c == '-' || c == ':' || c == '/' || c == '@' ||
		c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}
