package connstr

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse_Grammar(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  Conn
		warns []string
	}{
		{"typical", "Server=db.example.com;Database=sales;Port=5432;UID=aep_reader;Password=s3cret!;EncryptionMethod=1;ValidateServerCertificate=1",
			Conn{Server: "db.example.com", Database: "sales", Port: 5432, User: "aep_reader", Password: "s3cret!", Encryption: EncryptionSSL, ValidateServerCertificate: True}, nil},
		{"alias Host", "Host=h", Conn{Server: "h"}, nil},
		{"alias HostName", "HostName=h", Conn{Server: "h"}, nil},
		{"alias PortNumber", "Server=h;PortNumber=6543", Conn{Server: "h", Port: 6543}, nil},
		{"alias DatabaseName", "DatabaseName=d", Conn{Database: "d"}, nil},
		{"alias DB", "DB=d", Conn{Database: "d"}, nil},
		{"alias User", "User=u", Conn{User: "u"}, nil},
		{"alias User ID", "User ID=u", Conn{User: "u"}, nil},
		{"alias Username", "Username=u", Conn{User: "u"}, nil},
		{"alias LogonID", "LogonID=u", Conn{User: "u"}, nil},
		{"alias PWD", "Server=h;PWD=p", Conn{Server: "h", Password: "p"}, nil},
		{"case-insensitive keys", "sErVeR=h;uid=u;pAsSwOrD=p;encryptionmethod=6", Conn{Server: "h", User: "u", Password: "p", Encryption: EncryptionRequestSSL}, nil},
		{"whitespace around keys and values", "  Server  =  h  ; \t Database = d\t;", Conn{Server: "h", Database: "d"}, nil},
		{"value keeps inner spaces", "Server=h;Database=my db", Conn{Server: "h", Database: "my db"}, nil},
		{"trailing semicolon and empty segments", ";;Server=h;;;Database=d;;", Conn{Server: "h", Database: "d"}, nil},
		{"braces hold ; = and spaces", "Server=h;Password={ a;b=c }", Conn{Server: "h", Password: " a;b=c "}, nil},
		{"}} is a literal }", "Server=h;Password={a}}b}}}", Conn{Server: "h", Password: "a}b}"}, nil},
		{"space around braces", "Server=h;Password=  {x;y}  ;Database=d", Conn{Server: "h", Password: "x;y", Database: "d"}, nil},
		{"empty braces", "Server=h;Password={}", Conn{Server: "h"}, nil},
		{"brace inside unbraced value is literal", "Server=h;Password=a{b}c", Conn{Server: "h", Password: "a{b}c"}, nil},
		{"empty value", "Server=h;Password=", Conn{Server: "h"}, nil},
		{"unicode value", "Server=h;Password=pässwörd☃", Conn{Server: "h", Password: "pässwörd☃"}, nil},
		{"typo key", "Server=h;EncryptionMethod=1;ValidationServerCertificate=1", Conn{Server: "h", Encryption: EncryptionSSL, ValidateServerCertificate: True}, []string{WarnMisspelledKey}},
		{"tls keys", "Server=h;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#;TrustStore=/etc/ca.pem;CryptoProtocolVersion=TLSv1.2,TLSv1.3",
			Conn{Server: "h", Encryption: EncryptionSSL, ValidateServerCertificate: True, HostNameInCertificate: "#SERVERNAME#", TrustStore: "/etc/ca.pem", CryptoProtocolVersion: "TLSv1.2,TLSv1.3"}, nil},
		{"unknown keys kept in order", "Zeta=1;Server=h;Alpha={a;b};LoginTimeout=5",
			Conn{Server: "h", Extra: []Property{{Key: "Zeta", Value: "1", Offset: 0, ValueOffset: 5}, {Key: "Alpha", Value: "a;b", Offset: 16, ValueOffset: 22}, {Key: "LoginTimeout", Value: "5", Offset: 28, ValueOffset: 41}}},
			[]string{WarnUnknownKey, WarnUnknownKey, WarnUnknownKey}},
		{"EncryptionMethod 0", "EncryptionMethod=0", Conn{Encryption: EncryptionNone}, nil},
		{"ValidateServerCertificate 0", "ValidateServerCertificate=0", Conn{ValidateServerCertificate: False}, nil},
		{"port bounds", "Port=65535", Conn{Port: 65535}, nil},
		{"port leading zero", "Port=05432", Conn{Port: 5432}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, FormatDataDirect, p.Format)
			assert.Equal(t, tt.want, p.Conn)
			assert.Equal(t, tt.warns, codes(p.Warnings))
		})
	}
}

func TestParse_Properties(t *testing.T) {
	p, err := Parse(" UID = u ;Password={p;w};  Server=h")
	require.NoError(t, err)
	assert.Equal(t, []Property{
		{Key: "UID", Value: "u", Offset: 1, ValueOffset: 7},
		{Key: "Password", Value: "p;w", Offset: 10, ValueOffset: 19},
		{Key: "Server", Value: "h", Offset: 27, ValueOffset: 34},
	}, p.Properties)
}

func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		offset int
		key    string
		msg    string
	}{
		{"empty", "", 0, "", "empty connection string"},
		{"no pair", " ;  ", 0, "", "no key=value pair"},
		{"no key flowpg knows", "foo=bar", 0, "", "no key flowpg knows"},
		{"no key flowpg knows, several", " foo=bar;LoginTimeout=5", 1, "", "no key flowpg knows"},
		{"only empty known keys", "Foo=1;Server=;Password={}", 6, "Server", "every key flowpg knows is empty"},
		{"basic auth JSON, every param empty", `{"sslMode": "", "server": ""}`, 12, "sslMode", "every basic authentication param is empty"},
		{"libpq with no key flowpg knows", "application_name=x connect_timeout=5", 0, "", "no key flowpg knows"},
		{"libpq with only an empty known key", "dbname='' application_name=x", 0, "dbname", "every key flowpg knows is empty"},
		{"URL with nothing", "postgres://", 0, "", "the URL names no host"},
		{"URL with only extras", "postgresql:///?application_name=x", 15, "", "no key flowpg knows"},
		{"npgsql with no key flowpg knows", "Pooling=false;Command Timeout=5", 0, "", "no key flowpg knows"},
		{"comment before the string", "# prod\nServer=h", 0, "", "'#' does not start a comment"},
		{"too big", "Server=" + strings.Repeat("a", MaxInputSize), MaxInputSize, "", "over the 65536-byte limit"},
		{"NUL", "Server=h;Password=a\x00b", 19, "", "NUL byte"},
		{"invalid UTF-8", "Server=h\xff", 8, "", "invalid UTF-8"},
		{"unterminated brace", "Server=h;Password={abc;def", 18, "Password", "unterminated"},
		{"unterminated after }}", "Server={a}}", 7, "Server", "unterminated"},
		{"text after brace", "Server={a}b;Database=d", 10, "Server", "unexpected text after closing"},
		{"= without key", "Server=h; =x", 10, "", "'=' without a key"},
		{"key without =", "Server=h;Database", 9, "Database", "key without '='"},
		{"key alone", "Server", 0, "Server", "key without '='"},
		{"brace in key", "Ser{ver=h", 0, "Ser{ver", "cannot contain"},
		{"port not a number", "Server=h;Port=abc", 14, "Port", `port "abc" is not a number`},
		{"port zero", "Port=0", 5, "Port", "not a number in 1-65535"},
		{"port too big", "Port=65536", 5, "Port", "not a number in 1-65535"},
		{"port negative", "Port=-1", 5, "Port", "not a number in 1-65535"},
		{"port empty", "Port=", 5, "Port", "not a number"},
		{"EncryptionMethod 7", "Server=h;EncryptionMethod=7", 26, "EncryptionMethod", "not supported for PostgreSQL"},
		{"EncryptionMethod 2", "EncryptionMethod=2", 17, "EncryptionMethod", "not supported for PostgreSQL"},
		{"ValidateServerCertificate 2", "ValidateServerCertificate=true", 26, "ValidateServerCertificate", "must be 0 or 1"},
		{"repeated key", "Server=a;Database=d;server=b", 20, "server", `"Server" at offset 0 and "server" at offset 20`},
		{"key and alias", "Host=a;Server=b", 7, "Server", `"Host" at offset 0 and "Server" at offset 7`},
		{"user aliases", "UID=a;User ID=b", 6, "User ID", `"UID" at offset 0 and "User ID" at offset 6`},
		{"password alias", "Password=x;PWD=y", 11, "PWD", `"Password" at offset 0 and "PWD" at offset 11`},
		{"typo and key", "ValidateServerCertificate=1;ValidationServerCertificate=1", 28, "ValidationServerCertificate", "repeated key"},
		{"repeated unknown key", "Foo=1;Server=h;FOO=2", 15, "FOO", `"Foo" at offset 0 and "FOO" at offset 15`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			require.Error(t, err)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.offset, pe.Offset)
			assert.Equal(t, tt.key, pe.Key)
			assert.Contains(t, err.Error(), tt.msg)
			assert.True(t, strings.HasPrefix(err.Error(), "connstr: "), err.Error())
		})
	}
}

func TestParse_ErrorNeverShowsPassword(t *testing.T) {
	for _, in := range []string{
		"Server=h;Password={hunter2;x",
		"Server=h;Password={hunter2}x",
		"Server=h;Password=hunter2;Port=x",
		"Server=h;Password=hunter2;Password=hunter2",
		"host=h password=hunter2 sslmode=bogus",
		"host=h password='hunter2",
		"postgres://u:hunter2@h:notaport/db",
		"Host=h;Username=u;Password=\"hunter2;SSL Mode=Require",
		"Host=h;Username=u;Password=hunter2;SSL Mode=Bogus",
		// A mangled separator puts the password into the server's value.
		"Server=h,Password=hunter2;Database=d",
		"Server={h Password=hunter2};Database=d",
		"Server=h:hunter2;Database=d",
		"Server=h#Password=hunter2",
		"host=h:hunter2 dbname=d",
		"postgres://u:hunter2@h1:5432,h2/d",
		"postgres://u:hunter2@[fe80::1%25eth0]/d",
		"postgres://u:hunter2@h/d?sslrootcert=system&sslmode=require",
		"host=h password=hunter2 connect_timeout=hunter2",
		"host=h password='hunter2 dbname=d",
		"postgres://u:hunter2%zz@h/d",
	} {
		t.Run(in, func(t *testing.T) {
			_, err := Parse(in)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "hunter2")
			assert.True(t, strings.HasPrefix(err.Error(), "connstr: "), err.Error())
		})
	}
}

func TestParse_Detect(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		format Format
		want   Conn
		warns  []string
	}{
		{"libpq", "host=db.example.com port=5433 dbname=sales user=u password='p w' sslmode=verify-full",
			FormatLibPQ, Conn{Server: "db.example.com", Port: 5433, Database: "sales", User: "u", Password: "p w", Encryption: EncryptionSSL, ValidateServerCertificate: True, HostNameInCertificate: "#SERVERNAME#"},
			nil},
		{"libpq without sslmode or port", "host=h dbname=d user=u password=p", FormatLibPQ, Conn{Server: "h", Database: "d", User: "u", Password: "p"}, nil},
		{"libpq require", "host=h sslmode=require", FormatLibPQ, Conn{Server: "h", Encryption: EncryptionSSL, ValidateServerCertificate: False}, nil},
		{"libpq disable", "host=h sslmode=disable", FormatLibPQ, Conn{Server: "h", Encryption: EncryptionNone}, nil},
		{"libpq allow", "host=h sslmode=allow", FormatLibPQ, Conn{Server: "h", Encryption: EncryptionRequestSSL}, []string{WarnAllowOrderReversed}},
		{"libpq prefer", "host=h sslmode=prefer", FormatLibPQ, Conn{Server: "h", Encryption: EncryptionRequestSSL, ValidateServerCertificate: False}, nil},
		{"libpq verify-ca", "host=h sslmode=verify-ca", FormatLibPQ, Conn{Server: "h", Encryption: EncryptionSSL, ValidateServerCertificate: True}, nil},
		{"libpq runtime param", "host=h application_name=etl", FormatLibPQ, Conn{Server: "h", Extra: []Property{{Key: "application_name", Value: "etl", Offset: 7, ValueOffset: 24}}}, []string{WarnUnknownKey}},
		{"libpq localhost is kept", "host=localhost port=5432", FormatLibPQ, Conn{Server: "localhost", Port: 5432}, nil},
		{"url", "postgres://u:p%40ss@db.example.com:5433/sales?sslmode=require",
			FormatURL, Conn{Server: "db.example.com", Port: 5433, Database: "sales", User: "u", Password: "p@ss", Encryption: EncryptionSSL, ValidateServerCertificate: False}, nil},
		{"postgresql url, no port", "postgresql://u@db/sales", FormatURL, Conn{Server: "db", Database: "sales", User: "u"}, nil},
		{"url ssl=true", "postgres://db/sales?ssl=true", FormatURL, Conn{Server: "db", Database: "sales", Encryption: EncryptionSSL, ValidateServerCertificate: False}, nil},
		{"url upper-case scheme", "POSTGRES://db/sales", FormatURL, Conn{Server: "db", Database: "sales"}, nil},
		{"npgsql by SSL Mode", "Host=h;Database=d;Username=u;Password=p;SSL Mode=Require;Trust Server Certificate=true",
			FormatNpgsql, Conn{Server: "h", Database: "d", User: "u", Password: "p", Encryption: EncryptionSSL, ValidateServerCertificate: False}, nil},
		{"npgsql by Host and Username", "Host=h;Username=u;Password=p", FormatNpgsql, Conn{Server: "h", User: "u", Password: "p", Encryption: EncryptionRequestSSL, ValidateServerCertificate: False}, []string{WarnNpgsqlDefaultSSLMode}},
		{"npgsql SslMode VerifyFull", "Server=h;User ID=u;SslMode=VerifyFull", FormatNpgsql, Conn{Server: "h", User: "u", Encryption: EncryptionSSL, ValidateServerCertificate: True, HostNameInCertificate: "#SERVERNAME#"}, nil},
		{"npgsql quoted value", `Host=h;Username=u;Password="a;b""c";SSL Mode=Disable`, FormatNpgsql, Conn{Server: "h", User: "u", Password: `a;b"c`, Encryption: EncryptionNone}, nil},
		{"npgsql single-quoted", `Host=h;Username=u;Password='a;{b';SSL Mode=Prefer`, FormatNpgsql, Conn{Server: "h", User: "u", Password: "a;{b", Encryption: EncryptionRequestSSL, ValidateServerCertificate: False}, nil},
		{"npgsql unknown key", "Host=h;Username=u;Pooling=false;SSL Mode=Disable", FormatNpgsql, Conn{Server: "h", User: "u", Encryption: EncryptionNone, Extra: []Property{{Key: "Pooling", Value: "false", Offset: 18, ValueOffset: 26}}}, []string{WarnUnknownKey}},
		{"Host and Username with a DataDirect key stay DataDirect", "Host=h;Username=u;EncryptionMethod=1", FormatDataDirect, Conn{Server: "h", User: "u", Encryption: EncryptionSSL}, nil},
		{"lowercase host with ; is DataDirect", "host=h;port=5432", FormatDataDirect, Conn{Server: "h", Port: 5432}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.format, p.Format)
			assert.Equal(t, tt.want, p.Conn)
			assert.Equal(t, tt.warns, codes(p.Warnings))
		})
	}
}

// TestParse_IgnoresEnvironment: pgconn merges PG* variables and defaults;
// Parse must keep only what the string says.
func TestParse_IgnoresEnvironment(t *testing.T) {
	t.Setenv("PGHOST", "env-host")
	t.Setenv("PGPORT", "7777")
	t.Setenv("PGDATABASE", "envdb")
	t.Setenv("PGUSER", "envuser")
	t.Setenv("PGPASSWORD", "envpass")
	t.Setenv("PGSSLMODE", "verify-full")
	t.Setenv("PGAPPNAME", "envapp")
	for _, in := range []string{"host=h", "postgres://h"} {
		p, err := Parse(in)
		require.NoError(t, err)
		assert.Equal(t, Conn{Server: "h"}, p.Conn, in)
	}
	p, err := Parse("host=h application_name=envapp sslmode=verify-full")
	require.NoError(t, err)
	assert.Equal(t, "verify-full", p.Properties[2].Value)
	assert.Len(t, p.Conn.Extra, 1, "written application_name is kept even when equal to the environment's")
}

func TestParse_DetectErrors(t *testing.T) {
	for _, in := range []string{
		"host=h1,h2 dbname=d",
		"postgres://h1,h2/d",
		"host=h sslmode=Require", // pgx's sslmode is case-sensitive
		"Host=h;Username=u;SSL Mode=Require;EncryptionMethod=1",
		"Host=h;SSL Mode=VerifyFull;Trust Server Certificate=true",
		"Host=h;SSL Mode=Sometimes",
	} {
		t.Run(in, func(t *testing.T) {
			_, err := Parse(in)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
		})
	}
}

func TestConn_Validate(t *testing.T) {
	good := Conn{Server: "h", Database: "d", User: "u", Password: "p"}
	require.NoError(t, good.Validate())
	tests := []struct {
		name   string
		mod    func(*Conn)
		fields []string
	}{
		{"no server", func(c *Conn) { c.Server = " " }, []string{"server"}},
		{"bad port", func(c *Conn) { c.Port = 70000 }, []string{"port"}},
		{"no database", func(c *Conn) { c.Database = "" }, []string{"database"}},
		{"no user", func(c *Conn) { c.User = "" }, []string{"username"}},
		{"no password", func(c *Conn) { c.Password = "" }, []string{"password"}},
		{"bad encryption", func(c *Conn) { c.Encryption = 9 }, []string{"sslMode"}},
		{"everything", func(c *Conn) { *c = Conn{} }, []string{"server", "database", "username", "password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mod(&c)
			err := c.Validate()
			var ve *ValidationError
			require.True(t, errors.As(err, &ve))
			var got []string
			for _, f := range ve.Fields {
				got = append(got, f.Field)
			}
			assert.Equal(t, tt.fields, got)
			assert.True(t, strings.HasPrefix(err.Error(), "connstr: "))
		})
	}
}

func TestConn_NeverPrintsPassword(t *testing.T) {
	p, err := Parse("Server=h;UID=u;Password=hunter2;SecretToken=tok3n;Foo=bar")
	require.NoError(t, err)
	values := []any{p.Conn, &p.Conn, *p, p, p.Properties, p.Properties[2]}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%10v"} {
		for i, v := range values {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, "hunter2", "%s of value %d: %s", verb, i, out)
			assert.NotContains(t, out, "tok3n", "%s of value %d: %s", verb, i, out)
			assert.NotContains(t, out, "68756e74657232", "hex of hunter2")
		}
	}
	assert.Contains(t, fmt.Sprintf("%v", p.Conn), "Password="+Redacted)
	assert.Contains(t, fmt.Sprintf("%#v", p.Conn), `connstr.Conn{Server:"h"`)
	assert.Equal(t, "hunter2", p.Conn.Password, "redaction must not change the value")
	for _, v := range []any{p.Conn, p, *p} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		assert.NotContains(t, string(b), "hunter2")
		assert.NotContains(t, string(b), "tok3n")
	}
	ba, _ := p.Conn.BasicAuth(StyleTutorial)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		assert.NotContains(t, fmt.Sprintf(verb, ba), "hunter2")
	}
}

func TestFormat(t *testing.T) {
	for f, s := range map[Format]string{FormatDataDirect: "datadirect", FormatLibPQ: "libpq", FormatURL: "url", FormatNpgsql: "npgsql", FormatUnknown: "unknown"} {
		assert.Equal(t, s, f.String())
		b, err := f.MarshalText()
		require.NoError(t, err)
		var g Format
		require.NoError(t, g.UnmarshalText(b))
		assert.Equal(t, f, g)
	}
}

func TestParse_RejectsFileKeys(t *testing.T) {
	for _, in := range []string{
		"host=h sslrootcert=/dev/zero",
		"host=h passfile = /dev/zero password=",
		"host=h service=x",
		"postgres://h/d?sslkey=/dev/zero",
		"postgres://h/d?sslroot%63ert=/dev/stdin",
	} {
		t.Run(in, func(t *testing.T) {
			_, err := Parse(in)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Contains(t, pe.Msg, "local file")
		})
	}
}

func TestParse_FileKeysExactly(t *testing.T) {
	for _, in := range []string{
		"host=h sslrootcert=SYSTEM", // libpq spells system in lower case; this names a file
		"host=h sslrootcert='system' sslkey=/k",
		"postgres://h/d?sslrootcert=system%2F",
		"postgres://h/d?sslrootcert=system&sslcert=/c",
	} {
		_, err := Parse(in)
		var pe *ParseError
		require.ErrorAs(t, err, &pe, in)
		assert.Contains(t, pe.Msg, "local file", in)
	}
	// A file key's name inside a value names no file.
	for in, db := range map[string]string{
		"host=h dbname='sslcert=x'":         "sslcert=x",
		"postgres://h/sslcert%3Dx":          "sslcert=x",
		"Server=h;Database={passfile=/etc}": "passfile=/etc",
		"host=h dbname=d SSLCERT=x":         "d", // not libpq's key: a run-time parameter
	} {
		p, err := Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, db, p.Conn.Database, in)
	}
}

// TestParse_SystemRoots: sslrootcert=system names no file: libpq 16+ and
// pgx read it as the system's roots with verify-full, and so does Parse.
func TestParse_SystemRoots(t *testing.T) {
	for _, in := range []string{
		"host=db.example.com dbname=d sslrootcert=system",
		"host=db.example.com dbname=d sslrootcert='system' sslmode=verify-full",
		"postgres://db.example.com/d?sslrootcert=system",
		"postgres://db.example.com/d?sslmode=verify-full&sslrootcert=system",
	} {
		t.Run(in, func(t *testing.T) {
			p, err := Parse(in)
			require.NoError(t, err)
			mode, _ := p.Conn.SSLMode()
			assert.Equal(t, SSLVerifyFull, mode)
			assert.Contains(t, codes(p.Warnings), WarnSystemRoots)
			assert.NotContains(t, codes(p.Warnings), WarnUnknownKey)
			assert.Equal(t, []Property{{Key: "sslrootcert", Value: "system", Offset: p.Conn.Extra[0].Offset, ValueOffset: p.Conn.Extra[0].ValueOffset}}, p.Conn.Extra)
			// libpq to libpq keeps it; DataDirect and basic auth carry Verify Full.
			dsn, warns := p.Conn.LibPQ()
			assert.Contains(t, dsn, "sslmode=verify-full sslrootcert=system")
			assert.NotContains(t, codes(warns), WarnDiscarded)
			b, _ := p.Conn.BasicAuth(StyleTutorial)
			assert.Equal(t, "Verify Full", b.SSLMode)
		})
	}
	for _, in := range []string{
		"host=h dbname=d sslrootcert=system sslmode=require",
		"postgres://h/d?sslrootcert=system&sslmode=verify-ca",
	} {
		_, err := Parse(in)
		var pe *ParseError
		require.ErrorAs(t, err, &pe, in)
		assert.Equal(t, "sslmode", pe.Key)
		assert.Contains(t, pe.Msg, "sslrootcert=system needs sslmode=verify-full")
	}
	// In a DataDirect string it is an unknown key; LibPQ carries it only with Verify Full.
	p, err := Parse("Server=h;Database=d;EncryptionMethod=1;sslrootcert=system")
	require.NoError(t, err)
	dsn, warns := p.Conn.LibPQ()
	assert.NotContains(t, dsn, "sslrootcert")
	assert.True(t, warnedDiscarded("sslrootcert", warns))
}

// TestParse_ByteOrderMark: a UTF-8 BOM at the start is ignored in every
// form; offsets still count from the start of the input as given.
func TestParse_ByteOrderMark(t *testing.T) {
	for _, in := range []string{
		"Server=h;Database=d",
		"Host=h;Database=d;Username=u;SSL Mode=Disable",
		"host=h dbname=d",
		"postgres://h/d",
	} {
		p, err := Parse("\uFEFF" + in)
		require.NoError(t, err, in)
		q, err := Parse(in)
		require.NoError(t, err)
		assert.Equal(t, q.Format, p.Format, in)
		assert.True(t, q.Conn.Equal(p.Conn), in)
		for i := range p.Properties {
			assert.Equal(t, q.Properties[i].Offset+3, p.Properties[i].Offset, in)
		}
	}
	p, err := Parse("\uFEFFServer=h;Foo=1")
	require.NoError(t, err)
	assert.Equal(t, 12, p.Conn.Extra[0].Offset)
	_, err = Parse("\uFEFFServer=h;Port=x")
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 3+14, pe.Offset)
	_, err = Parse("\uFEFF")
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, pe.Msg, "empty")
	_, err = Parse("Server=\uFEFFh")
	assert.Error(t, err, "only a leading BOM is ignored")
}

// TestParse_Hash: '#' is part of the value in every form, never a
// comment; a key cannot start with '#'.
func TestParse_Hash(t *testing.T) {
	for _, in := range []string{
		"Server=h;Database=d;Password=a#b",
		"Server=h;Database=d;Password=a #b",
		"Server=h;Database=d;Password={a#b}",
		"Host=h;Database=d;Username=u;Password=a#b;SSL Mode=Disable",
		"host=h dbname=d password=a#b",
		"host=h dbname=d password='a #b'",
		"postgres://u:a%23b@h/d",
		"postgres://u:a#b@h/d",
		"postgres://u@h/d?password=a#b",
	} {
		p, err := Parse(in)
		require.NoError(t, err, in)
		assert.True(t, strings.HasPrefix(p.Conn.Password, "a") && strings.HasSuffix(p.Conn.Password, "#b"), in)
	}
	p, err := Parse("postgres://u@h/sales#prod")
	require.NoError(t, err)
	assert.Equal(t, "sales#prod", p.Conn.Database, "libpq and pgx read no URL fragment")
	for _, in := range []string{"# prod\nServer=h", "Server=h;#comment", "Server=h;  # x=1"} {
		_, err := Parse(in)
		var pe *ParseError
		require.ErrorAs(t, err, &pe, in)
		assert.Contains(t, pe.Msg, "'#' does not start a comment", in)
	}
}
