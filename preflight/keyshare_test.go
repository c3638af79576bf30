package preflight_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/pgtls/pgtlstest"
	"github.com/flowpg/flowpg/preflight"
)

// These tests need no Docker. pgtlstest's fake server answers the
// SSLRequest like PostgreSQL, completes a TLS handshake offering only the
// groups under test, and refuses the login: the check fails at auth (or at
// sslmode, for a plaintext attempt), after the tls stage was observed. The
// server's own record (did it send a HelloRetryRequest, which group did it
// choose, how many connections) checks the report independently.

func tlsDetails(t *testing.T, rep *preflight.Report) (*preflight.Result, *preflight.TLSDetails) {
	t.Helper()
	r := rep.Check(preflight.StageTLS)
	require.NotNil(t, r)
	d, ok := r.Details.(*preflight.TLSDetails)
	require.True(t, ok, "tls details: %#v", r.Details)
	return r, d
}

func TestKeyShare_P256ServerNeedsNoRetry(t *testing.T) {
	t.Parallel()
	s := pgtlstest.Start(t, pgtlstest.Options{Groups: []tls.CurveID{tls.CurveP256}})
	rep := runCheck(t, connTo(t, s.Addr, connstr.SSLRequire), preflight.Options{Timeout: 10 * time.Second})
	res, d := tlsDetails(t, rep)
	require.Equal(t, preflight.Pass, res.Status)
	require.Equal(t, "P-256", d.KeyExchange)
	require.NotNil(t, d.HelloRetryRequest)
	require.False(t, *d.HelloRetryRequest)
	require.False(t, d.GroupRetry)
	require.Equal(t, "TLS 1.3, TLS_AES_128_GCM_SHA256, key exchange P-256", res.Message)

	got := s.WaitConns(t, 1)
	require.Len(t, got, 1)
	require.NotNil(t, got[0].State)
	require.False(t, got[0].State.HelloRetryRequest, "the server sent a HelloRetryRequest")
	require.Equal(t, tls.CurveP256, got[0].State.CurveID)
}

func TestKeyShare_X25519ServerPaysOneHelloRetryRequest(t *testing.T) {
	t.Parallel()
	s := pgtlstest.Start(t, pgtlstest.Options{Groups: []tls.CurveID{tls.X25519}})
	rep := runCheck(t, connTo(t, s.Addr, connstr.SSLRequire), preflight.Options{Timeout: 10 * time.Second})
	res, d := tlsDetails(t, rep)
	require.Equal(t, preflight.Pass, res.Status)
	require.Equal(t, "X25519", d.KeyExchange)
	require.True(t, *d.HelloRetryRequest)
	require.Contains(t, res.Message, "key exchange X25519 after a HelloRetryRequest")

	got := s.WaitConns(t, 1)
	require.Len(t, got, 1)
	require.True(t, got[0].State.HelloRetryRequest)
}

// A server that takes X25519MLKEM768 and nothing else flowpg's first
// ClientHello lists refuses it; the one retry reaches it.
func TestKeyShare_X25519MLKEM768OnlyServerGetsTheRetry(t *testing.T) {
	t.Parallel()
	s := pgtlstest.Start(t, pgtlstest.Options{Groups: []tls.CurveID{tls.X25519MLKEM768}})
	rep := runCheck(t, connTo(t, s.Addr, connstr.SSLRequire), preflight.Options{Timeout: 10 * time.Second})
	res, d := tlsDetails(t, rep)
	require.Equal(t, preflight.Pass, res.Status)
	require.Equal(t, "X25519MLKEM768", d.KeyExchange)
	require.True(t, d.GroupRetry)
	require.False(t, *d.HelloRetryRequest)
	require.Contains(t, res.Message, "on a second connection")
	// The check went on over the retry's connection, to the fake server's
	// refusal of the login.
	auth := rep.Check(preflight.StageAuth)
	require.Equal(t, preflight.Fail, auth.Status)
	require.Equal(t, pgtlstest.RefusalSQLState, auth.Details.(*preflight.AuthDetails).SQLState)

	got := s.WaitConns(t, 2)
	require.Len(t, got, 2)
	require.Nil(t, got[0].State, "the first handshake was refused")
	require.Equal(t, tls.X25519MLKEM768, got[1].State.CurveID)
}

func TestKeyShare_TLSProbeGetsTheRetryToo(t *testing.T) {
	t.Parallel()
	s := pgtlstest.Start(t, pgtlstest.Options{Groups: []tls.CurveID{tls.X25519MLKEM768}})
	rep := runCheck(t, connTo(t, s.Addr, connstr.SSLDisable), preflight.Options{Timeout: 10 * time.Second})
	_, d := tlsDetails(t, rep)
	require.Equal(t, "probe", d.Source)
	require.Equal(t, "X25519MLKEM768", d.KeyExchange)
	require.True(t, d.GroupRetry)
}

// A refusal of both ClientHellos is a handshake failure, and says that the
// retry was made.
func TestKeyShare_RefusedTwice(t *testing.T) {
	t.Parallel()
	s := pgtlstest.Start(t, pgtlstest.Options{Refuse: true})
	rep := runCheck(t, connTo(t, s.Addr, connstr.SSLRequire), preflight.Options{Timeout: 10 * time.Second})
	requireFailAt(t, rep, preflight.StageTLS, preflight.FieldSSLMode)
	res := rep.Check(preflight.StageTLS)
	require.Equal(t, preflight.KindHandshake, res.Kind)
	require.Contains(t, res.Message, "handshake failure")
	require.Contains(t, res.Message, "also on a second connection")
	require.Contains(t, res.Remediation, "key-exchange group")
	require.Len(t, s.WaitConns(t, 2), 2)
}

// The audit's attempts dial with the same key shares: no TLS connection of
// an audit against a P-256 server costs a HelloRetryRequest. From Disable
// the audit's one TLS connection is its Require attempt, which is also the
// tls stage's probe; from Require it needs no TLS connection of its own
// (the modes that differ only in verifying the chain are derived from the
// check's), only a plaintext one.
func TestKeyShare_AuditAttempts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode            connstr.SSLMode
		tlsConns, plain int
	}{
		{connstr.SSLDisable, 1, 1},
		{connstr.SSLRequire, 1, 1},
	} {
		t.Run(tc.mode.LibPQ(), func(t *testing.T) {
			t.Parallel()
			s := pgtlstest.Start(t, pgtlstest.Options{Groups: []tls.CurveID{tls.CurveP256}})
			rep := runCheck(t, connTo(t, s.Addr, tc.mode), preflight.Options{Timeout: 10 * time.Second, Audit: true, RootCAs: rootsOf(t, s.CAFile)})
			require.Len(t, rep.Audit, 6)
			conns := s.WaitConns(t, tc.tlsConns+tc.plain)
			var tlsConns int
			for _, c := range conns {
				if c.TLS {
					tlsConns++
					require.NotNil(t, c.State)
					require.False(t, c.State.HelloRetryRequest)
					require.Equal(t, tls.CurveP256, c.State.CurveID)
				}
			}
			require.Equal(t, tc.tlsConns, tlsConns)
			require.Len(t, conns, tc.tlsConns+tc.plain)
		})
	}
}

// A startup that fails on I/O makes pgconn send a CancelRequest through the
// same DialFunc, on a context of its own; those dials are not connection
// attempts. Prefer against a server that hangs up after the handshake makes
// exactly two attempts: TLS, then plaintext.
func TestRun_CancelDialsAreNotAttempts(t *testing.T) {
	t.Parallel()
	s := pgtlstest.Start(t, pgtlstest.Options{HangUp: true})
	rep := runCheck(t, connTo(t, s.Addr, connstr.SSLPrefer), preflight.Options{Timeout: 10 * time.Second, RootCAs: rootsOf(t, s.CAFile)})
	tcp := rep.Check(preflight.StageTCP).Details.(*preflight.TCPDetails)
	require.Len(t, tcp.Attempts, 2)
	require.True(t, tcp.Attempts[0].TLS)
	require.False(t, tcp.Attempts[1].TLS)
	requireStatus(t, rep, preflight.StageTLS, preflight.Pass)
	// The plaintext attempt decides: refused by pg_hba, from a server that
	// offers TLS.
	requireFailAt(t, rep, preflight.StageSSLMode, preflight.FieldSSLMode)
}

// The retry verifies as the first connection would have: an
// X25519MLKEM768-only server whose self-signed certificate no system root
// trusts fails verify-full at the certificate, which the report shows from
// the retry's handshake.
func TestKeyShare_RetryVerifiesTheCertificate(t *testing.T) {
	t.Parallel()
	s := pgtlstest.Start(t, pgtlstest.Options{Groups: []tls.CurveID{tls.X25519MLKEM768}})
	rep := runCheck(t, connTo(t, s.Addr, connstr.SSLVerifyFull), preflight.Options{Timeout: 10 * time.Second})
	requireFailAt(t, rep, preflight.StageCertificate, preflight.FieldSSLMode)
	cd := rep.Check(preflight.StageCertificate).Details.(*preflight.CertificateDetails)
	require.True(t, cd.SelfSigned)
	require.False(t, cd.ChainValid)
	_, d := tlsDetails(t, rep)
	require.True(t, d.GroupRetry)
	require.Equal(t, "X25519MLKEM768", d.KeyExchange)
	require.Nil(t, d.HelloRetryRequest, "no handshake completed")
	got := s.WaitConns(t, 2)
	require.Len(t, got, 2)
	require.Nil(t, got[1].State, "the client aborted the retry's handshake")
}
