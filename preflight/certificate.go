package preflight

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowpg/flowpg/connstr"
)

// certificateStage reports the server's chain: what the checked sslmode
// enforced failed the handshake (diagnose reports it), and what it does not
// enforce is a warning, since a stricter mode would fail on it.
func (r *runner) certificateStage(c *connResult, probe *attempt) Result {
	res := Result{ID: StageCertificate}
	src, from := certificateSource(c, probe)
	if src == nil || src.cert == nil {
		res.Status, res.Message = Skip, "no certificate: TLS was not used"
		return res
	}
	chk := src.cert
	d := r.certificateDetails(chk, from)
	res.Details = d

	// A chain that verifies only through Options.RootCAs: this machine
	// trusts it, a client that trusts public roots only does not.
	privateCA := chk.chainErr == nil && chk.systemErr != nil && r.verifier.roots != nil && r.mode >= connstr.SSLVerifyCA
	var warns []finding
	if privateCA && r.opts.PrivateCA != PolicyAccept {
		f := r.privateCAFinding()
		if r.opts.PrivateCA == PolicyFail {
			res.Status, res.Field, res.Message, res.Remediation, res.Option = Fail, f.field, f.msg, f.fix, f.option
			return res
		}
		warns = append(warns, f)
	}
	// A private CA's chain verifies, so it draws no chain warning: the
	// order is the chain's, then the host name's, then the expiry's.
	warns = append(warns, r.unenforcedFindings(chk, d)...)
	if len(warns) > 0 {
		res.Status, res.Field = Warn, warns[0].field
		var msgs, fixes []string
		for _, w := range warns {
			msgs, fixes = append(msgs, w.msg), append(fixes, w.fix)
			if res.Option == "" {
				res.Option = w.option
			}
		}
		res.Message, res.Remediation = strings.Join(msgs, "; "), strings.Join(fixes, "; ")
		return res
	}
	res.Status = Pass
	res.Message = fmt.Sprintf("%s, trusted by the %s roots, valid for %s, expires in %s", d.Chain[0].Subject, r.verifier.rootsName(), r.host, expiresIn(chk.expiresIn))
	if r.verifier.roots != nil {
		res.Option = OptionRootCAs
	}
	if privateCA {
		res.Message += " (the system roots do not trust it; AEP is assumed to trust this CA, as requested)"
	}
	if from == "probe" {
		res.Message += " (seen by a TLS probe; sslMode " + r.libpq + " does not check it)"
	}
	return res
}

// certificateSource is the attempt whose certificate the stage reports, and
// where it comes from ("connection" or "probe"); nil when none saw one.
func certificateSource(c *connResult, probe *attempt) (*attempt, string) {
	src, from := tlsSource(c, probe)
	if src == nil {
		// The connection failed during its handshake: report what the
		// handshake showed, if it got as far as the certificate.
		for _, a := range c.attempts {
			if a.cert != nil {
				src, from = a, "connection"
			}
		}
	}
	return src, from
}

// certificateDetails describes the chain chk checked, seen by from.
func (r *runner) certificateDetails(chk *certCheck, from string) *CertificateDetails {
	d := &CertificateDetails{
		TrustedBy: r.verifier.trustedBy, ChainValid: chk.chainErr == nil, ChainError: explainChainError(chk.chainErr),
		HostnameMatch: chk.hostErr == nil, DaysToExpiry: int(chk.expiresIn.Hours() / 24), Expired: chk.expired,
		SelfSigned: chk.selfSigned, PinMatched: chk.pinMatched, Source: from,
	}
	if chk.expiresIn < 0 {
		d.DaysToExpiry = -int((-chk.expiresIn).Hours()/24) - 1
	}
	if chk.hostErr != nil {
		d.HostnameError = explainChainError(chk.hostErr)
	}
	for _, cert := range chk.chain {
		d.Chain = append(d.Chain, describeCert(cert))
	}
	if chk.pinMatched != nil {
		for _, p := range r.verifier.pins {
			d.PinSHA256 = append(d.PinSHA256, fingerprint(p))
		}
	}
	if r.verifier.roots != nil {
		ok := chk.systemErr == nil
		d.SystemRootsValid = &ok
	}
	return d
}

// finding is one problem of the chain: what, the field to blame, the fix,
// and the option that msg or fix names, if any.
type finding struct {
	msg, fix string
	field    Field
	option   Option
}

// privateCAFinding is a chain trusted only through Options.RootCAs, under a
// mode that verifies it.
func (r *runner) privateCAFinding() finding {
	return finding{
		msg:    fmt.Sprintf("the chain is trusted only through the %s roots, not the system roots: AEP trusts public roots only (basic authentication carries no CA), so %s would fail from AEP", OptionRootCAs, r.libpq),
		field:  FieldSSLMode,
		fix:    "have the certificate issued by a publicly trusted CA; " + r.withoutVerificationFix() + "; or, if AEP is known to trust this CA, accept it with " + OptionPrivateCA.String(),
		option: OptionRootCAs,
	}
}

// unenforcedFindings are the chain's problems that the checked sslmode does
// not enforce: AEP would connect, but a stricter mode would not.
func (r *runner) unenforcedFindings(chk *certCheck, d *CertificateDetails) []finding {
	var warns []finding
	if chk.chainErr != nil && !chk.expired {
		f := finding{msg: fmt.Sprintf("chain not trusted by the %s roots: %s (Verify Ca and Verify Full would fail)", r.verifier.rootsName(), d.ChainError), field: FieldSSLMode,
			fix: "have the certificate issued by a publicly trusted CA: AEP trusts public roots only"}
		if r.verifier.roots != nil {
			f.option = OptionRootCAs
		}
		warns = append(warns, f)
	}
	if chk.hostErr != nil && r.libpq != "verify-full" {
		warns = append(warns, finding{msg: d.HostnameError + " (Verify Full would fail)", field: FieldServer,
			fix: "use in server a name the certificate lists, or re-issue the certificate with this name in its subjectAltName"})
	}
	switch {
	case chk.expired:
		warns = append(warns, finding{msg: "a certificate in the chain has expired (Verify Ca and Verify Full would fail)", field: FieldServer, fix: "renew the server certificate"})
	case chk.expiresIn < expiryWarning:
		warns = append(warns, finding{msg: "the certificate expires in " + expiresIn(chk.expiresIn), field: FieldServer,
			fix: "renew the server certificate before it expires: AEP's connection fails once it has, under Verify Ca and Verify Full"})
	}
	return warns
}

// certFailure explains a handshake aborted in mode (a libpq sslmode)
// because the chain, as chk describes it, did not satisfy the mode or the
// pin: rejected is chk.refusal(mode).
func (r *runner) certFailure(mode string, rejected error, chk *certCheck) *failure {
	f := &failure{stage: StageCertificate, field: FieldSSLMode, kind: KindCertificate}
	why := explainChainError(rejected)
	var hostErr x509.HostnameError
	switch {
	case errors.Is(rejected, errPinMismatch):
		f.field = ""
		f.message = "the server's certificate chain matches none of the pinned SHA-256 fingerprints; the connection was aborted before sending credentials"
		f.remediation = "compare the pins with the SHA-256 fingerprints of the server's chain, listed with this stage; the certificate may have been renewed, or this is not the expected server"
	case errors.As(rejected, &hostErr):
		f.field = FieldServer
		f.message = "Verify Full failed: " + why
		f.remediation = "use in server a host name the certificate lists, or re-issue the certificate with this name in its subjectAltName; Verify Ca (chain only, no host name) would accept it"
	case chk != nil && chk.expired:
		f.message = mode + " failed: " + why
		f.remediation = "renew the server certificate"
	default:
		f.message = mode + " failed: " + why
		if r.opts.RootCAs == nil {
			f.remediation = "have the certificate issued by a publicly trusted CA (AEP trusts public roots only; a CA file makes this check trust a private CA, but AEP will not have it); " + r.withoutVerificationFix()
		} else {
			f.remediation = "the certificate is not signed by a CA in " + OptionRootCAs.String() + ": pass the right CA, including any intermediate"
			f.option = OptionRootCAs
		}
	}
	return f
}

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
	// TrustedBy names the roots the chain was verified against: "system",
	// or the Option that replaced them (OptionRootCAs).
	TrustedBy     string `json:"trustedBy"`
	ChainValid    bool   `json:"chainValid"`
	ChainError    string `json:"chainError,omitempty"`
	HostnameMatch bool   `json:"hostnameMatch"`
	HostnameError string `json:"hostnameError,omitempty"`
	DaysToExpiry  int    `json:"daysToExpiry"`
	Expired       bool   `json:"expired,omitempty"`
	SelfSigned    bool   `json:"selfSigned,omitempty"`
	// SystemRootsValid says whether the chain also verifies against the
	// system roots; it is set only when Options roots replaced them
	// (TrustedBy is not "system"). A chain that verifies only through those
	// roots is one that a client trusting public roots alone would reject.
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

// expiresIn words the time left before a certificate expires: in days, or
// in hours on its last day, where "0 days" would read as already expired.
func expiresIn(left time.Duration) string {
	switch days, hours := int(left.Hours()/24), int(left.Hours()); {
	case days == 1:
		return "1 day"
	case days > 1:
		return fmt.Sprintf("%d days", days)
	case hours == 1:
		return "1 hour"
	case hours > 1:
		return fmt.Sprintf("%d hours", hours)
	}
	return "less than an hour"
}
