package faultproxy_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/internal/faultproxy"
)

// upstream runs serve on every connection to a loopback listener.
func upstream(t *testing.T, serve func(net.Conn)) string {
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
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func traced(t *testing.T, up string) *faultproxy.Proxy {
	t.Helper()
	// Latency keeps each answer well behind its question, as on a long link.
	p, err := faultproxy.New(up, faultproxy.Options{Latency: 5 * time.Millisecond, Trace: true})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

func TestTrace_CountsTurnsOfALineProtocol(t *testing.T) {
	t.Parallel()
	up := upstream(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := c.Write([]byte("ok " + line)); err != nil {
				return
			}
		}
	})
	p := traced(t, up)

	c, err := net.Dial("tcp", p.Addr)
	require.NoError(t, err)
	r := bufio.NewReader(c)
	for _, q := range []string{"one\n", "two\n", "three\n"} {
		_, err := c.Write([]byte(q))
		require.NoError(t, err)
		a, err := r.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "ok "+q, a)
	}
	// A last message that gets an answer nobody waits for.
	_, err = c.Write([]byte("bye\n"))
	require.NoError(t, err)
	require.NoError(t, c.Close())

	require.Eventually(t, func() bool {
		fs := p.Flights()
		return len(fs) == 1 && len(fs[0]) > 0 && fs[0][len(fs[0])-1].Closed
	}, 5*time.Second, 5*time.Millisecond)
	fs := p.Flights()[0]
	require.True(t, fs[0].FromClient)
	require.Equal(t, []byte("one\n"), fs[0].Head)
	require.Equal(t, 3, faultproxy.Turns(fs))

	p.ResetFlights()
	require.Empty(t, p.Flights())
}

// testCert is a throwaway self-signed P-256 certificate for 127.0.0.1.
func testCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "faultproxy test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestTrace_SeesTheHelloRetryRequest(t *testing.T) {
	t.Parallel()
	cert := testCert(t)
	for _, tc := range []struct {
		name         string
		serverGroups []tls.CurveID
		clientHellos int
	}{
		// Go's client sends an X25519 (hybrid) key share: a P-256-only
		// server must ask for another.
		{"P256 server", []tls.CurveID{tls.CurveP256}, 2},
		{"X25519 server", []tls.CurveID{tls.X25519}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := upstream(t, func(c net.Conn) {
				s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, CurvePreferences: tc.serverGroups})
				if s.Handshake() == nil {
					_, _ = io.Copy(s, s) // echo
				}
			})
			p := traced(t, up)
			c, err := tls.Dial("tcp", p.Addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a throwaway test certificate
			require.NoError(t, err)
			require.Equal(t, tc.clientHellos == 2, c.ConnectionState().HelloRetryRequest)
			_, err = c.Write([]byte("ping"))
			require.NoError(t, err)
			var b [4]byte
			_, err = io.ReadFull(c, b[:])
			require.NoError(t, err)
			require.NoError(t, c.Close())

			require.Eventually(t, func() bool {
				fs := p.Flights()
				return len(fs) == 1 && len(fs[0]) > 0 && fs[0][len(fs[0])-1].Closed
			}, 5*time.Second, 5*time.Millisecond)
			var hellos, handshakes int
			for _, f := range p.Flights()[0] {
				hs, ch := f.TLSHandshake()
				require.False(t, ch && !f.FromClient, "a ClientHello from the server")
				if f.FromClient && hs {
					handshakes++
				}
				if f.FromClient && ch {
					hellos++
				}
			}
			require.Equal(t, tc.clientHellos, hellos)
			require.Equal(t, tc.clientHellos, handshakes)
		})
	}
}
