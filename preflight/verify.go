package preflight

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowpg/flowpg/internal/pgtls"
)

// certCheck is our verification of a peer chain, independent of sslmode.
type certCheck struct {
	chain      []*x509.Certificate
	chainErr   error
	systemErr  error // against the system roots; set only when roots replaced them
	hostErr    error
	expired    bool
	expiresIn  time.Duration
	selfSigned bool
	pinMatched *bool
}

// verifier checks peer chains against the chosen roots, host and pins.
type verifier struct {
	roots     *x509.CertPool // nil: system roots
	trustedBy string
	host      string
	now       func() time.Time
	pins      [][]byte

	// seen remembers the checks of this run: every handshake is checked in
	// its VerifyConnection and again once it is recorded, and the
	// attempts of one run (the check, the audit's, the probe) meet the same
	// chain. A check is immutable once made.
	mu   sync.Mutex
	seen []*certCheck
}

// rootsName names the roots in messages: "system", or the option that
// replaced them, as results name options.
func (v *verifier) rootsName() string {
	if v.roots == nil {
		return "system"
	}
	return OptionRootCAs.String()
}

// errPinMismatch aborts a handshake whose chain matches no pin.
var errPinMismatch = errors.New("preflight: no certificate in the server's chain matches a pinned SHA-256 fingerprint")

func newVerifier(host string, roots *x509.CertPool, pins []string, now func() time.Time) (*verifier, error) {
	v := &verifier{host: host, now: now, trustedBy: "system", roots: roots}
	if roots != nil {
		v.trustedBy = string(OptionRootCAs)
	}
	for _, p := range pins {
		b, ok := decodePin(p)
		if !ok {
			return nil, fmt.Errorf("pin %q in %s is not a hex SHA-256 fingerprint", p, OptionPinSHA256)
		}
		v.pins = append(v.pins, b)
	}
	return v, nil
}

// ValidPin reports whether pin can be one of Options.PinSHA256: a SHA-256
// fingerprint in hex, its bytes optionally separated by ':' or ' '.
func ValidPin(pin string) bool {
	_, ok := decodePin(pin)
	return ok
}

func decodePin(pin string) ([]byte, bool) {
	h := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(pin))
	b, err := hex.DecodeString(h)
	return b, err == nil && len(b) == sha256.Size
}

// check verifies chain, or returns the check of an identical chain that
// this verifier already made.
func (v *verifier) check(chain []*x509.Certificate) *certCheck {
	v.mu.Lock()
	for _, c := range v.seen {
		if sameChain(c.chain, chain) {
			v.mu.Unlock()
			return c
		}
	}
	v.mu.Unlock()
	c := v.verify(chain)
	v.mu.Lock()
	v.seen = append(v.seen, c)
	v.mu.Unlock()
	return c
}

func sameChain(a, b []*x509.Certificate) bool {
	return slices.EqualFunc(a, b, func(x, y *x509.Certificate) bool { return bytes.Equal(x.Raw, y.Raw) })
}

// verify makes the check of chain.
func (v *verifier) verify(chain []*x509.Certificate) *certCheck {
	c := &certCheck{chain: chain}
	if len(chain) == 0 {
		c.chainErr = errors.New("preflight: the server sent no certificate")
		return c
	}
	leaf := chain[0]
	now := v.now()
	opts := x509.VerifyOptions{Roots: v.roots, Intermediates: x509.NewCertPool(), CurrentTime: now}
	for _, ic := range chain[1:] {
		opts.Intermediates.AddCert(ic)
	}
	_, c.chainErr = leaf.Verify(opts)
	if v.roots != nil {
		sys := opts
		sys.Roots = nil
		_, c.systemErr = leaf.Verify(sys)
	}
	c.hostErr = leaf.VerifyHostname(v.host)
	c.expiresIn = leaf.NotAfter.Sub(now)
	for _, cert := range chain {
		if now.After(cert.NotAfter) {
			c.expired = true
		}
		if d := cert.NotAfter.Sub(now); d < c.expiresIn {
			c.expiresIn = d
		}
	}
	c.selfSigned = isSelfSigned(leaf)
	if len(v.pins) > 0 {
		m := false
		for _, cert := range chain {
			sum := sha256.Sum256(cert.Raw)
			for _, p := range v.pins {
				if bytes.Equal(sum[:], p) {
					m = true
				}
			}
		}
		c.pinMatched = &m
	}
	return c
}

// tlsConfig returns a tls.Config that verifies per mode. Go's own
// verification is off in every mode; the VerifyConnection callback verifies
// per sslmode instead, so the chain is captured and explained even when it
// is rejected:
//   - require (and the TLS leg of allow/prefer): no verification, as libpq;
//   - verify-ca: chain against the roots, no host name (libpq semantics);
//   - verify-full: chain and host name.
//
// A pin mismatch aborts the handshake in every mode, before credentials are
// sent. A rejection is a *rejection carrying the check, which the caller of
// the handshake records (see runner.handshake): the callback itself writes
// nowhere, because pgconn also runs it on handshakes that are not
// connection attempts (its CancelRequest), concurrently with them.
//
// The ClientHello carries a P-256 key share, PostgreSQL's default group, so
// that the handshake with a default server takes one round trip instead of
// two (pgtls explains how, and what other servers pay).
func (v *verifier) tlsConfig(mode string) *tls.Config {
	cfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection below, per sslmode
		VerifyConnection: func(cs tls.ConnectionState) error {
			check := v.check(cs.PeerCertificates)
			if err := check.refusal(mode); err != nil {
				return &rejection{err: err, check: check}
			}
			return nil
		},
	}
	// SNI, as libpq sends it: never for an IP literal.
	if _, err := netip.ParseAddr(v.host); err != nil {
		cfg.ServerName = v.host
	}
	pgtls.PreferP256(cfg)
	return cfg
}

// refusal is why a client in mode (a libpq sslmode) refuses the chain c
// describes, or nil when it accepts it: a pin mismatch in every mode, then
// the chain under verify-ca and verify-full, then the host name under
// verify-full. The audit derives the verify modes' verdicts from it, so it
// is the one rule both the handshake and the audit apply.
func (c *certCheck) refusal(mode string) error {
	switch {
	case c.pinMatched != nil && !*c.pinMatched:
		return errPinMismatch
	case (mode == "verify-ca" || mode == "verify-full") && c.chainErr != nil:
		return c.chainErr
	case mode == "verify-full" && c.hostErr != nil:
		return c.hostErr
	}
	return nil
}

// rejection is our verification's refusal of a chain, as VerifyConnection
// returns it: the reason, and the check that found it.
type rejection struct {
	err   error
	check *certCheck
}

func (e *rejection) Error() string { return e.err.Error() }

func (e *rejection) Unwrap() error { return e.err }

func isSelfSigned(c *x509.Certificate) bool {
	// CheckSignatureFrom would insist that the signer be a CA; a
	// self-signed leaf is not one, so check the signature directly.
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// fingerprint writes a SHA-256 fingerprint as CertificateInfo.SHA256 has it.
func fingerprint(sum []byte) string { return strings.ToUpper(hex.EncodeToString(sum)) }
