package preflight_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/faultproxy"
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

// fakeResolver answers from a table; unknown names are NXDOMAIN.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range f[host] {
		if (network == "ip4") == a.Is4() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func TestFault_DNS(t *testing.T) {
	t.Parallel()
	addr := fakeServer(t, 'N')
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	res := fakeResolver{
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
		rep := runCheck(t, conn("private.example"), preflight.Options{Resolver: res, Timeout: 300 * time.Millisecond})
		a := requireStatus(t, rep, preflight.StageAddress, preflight.Warn)
		ad := a.Details.(*preflight.AddressDetails)
		require.False(t, ad.ReachableFromAEP)
		require.Equal(t, []preflight.AddressInfo{{IP: "10.1.2.3", Class: preflight.AddressPrivate}, {IP: "100.64.0.9", Class: preflight.AddressCGNAT}}, ad.Addresses)
		require.Contains(t, a.Message, "AEP cannot reach this from Adobe's network")
	})
	t.Run("MixedAddressesWarnButReachable", func(t *testing.T) {
		mixed := fakeResolver{"mixed.example": {netip.MustParseAddr("203.0.114.7"), netip.MustParseAddr("10.0.0.7")}}
		rep := runCheck(t, conn("mixed.example"), preflight.Options{Resolver: mixed, Dialer: refuseDialer{}, Timeout: time.Second})
		a := requireStatus(t, rep, preflight.StageAddress, preflight.Warn)
		require.True(t, a.Details.(*preflight.AddressDetails).ReachableFromAEP)
		require.Contains(t, a.Message, "some addresses are not public")
		requireFailAt(t, rep, preflight.StageTCP, preflight.FieldPort)
		require.Len(t, rep.Check(preflight.StageTCP).Details.(*preflight.TCPDetails).Attempts, 2)
	})
	t.Run("AllowPrivateAddress", func(t *testing.T) {
		rep := runCheck(t, conn("loopback.example"), preflight.Options{Resolver: res, AllowPrivateAddress: true, Timeout: 300 * time.Millisecond})
		a := requireStatus(t, rep, preflight.StageAddress, preflight.Pass)
		require.True(t, a.Details.(*preflight.AddressDetails).Allowed)
		require.False(t, a.Details.(*preflight.AddressDetails).ReachableFromAEP)
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

func TestRun_BadCAFileIsInputFailure(t *testing.T) {
	t.Parallel()
	c := connstr.Conn{Server: "127.0.0.1", Database: "d", User: "u", Password: "secret-sentinel-pw"}
	rep := runCheck(t, c, preflight.Options{CAFile: "/nonexistent/ca.pem"})
	requireFailAt(t, rep, preflight.StageInput, "")
}

// refuseDialer refuses every dial at once, without touching the network.
type refuseDialer struct{}

func (refuseDialer) DialContext(_ context.Context, network, address string) (net.Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}
