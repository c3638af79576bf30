package connstr

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckServer(t *testing.T) {
	good := []struct{ in, host string }{
		{"db.example.com", "db.example.com"},
		{"db.example.com.", "db.example.com."},
		{"DB-1.Example.COM", "DB-1.Example.COM"},
		{"db_1.internal", "db_1.internal"},
		{"localhost", "localhost"},
		{"203.0.113.7", "203.0.113.7"},
		{"2001:db8::1", "2001:db8::1"},
		{"::1", "::1"},
		{"::ffff:203.0.113.7", "::ffff:203.0.113.7"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"[::1]", "::1"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"1db.example.com", "1db.example.com"},
		{"", ""},
	}
	for _, tt := range good {
		h, f := checkServer(tt.in)
		assert.Nil(t, f, tt.in)
		assert.Equal(t, tt.host, h, tt.in)
	}
	bad := []struct {
		in   string
		kind serverFaultKind
		at   int
		fix  string
	}{
		{"db.example.com:5433", faultPort, 14, "put the port in Port= (Port=5433) and only the host in Server="},
		{"[::1]:5433", faultPort, 5, "put the port in Port= (Port=5433)"},
		{"[2001:db8::1]:", faultPort, 13, "put the port in Port= and"},
		{"2001:db8::g:5433", faultChar, 4, "no host name has"},
		{"db.example.com:abc", faultPort, 14, "put the port in Port= and"},
		{"db .example.com", faultSpace, 2, "whitespace"},
		{"db\texample", faultSpace, 2, "whitespace"},
		{"db1,db2", faultSeveral, 3, "several hosts"},
		{"db1, db2", faultSeveral, 3, "several hosts"},
		{"256.1.1.1", faultNotIPv4, 0, "not an IPv4 address"},
		{"1.2.3", faultNotIPv4, 0, "not an IPv4 address"},
		{"010.1.1.1", faultNotIPv4, 0, "without leading zeros"},
		{"0x7f.1", faultNotIPv4, 0, "not an IPv4 address"},
		{"5432", faultNotIPv4, 0, "not an IPv4 address"},
		{"1.2.3.4.", faultNotIPv4, 0, "not an IPv4 address"},
		{"/var/run/postgresql", faultSocket, 0, "Unix-socket"},
		{`C:\pg\sock`, faultSocket, 0, "Unix-socket"},
		{"[db.example.com]", faultBrackets, 1, "only an IPv6 address"},
		{"[203.0.113.7]", faultBrackets, 1, "only an IPv6 address"},
		{"[::1", faultBrackets, 0, "only an IPv6 address"},
		{"[::1]x", faultBrackets, 5, "only an IPv6 address"},
		{"fe80::1%eth0", faultZone, 7, "zone"},
		{"[fe80::1%25eth0]", faultZone, 8, "zone"},
		{"db#prod", faultHash, 2, "does not start a comment"},
		{"bücher.example", faultNonASCII, 1, "xn--"},
		{"db@example.com", faultChar, 2, "'@'"},
		{"-db.example.com", faultLabel, 0, "label"},
		{"db..example.com", faultLabel, 3, "label"},
		{"db-.example.com", faultLabel, 0, "label"},
		{".", faultLabel, 0, "label"},
		{strings.Repeat("a", 64) + ".com", faultLabel, 0, "label"},
		{strings.Repeat("a.", 127) + "com", faultTooLong, 253, "253"},
	}
	for _, tt := range bad {
		t.Run(tt.in, func(t *testing.T) {
			_, f := checkServer(tt.in)
			require.NotNil(t, f)
			assert.Equal(t, tt.kind, f.kind)
			assert.Equal(t, tt.at, f.at)
			assert.Contains(t, f.message("Server", "Port"), tt.fix)
		})
	}
}

// TestParse_ServerErrors: a bad server is a ParseError in every form,
// naming the key as written, the byte at fault, and the fix.
func TestParse_ServerErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		offset int
		key    string
		msg    string
	}{
		{"port in Server", "Server=db.example.com:5433;Database=d", 21, "Server", "put the port in Port= (Port=5433) and only the host in Server="},
		{"port after an IPv6 literal", "Server=[::1]:5433;Database=d", 12, "Server", "put the port in Port= (Port=5433)"},
		{"port in HostName", "Database=d;HostName=db:5433", 22, "HostName", "only the host in HostName="},
		{"braced value with a space", "Server={db .example.com}", 10, "Server", "whitespace"},
		{"inner space", "Server=db example.com;Database=d", 9, "Server", "whitespace"},
		{"several hosts", "Server=db1,db2;Database=d", 10, "Server", "several hosts"},
		{"several hosts, npgsql", "Host=db1,db2;Username=u;Password=p", 8, "Host", "several hosts"},
		{"not an address", "Server=256.1.1.1;Database=d", 7, "Server", "not an IPv4 address"},
		{"socket path", "Server=/var/run/postgresql;Database=d", 7, "Server", "Unix-socket"},
		{"comment after the host", "Server=db #prod;Database=d", 10, "Server", "does not start a comment"},
		{"libpq port in host", "host=db:5433 dbname=d", 7, "host", "put the port in port= (port=5433) and only the host in host="},
		{"libpq socket", "host=/var/run/postgresql dbname=d", 5, "host", "Unix-socket"},
		{"libpq socket, quoted", "host='/tmp' dbname=d", 6, "host", "Unix-socket"},
		{"libpq several hosts", "host=db1,db2 dbname=d", 8, "host", "several hosts"},
		{"libpq bad address", "dbname=d host=1.2.3.999", 14, "host", "not an IPv4 address"},
		{"URL socket, encoded", "postgres://%2Fvar%2Frun%2Fpostgresql/d", 11, "host", "Unix-socket"},
		{"URL socket in the query", "postgres:///d?host=/tmp", 14, "host", "Unix-socket"},
		{"URL several hosts", "postgres://db1,db2/d", 14, "host", "several hosts"},
		{"URL several hosts with ports", "postgres://db1:5432,db2:5433/d", 11, "host", "several hosts"},
		{"URL zone", "postgres://[fe80::1%25eth0]/d", 11, "host", "zone"},
		{"URL bad address", "postgres://256.1.1.1/d", 11, "host", "not an IPv4 address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.offset, pe.Offset, err.Error())
			assert.Equal(t, tt.key, pe.Key)
			assert.Contains(t, pe.Msg, tt.msg)
		})
	}
}

// TestServer_IPv6Literal: a bracketed IPv6 literal means the address
// inside, whatever form brings it and whatever form takes it.
func TestServer_IPv6Literal(t *testing.T) {
	const addr = "2001:db8::1"
	var conns []Conn
	for _, in := range []string{
		"Server=[2001:db8::1];Database=d;UID=u;Password=p;EncryptionMethod=1",
		"Server=2001:db8::1;Database=d;UID=u;Password=p;EncryptionMethod=1",
		"Host=[2001:db8::1];Database=d;Username=u;Password=p;SSL Mode=Require",
		"host=[2001:db8::1] dbname=d user=u password=p sslmode=require",
		"postgres://u:p@[2001:db8::1]/d?sslmode=require",
		"postgres://u:p@/d?host=[2001:db8::1]&sslmode=require",
	} {
		p, err := Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, addr, p.Conn.Server, in)
		conns = append(conns, p.Conn)
	}
	c, _, err := FromBasicAuth(BasicAuth{Server: "[2001:db8::1]", Database: "d", Username: "u", Password: "p", SSLMode: "Require"})
	require.NoError(t, err)
	assert.Equal(t, addr, c.Server)
	// A Conn built by hand keeps what it was given; every output takes the
	// address inside.
	conns = append(conns, Conn{Server: "[2001:db8::1]", Port: 5433, Database: "d", User: "u", Password: "p", Encryption: EncryptionSSL})
	for _, c := range conns {
		require.NoError(t, c.Validate())
		b, _ := c.BasicAuth(StyleOverview)
		assert.Equal(t, addr, b.Server)
		built, _ := Build(c)
		assert.Contains(t, built, "Server="+addr+";")
		dsn, _ := c.LibPQ()
		assert.Contains(t, dsn, "host="+addr+" ")
		u, _ := c.URL()
		assert.Contains(t, u, "@["+addr+"]")
		for _, s := range []string{dsn, u} {
			cfg, err := pgconn.ParseConfig(s)
			require.NoError(t, err, s)
			assert.Equal(t, addr, cfg.Host, s)
			assert.Equal(t, uint16(c.PortOrDefault()), cfg.Port, s)
			assert.Equal(t, "d", cfg.Database, s)
			assert.Equal(t, "p", cfg.Password, s)
		}
	}
}

func TestConn_ValidateServer(t *testing.T) {
	good := Conn{Database: "d", User: "u", Password: "p"}
	for _, server := range []string{"db.example.com", "203.0.113.7", "2001:db8::1", "[2001:db8::1]"} {
		c := good
		c.Server = server
		assert.NoError(t, c.Validate(), server)
	}
	for server, msg := range map[string]string{
		"db.example.com:5433": "put the port in Port= (Port=5433) and only the host in Server=",
		"[::1]:5433":          "put the port in Port= (Port=5433)",
		"db example.com":      "whitespace",
		"db1,db2":             "several hosts",
		"256.1.1.1":           "not an IPv4 address",
		"/var/run/postgresql": "Unix-socket",
	} {
		c := good
		c.Server = server
		err := c.Validate()
		var ve *ValidationError
		require.True(t, errors.As(err, &ve), server)
		require.Len(t, ve.Fields, 1)
		assert.Equal(t, "server", ve.Fields[0].Field)
		assert.Contains(t, ve.Fields[0].Message, msg)
	}
	_, _, err := FromBasicAuth(BasicAuth{Server: "db:5433"})
	var fe FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "server", fe.Field)
	assert.Contains(t, fe.Message, "put the port in port= (port=5433)")
}
