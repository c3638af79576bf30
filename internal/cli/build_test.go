package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBuild(t *testing.T) {
	base := []string{"build", "--server", "db.example.com", "--database", "sales", "--user", "aep"}
	pwFile := filepath.Join(t.TempDir(), "pw")
	assert.NoError(t, os.WriteFile(pwFile, []byte("from;file\n"), 0o600))

	tests := []struct {
		name    string
		stdin   string
		env     string
		args    []string
		code    int
		out     string
		warning string
	}{
		{"stdin", "s3cret\n", "", []string{"--password-stdin"}, ExitOK,
			"Server=db.example.com;Database=sales;Port=5432;UID=aep;Password=s3cret;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#\n", "hostnameincertificate-undocumented"},
		{"file needs braces", "", "", []string{"--password-file", pwFile, "--ssl-mode", "Verify Ca"}, ExitOK,
			"Server=db.example.com;Database=sales;Port=5432;UID=aep;Password={from;file};EncryptionMethod=1;ValidateServerCertificate=1\n", "brace-quoting"},
		{"environment", "", "envpw", []string{"--ssl-mode", "require", "--port", "6432"}, ExitOK,
			"Server=db.example.com;Database=sales;Port=6432;UID=aep;Password=envpw;EncryptionMethod=1;ValidateServerCertificate=0\n", ""},
		{"flag warns", "", "", []string{"--password", "pw", "--ssl-mode", "disable"}, ExitOK,
			"Server=db.example.com;Database=sales;Port=5432;UID=aep;Password=pw;EncryptionMethod=0\n", "password-on-command-line"},
		{"basic", "pw", "", []string{"--password-stdin", "--ssl-mode", "require", "--to", "basic"}, ExitOK,
			`{
  "specName": "Basic Authentication",
  "params": {
    "server": "db.example.com",
    "port": "5432",
    "database": "sales",
    "username": "aep",
    "password": "pw",
    "sslMode": "Verify Ca"
  }
}
`, "require-not-in-tutorial"},
		{"url", "p@ss", "", []string{"--password-stdin", "--to", "url", "--ssl-mode", "prefer"}, ExitOK,
			"postgres://aep:p%40ss@db.example.com:5432/sales?sslmode=prefer\n", ""},
		{"libpq", "p w", "", []string{"--password-stdin", "--to", "libpq", "--ssl-mode", "verify-ca"}, ExitOK,
			"host=db.example.com port=5432 dbname=sales user=aep password='p w' sslmode=verify-ca\n", ""},
		{"no password", "", "", nil, ExitInvalid, "", "password: required"},
		{"two sources", "x", "", []string{"--password-stdin", "--password", "y"}, ExitInvalid, "", "one way only"},
		{"bad ssl mode", "", "pw", []string{"--ssl-mode", "sometimes"}, ExitInvalid, "", "unknown sslMode"},
		{"bad port", "", "pw", []string{"--port", "70000"}, ExitInvalid, "", "out of range"},
		{"missing file", "", "", []string{"--password-file", filepath.Join(t.TempDir(), "nope")}, ExitInvalid, "", "password file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("FLOWPG_PASSWORD", tt.env)
			code, out, errOut := runFlowpg(t, tt.stdin, append(base, tt.args...)...)
			assert.Equal(t, tt.code, code, errOut)
			assert.Equal(t, tt.out, out)
			if tt.warning != "" {
				assert.Contains(t, errOut, tt.warning)
			}
		})
	}
	code, _, _ := runFlowpg(t, "", "build", "--server", "db")
	assert.Equal(t, ExitInvalid, code, "required flags")
}
