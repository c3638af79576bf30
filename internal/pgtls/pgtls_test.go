package pgtls_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/pgtls"
	"github.com/flowpg/flowpg/internal/pgtls/pgtlstest"
)

// These tests need no Docker: pgtlstest's fake server answers the
// SSLRequest like PostgreSQL and then runs crypto/tls's server with the
// groups under test, which refuses a ClientHello it shares no group with by
// the same handshake_failure alert OpenSSL sends.

var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// startup is a protocol 3.0 StartupMessage for user u.
var startup = []byte{0, 0, 0, 16, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0, 'u', 0, 0}

// clientConfig is a client configuration as flowpg's: verification in a
// callback, which counts its calls.
func clientConfig(calls *atomic.Int32, verify error) *tls.Config {
	cfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection, as flowpg does
		VerifyConnection: func(tls.ConnectionState) error {
			calls.Add(1)
			return verify
		},
	}
	pgtls.PreferP256(cfg)
	return cfg
}

// connect dials addr as pgconn does: SSLRequest on a watched raw
// connection, then pgtls.Handshake.
func connect(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	dial := func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	raw, err := dial(ctx)
	require.NoError(t, err)
	w := pgtls.Watch(raw)
	_, err = w.Write(sslRequest)
	require.NoError(t, err)
	var b [1]byte
	_, err = io.ReadFull(w, b[:])
	require.NoError(t, err)
	require.Equal(t, byte('S'), b[0])
	tc, retried, err := pgtls.Handshake(ctx, tls.Client(w, cfg), w, cfg, dial)
	require.NotNil(t, tc)
	t.Cleanup(func() { tc.Close() })
	return tc, retried, err
}

func TestHandshake_Groups(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		server []tls.CurveID
		group  tls.CurveID
		hrr    bool
		retry  bool
	}{
		{"P-256 only, PostgreSQL's default", []tls.CurveID{tls.CurveP256}, tls.CurveP256, false, false},
		{"X25519 or P-256, PostgreSQL 18's default", []tls.CurveID{tls.X25519, tls.CurveP256}, tls.CurveP256, false, false},
		{"SecP256r1MLKEM768", []tls.CurveID{tls.SecP256r1MLKEM768, tls.CurveP256}, tls.SecP256r1MLKEM768, false, false},
		{"X25519 only", []tls.CurveID{tls.X25519}, tls.X25519, true, false},
		{"P-384 only", []tls.CurveID{tls.CurveP384}, tls.CurveP384, true, false},
		{"X25519MLKEM768 only", []tls.CurveID{tls.X25519MLKEM768}, tls.X25519MLKEM768, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := pgtlstest.Start(t, pgtlstest.Options{Groups: tc.server})
			var calls atomic.Int32
			c, retried, err := connect(t, srv.Addr, clientConfig(&calls, nil))
			require.NoError(t, err)
			st := c.ConnectionState()
			require.Equal(t, tc.group, st.CurveID)
			require.Equal(t, tc.hrr, st.HelloRetryRequest)
			require.Equal(t, tc.retry, retried)
			require.Equal(t, int32(1), calls.Load(), "verification runs once per completed handshake")
			// The server's view agrees, and the connection works: the
			// server refuses the startup message sent over it.
			_, err = c.Write(startup)
			require.NoError(t, err)
			var b [1]byte
			_, err = io.ReadFull(c, b[:])
			require.NoError(t, err)
			require.Equal(t, byte('E'), b[0])
			want := 1
			if tc.retry {
				want = 2
			}
			got := srv.WaitConns(t, want)
			require.Len(t, got, want, "connections the server saw")
			last := got[len(got)-1].State
			require.NotNil(t, last)
			require.Equal(t, tc.group, last.CurveID)
			require.Equal(t, tc.hrr, last.HelloRetryRequest)
		})
	}
}

// TestHandshake_OneClientHelloForP256 counts, at a proxy, the ClientHellos
// that reach a P-256-only server: one with PreferP256, two with Go's
// default groups. It does not rely on crypto/tls's own HelloRetryRequest
// flag.
func TestHandshake_OneClientHelloForP256(t *testing.T) {
	t.Parallel()
	srv := pgtlstest.Start(t, pgtlstest.Options{Groups: []tls.CurveID{tls.CurveP256}})
	for _, tc := range []struct {
		name   string
		prefer bool
		hellos int
	}{{"PreferP256", true, 1}, {"Go's default", false, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := faultproxy.New(srv.Addr, faultproxy.Options{Latency: 5 * time.Millisecond, Trace: true})
			require.NoError(t, err)
			t.Cleanup(func() { p.Close() })
			var calls atomic.Int32
			cfg := clientConfig(&calls, nil)
			if !tc.prefer {
				cfg = pgtls.WithDefaultGroups(cfg)
			}
			c, _, err := connect(t, p.Addr, cfg)
			require.NoError(t, err)
			require.NoError(t, c.Close())
			require.Eventually(t, func() bool {
				fs := p.Flights()
				return len(fs) == 1 && len(fs[0]) > 0 && fs[0][len(fs[0])-1].Closed
			}, 5*time.Second, 5*time.Millisecond)
			hellos := 0
			for _, f := range p.Flights()[0] {
				if _, ch := f.TLSHandshake(); ch && f.FromClient {
					hellos++
				}
			}
			require.Equal(t, tc.hellos, hellos)
		})
	}
}

// TestHandshake_RetryKeepsVerification: the retry's handshake runs the
// same verification, and its rejection is the error returned.
func TestHandshake_RetryKeepsVerification(t *testing.T) {
	t.Parallel()
	srv := pgtlstest.Start(t, pgtlstest.Options{Groups: []tls.CurveID{tls.X25519MLKEM768}})
	rejected := errors.New("chain rejected")
	var calls atomic.Int32
	c, retried, err := connect(t, srv.Addr, clientConfig(&calls, rejected))
	require.True(t, retried)
	require.ErrorIs(t, err, rejected)
	require.Equal(t, int32(1), calls.Load())
	require.Len(t, srv.WaitConns(t, 2), 2)
	// The connection returned is the retry's, whose certificate was seen.
	require.Len(t, c.ConnectionState().PeerCertificates, 1)
}

// TestHandshake_NoRetryForOtherFailures: only a handshake_failure alert in
// answer to the ClientHello is retried; another alert, or a failure after
// the ServerHello, is not.
func TestHandshake_NoRetryForOtherFailures(t *testing.T) {
	t.Parallel()
	t.Run("protocol_version alert", func(t *testing.T) {
		t.Parallel()
		srv := pgtlstest.Start(t, pgtlstest.Options{MinVersion: tls.VersionTLS13})
		var calls atomic.Int32
		cfg := clientConfig(&calls, nil)
		cfg.MaxVersion = tls.VersionTLS12
		c, retried, err := connect(t, srv.Addr, cfg)
		require.Error(t, err)
		require.False(t, retried)
		require.Len(t, srv.WaitConns(t, 1), 1)
		w := c.NetConn().(*pgtls.Watcher)
		require.False(t, w.RefusedHello())
		desc, ok := w.ServerAlert()
		require.True(t, ok)
		require.Equal(t, uint8(70), desc) // protocol_version
	})
	t.Run("verification failure", func(t *testing.T) {
		t.Parallel()
		srv := pgtlstest.Start(t, pgtlstest.Options{Groups: []tls.CurveID{tls.CurveP256}})
		rejected := errors.New("chain rejected")
		var calls atomic.Int32
		c, retried, err := connect(t, srv.Addr, clientConfig(&calls, rejected))
		require.ErrorIs(t, err, rejected)
		require.False(t, retried)
		require.Len(t, srv.WaitConns(t, 1), 1)
		_, ok := c.NetConn().(*pgtls.Watcher).ServerAlert()
		require.False(t, ok, "the server's first record was its ServerHello")
	})
}

func TestRetry_DeclinedTLS(t *testing.T) {
	t.Parallel()
	srv := pgtlstest.Start(t, pgtlstest.Options{DeclineTLS: true})
	var d net.Dialer
	var calls atomic.Int32
	_, err := pgtls.Retry(context.Background(), func(ctx context.Context) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", srv.Addr)
	}, clientConfig(&calls, nil))
	require.ErrorIs(t, err, pgtls.ErrNoTLS)
}

func TestWatcher_IgnoresPlaintext(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w := pgtls.Watch(a)
	go func() {
		var buf [16]byte
		_, _ = io.ReadFull(b, buf[:5])
		// An ErrorResponse-like answer that starts with the alert's byte.
		_, _ = b.Write([]byte{21, 3, 3, 0, 2, 2, 40})
	}()
	_, err := w.Write([]byte("hello"))
	require.NoError(t, err)
	var buf [7]byte
	_, err = io.ReadFull(w, buf[:])
	require.NoError(t, err)
	require.False(t, w.RefusedHello(), "no SSLRequest was sent: the bytes are not TLS")
}

func TestGroupName(t *testing.T) {
	t.Parallel()
	for id, want := range map[tls.CurveID]string{
		0: "", tls.CurveP256: "P-256", tls.CurveP384: "P-384", tls.CurveP521: "P-521",
		tls.X25519: "X25519", tls.X25519MLKEM768: "X25519MLKEM768", tls.SecP256r1MLKEM768: "SecP256r1MLKEM768",
	} {
		require.Equal(t, want, pgtls.GroupName(id))
	}
}
