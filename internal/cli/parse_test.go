package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const (
	typical   = "Server=db.example.com;Database=sales;Port=5432;UID=aep_reader;Password=hunter2;EncryptionMethod=1;ValidateServerCertificate=1"
	secret    = "hunter2"
	withExtra = "Server=db.example.com;Database=sales;UID=aep_reader;Password=hunter2;EncryptionMethod=6;ValidateServerCertificate=1;LoginTimeout=30"
)

func TestParse_Golden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		stdin  string
		args   []string
		code   int
	}{
		{"text", "parse_typical.txt", typical, []string{"parse", "-"}, ExitOK},
		{"json", "parse_typical.json", typical, []string{"parse", "-", "-o", "json"}, ExitOK},
		{"json overview warnings", "parse_extra_overview.json", withExtra, []string{"parse", "-", "-o", "json", "--ssl-mode-style=overview"}, ExitOK},
		{"text npgsql", "parse_npgsql.txt", "Host=db;Database=sales;Username=aep;Password=hunter2;SSL Mode=Require", []string{"parse", "-"}, ExitOK},
		{"json url", "parse_url.json", "postgres://aep:hunter2@db.example.com:6432/sales?sslmode=verify-full", []string{"parse", "-", "-o", "json"}, ExitOK},
		{"text invalid", "parse_invalid.txt", "Server=db;UID=aep", []string{"parse", "-"}, ExitInvalid},
		{"json invalid", "parse_invalid.json", "Server=db;UID=aep", []string{"parse", "-", "-o", "json"}, ExitInvalid},
		{"json syntax error", "parse_syntax_error.json", "Server=db;Password={hunter2;Port=5432", []string{"parse", "-", "-o", "json"}, ExitInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runFlowpg(t, tt.stdin, tt.args...)
			assert.Equal(t, tt.code, code, errOut)
			assertGolden(t, tt.golden, out)
			assert.NotContains(t, out+errOut, secret)
		})
	}
}

func TestParse_SyntaxErrorCaretGolden(t *testing.T) {
	tests := []struct {
		name, in, golden string
	}{
		{"brace in password", "Server=db;Password={hunter2;Port=5432", "parse_error_password.txt"},
		{"port after password", "Server=db;Password=hunter2;Port=54x2", "parse_error_port.txt"},
		{"braced password then error", "Password={hunter2};Server=db;EncryptionMethod=7", "parse_error_encryption.txt"},
		{"unicode before offset", "Database=ventes_été;Password=hunter2;Port=", "parse_error_unicode.txt"},
		{"url password", "postgres://aep:hunter2@db:99999/sales", "parse_error_url.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runFlowpg(t, tt.in, "parse", "-")
			assert.Equal(t, ExitInvalid, code)
			assert.Empty(t, out)
			assertGolden(t, tt.golden, errOut)
			assert.NotContains(t, errOut, secret)
		})
	}
}

func TestCaretEcho(t *testing.T) {
	tests := []struct {
		name, in string
		offset   int
		line     string
		caret    int
	}{
		{"plain", "Server=h;Port=x", 14, "Server=h;Port=x", 14},
		{"masked before", "PWD=abc;Port=x", 13, "PWD=********;Port=x", 18},
		{"inside braces", "PWD={a;b}}};Port=1", 4, "PWD=********;Port=1", 4},
		{"inside a secret points at its mask", "PWD={a;b}}};Port=1", 7, "PWD=********;Port=1", 4},
		{"escaped brace runs on", "PWD={a;b}};Port=1", 4, "PWD=********", 4},
		{"unterminated masks to end", "PWD={abc;Port=1", 4, "PWD=********", 4},
		{"length does not show", "PWD=a-much-longer-password;Port=x", 32, "PWD=********;Port=x", 18},
		{"libpq quote with escape", `password='a\'b' port=x`, 21, `password=******** port=x`, 23},
		{"url", "postgres://u:pw@h:x/d", 18, "postgres://u:********@h:x/d", 24},
		{"multibyte", "DB=été;Port=x", 14, "DB=été;Port=x", 12},
		{"control chars", "Server=a\tb;Port=\x01", 16, "Server=a?b;Port=?", 16},
		{"offset at end", "Server", 6, "Server", 6},
		{"password with spaces, DataDirect", "PWD=my pass word;Port=x", 21, "PWD=********;Port=x", 17},
		{"json member", `{"password": "s3\"cret", "port": "x"}`, 33, `{"password": ********, "port": "x"}`, 31},
		{"url of another scheme", "mysql://u:s3cret@db/d", 0, "mysql://u:********@db/d", 0},
		{"jdbc query", "jdbc:postgresql://db/d?user=u&password=s3cret&x=1", 0, "jdbc:postgresql://db/d?user=u&password=********&x=1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, caret := caretEcho(tt.in, tt.offset, 0)
			assert.Equal(t, tt.line, line)
			assert.Equal(t, tt.caret, caret)
		})
	}
	long := strings.Repeat("a", 500) + "PWD=secret;Port=x"
	line, caret := caretEcho("X="+long, 2+500+16, 0)
	assert.NotContains(t, line, "secret")
	assert.LessOrEqual(t, len([]rune(line)), 102)
	assert.Equal(t, 'x', []rune(line)[caret])

	// What a ParseError hides is masked too: a segment without '=' may be
	// the rest of a password that holds ';'.
	hidden, _ := caretEcho("Server=h;PWD=abc;hunter2;Port=1", 17, 7)
	assert.Equal(t, "Server=h;PWD=********;********;Port=1", hidden)
}

// TestParse_NeverShowsPassword covers every output path of parse.
func TestParse_NeverShowsPassword(t *testing.T) {
	inputs := []string{
		typical,
		withExtra,
		"Server=db;PWD={hunter2;x}}};UID=u;Database=d",
		"Server=db;Password={hunter2",
		"Server=db;Password=hunter2;Port=abc",
		"Server=db;Password=hunter2;Password=hunter2",
		"Server=db;Password=hunter2;EncryptionMethod=9",
		"Server=db;Password=hunter2\x00",
		"Server=db;Password=hunter2\xff",
		"Server=db;Password=hunter2;Extra",
		"Server=db;Password=hunter2",
		"host=db password=hunter2 sslmode=nope",
		"host=db password='hunter2",
		"postgres://u:hunter2@db:notaport/x",
		"postgres://u:hunter2@db/x",
		"Host=db;Username=u;Password=hunter2;SSL Mode=Bogus",
		"Host=db;Username=u;Password=\"hunter2;SSL Mode=Require",
		"Host=db;Username=u;Password=hunter2;Sslpassword=hunter2;SSL Mode=Require",
	}
	for _, in := range inputs {
		for _, mode := range [][]string{{"-o", "text"}, {"-o", "json"}, {"-o", "json", "--ssl-mode-style=overview"}} {
			t.Run(in+" "+strings.Join(mode, " "), func(t *testing.T) {
				code, out, errOut := runFlowpg(t, in, append([]string{"parse", "-"}, mode...)...)
				assert.Contains(t, []int{ExitOK, ExitInvalid}, code)
				assert.NotContains(t, out, secret)
				assert.NotContains(t, errOut, secret)
			})
		}
		// As an argument too: the ps warning must not echo it either.
		code, out, errOut := runFlowpg(t, "", "parse", in)
		assert.Contains(t, []int{ExitOK, ExitInvalid}, code)
		assert.NotContains(t, out+errOut, secret, in)
	}
}

func TestParse_Reveal(t *testing.T) {
	for _, mode := range []string{"text", "json"} {
		code, out, _ := runFlowpg(t, typical, "parse", "-", "--reveal", "-o", mode)
		assert.Equal(t, ExitOK, code)
		assert.Contains(t, out, secret)
	}
}

func TestParse_ExitCodes(t *testing.T) {
	code, _, errOut := runFlowpg(t, "", "parse")
	assert.Equal(t, ExitInvalid, code, "no input")
	assert.Contains(t, errOut, "no connection string")

	code, _, _ = runFlowpg(t, typical, "parse", "-", "-o", "yaml")
	assert.Equal(t, ExitInvalid, code, "bad flag value")

	code, _, errOut = runFlowpg(t, "", "parse", typical)
	assert.Equal(t, ExitOK, code)
	assert.Contains(t, errOut, "password-on-command-line")

	code, _, errOut = runFlowpg(t, strings.Repeat("a", 70_000), "parse", "-")
	assert.Equal(t, ExitInvalid, code)
	assert.Contains(t, errOut, "over the 65536-byte limit")

	var errb bytes.Buffer
	t.Setenv("FLOWPG_CONNECTION_STRING", "")
	code = Main(context.Background(), []string{"parse", "-"}, strings.NewReader(typical), failingWriter{}, &errb)
	assert.Equal(t, ExitFailed, code, "a write error is exit 1")
}

func TestParse_FromEnvironmentNoWarning(t *testing.T) {
	t.Setenv("FLOWPG_CONNECTION_STRING", typical)
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"parse"}, strings.NewReader(""), &out, &errb)
	assert.Equal(t, ExitOK, code)
	assert.NotContains(t, errb.String(), "password-on-command-line")
	assert.Contains(t, out.String(), "db.example.com")
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
