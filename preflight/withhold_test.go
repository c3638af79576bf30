package preflight_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/preflight"
)

// These tests need no Docker: fakePG speaks just enough of the protocol to
// ask for a password, and records every byte it receives, so that the test
// can tell whether the password ever reached the server.

// Frontend request codes in the startup packet.
const (
	codeSSLRequest    = 80877103
	codeGSSENCRequest = 80877104
	codeCancelRequest = 80877102
)

// fakePG is a PostgreSQL stand-in on 127.0.0.1. It refuses TLS (answers
// 'N'), or, with a certificate, completes a TLS handshake; then it asks for
// the password with authCode (3, cleartext, or 5, MD5) and, if it gets an
// answer, logs in: AuthenticationOk, BackendKeyData, ReadyForQuery. It
// closes at the first query. It never checks the password.
type fakePG struct {
	addr     string
	authCode uint32
	cert     *tls.Certificate

	mu       sync.Mutex
	received []byte // every byte from every client, after TLS
	types    []byte // the type of every message after the startup packet
	asked    int    // authentication requests sent
}

func startFakePG(t *testing.T, authCode uint32, cert *tls.Certificate) *fakePG {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakePG{addr: ln.Addr().String(), authCode: authCode, cert: cert}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { f.serve(c) })
		}
	})
	return f
}

// recording wraps the client's connection, logging what it reads.
type recording struct {
	io.Reader
	f *fakePG
}

func (r recording) Read(b []byte) (int, error) {
	n, err := r.Reader.Read(b)
	r.f.mu.Lock()
	r.f.received = append(r.f.received, b[:n]...)
	r.f.mu.Unlock()
	return n, err
}

func (f *fakePG) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	var conn net.Conn = c
	in := io.Reader(recording{c, f})
	for { // SSLRequest and GSSENCRequest, then the startup message
		var hdr [8]byte
		if _, err := io.ReadFull(in, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:4]))
		if n < 8 || n > 10000 {
			return
		}
		if _, err := io.ReadFull(in, make([]byte, n-8)); err != nil {
			return
		}
		switch binary.BigEndian.Uint32(hdr[4:]) {
		case codeSSLRequest:
			if f.cert == nil {
				if _, err := c.Write([]byte{'N'}); err != nil {
					return
				}
				continue
			}
			if _, err := c.Write([]byte{'S'}); err != nil {
				return
			}
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*f.cert}})
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, in = tc, recording{tc, f}
			continue
		case codeGSSENCRequest:
			if _, err := c.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		case codeCancelRequest:
			return
		}
		break
	}
	auth := binary.BigEndian.AppendUint32([]byte{'R', 0, 0, 0, 0}, f.authCode)
	if f.authCode == 5 {
		auth = append(auth, 0x01, 0x02, 0x03, 0x04) // the salt
	}
	binary.BigEndian.PutUint32(auth[1:], uint32(len(auth)-1))
	// Counted before it is sent: once the client has read it, the run may
	// end and the test read the count before this goroutine goes on.
	f.mu.Lock()
	f.asked++
	f.mu.Unlock()
	if _, err := conn.Write(auth); err != nil {
		return
	}
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(in, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[1:]))
		if n < 4 || n > 10000 {
			return
		}
		if _, err := io.ReadFull(in, make([]byte, n-4)); err != nil {
			return
		}
		f.mu.Lock()
		f.types = append(f.types, hdr[0])
		f.mu.Unlock()
		if hdr[0] != 'p' {
			return // a query, or Terminate: this server does no more
		}
		ok := []byte{'R', 0, 0, 0, 8, 0, 0, 0, 0}
		key := []byte{'K', 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 2}
		ready := []byte{'Z', 0, 0, 0, 5, 'I'}
		if _, err := conn.Write(append(append(ok, key...), ready...)); err != nil {
			return
		}
	}
}

// seen returns what the server received so far.
func (f *fakePG) seen() (received, types []byte, asked int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return bytes.Clone(f.received), bytes.Clone(f.types), f.asked
}

// selfSigned is a certificate for localhost that no root trusts.
func selfSigned(t *testing.T) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake-pg"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

const withholdSentinel = "Withh0ld-Sentinel-pw"

func fakeConn(t *testing.T, f *fakePG, m connstr.SSLMode) connstr.Conn {
	c := connTo(t, f.addr, m)
	c.Password = withholdSentinel
	return c
}

// requireNeverSent asserts that the server asked for the password and never
// got an answer: no PasswordMessage, and not the password's bytes.
func requireNeverSent(t *testing.T, f *fakePG) {
	t.Helper()
	received, types, asked := f.seen()
	require.Positive(t, asked, "the server never asked for the password: the test proves nothing")
	require.NotContains(t, types, byte('p'), "a PasswordMessage reached the server")
	require.False(t, bytes.Contains(received, []byte(withholdSentinel)), "the password reached the server")
}

func auditRow(t *testing.T, rep *preflight.Report, m connstr.SSLMode) preflight.AuditResult {
	t.Helper()
	for _, a := range rep.Audit {
		if a.SSLMode == m {
			return a
		}
	}
	require.FailNow(t, "no audit row", m.LibPQ())
	return preflight.AuditResult{}
}

// TestAudit_WithholdsPasswordFromPlaintext: a server (or anything in the
// path) that refuses TLS and asks for a cleartext or MD5 password, checked
// in Verify Full with the audit. The audit's plaintext modes learn that the
// server would take the password, and say so, but do not send it.
func TestAudit_WithholdsPasswordFromPlaintext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		code   uint32
		method string
		says   string
	}{
		{"Cleartext", 3, preflight.AuthPassword, "the password in cleartext over an unencrypted connection"},
		{"MD5", 5, preflight.AuthMD5, "the password as an MD5 hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startFakePG(t, tc.code, nil)
			rep := runCheck(t, fakeConn(t, f, connstr.SSLVerifyFull), preflight.Options{Audit: true, Timeout: 10 * time.Second})
			requireFailAt(t, rep, preflight.StageTLS, preflight.FieldSSLMode)
			requireNeverSent(t, f)

			for _, m := range []connstr.SSLMode{connstr.SSLDisable, connstr.SSLAllow, connstr.SSLPrefer} {
				a := auditRow(t, rep, m)
				require.False(t, a.OK, m.LibPQ())
				require.Equal(t, tc.method, a.PasswordWithheld, m.LibPQ())
				require.Contains(t, a.Error, tc.says, m.LibPQ())
				require.Contains(t, a.Error, "a client in this mode would answer; flowpg did not", m.LibPQ())
			}
			for _, m := range []connstr.SSLMode{connstr.SSLRequire, connstr.SSLVerifyCA, connstr.SSLVerifyFull} {
				a := auditRow(t, rep, m)
				require.False(t, a.OK, m.LibPQ())
				require.Empty(t, a.PasswordWithheld, m.LibPQ())
				require.Contains(t, a.Error, "does not support TLS", m.LibPQ())
			}
			require.Equal(t, connstr.SSLModeUnset, rep.RecommendedSSLMode)
		})
	}
}

// TestAudit_WithholdsPasswordFromUnverifiedTLS: the same in the path of a
// Verify Full connection, but presenting a certificate of its own. The
// checked connection stops at the certificate; the audit's Require attempt
// completes the handshake, which Verify Full would not, and must not hand
// the password to that server either.
func TestAudit_WithholdsPasswordFromUnverifiedTLS(t *testing.T) {
	t.Parallel()
	f := startFakePG(t, 3, selfSigned(t))
	rep := runCheck(t, fakeConn(t, f, connstr.SSLVerifyFull), preflight.Options{Audit: true, Timeout: 10 * time.Second})
	requireFailAt(t, rep, preflight.StageCertificate, preflight.FieldSSLMode)
	requireNeverSent(t, f)

	for _, m := range []connstr.SSLMode{connstr.SSLPrefer, connstr.SSLRequire} {
		a := auditRow(t, rep, m)
		require.False(t, a.OK, m.LibPQ())
		require.Equal(t, preflight.AuthPassword, a.PasswordWithheld, m.LibPQ())
		require.Contains(t, a.Error, "over TLS whose certificate verify-full would not accept", m.LibPQ())
	}
	for _, m := range []connstr.SSLMode{connstr.SSLDisable, connstr.SSLAllow} {
		require.Contains(t, auditRow(t, rep, m).Error, "over an unencrypted connection", m.LibPQ())
	}
	for _, m := range []connstr.SSLMode{connstr.SSLVerifyCA, connstr.SSLVerifyFull} {
		a := auditRow(t, rep, m)
		require.False(t, a.OK, m.LibPQ())
		require.Empty(t, a.PasswordWithheld, m.LibPQ())
		require.Contains(t, a.Error, "self-signed", m.LibPQ())
	}
}

// TestCheck_DisableSendsAndWarns: Disable is the user's own choice, so the
// check in Disable does send the password, and warns that it went out in
// the clear. This is also what makes the tests above able to fail.
func TestCheck_DisableSendsAndWarns(t *testing.T) {
	t.Parallel()
	f := startFakePG(t, 3, nil)
	rep := runCheck(t, fakeConn(t, f, connstr.SSLDisable), preflight.Options{Timeout: 10 * time.Second})
	auth := requireStatus(t, rep, preflight.StageAuth, preflight.Warn)
	require.Equal(t, preflight.AuthPassword, auth.Details.(*preflight.AuthDetails).Method)
	require.Contains(t, auth.Message, "the password is sent as is, and this connection is not encrypted")
	received, types, _ := f.seen()
	require.Contains(t, types, byte('p'))
	require.True(t, bytes.Contains(received, []byte(withholdSentinel)))
}

// TestAudit_OwnModeIsNotGuarded: when another mode is checked (as the
// registration's), the connection's own mode is still the user's choice:
// its attempt sends the password in Disable, and only that one does.
func TestAudit_OwnModeIsNotGuarded(t *testing.T) {
	t.Parallel()
	f := startFakePG(t, 3, nil)
	rep := runCheck(t, fakeConn(t, f, connstr.SSLDisable), preflight.Options{SSLMode: connstr.SSLRequire, Audit: true, Timeout: 10 * time.Second})
	requireFailAt(t, rep, preflight.StageTLS, preflight.FieldSSLMode)
	require.NotNil(t, rep.Requested)
	require.Equal(t, connstr.SSLDisable, rep.Requested.SSLMode)
	require.Empty(t, rep.Requested.PasswordWithheld)
	_, types, _ := f.seen()
	require.Equal(t, 1, bytes.Count(types, []byte{'p'}), "one PasswordMessage: the own mode's")
	// Allow tries plaintext first, as Disable did; Prefer falls back to it.
	for _, m := range []connstr.SSLMode{connstr.SSLAllow, connstr.SSLPrefer} {
		require.Empty(t, auditRow(t, rep, m).PasswordWithheld, m.LibPQ())
	}
}
