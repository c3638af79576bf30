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
			"Server=h;Database=d;Port=5432;UID=u;Password=p;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#;TrustStore=/ca.pem;CryptoProtocolVersion=TLSv1.3;B=2;A=1", nil},
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
		{"lone libpq-looking extra keeps DataDirect", Conn{Extra: []Property{{Key: "application_name", Value: "x"}}}, "application_name=x;", nil},
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
			s, _ := Build(c)
			assert.Equal(t, tt.want, s)
			assert.Equal(t, tt.warns, codes(warns))
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
			assert.Equal(t, tt.libpq, tt.in.LibPQ())
			assert.Equal(t, tt.url, tt.in.URL())
			for _, s := range []string{tt.in.LibPQ(), tt.in.URL()} {
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
