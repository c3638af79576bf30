package preflight

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flowpg/flowpg/internal/pgtls"
)

// expiryWarning is how close to expiry a certificate draws a warning.
const expiryWarning = 30 * 24 * time.Hour

// CertificateInfo describes one certificate of the server's chain.
type CertificateInfo struct {
	Subject    string    `json:"subject"`
	Issuer     string    `json:"issuer"`
	DNSNames   []string  `json:"dnsNames,omitempty"`
	IPs        []string  `json:"ipAddresses,omitempty"`
	NotBefore  time.Time `json:"notBefore"`
	NotAfter   time.Time `json:"notAfter"`
	KeyType    string    `json:"keyType"`
	KeyBits    int       `json:"keyBits,omitempty"`
	SHA256     string    `json:"sha256"`
	SelfSigned bool      `json:"selfSigned,omitempty"`
	IsCA       bool      `json:"isCA,omitempty"`
}

// CertificateDetails are the findings of the certificate stage.
type CertificateDetails struct {
	Chain []CertificateInfo `json:"chain"`
	// TrustedBy names the roots the chain was verified against: "system" or
	// "ca-file".
	TrustedBy     string `json:"trustedBy"`
	ChainValid    bool   `json:"chainValid"`
	ChainError    string `json:"chainError,omitempty"`
	HostnameMatch bool   `json:"hostnameMatch"`
	HostnameError string `json:"hostnameError,omitempty"`
	DaysToExpiry  int    `json:"daysToExpiry"`
	Expired       bool   `json:"expired,omitempty"`
	SelfSigned    bool   `json:"selfSigned,omitempty"`
	// SystemRootsValid says whether the chain also verifies against the
	// system roots; it is set only when a CA file replaced them (TrustedBy
	// "ca-file"). A chain that verifies only through the CA file is one that
	// a client trusting public roots alone would reject.
	SystemRootsValid *bool `json:"systemRootsValid,omitempty"`
	// PinMatched is nil when no pin was asked for.
	PinMatched *bool `json:"pinMatched,omitempty"`
	// PinSHA256 are the pins asked for (Options.PinSHA256), written as
	// Chain[].SHA256 is, to compare with it.
	PinSHA256 []string `json:"pinSha256,omitempty"`
	// Source is "connection" when the details come from the checked
	// connection, "probe" when from the separate TLS probe made for
	// sslmodes that did not use TLS.
	Source string `json:"source"`
}

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

// errPinMismatch aborts a handshake whose chain matches no pin.
var errPinMismatch = errors.New("preflight: no certificate in the server's chain matches --pin-sha256")

func newVerifier(host, caFile string, pins []string, now func() time.Time) (*verifier, error) {
	v := &verifier{host: host, now: now, trustedBy: "system"}
	if caFile != "" {
		pem, err := readCAFile(caFile)
		if err != nil {
			return nil, err
		}
		v.roots = x509.NewCertPool()
		if !v.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("preflight: CA file %s holds no PEM certificate", caFile)
		}
		v.trustedBy = "ca-file"
	}
	for _, p := range pins {
		h := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(p))
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("preflight: pin %q is not a hex SHA-256 fingerprint", p)
		}
		v.pins = append(v.pins, b)
	}
	return v, nil
}

// maxCAFile bounds a CA file: a system bundle of every public root is a
// few hundred kilobytes.
const maxCAFile = 8 << 20

// readCAFile reads a CA file, bounded: a path to /dev/zero or to a huge file
// by mistake must end in an error, not in all the memory there is.
func readCAFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("preflight: reading CA file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCAFile+1))
	if err != nil {
		return nil, fmt.Errorf("preflight: reading CA file: %w", err)
	}
	if len(b) > maxCAFile {
		return nil, fmt.Errorf("preflight: CA file %s is over %d bytes: not a file of CA certificates", path, maxCAFile)
	}
	return b, nil
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

func describeCert(c *x509.Certificate) CertificateInfo {
	sum := sha256.Sum256(c.Raw)
	info := CertificateInfo{
		Subject:    c.Subject.String(),
		Issuer:     c.Issuer.String(),
		DNSNames:   c.DNSNames,
		NotBefore:  c.NotBefore.UTC(),
		NotAfter:   c.NotAfter.UTC(),
		SHA256:     fingerprint(sum[:]),
		SelfSigned: isSelfSigned(c),
		IsCA:       c.IsCA,
	}
	for _, ip := range c.IPAddresses {
		info.IPs = append(info.IPs, ip.String())
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		info.KeyType, info.KeyBits = "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		info.KeyType, info.KeyBits = "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		info.KeyType, info.KeyBits = "Ed25519", 256
	default:
		info.KeyType = c.PublicKeyAlgorithm.String()
	}
	return info
}

// explainChainError words why a chain failed verification.
func explainChainError(err error) string {
	var (
		unknown   x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		verifyErr *tls.CertificateVerificationError
	)
	if errors.As(err, &verifyErr) {
		err = verifyErr.Err
	}
	switch {
	case err == nil:
		return ""
	case errors.As(err, &unknown):
		if unknown.Cert != nil && isSelfSigned(unknown.Cert) {
			return fmt.Sprintf("self-signed certificate %q is not trusted", unknown.Cert.Subject.String())
		}
		return "signed by an unknown certificate authority"
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			return "a certificate in the chain has expired or is not yet valid"
		case x509.NotAuthorizedToSign:
			return "a certificate in the chain is not allowed to sign certificates"
		case x509.IncompatibleUsage:
			return "the certificate is not valid for server authentication"
		default:
			return "the certificate chain is invalid"
		}
	case errors.As(err, &hostname):
		return hostnameMismatch(hostname)
	case errors.Is(err, errPinMismatch):
		return "no certificate in the chain matches the pinned SHA-256 fingerprint"
	default:
		return "the certificate chain could not be verified"
	}
}

func hostnameMismatch(h x509.HostnameError) string {
	var names []string
	if h.Certificate != nil {
		names = append(names, h.Certificate.DNSNames...)
		for _, ip := range h.Certificate.IPAddresses {
			names = append(names, ip.String())
		}
	}
	if len(names) == 0 {
		return fmt.Sprintf("the certificate is not valid for %q: it names no host", h.Host)
	}
	return fmt.Sprintf("the certificate is valid for %s, not for %q", strings.Join(names, ", "), h.Host)
}
