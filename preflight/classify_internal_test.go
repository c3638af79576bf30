package preflight

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
)

func testRunner() *runner {
	return &runner{
		conn:  connstr.Conn{Server: "db.example.com", Database: "sales", User: "aep", Password: "Secr3t-sentinel"},
		host:  "db.example.com",
		port:  5432,
		libpq: "verify-full",
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestDialFailure_Classification(t *testing.T) {
	r := testRunner()
	op := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}
	}
	tests := []struct {
		name  string
		err   error
		kind  Kind
		field Field
	}{
		{"refused", op(syscall.ECONNREFUSED), KindRefused, FieldPort},
		{"unreachable", op(syscall.EHOSTUNREACH), KindUnreachable, FieldServer},
		{"net unreachable", op(syscall.ENETUNREACH), KindUnreachable, FieldServer},
		{"reset", op(syscall.ECONNRESET), KindReset, FieldServer},
		{"net.Error timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, KindTimeout, FieldServer},
		{"context deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), KindTimeout, FieldServer},
		{"errno timeout", op(syscall.ETIMEDOUT), KindTimeout, FieldServer},
		{"other", errors.New("something odd"), KindConnect, FieldServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := r.dialFailure(tt.err, "db.example.com:5432")
			require.Equal(t, StageTCP, f.stage)
			require.Equal(t, tt.kind, f.kind)
			require.Equal(t, tt.field, f.field)
			require.NotEmpty(t, f.remediation)
		})
	}
}

func TestTransportFailure_Classification(t *testing.T) {
	r := testRunner()
	for _, tt := range []struct {
		err  error
		kind Kind
	}{
		{io.EOF, KindReset},
		{io.ErrUnexpectedEOF, KindReset},
		{&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, KindReset},
		{context.DeadlineExceeded, KindTimeout},
		{errors.New("weird"), KindConnect},
	} {
		f := r.transportFailure(StageTLS, tt.err, "during the TLS handshake")
		require.Equal(t, tt.kind, f.kind, "%v", tt.err)
		require.Equal(t, StageTLS, f.stage)
	}
}

func TestServerFailure_SQLStates(t *testing.T) {
	r := testRunner()
	plain := func() *attempt { return &attempt{} }
	// scram is an attempt whose SCRAM exchange the server accepted.
	scram := func() *attempt { return &attempt{authMethod: AuthSCRAM, authOK: true} }
	overTLS := func() *attempt { return &attempt{tlsState: new(tlsStateT), handshakeEnd: time.Now()} }
	tests := []struct {
		name       string
		a          *attempt
		e          pgconn.PgError
		tlsOffered bool
		stage      Stage
		field      Field
		message    []string // each must appear in the message
		fix        string   // must appear in the remediation
		once       string   // must appear in the message exactly once
	}{
		{name: "wrong password or missing user", a: &attempt{authMethod: AuthSCRAM},
			e:     pgconn.PgError{Code: "28P01", Routine: routineMethod, Message: `password authentication failed for user "aep"`},
			stage: StageAuth, field: "", message: []string{"does not exist or the password is wrong", "28P01"}, fix: "check username and password", once: `"aep"`},
		{name: "role without LOGIN", a: scram(),
			e:     pgconn.PgError{Code: "28000", Routine: routineRole, Message: `role "aep" is not permitted to log in`},
			stage: StageAuth, field: FieldUsername, message: []string{"LOGIN attribute", "28000"}, fix: `ALTER ROLE "aep" LOGIN`, once: `"aep"`},
		{name: "role without LOGIN on plaintext, TLS on offer: not an sslmode problem", a: scram(),
			e:          pgconn.PgError{Code: "28000", Routine: routineRole, Message: `role "aep" is not permitted to log in`},
			tlsOffered: true, stage: StageAuth, field: FieldUsername, message: []string{"LOGIN attribute"}, fix: `ALTER ROLE "aep" LOGIN`},
		{name: "role without LOGIN, no routine: the wire tells", a: scram(),
			e:     pgconn.PgError{Code: "28000", Message: "(localised text)"},
			stage: StageAuth, field: FieldUsername, message: []string{"LOGIN attribute"}, fix: `ALTER ROLE "aep" LOGIN`},
		{name: "role refused after trust: missing or NOLOGIN, the server's text says which", a: &attempt{authMethod: AuthTrust, authOK: true},
			e:     pgconn.PgError{Code: "28000", Routine: routineRole, Message: `role "aep" does not exist`},
			stage: StageAuth, field: FieldUsername, message: []string{"after authentication", `role "aep" does not exist`}, fix: "check username; if the role exists, ALTER ROLE"},
		{name: "role refused after a password checked elsewhere (LDAP): it may not exist", a: &attempt{authMethod: AuthPassword, authOK: true},
			e:     pgconn.PgError{Code: "28000", Routine: routineRole, Message: `role "aep" does not exist`},
			stage: StageAuth, field: FieldUsername, message: []string{"after authentication", `role "aep" does not exist`}, fix: "check username; if the role exists, ALTER ROLE"},
		{name: "cleartext method failed (LDAP, PAM, RADIUS)", a: &attempt{authMethod: AuthPassword},
			e:     pgconn.PgError{Code: "28000", Routine: routineMethod, Message: `LDAP authentication failed for user "aep"`},
			stage: StageAuth, field: "", message: []string{"does not exist or the password is wrong", "LDAP"}, fix: "check username and password"},
		{name: "method other than a password failed", a: plain(),
			e:          pgconn.PgError{Code: "28000", Routine: routineMethod, Message: `certificate authentication failed for user "aep"`},
			tlsOffered: true, stage: StageAuth, field: FieldUsername, message: []string{"other than a password"}, fix: "scram-sha-256"},
		{name: "method failed, no routine: the wire tells", a: &attempt{authMethod: AuthGSS},
			e:     pgconn.PgError{Code: "28000", Message: "(localised text)"},
			stage: StageAuth, field: FieldUsername, message: []string{"other than a password"}, fix: "scram-sha-256"},
		{name: "hba no encryption by message", a: plain(),
			e:     pgconn.PgError{Code: "28000", Routine: routineHBA, Message: `no pg_hba.conf entry for host "1.2.3.4", user "aep", database "sales", no encryption`},
			stage: StageSSLMode, field: FieldSSLMode, message: []string{"unencrypted"}, fix: "sslMode with TLS"},
		{name: "hba reject plaintext, server offers TLS", a: plain(),
			e:          pgconn.PgError{Code: "28000", Message: `pg_hba.conf rejects connection (localised text)`},
			tlsOffered: true, stage: StageSSLMode, field: FieldSSLMode, message: []string{"unencrypted"}, fix: "sslMode with TLS"},
		{name: "hba no entry, no TLS on offer", a: plain(),
			e:     pgconn.PgError{Code: "28000", Routine: routineHBA, Message: `no pg_hba.conf entry for host "1.2.3.4"`},
			stage: StageAuth, field: FieldUsername, message: []string{"pg_hba.conf does not admit"}, fix: "pg_hba.conf line"},
		{name: "hba no entry over TLS", a: overTLS(),
			e:          pgconn.PgError{Code: "28000", Message: "no pg_hba.conf entry ..., no encryption"},
			tlsOffered: true, stage: StageAuth, field: FieldUsername, message: []string{"pg_hba.conf does not admit"}, fix: "pg_hba.conf line"},
		{name: "missing database", a: scram(),
			e:     pgconn.PgError{Code: "3D000", Routine: "InitPostgres", Message: `database "sales" does not exist`},
			stage: StageAuth, field: FieldDatabase, message: []string{"does not exist", "3D000"}, fix: "check database", once: `"sales"`},
		{name: "no connect privilege", a: scram(),
			e:     pgconn.PgError{Code: "42501", Message: `permission denied for database "sales"`},
			stage: StageAuth, field: FieldUsername, message: []string{"42501"}, fix: "GRANT CONNECT", once: `"sales"`},
		{name: "too many connections", a: plain(), e: pgconn.PgError{Code: "53300", Message: "sorry, too many clients already"},
			stage: StageAuth, field: FieldServer, message: []string{"53300"}, fix: "max_connections"},
		{name: "starting up", a: plain(), e: pgconn.PgError{Code: "57P03", Message: "the database system is starting up"},
			stage: StageAuth, field: FieldServer, message: []string{"57P03"}, fix: "retry"},
		{name: "other", a: plain(), e: pgconn.PgError{Code: "XX000", Message: "internal error"},
			stage: StageAuth, field: "", message: []string{"XX000", "internal error"}, fix: "SQLSTATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.e
			f := r.serverFailure(tt.a, &e, tt.tlsOffered)
			require.Equal(t, tt.stage, f.stage, f.message)
			require.Equal(t, tt.field, f.field, f.message)
			require.Equal(t, KindServer, f.kind)
			for _, m := range tt.message {
				require.Contains(t, f.message, m)
			}
			require.Contains(t, f.remediation, tt.fix)
			if tt.once != "" {
				require.Equal(t, 1, strings.Count(f.message, tt.once), "said once: %s", f.message)
			}
		})
	}
}

// TestTimeoutFixNamesTheLimit: a timeout's remediation says that the limit
// may be too short, naming the option (and carrying its code, for a caller
// that names it otherwise) and its value (TestFault_TimeoutEndsStage runs
// each stage into the limit).
func TestTimeoutFixNamesTheLimit(t *testing.T) {
	r := testRunner()
	r.opts.Timeout = 2 * time.Second
	lost := r.sessionLost(context.DeadlineExceeded, time.Second)
	for name, f := range map[string]*failure{
		"tcp":    r.dialFailure(&net.OpError{Op: "dial", Err: timeoutErr{}}, "db.example.com:5432"),
		"tls":    r.transportFailure(StageTLS, context.DeadlineExceeded, "during the TLS handshake"),
		"auth":   r.transportFailure(StageAuth, timeoutErr{}, "during startup and authentication"),
		"server": {remediation: lost.Remediation, option: lost.Option},
	} {
		require.Contains(t, f.remediation, "raise Options.Timeout (2s now)", name)
		require.Equal(t, OptionTimeout, f.option, name)
	}
	// A failure that is no timeout does not suggest a longer one.
	for _, f := range []*failure{
		r.dialFailure(&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "db.example.com:5432"),
		r.transportFailure(StageTLS, io.EOF, "during the TLS handshake"),
	} {
		require.NotContains(t, f.remediation, "Timeout")
		require.Empty(t, f.option)
	}
}

func TestDiagnose_Phases(t *testing.T) {
	r := testRunner()
	now := time.Now()
	tests := []struct {
		name  string
		a     *attempt
		stage Stage
		kind  Kind
	}{
		{"dial refused", &attempt{dialStart: now, dialEnd: now, dialErr: &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, StageTCP, KindRefused},
		{"ssl declined", &attempt{dialEnd: now, sslRequested: true, sslAnswered: true, sslResponse: 'N'}, StageTLS, KindTLSUnsupported},
		{"ssl odd answer", &attempt{dialEnd: now, sslRequested: true, sslAnswered: true, sslResponse: 'E'}, StageTLS, KindNotPostgres},
		{"ssl unanswered timeout", &attempt{dialEnd: now, sslRequested: true, err: context.DeadlineExceeded}, StageTLS, KindTimeout},
		{"handshake reset", &attempt{dialEnd: now, sslRequested: true, sslAnswered: true, sslResponse: 'S', handshakeEnd: now, handshakeErr: io.EOF}, StageTLS, KindReset},
		{"cert rejected", &attempt{dialEnd: now, sslRequested: true, sslAnswered: true, sslResponse: 'S', handshakeEnd: now, handshakeErr: errPinMismatch, certRejected: errPinMismatch}, StageCertificate, KindCertificate},
		{"startup pg error", &attempt{dialEnd: now, startupSent: true, pgErr: &pgconn.PgError{Code: "28P01"}}, StageAuth, KindServer},
		{"startup timeout", &attempt{dialEnd: now, startupSent: true, err: context.DeadlineExceeded}, StageAuth, KindTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &connResult{attempts: []*attempt{tt.a}, err: errors.New("failed")}
			f := r.diagnose(c, false)
			require.NotNil(t, f)
			require.Equal(t, tt.stage, f.stage)
			require.Equal(t, tt.kind, f.kind)
		})
	}
	require.Nil(t, r.diagnose(&connResult{}, false))
}

// backendMsg frames one backend message.
func backendMsg(typ byte, body []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)+4))
	return append(b, body...)
}

func authReq(code uint32, extra ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, code)
	return backendMsg('R', append(b, extra...))
}

func TestMsgParser_AuthMethods(t *testing.T) {
	ready := backendMsg('Z', []byte{'I'})
	param := backendMsg('S', []byte("server_version\x0017.2\x00"))
	tests := []struct {
		name   string
		stream []byte
		method string
		mechs  []string
	}{
		{"scram", concat(authReq(10, []byte("SCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00")...), authReq(11, []byte("r=abc")...), authReq(12, []byte("v=xyz")...), authReq(0), param, ready), AuthSCRAM, []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}},
		{"md5", concat(authReq(5, 1, 2, 3, 4), authReq(0), param, ready), AuthMD5, nil},
		{"cleartext", concat(authReq(3), authReq(0), ready), AuthPassword, nil},
		{"trust", concat(authReq(0), param, ready), AuthTrust, nil},
		{"oauth only", concat(authReq(10, []byte("OAUTHBEARER\x00\x00")...)), AuthSASL, []string{"OAUTHBEARER"}},
		{"gss", concat(authReq(7)), AuthGSS, nil},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 7, 1 << 20} {
			t.Run(fmt.Sprintf("%s/chunk%d", tt.name, chunk), func(t *testing.T) {
				a := &attempt{}
				var p msgParser
				done := false
				for s := tt.stream; len(s) > 0; {
					n := min(chunk, len(s))
					done = p.feed(s[:n], a)
					s = s[n:]
				}
				require.Equal(t, tt.method, a.authMethod)
				require.Equal(t, tt.mechs, a.saslMechs)
				require.Equal(t, tt.method != AuthSASL && tt.method != AuthGSS, done)
				require.Equal(t, done, a.ready)
			})
		}
	}
}

func TestMsgParser_ErrorResponse(t *testing.T) {
	a := &attempt{}
	var p msgParser
	p.feed(concat(authReq(10, []byte("SCRAM-SHA-256\x00\x00")...), backendMsg('E', []byte("SFATAL\x00C28P01\x00\x00"))), a)
	require.True(t, a.serverError)
	require.Equal(t, AuthSCRAM, a.authMethod)
	require.False(t, a.ready)
}

func concat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestClassifyAddress(t *testing.T) {
	tests := map[string]AddressClass{
		"8.8.8.8":          AddressPublic,
		"2606:4700::1111":  AddressPublic,
		"10.0.0.1":         AddressPrivate,
		"172.16.5.4":       AddressPrivate,
		"192.168.1.1":      AddressPrivate,
		"fd00::1":          AddressPrivate,
		"127.0.0.1":        AddressLoopback,
		"127.8.9.10":       AddressLoopback,
		"::1":              AddressLoopback,
		"::ffff:127.0.0.1": AddressLoopback,
		"169.254.169.254":  AddressLinkLocal,
		"fe80::1":          AddressLinkLocal,
		"100.64.0.1":       AddressCGNAT,
		"100.127.255.254":  AddressCGNAT,
		"100.128.0.1":      AddressPublic,
		"0.0.0.0":          AddressUnspecified,
		"::":               AddressUnspecified,
		"239.1.2.3":        AddressReserved,
		"192.0.2.10":       AddressReserved,
		"2001:db8::1":      AddressReserved,
		"240.0.0.1":        AddressReserved,
	}
	for ip, want := range tests {
		require.Equal(t, want, ClassifyAddress(netip.MustParseAddr(ip)), ip)
	}
}

func TestEndOfLife(t *testing.T) {
	r := testRunner()
	r.opts.Now = func() time.Time { return date(2026, 11, 29) }
	row := func(num int) queryResult {
		return queryResult{rows: [][][]byte{{
			[]byte(fmt.Sprint(num)), []byte(fmt.Sprintf("%d.%d", num/10000, num%100)), []byte("f"), []byte("f"),
			[]byte("100"), []byte("3"), []byte("1"), []byte("UTF8"), []byte("sales"), []byte("aep"), []byte("f"), []byte("t"),
		}}}
	}
	tests := []struct {
		num    int
		status Status
		past   bool
		eol    string
	}{
		{110022, Warn, true, ""},
		{120020, Warn, true, "2024-11-21"},
		{130018, Warn, true, "2025-11-13"},
		{140015, Warn, true, "2026-11-12"}, // 17 days before "now"
		{150010, Pass, false, "2027-11-11"},
		{170002, Pass, false, "2029-11-08"},
		{180001, Pass, false, "2030-11-14"},
		{190000, Pass, false, ""},
	}
	for _, tt := range tests {
		res := r.serverStage(row(tt.num), 0)
		d := res.Details.(*ServerDetails)
		require.Equal(t, tt.status, res.Status, "%d: %s", tt.num, res.Message)
		require.Equal(t, tt.past, d.PastEndOfLife, tt.num)
		require.Equal(t, tt.eol, d.EndOfLife, tt.num)
		require.Equal(t, 96, d.Headroom)
	}
	eol, ok := EndOfLife(16)
	require.True(t, ok)
	require.Equal(t, date(2028, 11, 9), eol)
	_, ok = EndOfLife(9)
	require.False(t, ok)
}

func TestRecommend(t *testing.T) {
	audit := []AuditResult{
		{SSLMode: connstr.SSLDisable, OK: true},
		{SSLMode: connstr.SSLAllow, OK: true},
		{SSLMode: connstr.SSLPrefer, OK: true, TLS: true},
		{SSLMode: connstr.SSLRequire, OK: true, TLS: true},
		{SSLMode: connstr.SSLVerifyCA, OK: false, Error: "unknown CA"},
		{SSLMode: connstr.SSLVerifyFull, OK: false, Error: "unknown CA"},
	}
	m, why := recommend(audit)
	require.Equal(t, connstr.SSLRequire, m)
	require.Contains(t, why, "verify-ca fails: unknown CA")

	// Prefer in plaintext is no better than Disable.
	audit[2].TLS, audit[3].OK = false, false
	audit[3].Error = "no TLS"
	m, why = recommend(audit)
	require.Equal(t, connstr.SSLDisable, m)
	// Prefer's row passed: it is no failure, only no better than Disable.
	require.Contains(t, why, "prefer connects only in plaintext")
	require.NotContains(t, why, "prefer fails")
	require.NotContains(t, why, "allow fails")
	require.Contains(t, why, "require fails: no TLS")

	m, why = recommend([]AuditResult{{SSLMode: connstr.SSLDisable}})
	require.Equal(t, connstr.SSLModeUnset, m)
	require.NotEmpty(t, why)
}

type tlsStateT = tls.ConnectionState

// TestPrivilegesStage_RequestedTables: a requested table that does not exist
// blames the table; one the user may not read blames the user name. The
// first problem in the order asked for decides the field; every problem
// gets its fix.
func TestPrivilegesStage_RequestedTables(t *testing.T) {
	nothingReadable := queryResult{rows: [][][]byte{{[]byte("c"), []byte("3"), []byte("0"), nil}}}
	r := testRunner()
	catalog := queryResult{rows: [][][]byte{
		{[]byte("c"), []byte("3"), []byte("1"), nil},
		{[]byte("t"), []byte("public"), []byte("orders"), nil},
	}}
	tf := func(b bool) []byte {
		if b {
			return []byte("t")
		}
		return []byte("f")
	}
	row := func(schema, name string, exists, usage, sel bool) [][]byte {
		return [][]byte{[]byte(schema), []byte(name), tf(exists), tf(usage), tf(sel)}
	}
	var (
		readable = row("public", "orders", true, true, true)
		missing  = row("public", "nope", false, false, false)
		noSchema = row("nosuch", "orders", false, false, false)
		noSelect = row("public", "customers", true, true, false)
		noUsage  = row("sales", "regions", true, false, true)
	)
	const nameFix, grantFix = "check the table name", "GRANT SELECT"
	tests := []struct {
		name    string
		rows    [][][]byte
		status  Status
		field   Field
		message []string
		fixes   []string
		notFix  string
		// noneReadable runs the case for a user who can read no table.
		noneReadable bool
	}{
		{name: "readable", rows: [][][]byte{readable}, status: Pass, message: []string{"can read 1 of 3"}},
		{name: "missing table blames the table", rows: [][][]byte{readable, missing}, status: Fail, field: FieldTable,
			message: []string{"public.nope does not exist"}, fixes: []string{nameFix}, notFix: "GRANT"},
		{name: "missing schema blames the table", rows: [][][]byte{noSchema}, status: Fail, field: FieldTable,
			message: []string{"nosuch.orders does not exist"}, fixes: []string{nameFix}, notFix: "GRANT"},
		{name: "no SELECT blames the user", rows: [][][]byte{noSelect}, status: Fail, field: FieldUsername,
			message: []string{"public.customers: no SELECT"}, fixes: []string{grantFix}, notFix: nameFix},
		{name: "no USAGE blames the user", rows: [][][]byte{noUsage}, status: Fail, field: FieldUsername,
			message: []string{"sales.regions: no USAGE"}, fixes: []string{"GRANT USAGE"}, notFix: nameFix},
		{name: "missing first", rows: [][][]byte{missing, noSelect}, status: Fail, field: FieldTable,
			message: []string{"public.nope does not exist", "public.customers: no SELECT"}, fixes: []string{nameFix, grantFix}},
		{name: "unreadable first", rows: [][][]byte{noSelect, missing}, status: Fail, field: FieldUsername,
			message: []string{"public.nope does not exist", "public.customers: no SELECT"}, fixes: []string{nameFix, grantFix}},
		{name: "missing, and nothing readable", rows: [][][]byte{missing}, noneReadable: true, status: Fail, field: FieldTable,
			message: []string{"public.nope does not exist", "can read no table"}, fixes: []string{nameFix, grantFix}},
		{name: "nothing readable", rows: [][][]byte{noSelect}, noneReadable: true, status: Fail, field: FieldUsername,
			message: []string{"can read no table"}, fixes: []string{grantFix}, notFix: nameFix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.privilegesStage(queryResult{}, map[bool]queryResult{false: catalog, true: nothingReadable}[tt.noneReadable], &queryResult{rows: tt.rows}, 0)
			require.Equal(t, tt.status, res.Status, res.Message)
			require.Equal(t, tt.field, res.Field)
			for _, m := range tt.message {
				require.Contains(t, res.Message, m)
			}
			for _, f := range tt.fixes {
				require.Contains(t, res.Remediation, f)
			}
			if tt.notFix != "" {
				require.NotContains(t, res.Remediation, tt.notFix)
			}
			require.Len(t, res.Details.(*PrivilegesDetails).Tables, len(tt.rows))
		})
	}
}

func TestValidTable(t *testing.T) {
	for name, want := range map[string]bool{
		"orders": true, "public.orders": true, "sales.regions": true, "Sales.Mixed Case": true,
		"a.b.c": true, // schema a, table "b.c": the catalog may hold such a name

		"": false, ".": false, "sales.": false, ".orders": false,
	} {
		require.Equal(t, want, ValidTable(name), "%q", name)
	}
}

// TestExpiresIn: a certificate's last day is told in hours, never as "0
// days", which reads as expired.
func TestExpiresIn(t *testing.T) {
	for left, want := range map[time.Duration]string{
		400 * 24 * time.Hour:          "400 days",
		47 * time.Hour:                "1 day",
		24 * time.Hour:                "1 day",
		23*time.Hour + 59*time.Minute: "23 hours",
		90 * time.Minute:              "1 hour",
		10 * time.Minute:              "less than an hour",
	} {
		require.Equal(t, want, expiresIn(left), left.String())
	}
}
