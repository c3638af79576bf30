package connstr

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name  string
		in    Conn
		want  string
		warns []string
	}{
		{"canonical order", Conn{Password: "p", User: "u", Port: 5432, Database: "d", Server: "h", Encryption: EncryptionSSL, ValidateServerCertificate: True,
			HostNameInCertificate: "#SERVERNAME#", TrustStore: "/ca.pem", CryptoProtocolVersion: "TLSv1.3", Extra: []Property{{Key: "B", Value: "2"}, {Key: "A", Value: "1"}}},
			"Server=h;Database=d;Port=5432;UID=u;Password=p;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#;TrustStore=/ca.pem;CryptoProtocolVersion=TLSv1.3;B=2;A=1", []string{WarnHostNameInCertificateUndocumented}},
		{"absent fields left out", Conn{Server: "h"}, "Server=h", nil},
		{"EncryptionMethod 0 and 6", Conn{Encryption: EncryptionRequestSSL, ValidateServerCertificate: False}, "EncryptionMethod=6;ValidateServerCertificate=0", nil},
		{"quote ;", Conn{Server: "h", Password: "a;b"}, "Server=h;Password={a;b}", []string{WarnBraceQuoting}},
		{"quote =", Conn{Password: "a=b"}, "Password={a=b}", []string{WarnBraceQuoting}},
		{"quote { and double }", Conn{Password: "{x}"}, "Password={{x}}}", []string{WarnBraceQuoting}},
		{"quote leading space", Conn{Password: " x"}, "Password={ x}", []string{WarnBraceQuoting}},
		{"quote trailing tab", Conn{Database: "x\t"}, "Database={x\t}", []string{WarnBraceQuoting}},
		{"inner space not quoted", Conn{Database: "my db"}, "Database=my db", nil},
		{"bad extras left out", Conn{Server: "h", Extra: []Property{{Key: "Server", Value: "x"}, {Key: "a=b", Value: "x"}, {Key: "", Value: "x"}, {Key: "SSL Mode", Value: "x"}, {Key: "ok", Value: "1"}, {Key: "OK", Value: "2"}}},
			"Server=h;ok=1", []string{WarnDiscarded, WarnDiscarded, WarnDiscarded, WarnDiscarded, WarnDiscarded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warns := Build(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.warns, codes(warns))
			p, err := Parse(got)
			require.NoError(t, err)
			if len(warns) == 0 || warns[0].Code == WarnBraceQuoting {
				assert.True(t, tt.in.Equal(p.Conn), "%#v", p.Conn)
			}
		})
	}
}

func TestConn_BasicAuth(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		style SSLModeStyle
		want  BasicAuth
		warns []string
	}{
		{"verify full", "Server=h;Database=d;UID=u;Password=p;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#", StyleTutorial,
			BasicAuth{"h", "5432", "d", "u", "p", "Verify Full"}, nil},
		{"overview verify full", "Server=h;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=h", StyleOverview,
			BasicAuth{Server: "h", Port: "5432", SSLMode: "Verify-Full"}, nil},
		{"require in tutorial becomes verify ca", "Server=h;Port=6000;EncryptionMethod=1", StyleTutorial,
			BasicAuth{Server: "h", Port: "6000", SSLMode: "Verify Ca"}, []string{WarnRequireNotInTutorial}},
		{"require in overview", "Server=h;EncryptionMethod=1;ValidateServerCertificate=0", StyleOverview,
			BasicAuth{Server: "h", Port: "5432", SSLMode: "Require"}, []string{WarnRequireNotInTutorial}},
		{"disable", "Server=h", StyleTutorial, BasicAuth{Server: "h", Port: "5432", SSLMode: "Disable"}, nil},
		{"prefer lossy", "Server=h;EncryptionMethod=6;ValidateServerCertificate=1", StyleTutorial,
			BasicAuth{Server: "h", Port: "5432", SSLMode: "Prefer"}, []string{WarnLossyVerificationDropped}},
		{"extras reported", "Server=h;Foo=1", StyleTutorial, BasicAuth{Server: "h", Port: "5432", SSLMode: "Disable"}, []string{WarnDiscarded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.in)
			require.NoError(t, err)
			got, warns := p.Conn.BasicAuth(tt.style)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.warns, codes(warns))
		})
	}
}

func TestFromBasicAuth(t *testing.T) {
	tests := []struct {
		name  string
		in    BasicAuth
		want  string
		warns []string
	}{
		{"tutorial verify full", BasicAuth{"h", "5432", "d", "u", "p", "Verify Full"},
			"Server=h;Database=d;Port=5432;UID=u;Password=p;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#", []string{WarnHostNameInCertificateUndocumented}},
		{"overview require", BasicAuth{Server: "h", SSLMode: "Require"}, "Server=h;EncryptionMethod=1;ValidateServerCertificate=0", nil},
		{"libpq verify-ca", BasicAuth{Server: "h", SSLMode: "verify-ca"}, "Server=h;EncryptionMethod=1;ValidateServerCertificate=1", nil},
		{"prefer", BasicAuth{Server: "h", SSLMode: "PREFER"}, "Server=h;EncryptionMethod=6;ValidateServerCertificate=0", nil},
		{"allow", BasicAuth{Server: "h", SSLMode: "allow"}, "Server=h;EncryptionMethod=6", []string{WarnAllowOrderReversed}},
		{"disable", BasicAuth{Server: "h", SSLMode: "Disable"}, "Server=h;EncryptionMethod=0", nil},
		{"aws false", BasicAuth{Server: "h", SSLMode: "false"}, "Server=h;EncryptionMethod=0", []string{WarnSSLModeBoolean}},
		{"true", BasicAuth{Server: "h", SSLMode: "true"}, "Server=h;EncryptionMethod=1;ValidateServerCertificate=0", []string{WarnSSLModeBoolean}},
		{"no sslMode", BasicAuth{Server: "h"}, "Server=h", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warns, err := FromBasicAuth(tt.in)
			require.NoError(t, err)
			s, buildWarns := Build(c)
			assert.Equal(t, tt.want, s)
			// The sslMode's warnings come from reading it, HostNameInCertificate's
			// from writing it.
			assert.Equal(t, tt.warns, codes(append(warns, buildWarns...)))
		})
	}
	for _, bad := range []BasicAuth{{Port: "x"}, {Port: "0"}, {Port: "70000"}, {SSLMode: "maybe"}} {
		_, _, err := FromBasicAuth(bad)
		assert.Error(t, err, "%v", bad)
	}
}

func TestConn_LibPQAndURL(t *testing.T) {
	tests := []struct {
		name      string
		in        Conn
		libpq     string
		url       string
		wantNoTLS bool
	}{
		{"plain", Conn{Server: "db.example.com", Port: 5432, Database: "sales", User: "u", Password: "p", Encryption: EncryptionSSL, ValidateServerCertificate: True, HostNameInCertificate: "#SERVERNAME#"},
			"host=db.example.com port=5432 dbname=sales user=u password=p sslmode=verify-full",
			"postgres://u:p@db.example.com:5432/sales?sslmode=verify-full", false},
		{"quoting", Conn{Server: "h", Database: "my db", User: "o'neil", Password: `a b\c'd@/:?#%`, Encryption: EncryptionNone},
			`host=h dbname='my db' user='o\'neil' password='a b\\c\'d@/:?#%' sslmode=disable`,
			"postgres://o%27neil:a%20b%5Cc%27d%40%2F%3A%3F%23%25@h/my%20db?sslmode=disable", true},
		{"ipv6", Conn{Server: "::1", Port: 6000, Database: "d", User: "u", Encryption: EncryptionNone},
			"host=::1 port=6000 dbname=d user=u sslmode=disable", "postgres://u@[::1]:6000/d?sslmode=disable", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn, _ := tt.in.LibPQ()
			u, _ := tt.in.URL()
			assert.Equal(t, tt.libpq, dsn)
			assert.Equal(t, tt.url, u)
			for _, s := range []string{dsn, u} {
				cfg, err := pgconn.ParseConfig(s)
				require.NoError(t, err, s)
				assert.Equal(t, tt.in.Server, cfg.Host)
				assert.Equal(t, uint16(tt.in.PortOrDefault()), cfg.Port)
				assert.Equal(t, tt.in.Database, cfg.Database)
				assert.Equal(t, tt.in.User, cfg.User)
				assert.Equal(t, tt.in.Password, cfg.Password)
				assert.Equal(t, tt.wantNoTLS, cfg.TLSConfig == nil)
				p, err := Parse(s)
				require.NoError(t, err, s)
				assert.True(t, tt.in.Equal(p.Conn), "%s: %#v", s, p.Conn)
			}
		})
	}
}

// TestConn_LibPQKeepsLibPQSettings: libpq to libpq (and URL) keeps every
// setting libpq knows that names no file; pgx and Parse read them back.
func TestConn_LibPQKeepsLibPQSettings(t *testing.T) {
	in := "host=db.example.com port=5433 dbname=sales user=aep password='p w' sslmode=verify-full " +
		"channel_binding=require target_session_attrs=read-write connect_timeout=10 gssencmode=disable " +
		"keepalives=1 keepalives_idle=30 keepalives_interval=5 keepalives_count=3 sslcompression=0 " +
		"application_name='nightly etl' options='-c search_path=sales'"
	p, err := Parse(in)
	require.NoError(t, err)
	require.Len(t, p.Conn.Extra, 11)
	dsn, warns := p.Conn.LibPQ()
	assert.Equal(t, "host=db.example.com port=5433 dbname=sales user=aep password='p w' sslmode=verify-full "+
		"channel_binding=require target_session_attrs=read-write connect_timeout=10 gssencmode=disable "+
		"keepalives=1 keepalives_idle=30 keepalives_interval=5 keepalives_count=3 sslcompression=0 "+
		"application_name='nightly etl' options='-c search_path=sales'", dsn)
	assert.NotContains(t, codes(warns), WarnDiscarded)
	u, warns := p.Conn.URL()
	assert.Equal(t, "postgres://aep:p%20w@db.example.com:5433/sales?sslmode=verify-full&channel_binding=require&target_session_attrs=read-write&"+
		"connect_timeout=10&gssencmode=disable&keepalives=1&keepalives_idle=30&keepalives_interval=5&keepalives_count=3&sslcompression=0&"+
		"application_name=nightly%20etl&options=-c%20search_path%3Dsales", u)
	assert.NotContains(t, codes(warns), WarnDiscarded)
	for _, s := range []string{dsn, u} {
		cfg, err := pgconn.ParseConfig(s)
		require.NoError(t, err, s)
		assert.Equal(t, "require", cfg.ChannelBinding)
		assert.Equal(t, int64(10), int64(cfg.ConnectTimeout.Seconds()))
		assert.NotNil(t, cfg.ValidateConnect, "target_session_attrs")
		assert.Equal(t, "nightly etl", cfg.RuntimeParams["application_name"])
		assert.Equal(t, "-c search_path=sales", cfg.RuntimeParams["options"])
		assert.Equal(t, "1", cfg.RuntimeParams["keepalives"])
		q, err := Parse(s)
		require.NoError(t, err)
		assert.True(t, p.Conn.Equal(q.Conn), "%s:\n%#v\n%#v", s, q.Conn, p.Conn)
	}
}

// TestConn_LibPQWarnsForWhatItDrops: whatever LibPQ and URL cannot carry
// is a warning naming it.
func TestConn_LibPQWarnsForWhatItDrops(t *testing.T) {
	p, err := Parse("Server=h;Database=d;EncryptionMethod=1;TrustStore=/ca.pem;CryptoProtocolVersion=TLSv1.3;" +
		"LoginTimeout=5;dbname=other;sslcert=/c.pem;sslcrl=/crl.pem;connect_timeout=soon;" +
		"min_protocol_version=3.2;max_protocol_version=3.0;application_name=a")
	require.NoError(t, err)
	for _, out := range []func() (string, []Warning){p.Conn.LibPQ, p.Conn.URL} {
		s, warns := out()
		for _, key := range []string{"TrustStore", "CryptoProtocolVersion", "LoginTimeout", "dbname", "sslcert", "sslcrl", "connect_timeout", "max_protocol_version"} {
			assert.True(t, warnedDiscarded(key, warns), "%s: %s", key, s)
			assert.NotContains(t, s, "=/c.pem")
		}
		for _, kept := range []string{"min_protocol_version", "application_name"} {
			assert.False(t, warnedDiscarded(kept, warns), kept)
			assert.Contains(t, s, kept+"=")
		}
		q, err := Parse(s)
		require.NoError(t, err, s)
		assert.Len(t, q.Conn.Extra, 2, s)
	}
	// sslnegotiation=direct needs Require or stronger.
	p, err = Parse("host=h sslmode=require sslnegotiation=direct")
	require.NoError(t, err)
	dsn, warns := p.Conn.LibPQ()
	assert.Equal(t, "host=h sslmode=require sslnegotiation=direct", dsn)
	assert.Empty(t, warns)
	p.Conn.SetSSLMode(SSLPrefer)
	dsn, warns = p.Conn.LibPQ()
	assert.Equal(t, "host=h sslmode=prefer", dsn)
	assert.True(t, warnedDiscarded("sslnegotiation", warns))
}

// TestRoundTrip_Examples runs the round-trip property of FuzzRoundTrip on
// inputs that each stress one conversion.
func TestRoundTrip_Examples(t *testing.T) {
	for _, in := range append(append([]string{}, roundTripSeeds...),
		"Server=[::1];Database=d;Port=5433",
		"Server=2001:db8::1;UID=u;Password={ p; }",
		"postgres://u@h/a+b?application_name=a+b",
		"postgres://u:p@h/d?ssl=true&sslmode=disable",
		"postgres://u:p@h/d?sslmode=disable&ssl=true",
		"host=h user= dbname=d",
		"Server=h;Database=d;Password=a#b;options={-c a=b}",
		"\uFEFFServer=h;Database=d",
		"DAtABAse=sslCert=",
	) {
		t.Run(in, func(t *testing.T) {
			p, err := Parse(in)
			require.NoError(t, err)
			checkRoundTrip(t, in, p.Conn)
		})
	}
}
