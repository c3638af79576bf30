package preflight

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/flowpg/flowpg/internal/pgtls"
)

// TLSDetails are the findings of the tls stage.
type TLSDetails struct {
	// Used is true when the checked connection runs over TLS.
	Used bool `json:"used"`
	// ServerOffersTLS is nil when unknown.
	ServerOffersTLS *bool  `json:"serverOffersTls,omitempty"`
	Version         string `json:"version,omitempty"`
	CipherSuite     string `json:"cipherSuite,omitempty"`
	ALPN            string `json:"alpn,omitempty"`
	// KeyExchange is the negotiated key-exchange group: "P-256" (which
	// PostgreSQL's ssl_ecdh_curve calls prime256v1), "X25519",
	// "X25519MLKEM768"… Empty for a TLS 1.2 handshake without ECDHE.
	KeyExchange string `json:"keyExchange,omitempty"`
	// HelloRetryRequest is true when the server asked for another key share
	// than the ClientHello carried, which costs the handshake a second round
	// trip; nil when no handshake completed.
	HelloRetryRequest *bool `json:"helloRetryRequest,omitempty"`
	// GroupRetry is true when the server refused the first ClientHello
	// outright (a handshake_failure alert) and the handshake was made on a
	// second connection that offered Go's default groups, verified as the
	// first would have been.
	GroupRetry bool `json:"groupRetry,omitempty"`
	// Source is "connection" or "probe" (a separate TLS-only dial made for
	// sslmodes that did not use TLS).
	Source string `json:"source,omitempty"`
}

// offersTLS says whether the server accepted an SSLRequest, from the
// checked connection or the probe; nil when nothing asked.
func offersTLS(c *connResult, probe *attempt) *bool {
	as := append([]*attempt(nil), c.attempts...)
	if probe != nil {
		as = append(as, probe)
	}
	var out *bool
	for _, a := range as {
		a.mu.Lock()
		if a.sslAnswered && (a.sslResponse == 'S' || a.sslResponse == 'N') {
			v := a.sslResponse == 'S'
			if v || out == nil {
				out = &v
			}
		}
		a.mu.Unlock()
	}
	return out
}

// oddTLSAnswer is the byte a server answered an SSLRequest with, when it
// was neither S nor N; 0 otherwise.
func oddTLSAnswer(c *connResult, probe *attempt) byte {
	as := append([]*attempt(nil), c.attempts...)
	if probe != nil {
		as = append(as, probe)
	}
	for _, a := range as {
		a.mu.Lock()
		b, ok := a.sslResponse, a.sslAnswered
		a.mu.Unlock()
		if ok && b != 'S' && b != 'N' {
			return b
		}
	}
	return 0
}

func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLS 1.3"
	case tls.VersionTLS12:
		return "TLS 1.2"
	case tls.VersionTLS11:
		return "TLS 1.1"
	case tls.VersionTLS10:
		return "TLS 1.0"
	}
	return fmt.Sprintf("0x%04x", v)
}

// summary words the handshake: version, cipher suite, key exchange, and
// what it cost beyond one round trip.
func (d *TLSDetails) summary() string {
	s := d.Version + ", " + d.CipherSuite
	if d.KeyExchange != "" {
		s += ", key exchange " + d.KeyExchange
	}
	switch {
	case d.GroupRetry:
		s += " on a second connection: the server refused the groups of the first ClientHello"
	case d.HelloRetryRequest != nil && *d.HelloRetryRequest:
		s += " after a HelloRetryRequest (one more round trip)"
	}
	return s
}

// tlsSource picks the attempt whose handshake describes the server: the one
// used, else any attempt of the checked connection, else the probe.
func tlsSource(c *connResult, probe *attempt) (*attempt, string) {
	if fin := c.final(); fin != nil && fin.tlsState != nil {
		return fin, "connection"
	}
	for _, a := range c.attempts {
		if a.tlsState != nil {
			return a, "connection"
		}
	}
	if probe != nil && probe.tlsState != nil {
		return probe, "probe"
	}
	return nil, ""
}

func (r *runner) tlsStage(c *connResult, probe *attempt, offered *bool) Result {
	res := Result{ID: StageTLS, Status: Pass}
	d := &TLSDetails{ServerOffersTLS: offered}
	res.Details = d
	fin := c.final()
	if fin != nil {
		d.Used = fin.usedTLS()
		_, res.Duration, _ = fin.phaseTimes(c.end)
	}
	src, from := tlsSource(c, probe)
	if src != nil {
		st := src.tlsState
		d.Version, d.CipherSuite, d.ALPN, d.Source = tlsVersion(st.Version), tls.CipherSuiteName(st.CipherSuite), st.NegotiatedProtocol, from
		d.KeyExchange = pgtls.GroupName(st.CurveID)
		if src.usedTLS() {
			hrr := st.HelloRetryRequest
			d.HelloRetryRequest = &hrr
		}
		d.GroupRetry = src.groupRetry
	}
	switch {
	case d.Used || from == "connection":
		res.Message = d.summary()
	case src != nil:
		res.Message = fmt.Sprintf("not used by sslMode %s; the server offers %s", r.libpq, d.summary())
	case oddTLSAnswer(c, probe) != 0:
		// Seen by the probe only (the checked mode sends no SSLRequest):
		// a warning here; the stage that talks to the server fails.
		res.Status, res.Field = Warn, FieldPort
		res.Message = fmt.Sprintf("the server answered the TLS request with %q, where PostgreSQL answers S or N: it does not look like PostgreSQL", oddTLSAnswer(c, probe))
		res.Remediation = "check that server and port point at PostgreSQL, not at another service or a proxy"
	case offered != nil && !*offered:
		res.Status, res.Field = Warn, FieldSSLMode
		res.Message = "the server does not offer TLS (ssl = off): the password and data would travel unencrypted"
		res.Remediation = "enable TLS on the server (ssl = on with a certificate), then use Verify Full"
	default:
		res.Status = Warn
		res.Message = "could not learn whether the server offers TLS"
	}
	return res
}

// probeTLS dials the first address once more, only to send an SSLRequest
// and complete a TLS handshake, then closes. It is used when the checked
// sslmode may end in plaintext, to report whether TLS is on offer.
func (r *runner) probeTLS(ctx context.Context, addrs []netip.Addr) *attempt {
	addr := firstAddr(addrs, r.port)
	a := &attempt{address: addr, dialStart: time.Now()}
	raw, err := r.opts.Dialer.DialContext(ctx, "tcp", addr)
	a.dialEnd, a.dialErr = time.Now(), err
	if err != nil {
		return a
	}
	conn := a.wire(raw) // records the SSLRequest and its answer
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A silent server must not hold the probe past a cancelled run: the
	// reads below do not watch ctx, so its end unblocks them.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(sslRequest); err != nil {
		conn.Close()
		return a
	}
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil || b[0] != 'S' {
		conn.Close()
		return a
	}
	cfg := r.verifier.tlsConfig("require")
	tc, _ := r.handshake(ctx, a, tls.Client(conn, cfg), cfg)
	tc.Close()
	return a
}

// serverAlert is the alert with which the server refused a's handshake: as
// seen on the wire in answer to the ClientHello (crypto/tls does not export
// the alerts it receives), or as an error wrapping tls.AlertError.
func (a *attempt) serverAlert() (tls.AlertError, bool) {
	if a.watch != nil {
		if desc, ok := a.watch.ServerAlert(); ok {
			return tls.AlertError(desc), true
		}
	}
	var alert tls.AlertError
	if errors.As(a.handshakeErr, &alert) {
		return alert, true
	}
	return 0, false
}
