package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestConvert_Golden(t *testing.T) {
	tests := []struct {
		name   string
		stdin  string
		args   []string
		golden string
		code   int
	}{
		{"basic", typical, []string{"--to", "basic"}, "convert_basic.json", ExitOK},
		{"basic overview", "Server=db;Database=d;UID=u;PWD=p;EncryptionMethod=1", []string{"--to", "basic", "--ssl-mode-style", "overview"}, "convert_basic_overview.json", ExitOK},
		{"connstr from url", "postgres://aep:p%3Bw@db.example.com:6432/sales?sslmode=verify-full", []string{"--to", "connstr"}, "convert_url_to_connstr.txt", ExitOK},
		{"connstr from npgsql", "Host=db;Database=sales;Username=aep;Password=pw;SSL Mode=Prefer", []string{"--to", "connstr"}, "convert_npgsql_to_connstr.txt", ExitOK},
		{"connstr from basic json", `{"specName":"Basic Authentication","params":{"server":"db","port":"5432","database":"sales","username":"aep","password":"pw","sslMode":"Verify-Full"}}`, []string{"--to", "connstr"}, "convert_basic_to_connstr.txt", ExitOK},
		{"connstr from aws params", `{"server":"db","port":"5432","database":"sales","username":"aep","password":"pw","sslMode":"false"}`, []string{"--to", "connstr"}, "convert_aws_to_connstr.txt", ExitOK},
		{"libpq", "Server=db;Database=my db;UID=aep;Password=it's;EncryptionMethod=1;LoginTimeout=5", []string{"--to", "libpq"}, "convert_libpq.txt", ExitOK},
		{"url", typical, []string{"--to", "url"}, "convert_url.txt", ExitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runFlowpg(t, tt.stdin, append(append([]string{"convert"}, tt.args...), "-")...)
			assert.Equal(t, tt.code, code, errOut)
			assertGolden(t, tt.golden, out)
			assertGolden(t, tt.golden+".stderr", errOut)
		})
	}
}

func TestConvert_Errors(t *testing.T) {
	code, out, errOut := runFlowpg(t, "Server=db;Password={hunter2", "convert", "--to", "basic", "-")
	assert.Equal(t, ExitInvalid, code)
	assert.Empty(t, out)
	assert.NotContains(t, errOut, secret)

	code, _, _ = runFlowpg(t, typical, "convert", "-")
	assert.Equal(t, ExitInvalid, code, "--to is required")

	code, _, _ = runFlowpg(t, typical, "convert", "--to", "xml", "-")
	assert.Equal(t, ExitInvalid, code)

	code, _, errOut = runFlowpg(t, `{"server":"db","sslMode":"sometimes"}`, "convert", "--to", "connstr", "-")
	assert.Equal(t, ExitInvalid, code)
	assert.Contains(t, errOut, "unknown sslMode")

	code, _, errOut = runFlowpg(t, `{"specName":"Other","params":{}}`, "convert", "--to", "connstr", "-")
	assert.Equal(t, ExitInvalid, code)
	assert.Contains(t, errOut, "specName")
}

func TestConvert_PrintsCredentialInFull(t *testing.T) {
	for _, to := range []string{"connstr", "basic", "libpq", "url"} {
		code, out, _ := runFlowpg(t, typical, "convert", "--to", to, "-")
		assert.Equal(t, ExitOK, code)
		assert.Contains(t, out, secret, to)
	}
}
