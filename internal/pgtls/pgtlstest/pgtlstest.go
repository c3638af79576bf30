// Package pgtlstest is a fake PostgreSQL front end for tests of TLS key
// exchange, as net/http/httptest is for HTTP: it answers an SSLRequest like
// PostgreSQL and then runs crypto/tls's server with exactly the groups a
// test asks for, which no real PostgreSQL up to 17 can be configured to do
// (ssl_ecdh_curve takes one elliptic curve, and not X25519). It refuses
// every login with a FATAL ErrorResponse, and records, from the server's
// side, what each connection negotiated, so a test can check a client's
// report against what the server saw. Needs no Docker; listens on loopback.
package pgtlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Options choose the server's behaviour.
type Options struct {
	// Groups are the key-exchange groups its TLS accepts; nil means
	// crypto/tls's defaults.
	Groups []tls.CurveID
	// MinVersion is its lowest TLS version; 0 means crypto/tls's default.
	MinVersion uint16
	// DeclineTLS answers the SSLRequest with 'N', as a server with
	// ssl = off.
	DeclineTLS bool
	// Refuse answers every ClientHello with a fatal handshake_failure
	// alert, as OpenSSL does when the ClientHello shares nothing with it.
	Refuse bool
	// HangUp closes each connection right after its TLS handshake instead
	// of refusing the login.
	HangUp bool
}

// RefusalSQLState is the SQLSTATE of the ErrorResponse that refuses every
// login: pg_hba.conf has no line for the client.
const RefusalSQLState = "28000"

// Conn is what the server saw of one connection.
type Conn struct {
	// TLS is true when the connection opened with an SSLRequest; false for
	// a plaintext startup or a CancelRequest.
	TLS bool
	// Plaintext is true when a startup message (which carries the user
	// name, and leads to the password) arrived without TLS.
	Plaintext bool
	// State is the server's view of a completed handshake: CurveID is the
	// group it chose, HelloRetryRequest whether it had to ask for another
	// key share. Nil when no handshake completed.
	State *tls.ConnectionState
}

// Server is a running fake.
type Server struct {
	// Addr is host:port on loopback.
	Addr string
	// CAFile holds the server's self-signed certificate (valid for
	// 127.0.0.1), to be trusted as a CA.
	CAFile string

	mu    sync.Mutex
	conns []Conn
}

// Start runs a server until tb ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	cert, caFile := selfSigned(tb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	s := &Server{Addr: ln.Addr().String(), CAFile: caFile}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, CurvePreferences: opts.Groups, MinVersion: opts.MinVersion}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c, cfg, opts)
		}
	}()
	return s
}

// Conns returns the connections seen so far, in the order they ended.
func (s *Server) Conns() []Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Conn(nil), s.conns...)
}

// WaitConns waits up to 5 s until at least n connections have ended, and
// returns them all; it fails tb if fewer did.
func (s *Server) WaitConns(tb testing.TB, n int) []Conn {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		cs := s.Conns()
		if len(cs) >= n {
			return cs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pgtlstest: %d connections ended, want %d", len(cs), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SSLRequest and CancelRequest codes.
const (
	sslRequestCode    = 80877103
	cancelRequestCode = 80877102
)

func (s *Server) serve(c net.Conn, cfg *tls.Config, opts Options) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var seen Conn
	defer func() {
		s.mu.Lock()
		s.conns = append(s.conns, seen)
		s.mu.Unlock()
	}()
	first, err := readMessage(c)
	if err != nil {
		return
	}
	code := binary.BigEndian.Uint32(first[4:])
	switch {
	case len(first) == 8 && code == sslRequestCode:
		seen.TLS = true
	case code == cancelRequestCode:
		return
	default:
		seen.Plaintext = true
		_, _ = c.Write(refusal)
		return
	}
	if opts.DeclineTLS {
		_, _ = c.Write([]byte{'N'})
		return
	}
	if _, err := c.Write([]byte{'S'}); err != nil {
		return
	}
	if opts.Refuse {
		var hdr [5]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint16(hdr[3:]))); err != nil {
			return
		}
		_, _ = c.Write([]byte{21, 3, 3, 0, 2, 2, 40}) // alert: fatal, handshake_failure
		return
	}
	tc := tls.Server(c, cfg)
	if tc.Handshake() != nil {
		return
	}
	st := tc.ConnectionState()
	seen.State = &st
	if opts.HangUp {
		return
	}
	if _, err := readMessage(tc); err == nil {
		_, _ = tc.Write(refusal)
	}
}

// readMessage reads one length-prefixed message of the startup phase.
func readMessage(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	l := binary.BigEndian.Uint32(n[:])
	if l < 8 || l > 10000 {
		return nil, io.ErrUnexpectedEOF
	}
	m := make([]byte, l)
	copy(m, n[:])
	_, err := io.ReadFull(r, m[4:])
	return m, err
}

// refusal is a FATAL ErrorResponse with SQLSTATE RefusalSQLState.
var refusal = func() []byte {
	body := []byte("SFATAL\x00VFATAL\x00C" + RefusalSQLState + "\x00Mno pg_hba.conf entry for this test client\x00\x00")
	msg := []byte{'E', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(msg[1:], uint32(4+len(body)))
	return append(msg, body...)
}()

// selfSigned makes a P-256 certificate for 127.0.0.1 and writes it to a
// file in tb's temporary directory.
func selfSigned(tb testing.TB) (tls.Certificate, string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pgtlstest"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	file := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}
