package preflight_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/preflight"
)

// These tests need no Docker: a tiny fake server speaks just enough of the
// protocol (the one-byte answer to SSLRequest), and faultproxy injects the
// faults. Only loopback addresses are used.

// fakeServer answers every SSLRequest with answer, then holds the
// connection open, reading, until the test ends.
func fakeServer(t *testing.T, answer byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var req [8]byte
				if _, err := io.ReadFull(c, req[:]); err != nil {
					return
				}
				if req[4] == 0x04 && req[5] == 0xd2 { // SSLRequest
					if _, err := c.Write([]byte{answer}); err != nil {
						return
					}
				}
				_, _ = io.Copy(io.Discard, c) // never answer the startup
			}()
		}
	}()
	return ln.Addr().String()
}

func connTo(t *testing.T, addr string, m connstr.SSLMode) connstr.Conn {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	c := connstr.Conn{Server: host, Port: p, Database: "db", User: "u", Password: "fault-Pa55word-sentinel"}
	c.SetSSLMode(m)
	return c
}

// timed runs a check and asserts it ended within a generous multiple of its
// timeout: a bound against hangs, not a speed measurement.
func timed(t *testing.T, c connstr.Conn, opts preflight.Options) *preflight.Report {
	t.Helper()
	start := time.Now()
	rep := runCheck(t, c, opts)
	if opts.Timeout > 0 {
		require.Less(t, time.Since(start), opts.Timeout+5*time.Second, "the check outlived its timeout")
	}
	return rep
}

func TestFault_ClosedPort(t *testing.T) {
	t.Parallel()
	addr, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	rep := timed(t, connTo(t, addr, connstr.SSLVerifyFull), preflight.Options{Timeout: 3 * time.Second})
	requireFailAt(t, rep, preflight.StageTCP, preflight.FieldPort)
	require.Contains(t, rep.Check(preflight.StageTCP).Message, "refused")
}

func TestFault_BlackHole(t *testing.T) {
	t.Parallel()
	p, err := faultproxy.New(fakeServer(t, 'S'), faultproxy.Options{BlackHole: true})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	rep := timed(t, connTo(t, p.Addr, connstr.SSLRequire), preflight.Options{Timeout: 500 * time.Millisecond})
	requireFailAt(t, rep, preflight.StageTLS, preflight.FieldServer)
	require.Contains(t, rep.Check(preflight.StageTLS).Message, "time limit")
}

// stallDialer is a dialer whose connects never complete: each waits for
// its context to end, as a SYN that a firewall drops. It sends nothing.
type stallDialer struct{}

func (stallDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
}

// TestFault_TimeoutEndsStage runs into the time limit at each stage that
// waits on the network: the stage fails as a timeout whose fix names
// Options.Timeout, and the time it waited shows in its duration and in the
// waterfall's phase, not only in the total.
func TestFault_TimeoutEndsStage(t *testing.T) {
	t.Parallel()
	const limit = 400 * time.Millisecond
	blackHole := func(t *testing.T) string {
		p, err := faultproxy.New(fakeServer(t, 'S'), faultproxy.Options{BlackHole: true})
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		return p.Addr
	}
	tests := []struct {
		name  string
		conn  func(t *testing.T) connstr.Conn
		opts  preflight.Options
		stage preflight.Stage
		phase func(preflight.Timings) time.Duration
	}{
		{"dns: the resolver never answers", func(t *testing.T) connstr.Conn {
			c := connTo(t, "127.0.0.1:5432", connstr.SSLRequire)
			c.Server = "db.example.com"
			return c
		}, preflight.Options{Resolver: netguard.Stall{}}, preflight.StageDNS, func(t preflight.Timings) time.Duration { return t.DNS }},
		{"tcp: the SYN is dropped", func(t *testing.T) connstr.Conn { return connTo(t, "127.0.0.1:5432", connstr.SSLRequire) },
			preflight.Options{Dialer: stallDialer{}}, preflight.StageTCP, func(t preflight.Timings) time.Duration { return t.TCP }},
		{"tls: the SSLRequest goes unanswered", func(t *testing.T) connstr.Conn { return connTo(t, blackHole(t), connstr.SSLRequire) },
			preflight.Options{}, preflight.StageTLS, func(t preflight.Timings) time.Duration { return t.TLS }},
		// Prefer's plaintext fallback is begun after the time is up: it is
		// no finding, and the TLS leg that used the time is the one reported.
		{"tls under prefer: the fallback after the limit tells nothing", func(t *testing.T) connstr.Conn { return connTo(t, blackHole(t), connstr.SSLPrefer) },
			preflight.Options{}, preflight.StageTLS, func(t preflight.Timings) time.Duration { return t.TLS }},
		{"auth: the startup goes unanswered", func(t *testing.T) connstr.Conn { return connTo(t, fakeServer(t, 'N'), connstr.SSLDisable) },
			preflight.Options{}, preflight.StageAuth, func(t preflight.Timings) time.Duration { return t.Auth }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := tt.opts
			opts.Timeout = limit
			rep := timed(t, tt.conn(t), opts)
			res := rep.Check(tt.stage)
			require.Equal(t, preflight.Fail, res.Status, res.Message)
			require.Equal(t, preflight.KindTimeout, res.Kind, res.Message)
			require.Contains(t, res.Remediation, "raise Options.Timeout (400ms now)")
			require.Equal(t, preflight.OptionTimeout, res.Option)
			for _, c := range rep.Checks {
				if c.Status == preflight.Fail {
					require.Equal(t, tt.stage, c.ID, "the first failure is the stage that waited")
					break
				}
			}
			// The phase waited for most of the limit (a bound against a
			// zero, not a speed measurement).
			require.Greater(t, tt.phase(rep.Timings), limit/2, "%+v", rep.Timings)
			if tt.stage != preflight.StageDNS {
				require.Greater(t, res.Duration, limit/2)
			}
			if tt.stage != preflight.StageTCP && tt.stage != preflight.StageDNS {
				require.NotContains(t, res.Message, "packets are dropped", "TCP connected")
				// The audit's rows tell the same story: every attempt
				// connected over TCP, so none blames dropped packets.
				opts.Audit = true
				audited := timed(t, tt.conn(t), opts)
				require.Len(t, audited.Audit, 6)
				for _, a := range audited.Audit {
					require.NotContains(t, a.Error, "packets are dropped", "%s: TCP connected", a.SSLMode.LibPQ())
				}
			}
		})
	}
}

func TestFault_ResetDuringTLSHandshake(t *testing.T) {
	t.Parallel()
	// 8 bytes of SSLRequest pass; the ClientHello that follows trips the reset.
	p, err := faultproxy.New(fakeServer(t, 'S'), faultproxy.Options{ResetAfterClientBytes: 8})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	rep := timed(t, connTo(t, p.Addr, connstr.SSLVerifyFull), preflight.Options{Timeout: 3 * time.Second})
	requireFailAt(t, rep, preflight.StageTLS, preflight.FieldServer)
	require.Contains(t, rep.Check(preflight.StageTLS).Message, "reset")
	require.True(t, *rep.Check(preflight.StageTLS).Details.(*preflight.TLSDetails).ServerOffersTLS)
}

// TestFault_PreferFallbackGivesItsReason: Prefer's TLS leg dies on I/O (a
// reset after the SSLRequest), so it falls back to plaintext, which fails
// too. The sslmode stage says why it fell back, though pgconn kept no error
// of the leg a fallback replaced.
func TestFault_PreferFallbackGivesItsReason(t *testing.T) {
	t.Parallel()
	p, err := faultproxy.New(fakeServer(t, 'S'), faultproxy.Options{ResetAfterClientBytes: 8})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	rep := timed(t, connTo(t, p.Addr, connstr.SSLPrefer), preflight.Options{Timeout: 3 * time.Second})
	requireFailAt(t, rep, preflight.StageAuth, preflight.FieldServer)
	sm := requireStatus(t, rep, preflight.StageSSLMode, preflight.Warn)
	d := sm.Details.(*preflight.SSLModeDetails)
	require.True(t, d.Fallback)
	require.Equal(t, "the connection was closed or reset during the TLS handshake", d.FallbackReason)
	require.Equal(t, "sslMode Prefer fell back to plaintext: "+d.FallbackReason, sm.Message)
}

func TestFault_ServerSlowerThanTimeout(t *testing.T) {
	t.Parallel()
	// The server accepts plaintext startup but never answers it.
	addr := fakeServer(t, 'N')
	rep := timed(t, connTo(t, addr, connstr.SSLDisable), preflight.Options{Timeout: 700 * time.Millisecond})
	requireFailAt(t, rep, preflight.StageAuth, preflight.FieldServer)
	require.Contains(t, rep.Check(preflight.StageAuth).Message, "time limit")
	// The TLS probe saw the server decline TLS.
	tlsRes := requireStatus(t, rep, preflight.StageTLS, preflight.Warn)
	require.False(t, *tlsRes.Details.(*preflight.TLSDetails).ServerOffersTLS)
}

func TestFault_LatencyIsAddedEachWay(t *testing.T) {
	t.Parallel()
	const lat = 50 * time.Millisecond
	p, err := faultproxy.New(fakeServer(t, 'N'), faultproxy.Options{Latency: lat})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	c, err := net.Dial("tcp", p.Addr)
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	_, err = c.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})
	require.NoError(t, err)
	var b [1]byte
	_, err = io.ReadFull(c, b[:])
	require.NoError(t, err)
	require.Equal(t, byte('N'), b[0])
	require.GreaterOrEqual(t, time.Since(start), 2*lat)
}

func TestFault_DNS(t *testing.T) {
	t.Parallel()
	addr := fakeServer(t, 'N')
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	res := netguard.Hosts{
		"db.example.com":   {netip.MustParseAddr("127.0.0.1")},
		"v6only.example":   {netip.MustParseAddr("::1")},
		"private.example":  {netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("100.64.0.9")},
		"loopback.example": {netip.MustParseAddr("127.0.0.1")},
	}
	conn := func(host string) connstr.Conn {
		return connstr.Conn{Server: host, Port: p, Database: "db", User: "u", Password: "pw-sentinel-123"}
	}

	t.Run("NXDOMAIN", func(t *testing.T) {
		rep := runCheck(t, conn("nope.example"), preflight.Options{Resolver: res, Timeout: time.Second})
		requireFailAt(t, rep, preflight.StageDNS, preflight.FieldServer)
		require.Equal(t, preflight.Skip, rep.Check(preflight.StageAddress).Status)
		require.Contains(t, rep.Check(preflight.StageDNS).Message, "does not exist")
	})
	t.Run("IPv6Only", func(t *testing.T) {
		rep := runCheck(t, conn("v6only.example"), preflight.Options{Resolver: res, Timeout: time.Second})
		d := requireStatus(t, rep, preflight.StageDNS, preflight.Warn)
		require.Equal(t, []string{"::1"}, d.Details.(*preflight.DNSDetails).AAAA)
		require.Contains(t, d.Message, "only to IPv6")
	})
	t.Run("PrivateAddressesWarn", func(t *testing.T) {
		// The addresses are not ours: the refuser stands in for them, and
		// the pre-flight must have dialed through it alone.
		refuser := &netguard.Refuser{}
		rep := runCheck(t, conn("private.example"), preflight.Options{Resolver: res, Dialer: refuser, Timeout: time.Second})
		a := requireStatus(t, rep, preflight.StageAddress, preflight.Warn)
		ad := a.Details.(*preflight.AddressDetails)
		require.False(t, ad.ReachableFromAEP)
		require.Equal(t, []preflight.AddressInfo{{IP: "10.1.2.3", Class: preflight.AddressPrivate}, {IP: "100.64.0.9", Class: preflight.AddressCGNAT}}, ad.Addresses)
		require.Contains(t, a.Message, "AEP cannot reach this from Adobe's network")
		requireDialedOnlyThrough(t, rep, refuser, "10.1.2.3:"+port, "100.64.0.9:"+port)
	})
	t.Run("MixedAddressesWarnButReachable", func(t *testing.T) {
		mixed := netguard.Hosts{"mixed.example": {netip.MustParseAddr("203.0.114.7"), netip.MustParseAddr("10.0.0.7")}}
		refuser := &netguard.Refuser{}
		rep := runCheck(t, conn("mixed.example"), preflight.Options{Resolver: mixed, Dialer: refuser, Timeout: time.Second})
		a := requireStatus(t, rep, preflight.StageAddress, preflight.Warn)
		require.True(t, a.Details.(*preflight.AddressDetails).ReachableFromAEP)
		require.Contains(t, a.Message, "some addresses are not public")
		requireFailAt(t, rep, preflight.StageTCP, preflight.FieldPort)
		require.Len(t, rep.Check(preflight.StageTCP).Details.(*preflight.TCPDetails).Attempts, 2)
		requireDialedOnlyThrough(t, rep, refuser, "203.0.114.7:"+port, "10.0.0.7:"+port)
	})
	t.Run("AllowPrivateAddress", func(t *testing.T) {
		rep := runCheck(t, conn("loopback.example"), preflight.Options{Resolver: res, PrivateAddress: preflight.PolicyAccept, Timeout: 300 * time.Millisecond})
		a := requireStatus(t, rep, preflight.StageAddress, preflight.Pass)
		require.True(t, a.Details.(*preflight.AddressDetails).Allowed)
		require.False(t, a.Details.(*preflight.AddressDetails).ReachableFromAEP)
	})
}

// TestGuard_FailsTheTest shows the default guard of the helpers at work,
// on a fake testing.TB so that the failure can be watched: with no fakes of
// the test's own, a dial to a private address and a lookup through the
// system's resolver each fail the test, naming the address or the name, and
// nothing is sent.
func TestGuard_FailsTheTest(t *testing.T) {
	t.Parallel()
	run := func(tb testing.TB, host string, opts preflight.Options) *preflight.Report {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := connstr.Conn{Server: host, Port: 5432, Database: "db", User: "u", Password: "pw-sentinel-124"}
		return preflight.Run(ctx, c, guarded(tb, opts))
	}
	t.Run("DialToPrivateAddress", func(t *testing.T) {
		tb := &netguard.Recorder{TB: t}
		res := netguard.Hosts{"private.example": {netip.MustParseAddr("10.1.2.3")}}
		rep := run(tb, "private.example", preflight.Options{Resolver: res, Timeout: time.Second})
		requireStatus(t, rep, preflight.StageTCP, preflight.Fail)
		fails := tb.Failures()
		require.NotEmpty(t, fails, "the guard did not fail the test")
		for _, f := range fails {
			require.Contains(t, f, "10.1.2.3:5432")
		}
	})
	t.Run("LookupThroughSystemResolver", func(t *testing.T) {
		tb := &netguard.Recorder{TB: t}
		rep := run(tb, "db.example.com", preflight.Options{Timeout: time.Second})
		requireFailAt(t, rep, preflight.StageDNS, preflight.FieldServer)
		fails := tb.Failures()
		require.NotEmpty(t, fails, "the guard did not fail the test")
		for _, f := range fails {
			require.Contains(t, f, `"db.example.com"`)
		}
	})
}

func TestRun_InvalidInput(t *testing.T) {
	t.Parallel()
	rep := runCheck(t, connstr.Conn{Server: "db.example.com", User: "u", Password: "secret-sentinel-pw"}, preflight.Options{})
	requireFailAt(t, rep, preflight.StageInput, preflight.FieldDatabase)
}

// TestRun_BadServerIsInputFailure: a server AEP cannot dial fails the
// input stage, blaming the server with the fix, before anything is dialed.
func TestRun_BadServerIsInputFailure(t *testing.T) {
	t.Parallel()
	for server, fix := range map[string]string{
		"db.example.com:5433": "put the port in Port=",
		"[::1]:5433":          "put the port in Port=",
		"db example.com":      "whitespace",
		"db1,db2":             "several hosts",
		"256.1.1.1":           "not an IPv4 address",
		"/var/run/postgresql": "Unix-socket",
	} {
		c := connstr.Conn{Server: server, Database: "d", User: "u", Password: "secret-sentinel-pw"}
		rep := runCheck(t, c, preflight.Options{})
		requireFailAt(t, rep, preflight.StageInput, preflight.FieldServer)
		require.Contains(t, rep.Check(preflight.StageInput).Message, fix, server)
	}
}

// TestRun_BadPinIsInputFailure: a pin that is no SHA-256 fingerprint fails
// the input stage, and the fix names the option (reading a CA file, and its
// errors, are the caller's: Options takes a pool).
func TestRun_BadPinIsInputFailure(t *testing.T) {
	t.Parallel()
	c := connstr.Conn{Server: "127.0.0.1", Database: "d", User: "u", Password: "secret-sentinel-pw"}
	c.SetSSLMode(connstr.SSLVerifyFull)
	rep := runCheck(t, c, preflight.Options{PinSHA256: []string{"abcd"}})
	requireFailAt(t, rep, preflight.StageInput, "")
	in := rep.Check(preflight.StageInput)
	require.Contains(t, in.Message, `pin "abcd" in Options.PinSHA256 is not a hex SHA-256 fingerprint`)
	require.Equal(t, "fix Options.PinSHA256", in.Remediation)
	require.Equal(t, preflight.OptionPinSHA256, in.Option)
}

// requireDialedOnlyThrough asserts that refuser was asked for every one of
// want and for nothing else, and that the tcp stage's attempts are dials it
// saw: no dial went around it.
func requireDialedOnlyThrough(t *testing.T, rep *preflight.Report, refuser *netguard.Refuser, want ...string) {
	t.Helper()
	dialed := refuser.Dialed()
	require.ElementsMatch(t, want, slices.Compact(slices.Sorted(slices.Values(dialed))), "dialed: %v", dialed)
	tcp := rep.Check(preflight.StageTCP)
	require.Equal(t, preflight.KindRefused, tcp.Kind, "the refuser refused")
	attempts := tcp.Details.(*preflight.TCPDetails).Attempts
	require.NotEmpty(t, attempts)
	for _, a := range attempts {
		require.Contains(t, dialed, a.Address)
		require.NotEmpty(t, a.Error, a.Address)
	}
}

// TestRun_TableWithEmptyPartIsInputFailure: a table to check whose schema or
// name is empty fails the input stage, blaming the table, before anything
// is dialed (runCheck's guard would fail a dial).
func TestRun_TableWithEmptyPartIsInputFailure(t *testing.T) {
	t.Parallel()
	for _, table := range []string{"", "sales.", ".orders", "."} {
		c := connstr.Conn{Server: "db.example.com", Database: "d", User: "u", Password: "secret-sentinel-pw"}
		rep := runCheck(t, c, preflight.Options{Tables: []string{"public.orders", table}})
		requireFailAt(t, rep, preflight.StageInput, preflight.FieldTable)
		require.Contains(t, rep.Check(preflight.StageInput).Message, fmt.Sprintf("table 2 of the tables to check, %q", table))
	}
}
