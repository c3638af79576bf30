package connstr

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"Server=db.example.com;Database=sales;Port=5432;UID=aep_reader;Password=s3cret!;EncryptionMethod=1;ValidateServerCertificate=1",
	"Server=h;Password={a;b}}c};HostNameInCertificate=#SERVERNAME#;Foo=bar;",
	";; Host = h ;User ID={ x };PWD=;ValidationServerCertificate=0;EncryptionMethod=6",
	"Server={unterminated",
	"=x",
	"Server",
	"host=h port=5432 dbname=d user=u password='p w' sslmode=verify-ca",
	"postgres://u:p%40@h:5433/d?sslmode=require&application_name=x",
	"Host=h;Username=u;Password=\"a;b\";SSL Mode=VerifyFull;Trust Server Certificate=false",
	"application_name={a b};x=y",
	"Server=h;Port=99999",
	"",
}

// FuzzParse: Parse never panics, and whatever it accepts builds back to a
// string that parses to an equal Conn.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "connstr: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		_ = p.Conn.String()
		_, _ = p.Conn.SSLMode()
		built, _ := Build(p.Conn)
		if built == "" {
			return // nothing the grammar carries
		}
		q, err := Parse(built)
		if err != nil {
			t.Fatalf("Parse(%q) = %#v; Build = %q fails to parse: %v", s, p.Conn, built, err)
		}
		if q.Format != FormatDataDirect {
			t.Fatalf("Build = %q reads as %s", built, q.Format)
		}
		want := p.Conn
		want.Extra = keptExtras(want.Extra)
		if !want.Equal(q.Conn) {
			t.Fatalf("round trip of %q via %q:\n got %#v\nwant %#v", s, built, q.Conn, want)
		}
	})
}

// keptExtras is what Build keeps of extras.
func keptExtras(extra []Property) []Property {
	var out []Property
	for i := range extra {
		if extraKeyOK(extra, i) {
			out = append(out, extra[i])
		}
	}
	return out
}

// FuzzRoundTrip: any Conn whose values the grammar can carry survives
// Build then Parse.
func FuzzRoundTrip(f *testing.F) {
	f.Add("db.example.com", uint16(5432), "sales", "aep_reader", "s3cret!", uint8(2), uint8(2), "#SERVERNAME#", "", "", "Foo", "bar")
	f.Add(" h ", uint16(0), "{d}", "u;x", "p=}", uint8(3), uint8(1), "", "/ca", "TLSv1.2", "", "")
	f.Add("", uint16(1), "", "", "}}", uint8(0), uint8(0), "x", "", "", "application_name", " v ")
	f.Fuzz(func(t *testing.T, server string, port uint16, db, user, pw string, enc, val uint8, hnic, ts, cpv, ek, ev string) {
		c := Conn{Server: server, Port: int(port), Database: db, User: user, Password: pw,
			Encryption: EncryptionMethod(enc % 4), ValidateServerCertificate: Tristate(val % 3),
			HostNameInCertificate: hnic, TrustStore: ts, CryptoProtocolVersion: cpv}
		if ek != "" {
			c.Extra = []Property{{Key: ek, Value: ev}}
		}
		for _, v := range []string{server, db, user, pw, hnic, ts, cpv, ek, ev} {
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
				t.Skip("not carried by the grammar")
			}
		}
		built, _ := Build(c)
		if len(built) > MaxInputSize {
			t.Skip()
		}
		c.Extra = keptExtras(c.Extra)
		if built == "" {
			return
		}
		p, err := Parse(built)
		if err != nil {
			t.Fatalf("Build(%#v) = %q: %v", c, built, err)
		}
		if p.Format != FormatDataDirect || !c.Equal(p.Conn) {
			t.Fatalf("Build = %q\n got %s %#v\nwant %#v", built, p.Format, p.Conn, c)
		}
		if p.Conn.Password != pw {
			t.Fatalf("password changed")
		}
	})
}

// FuzzDetect: the libpq and URL conversions read back through Parse
// (which detects their form) to the same connection.
func FuzzDetect(f *testing.F) {
	f.Add("db.example.com", uint16(5432), "sales", "u", "p w'\\", uint8(5))
	f.Add("::1", uint16(0), "d b", "o'neil", "@:/?#%", uint8(1))
	f.Fuzz(func(t *testing.T, server string, port uint16, db, user, pw string, mode uint8) {
		for _, v := range []string{server, db, user, pw} {
			if !utf8.ValidString(v) || strings.ContainsAny(v, "\x00,") {
				t.Skip()
			}
		}
		// Host names are what pgconn and URLs can carry.
		if server == "" || strings.ContainsAny(server, "/ \t\n\r\v\f'\\[]@?#%") || strings.HasPrefix(server, "{") {
			t.Skip()
		}
		c := Conn{Server: server, Port: int(port), Database: db, User: user, Password: pw}
		c.SetSSLMode(SSLMode(mode%6) + 1)
		if c.Encryption == EncryptionRequestSSL && c.ValidateServerCertificate == Unset {
			c.ValidateServerCertificate = False // allow reads back as prefer
		}
		for _, s := range []string{c.LibPQ(), c.URL()} {
			p, err := Parse(s)
			if err != nil {
				return // pgconn rejects some values (e.g. a port list); Parse must not panic
			}
			if p.Format != FormatLibPQ && p.Format != FormatURL {
				t.Fatalf("%q read as %s", s, p.Format)
			}
			want := c
			if want.Encryption == EncryptionRequestSSL && p.Conn.ValidateServerCertificate == Unset {
				want.ValidateServerCertificate = Unset
			}
			if !want.Equal(p.Conn) && strings.TrimSpace(db) == db && strings.TrimSpace(user) == user {
				t.Fatalf("%q:\n got %#v\nwant %#v", s, p.Conn, want)
			}
		}
	})
}
