package connstr

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIsSecretKey(t *testing.T) {
	for _, k := range []string{"Password", "PWD", "pwd", "passwd", "sslpassword", "SSL Password", "client_secret",
		"AEP_CLIENT_SECRET", "access-token", "accessToken", "connectionString", "privateKey", "Credential"} {
		assert.True(t, IsSecretKey(k), k)
	}
	for _, k := range []string{"Server", "UID", "user", "database", "port", "sslMode", "host", "application_name"} {
		assert.False(t, IsSecretKey(k), k)
	}
}

// TestRedact covers every form flowpg reads, and mangled ones: the secret
// goes, whatever quoting it has, and nothing else does.
func TestRedact(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"DataDirect", "Server=db;Password=s3cret;UID=u", "Server=db;Password=********;UID=u"},
		{"DataDirect with spaces in the password", "Server=db;PWD=my pass word;UID=u", "Server=db;PWD=********;UID=u"},
		{"DataDirect braces with ; and }}", "PWD={a;b}}c};UID=u", "PWD=********;UID=u"},
		{"unterminated brace runs to the end", "UID=u;PWD={a;b;UID=x", "UID=u;PWD=********"},
		{"Npgsql quotes", `Host=db;Password="a;""b";Username=u`, `Host=db;Password=********;Username=u`},
		{"libpq", `host=db password='a\' b' user=u`, `host=db password=******** user=u`},
		{"libpq bare", "host=db password=s3cret user=u", "host=db password=******** user=u"},
		{"postgres URL userinfo", "postgres://u:s3cret@db/d", "postgres://u:********@db/d"},
		{"another scheme's userinfo", "mysql://u:s3cret@db/d http://a:b@h/x", "mysql://u:********@db/d http://a:********@h/x"},
		{"an @ in the password", "postgres://u:p@ss@db/d", "postgres://u:********@db/d"},
		{"a query parameter", "postgres://db/d?user=u&password=s3cret&sslmode=require", "postgres://db/d?user=u&password=********&sslmode=require"},
		{"JDBC", "jdbc:postgresql://db/d?user=u&password=s3cret", "jdbc:postgresql://db/d?user=u&password=********"},
		{"JSON", `{"server": "db", "password": "s3\"cret", "port": "5"}`, `{"server": "db", "password": ********, "port": "5"}`},
		{"JSON unterminated", `{"password": "s3cr`, `{"password": ********`},
		{"JSON client_secret", `{"client_secret":"x"}`, `{"client_secret":********}`},
		{"nothing secret", "Server=db;UID=u;Port=5432", "Server=db;UID=u;Port=5432"},
		{"an empty password", "Server=db;Password=;UID=u", "Server=db;Password=;UID=u"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Redact(tt.in))
		})
	}
}

// TestParse_JSON: AEP's basic authentication as JSON is accepted wherever a
// connection string is, in both shapes; its errors name the member and the
// offset, and never quote a value.
func TestParse_JSON(t *testing.T) {
	for _, in := range []string{
		`{"server":"db.example.com","port":"5433","database":"sales","username":"aep","password":"s3cret","sslMode":"Verify Full"}`,
		`{"specName": "Basic Authentication", "params": {"server": "db.example.com", "port": "5433", "database": "sales", "username": "aep", "password": "s3cret", "sslMode": "verify-full"}}`,
	} {
		p, err := Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, FormatJSON, p.Format)
		assert.Equal(t, "db.example.com", p.Conn.Server)
		assert.Equal(t, 5433, p.Conn.Port)
		assert.Equal(t, "s3cret", p.Conn.Password)
		m, _ := p.Conn.SSLMode()
		assert.Equal(t, SSLVerifyFull, m)
		require.Len(t, p.Properties, 6)
		assert.Equal(t, "server", p.Properties[0].Key)
		assert.Equal(t, byte('"'), in[p.Properties[0].Offset], "offsets point at the member")
	}
	for _, tt := range []struct{ name, in, key, msg string }{
		{"unknown member", `{"server":"db","pass":"s3cret"}`, "pass", "not a member"},
		{"a number", `{"server":"db","password":12345}`, "password", "must be a JSON string"},
		{"repeated", `{"server":"a","server":"b"}`, "server", "repeated member"},
		{"another spec", `{"specName":"Connection String Based Authentication","params":{}}`, "specName", "flowpg reads"},
		{"bad server", `{"server":"db:5433","password":"s3cret"}`, "server", "port"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.key, pe.Key)
			assert.Contains(t, pe.Msg, tt.msg)
			assert.GreaterOrEqual(t, pe.Offset, 0)
			assert.NotContains(t, err.Error(), "s3cret")
			assert.NotContains(t, err.Error(), "12345")
		})
	}
	_, err := Parse(`{"server": "db", "password": "s3cr`)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr")
	// An unescaped '"' ends the password early: encoding/json would quote
	// the character after it, a character of the password.
	_, err = Parse(`{"server": "db", "username": "u", "password": "ab"Zd"}`)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "Z")
}

// TestParse_OtherSchemes: a URL of another scheme is refused by name, and
// JDBC's postgresql URL is read.
func TestParse_OtherSchemes(t *testing.T) {
	_, err := Parse("mysql://u:s3cret@db/d")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mysql:// URL is not a PostgreSQL connection")
	assert.NotContains(t, err.Error(), "s3cret")

	p, err := Parse("jdbc:postgresql://db.example.com:5433/sales?user=aep&password=s3cret&ssl=true")
	require.NoError(t, err)
	assert.Equal(t, FormatURL, p.Format)
	assert.Equal(t, "db.example.com", p.Conn.Server)
	assert.Equal(t, "s3cret", p.Conn.Password)
	m, _ := p.Conn.SSLMode()
	assert.Equal(t, SSLRequire, m)
}

// TestParseError_HidesSegmentsWithoutEquals: text without '=' in a DataDirect
// string may be the rest of a password holding ';': never quoted.
func TestParseError_HidesSegmentsWithoutEquals(t *testing.T) {
	_, err := Parse("Server=h;UID=u;hunter2;Password=x")
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	assert.NotContains(t, err.Error(), "hunter2")
	assert.Equal(t, 15, pe.Offset)
	assert.Equal(t, len("hunter2"), pe.Hidden)
}
