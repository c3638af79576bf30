// Package pgtls holds the TLS choices flowpg makes as a PostgreSQL client,
// wherever it dials a server over TLS (the pre-flight's checked connection,
// its TLS probe and its audit, and the emulator's prober): which key shares
// the first ClientHello carries, how to see from the wire that a server
// refused that ClientHello outright, and the one retry that follows.
//
// # Why the ClientHello carries a P-256 key share
//
// A TLS 1.3 handshake takes one round trip when the ClientHello already
// carries a key share for a group the server accepts, and two when the
// server must ask for another one with a HelloRetryRequest. PostgreSQL up to
// 17 sets exactly one group, ssl_ecdh_curve, whose default is prime256v1
// (P-256); PostgreSQL 18's ssl_groups defaults to "X25519:prime256v1". Go's
// default ClientHello carries X25519MLKEM768 and X25519 shares only, so every
// handshake with a default PostgreSQL 15 or 17 costs a HelloRetryRequest.
//
// Go picks the key shares itself (crypto/tls, makeClientHello): it shares
// only the first group of its own fixed order (X25519MLKEM768,
// SecP256r1MLKEM768, SecP384r1MLKEM1024, X25519, P-256, P-384, P-521) that
// Config.CurvePreferences allows, whatever order CurvePreferences lists them
// in, plus the classical half of that group when it is a hybrid and the
// classical group is allowed too. So [P-256, X25519] still shares X25519, and
// [P-256] alone cannot reach an X25519-only server. Leaving only
// X25519MLKEM768 out makes SecP256r1MLKEM768 first: the ClientHello then
// carries a SecP256r1MLKEM768 share and a P-256 share, and still lists
// X25519, P-384, P-521 and SecP384r1MLKEM1024. In round trips:
//
//   - a P-256 server (PostgreSQL 15 and 17 by default, measured; 18's
//     default lists P-256 too): one, no retry;
//   - a server that takes SecP256r1MLKEM768: one, post-quantum;
//   - an X25519-, P-384- or P-521-only server: two, the HelloRetryRequest
//     every default server pays today;
//   - a server that accepts X25519MLKEM768 and nothing else listed (which
//     PostgreSQL 18 with OpenSSL 3.5 can be told to do): it refuses the
//     ClientHello with a handshake_failure alert. Retry then dials once more
//     and offers Go's default groups, X25519MLKEM768 first: a new TCP
//     connection, SSLRequest and handshake, three round trips more than
//     Go's default would take, paid only by servers that would otherwise
//     not be reached at all.
//
// Rejected alternatives: [P-256] alone with a retry on refusal costs every
// X25519-only server a new connection instead of a HelloRetryRequest;
// learning the group per host helps nothing, since a check dials a host once
// per process; racing two ClientHellos doubles the server's connections.
//
// GODEBUG=tlssecpmlkem=0 or tlsmlkem=0 drops SecP256r1MLKEM768 from Go's
// order: the first share is then X25519 again, and P-256 servers pay the
// HelloRetryRequest as before, nothing worse. TLS 1.2 does not use the
// hybrids; its groups are Go's defaults.
package pgtls

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// groups is every group of Go's default order but X25519MLKEM768; see the
// package comment.
var groups = []tls.CurveID{
	tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
	tls.X25519, tls.CurveP256, tls.CurveP384, tls.CurveP521,
}

// PreferP256 sets cfg's key-exchange groups so that its first ClientHello
// carries a P-256 key share, PostgreSQL's default group, and still lists
// the other groups Go supports but X25519MLKEM768, which Retry offers.
func PreferP256(cfg *tls.Config) {
	cfg.CurvePreferences = slices.Clone(groups)
}

// WithDefaultGroups returns a copy of cfg that offers Go's default groups:
// the configuration of the retry. Only the groups differ: verification,
// server name and versions are cfg's own.
func WithDefaultGroups(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.CurvePreferences = nil
	return c
}

// GroupName names a key-exchange group as reports show it: "P-256" (which
// PostgreSQL's ssl_ecdh_curve calls prime256v1), "X25519",
// "X25519MLKEM768"… It returns "" for 0, which a TLS 1.2 handshake without
// ECDHE reports.
func GroupName(id tls.CurveID) string {
	switch id {
	case 0:
		return ""
	case tls.CurveP256:
		return "P-256"
	case tls.CurveP384:
		return "P-384"
	case tls.CurveP521:
		return "P-521"
	}
	return id.String()
}

// sslRequest is PostgreSQL's 8-byte SSLRequest: length 8, code 80877103.
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// TLS record and alert codes (RFC 8446 §5.1, §6).
const (
	recordAlert          = 21
	alertLevelFatal      = 2
	alertHandshakeFailed = 40
)

// watch states.
const (
	watchStart     = iota // nothing written yet
	watchSSLAnswer        // SSLRequest written; the next byte is the answer
	watchTLS              // 'S' seen; reading the server's first TLS record
	watchDone             // seen enough, or not a PostgreSQL TLS start
)

// Watcher wraps the raw connection beneath TLS. It sees the SSLRequest go
// out and the server's answer, and keeps the start of the server's first
// TLS record: a plaintext alert there means the server refused the
// ClientHello before choosing anything. crypto/tls does not export the
// alerts it receives, so the wire is the only honest source.
type Watcher struct {
	net.Conn

	mu    sync.Mutex
	state int
	head  [7]byte // record header (5) and, for an alert, level and description
	n     int
}

// Watch wraps c, the connection that will carry the SSLRequest.
func Watch(c net.Conn) *Watcher { return &Watcher{Conn: c} }

// Write notes the SSLRequest.
func (w *Watcher) Write(b []byte) (int, error) {
	w.mu.Lock()
	if w.state == watchStart {
		w.state = watchDone
		if bytes.Equal(b, sslRequest) {
			w.state = watchSSLAnswer
		}
	}
	w.mu.Unlock()
	return w.Conn.Write(b)
}

// Read keeps the start of the server's first TLS record.
func (w *Watcher) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	if n > 0 {
		w.mu.Lock()
		w.see(b[:n])
		w.mu.Unlock()
	}
	return n, err
}

func (w *Watcher) see(b []byte) {
	if w.state == watchSSLAnswer {
		w.state = watchDone
		if b[0] != 'S' {
			return
		}
		w.state, b = watchTLS, b[1:]
	}
	if w.state != watchTLS {
		return
	}
	w.n += copy(w.head[w.n:], b)
	if w.n == len(w.head) {
		w.state = watchDone
	}
}

// ServerAlert returns the description of the alert the server sent as its
// first TLS record, in the clear, before any ServerHello: its refusal of the
// ClientHello. ok is false when the first record was anything else or has
// not arrived.
func (w *Watcher) ServerAlert() (desc uint8, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.alertFirst() {
		return 0, false
	}
	return w.head[6], true
}

// RefusedHello reports whether the server answered the ClientHello with a
// fatal handshake_failure alert: the alert OpenSSL and Go send when the
// ClientHello shares no group (or cipher suite) with them.
func (w *Watcher) RefusedHello() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.alertFirst() && w.head[5] == alertLevelFatal && w.head[6] == alertHandshakeFailed
}

func (w *Watcher) alertFirst() bool {
	return w.n == len(w.head) && w.head[0] == recordAlert
}

// ErrNoTLS is returned by Retry when the second connection's SSLRequest is
// answered with anything but 'S'.
var ErrNoTLS = errors.New("pgtls: the server declined TLS on the retry's connection")

// Retry is the one retry after a refused ClientHello (see RefusedHello). It
// dials again through dial, which must return a new raw connection to the
// same server, sends the SSLRequest, and completes a handshake that offers
// Go's default groups (WithDefaultGroups): the retry widens the groups
// offered and changes nothing else, verification included. The returned
// connection has no deadline. On error nothing is left open, and the
// returned connection, when the handshake was tried, is closed but keeps
// its ConnectionState: the certificate a verification rejected, say.
func Retry(ctx context.Context, dial func(context.Context) (net.Conn, error), cfg *tls.Config) (*tls.Conn, error) {
	raw, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	if _, err := raw.Write(sslRequest); err != nil {
		raw.Close()
		return nil, err
	}
	var b [1]byte
	if _, err := io.ReadFull(raw, b[:]); err != nil {
		raw.Close()
		return nil, err
	}
	if b[0] != 'S' {
		raw.Close()
		return nil, fmt.Errorf("%w (answer %q)", ErrNoTLS, b[0])
	}
	tc := tls.Client(raw, WithDefaultGroups(cfg))
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return tc, err
	}
	_ = raw.SetDeadline(time.Time{})
	return tc, nil
}

// Handshake completes tc's handshake, w being the Watcher beneath it. When
// the server refused the ClientHello (RefusedHello), it makes the one Retry
// with cfg, the configuration tc was made with, and dial. It returns the
// connection whose handshake decided the outcome, to go on with or to read
// the failure from: the retry's when it got as far as a handshake (tc is
// then closed), else tc, which the caller closes on error. retried says
// whether a retry was made.
func Handshake(ctx context.Context, tc *tls.Conn, w *Watcher, cfg *tls.Config, dial func(context.Context) (net.Conn, error)) (conn *tls.Conn, retried bool, err error) {
	err = tc.HandshakeContext(ctx)
	if err == nil || w == nil || !w.RefusedHello() {
		return tc, false, err
	}
	rc, err := Retry(ctx, dial, cfg)
	if rc == nil {
		return tc, true, err
	}
	tc.Close()
	return rc, true, err
}
