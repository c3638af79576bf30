package connstr

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
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

// FuzzBuild: any Conn whose values the grammar can carry survives Build
// then Parse; a Conn whose server Parse rejects fails with that error.
func FuzzBuild(f *testing.F) {
	f.Add("db.example.com", uint16(5432), "sales", "aep_reader", "s3cret!", uint8(2), uint8(2), "#SERVERNAME#", "", "", "Foo", "bar")
	f.Add(" h ", uint16(0), "{d}", "u;x", "p=}", uint8(3), uint8(1), "", "/ca", "TLSv1.2", "", "")
	f.Add("", uint16(1), "", "", "}}", uint8(0), uint8(0), "x", "", "", "application_name", " v ")
	f.Add("[::1]", uint16(1), "d", "", "", uint8(0), uint8(0), "", "", "", "", "")
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
		host, bad := checkServer(server)
		if bad != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Key != "Server" {
				t.Fatalf("Build = %q with a bad server: got %v, want a Server error", built, err)
			}
			return
		}
		if err != nil {
			if c.fieldsEmpty() {
				return // only extras: nothing to connect to
			}
			t.Fatalf("Build(%#v) = %q: %v", c, built, err)
		}
		c.Server = host
		if p.Format != FormatDataDirect || !c.Equal(p.Conn) {
			t.Fatalf("Build = %q\n got %s %#v\nwant %#v", built, p.Format, p.Conn, c)
		}
		if p.Conn.Password != pw {
			t.Fatalf("password changed")
		}
	})
}

// FuzzRoundTrip: whatever Parse accepts converts to every output form and
// reads back as the same connection; see checkRoundTrip.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, s := range roundTripSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		checkRoundTrip(t, s, p.Conn)
	})
}

// roundTripSeeds are inputs that each stress one conversion.
var roundTripSeeds = []string{
	"Server=[2001:db8::1];Database=d;UID=u;Password=p;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#",
	"host=::1 port=6000 dbname=d user=u password='a b' sslmode=require connect_timeout=10 channel_binding=require target_session_attrs=read-write keepalives=1 gssencmode=disable sslcompression=0 application_name=etl",
	"host=db.example.com sslrootcert=system dbname=d",
	"postgres://u:p%23@[::1]:5433/d%20b?sslmode=verify-full&sslrootcert=system&application_name=x%26y",
	"Server=h;Database=d;search_path=x;sslmode=require;sslcert=/c;connect_timeout=abc;application_name=a",
	"Host=h;Username=u;Password=\"p;w\";SSL Mode=Require;Pooling=false;Application Name=x",
	"Server=h;TrustStore=/ca;CryptoProtocolVersion=TLSv1.3;EncryptionMethod=1;Password={ p }",
	"host=h min_protocol_version=3.2 max_protocol_version=latest sslnegotiation=direct sslmode=require",
}

// checkRoundTrip converts c, as Parse read it from in, to every output form
// and parses it back. "The same connection" means: the same server,
// database, user and password; the same port (an absent one is written as
// the default where a form must write one); the same sslMode after the
// mapping (Conn.SSLMode; the tutorial vocabulary sends Require as Verify
// Ca); and the same extras, in order, where the form carries them. Every
// extra a form leaves out is a warning naming it.
func checkRoundTrip(t *testing.T, in string, c Conn) {
	t.Helper()
	mode, _ := c.SSLMode()

	// DataDirect: everything but the extras Build cannot write.
	built, warns := Build(c)
	q, err := Parse(built)
	if err != nil {
		t.Fatalf("%q: Build = %q does not parse: %v", in, built, err)
	}
	want := c
	want.Extra = keptExtras(c.Extra)
	if q.Format != FormatDataDirect || !want.Equal(q.Conn) {
		t.Fatalf("%q: Build = %q reads back as %s %#v, want %#v", in, built, q.Format, q.Conn, want)
	}
	requireDropWarnings(t, in, "Build", c.Extra, want.Extra, warns)

	// Basic authentication, in both vocabularies.
	for _, style := range []SSLModeStyle{StyleTutorial, StyleOverview} {
		b, warns := c.BasicAuth(style)
		d, _, err := FromBasicAuth(b)
		if err != nil {
			t.Fatalf("%q: BasicAuth = %v: FromBasicAuth: %v", in, b, err)
		}
		wantMode := mode
		if style == StyleTutorial && mode == SSLRequire {
			wantMode = SSLVerifyCA
		}
		if dm, _ := d.SSLMode(); !sameMain(c, d, true) || dm != wantMode {
			t.Fatalf("%q: BasicAuth(%s) = %v reads back as %#v (%s), want %#v (%s)", in, style, b, d, dm, c, wantMode)
		}
		requireDropWarnings(t, in, "BasicAuth", c.Extra, nil, warns)
	}

	// libpq and URL: the main fields, the sslmode and the carried extras;
	// pgconn reads the output too.
	for _, form := range []Format{FormatLibPQ, FormatURL} {
		var s string
		if form == FormatLibPQ {
			s, warns = c.LibPQ()
		} else {
			s, warns = c.URL()
		}
		if _, err := pgconn.ParseConfig(probe + s); form == FormatLibPQ && err != nil {
			t.Fatalf("%q: LibPQ = %q: pgconn: %v", in, s, err)
		}
		q, err := Parse(s)
		if err != nil {
			t.Fatalf("%q: %s form %q does not parse: %v", in, form, s, err)
		}
		qm, _ := q.Conn.SSLMode()
		if q.Format != form || !sameMain(c, q.Conn, false) || qm != mode {
			t.Fatalf("%q: %s form %q reads back as %s %#v (%s), want %#v (%s)", in, form, s, q.Format, q.Conn, qm, c, mode)
		}
		carried := carriedExtras(c.Extra, warns)
		if !extrasEqual(carried, q.Conn.Extra) {
			t.Fatalf("%q: %s form %q carries extras %v, reads back %v", in, form, s, carried, q.Conn.Extra)
		}
	}
}

// sameMain compares the fields every form carries; defaultPort says the
// form writes an absent port as DefaultPort.
func sameMain(c, d Conn, defaultPort bool) bool {
	port := c.Port == d.Port
	if defaultPort {
		port = c.PortOrDefault() == d.PortOrDefault()
	}
	return port && c.Server == d.Server && c.Database == d.Database && c.User == d.User && c.Password == d.Password
}

// carriedExtras are the extras no discarded warning names.
func carriedExtras(extra []Property, warns []Warning) []Property {
	var out []Property
	for _, e := range extra {
		if !warnedDiscarded(e.Key, warns) {
			out = append(out, e)
		}
	}
	return out
}

func warnedDiscarded(key string, warns []Warning) bool {
	for _, w := range warns {
		if w.Code == WarnDiscarded && w.Field == key {
			return true
		}
	}
	return false
}

func extrasEqual(a, b []Property) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value {
			return false
		}
	}
	return true
}

// requireDropWarnings: every extra of all that is not in kept is named by
// a discarded warning.
func requireDropWarnings(t *testing.T, in, form string, all, kept []Property, warns []Warning) {
	t.Helper()
	for _, e := range all {
		found := false
		for _, k := range kept {
			found = found || k.Key == e.Key && k.Value == e.Value
		}
		if !found && !warnedDiscarded(e.Key, warns) {
			t.Fatalf("%q: %s drops %q in silence", in, form, e.Key)
		}
	}
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
		dsn, _ := c.LibPQ()
		u, _ := c.URL()
		for _, s := range []string{dsn, u} {
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
