package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInput_BadServerExits2: a server AEP cannot use is invalid input
// (exit 2) in every command that reads one, and the message names the
// field and the fix, never the password.
func TestInput_BadServerExits2(t *testing.T) {
	servers := map[string]string{
		"db.example.com:5433": "put the port in Port=",
		"[::1]:5433":          "put the port in Port=",
		"db1,db2":             "several hosts",
		"256.1.1.1":           "not an IPv4 address",
		"/var/run/postgresql": "Unix-socket",
		"db example.com":      "whitespace",
	}
	for server, fix := range servers {
		in := "Server=" + server + ";Database=sales;UID=aep;Password=" + secret + ";EncryptionMethod=1"
		for _, args := range [][]string{
			{"parse", "-"},
			{"parse", "-", "-o", "json"},
			{"convert", "--to", "basic", "-"},
			{"check", "-"},
			{"connect", "--name", "n", "--dry-run", "-"},
		} {
			t.Run(server+" "+strings.Join(args, " "), func(t *testing.T) {
				code, out, errOut := runFlowpg(t, in, args...)
				assert.Equal(t, ExitInvalid, code, "%s%s", out, errOut)
				assert.Contains(t, out+errOut, fix)
				assert.NotContains(t, out+errOut, secret)
			})
		}
		t.Run(server+" basic JSON", func(t *testing.T) {
			b, err := json.Marshal(map[string]string{"server": server, "database": "d", "username": "u", "password": secret})
			require.NoError(t, err)
			code, out, errOut := runFlowpg(t, string(b), "convert", "--to", "connstr", "-")
			assert.Equal(t, ExitInvalid, code, "%s%s", out, errOut)
			assert.Contains(t, errOut, `key "server": `)
			assert.NotContains(t, out+errOut, secret)
		})
		for _, cmd := range []string{"build", "connect"} {
			t.Run(server+" "+cmd+" --server", func(t *testing.T) {
				t.Setenv("FLOWPG_PASSWORD", secret)
				args := []string{cmd, "--server", server, "--database", "d", "--user", "u"}
				if cmd == "connect" {
					args = append(args, "--name", "n", "--dry-run")
				}
				code, out, errOut := runFlowpg(t, "", args...)
				assert.Equal(t, ExitInvalid, code, "%s%s", out, errOut)
				assert.Contains(t, errOut, "server: ")
				assert.Contains(t, errOut, fix)
				assert.NotContains(t, out+errOut, secret)
			})
		}
	}
}

// TestInput_NoKnownKeyExits2: input with no key flowpg knows is invalid,
// not an empty success.
func TestInput_NoKnownKeyExits2(t *testing.T) {
	for _, in := range []string{"foo=bar", "application_name=x connect_timeout=5", "postgres://", " ; "} {
		for _, args := range [][]string{{"parse", "-"}, {"convert", "--to", "libpq", "-"}, {"check", "-"}} {
			code, out, errOut := runFlowpg(t, in, args...)
			assert.Equal(t, ExitInvalid, code, "%q %v: %s%s", in, args, out, errOut)
			assert.Empty(t, out, "%q %v", in, args)
		}
	}
	_, _, errOut := runFlowpg(t, "foo=bar", "parse", "-")
	assert.Contains(t, errOut, "no key flowpg knows")
}

// TestInput_ByteOrderMark: a UTF-8 BOM at the start of the input is
// ignored, on standard input and as an argument, also before a basic
// authentication JSON object.
func TestInput_ByteOrderMark(t *testing.T) {
	code, out, errOut := runFlowpg(t, "\uFEFF"+typical+"\r\n", "convert", "--to", "connstr", "-")
	assert.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, typical+"\n", out)

	code, out, errOut = runFlowpg(t, "", "convert", "--to", "connstr", "\uFEFF"+typical)
	assert.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, typical+"\n", out)

	code, out, errOut = runFlowpg(t, "\uFEFF"+`{"server":"db","port":"5432","database":"d","username":"u","password":"p","sslMode":"Require"}`, "convert", "--to", "libpq", "-")
	assert.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "host=db port=5432 dbname=d user=u password=p sslmode=require\n", out)

	code, _, errOut = runFlowpg(t, "\uFEFFServer=db;Port=x", "parse", "-")
	assert.Equal(t, ExitInvalid, code)
	assert.Contains(t, errOut, "offset 15:", "the offset counts in the input without its BOM")
}

// TestConvert_IPv6 writes IPv6 servers the way each reader wants them, and
// pgx reads the libpq and URL outputs back.
func TestConvert_IPv6(t *testing.T) {
	in := "Server=[2001:db8::1];Port=5433;Database=my db;UID=aep;Password=p@ss w;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#"
	want := map[string]string{
		"connstr": "Server=2001:db8::1;Database=my db;Port=5433;UID=aep;Password=p@ss w;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#\n",
		"libpq":   "host=2001:db8::1 port=5433 dbname='my db' user=aep password='p@ss w' sslmode=verify-full\n",
		"url":     "postgres://aep:p%40ss%20w@[2001:db8::1]:5433/my%20db?sslmode=verify-full\n",
	}
	for to, w := range want {
		code, out, errOut := runFlowpg(t, in, "convert", "--to", to, "-")
		require.Equal(t, ExitOK, code, errOut)
		assert.Equal(t, w, out, to)
		if to == "connstr" {
			continue
		}
		cfg, err := pgconn.ParseConfig(strings.TrimSpace(out))
		require.NoError(t, err, out)
		assert.Equal(t, "2001:db8::1", cfg.Host)
		assert.Equal(t, uint16(5433), cfg.Port)
		assert.Equal(t, "my db", cfg.Database)
		assert.Equal(t, "aep", cfg.User)
		assert.Equal(t, "p@ss w", cfg.Password)
		assert.NotNil(t, cfg.TLSConfig)
		assert.False(t, cfg.TLSConfig.InsecureSkipVerify, "verify-full")
	}
	code, out, errOut := runFlowpg(t, in, "convert", "--to", "basic", "-")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, `"server": "2001:db8::1"`)
}

// TestConvert_LibPQToLibPQKeepsSettings: libpq to libpq keeps what libpq
// knows, with no discarded warning; converting to AEP's forms names each
// setting it leaves out.
func TestConvert_LibPQToLibPQKeepsSettings(t *testing.T) {
	in := "host=db.example.com dbname=sales user=aep password=pw sslmode=verify-full channel_binding=require " +
		"target_session_attrs=read-write connect_timeout=10 gssencmode=disable keepalives=1 keepalives_idle=30 sslcompression=0 application_name=etl"
	code, out, errOut := runFlowpg(t, in, "convert", "--to", "libpq", "-")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, in+"\n", out)
	assert.NotContains(t, errOut, "[discarded]")

	code, out, errOut = runFlowpg(t, in, "convert", "--to", "url", "-")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "postgres://aep:pw@db.example.com/sales?sslmode=verify-full&channel_binding=require&target_session_attrs=read-write&"+
		"connect_timeout=10&gssencmode=disable&keepalives=1&keepalives_idle=30&sslcompression=0&application_name=etl\n", out)
	assert.NotContains(t, errOut, "[discarded]")

	code, _, errOut = runFlowpg(t, in, "convert", "--to", "basic", "-")
	require.Equal(t, ExitOK, code, errOut)
	for _, key := range []string{"channel_binding", "target_session_attrs", "connect_timeout", "gssencmode", "keepalives", "keepalives_idle", "sslcompression", "application_name"} {
		assert.Contains(t, errOut, `[discarded] basic authentication cannot carry "`+key+`"`)
	}

	code, out, errOut = runFlowpg(t, "host=db.example.com dbname=d sslrootcert=system", "convert", "--to", "libpq", "-")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "host=db.example.com dbname=d sslmode=verify-full sslrootcert=system\n", out)
	assert.Contains(t, errOut, "[sslrootcert-system]")
}

// TestInput_BadServerEchoMasksPassword: a mangled separator puts the
// password inside the server's value; the caret echo still masks it.
func TestInput_BadServerEchoMasksPassword(t *testing.T) {
	for _, in := range []string{
		"Server=db,Password=" + secret + ";Database=d",
		"Server={db Password=" + secret + "};Database=d",
		"host=db:5433 password=" + secret,
		"postgres://u:" + secret + "@db1,db2/d",
	} {
		code, out, errOut := runFlowpg(t, in, "parse", "-")
		assert.Equal(t, ExitInvalid, code, in)
		assert.NotContains(t, out+errOut, secret, in)
		assert.Contains(t, errOut, "^", in)
	}
}
