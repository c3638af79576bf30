package preflight

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/pgtls"
)

// DialInfo is one TCP connect the check made.
type DialInfo struct {
	Address    string  `json:"address"`
	TLS        bool    `json:"tls"`
	DurationMS float64 `json:"durationMs"`
	Error      string  `json:"error,omitempty"`
}

// TCPDetails are the findings of the tcp stage.
type TCPDetails struct {
	Attempts []DialInfo `json:"attempts"`
}

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

// SSLModeDetails are the findings of the sslmode stage.
type SSLModeDetails struct {
	Mode    string `json:"mode"`
	TLSUsed bool   `json:"tlsUsed"`
	// Fallback is set when allow or prefer ended on its second choice.
	Fallback       bool   `json:"fallback,omitempty"`
	FallbackReason string `json:"fallbackReason,omitempty"`
}

// AuthDetails are the findings of the auth stage.
type AuthDetails struct {
	User string `json:"user"`
	// Method is the authentication the server asked for (see the Auth*
	// constants); empty when the server refused before asking.
	Method         string   `json:"method,omitempty"`
	SASLMechanisms []string `json:"saslMechanisms,omitempty"`
	SQLState       string   `json:"sqlState,omitempty"`
	ServerMessage  string   `json:"serverMessage,omitempty"`
}

// stageOrder indexes connection stages, to skip those after a failure.
var stageOrder = map[Stage]int{StageTCP: 0, StageTLS: 1, StageCertificate: 2, StageSSLMode: 3, StageAuth: 4}

// connectionStages turns the observed connection into the tcp … auth
// results. It reports whether the connection is usable for the post-login
// stages.
func (r *runner) connectionStages(c *connResult, probe *attempt) bool {
	tlsOffered := offersTLS(c, probe)
	f := r.diagnose(c, tlsOffered != nil && *tlsOffered)
	failedAt := len(stageOrder)
	if f != nil {
		failedAt = stageOrder[f.stage]
	}
	fin := c.final()

	if fin != nil {
		r.timings.TCP, r.timings.TLS, r.timings.Auth = fin.phaseTimes(c.end)
	}

	for _, id := range []Stage{StageTCP, StageTLS, StageCertificate, StageSSLMode, StageAuth} {
		idx := stageOrder[id]
		if idx > failedAt {
			break // skipped; report() fills the message
		}
		var res Result
		switch id {
		case StageTCP:
			res = r.tcpStage(c)
		case StageTLS:
			res = r.tlsStage(c, probe, tlsOffered)
		case StageCertificate:
			res = r.certificateStage(c, probe)
		case StageSSLMode:
			res = r.sslmodeStage(c, probe, tlsOffered)
		case StageAuth:
			res = r.authStage(c)
		}
		switch {
		case idx == failedAt && f.interrupted:
			res = interruptedStage(id)
		case idx == failedAt:
			res.Status, res.Field, res.Message, res.Remediation, res.Kind = Fail, f.field, f.message, f.remediation, f.kind
		}
		r.set(res)
	}
	return f == nil && c.conn != nil
}

// phaseTimes are the durations of a's TCP connect, SSLRequest and TLS
// handshake, and startup and authentication; zero for a phase a did not
// begin. A phase a began but did not finish (an error, the time limit, an
// interrupt) lasts until end, the end of the attempt, so that the time it
// waited shows: a server that never answers the SSLRequest spends the whole
// time limit in TLS.
func (a *attempt) phaseTimes(end time.Time) (tcp, tlsTime, auth time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	tcp = sub(a.dialEnd, a.dialStart)
	if a.dialErr != nil || a.dialEnd.IsZero() {
		return tcp, 0, 0
	}
	if a.sslRequested {
		tlsEnd := a.handshakeEnd
		if tlsEnd.IsZero() {
			tlsEnd = end
		}
		tlsTime = sub(tlsEnd, a.dialEnd)
	}
	if !a.authStart.IsZero() {
		authEnd := a.readyAt
		if !a.ready {
			authEnd = end
		}
		auth = sub(authEnd, a.authStart)
	}
	return tcp, tlsTime, auth
}

func sub(a, b time.Time) time.Duration {
	if a.IsZero() || b.IsZero() {
		return 0
	}
	return a.Sub(b)
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

func (r *runner) tcpStage(c *connResult) Result {
	res := Result{ID: StageTCP, Status: Pass}
	d := &TCPDetails{}
	res.Details = d
	var okAddr string
	var failed []string
	fin := c.final()
	for _, a := range c.attempts {
		if a.late && a != fin {
			continue // not dialed: the time was up
		}
		di := DialInfo{Address: a.address, TLS: a.sslRequested, DurationMS: millis(sub(a.dialEnd, a.dialStart))}
		if a.dialErr != nil {
			f := r.dialFailure(a.dialErr, a.address)
			di.Error = f.message
			failed = append(failed, a.address)
			if okAddr == "" {
				res.Duration += sub(a.dialEnd, a.dialStart) // until one connects, the dials are the stage
			}
		} else if okAddr == "" {
			okAddr = a.address
			res.Duration = sub(a.dialEnd, a.dialStart)
		}
		d.Attempts = append(d.Attempts, di)
	}
	res.Message = fmt.Sprintf("connected to %s", okAddr)
	if len(failed) > 0 && okAddr != "" {
		res.Status, res.Field = Warn, FieldServer
		res.Message = fmt.Sprintf("connected to %s, but %s did not accept the connection", okAddr, strings.Join(failed, ", "))
		res.Remediation = "every address of server should accept connections, or AEP may pick one that fails"
	}
	return res
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

func (r *runner) certificateStage(c *connResult, probe *attempt) Result {
	res := Result{ID: StageCertificate}
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
	if src == nil || src.cert == nil {
		res.Status, res.Message = Skip, "no certificate: TLS was not used"
		return res
	}
	chk := src.cert
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
	res.Details = d

	// Problems that the checked sslmode does not enforce are warnings: AEP
	// would connect, but a stricter mode would not. The enforced ones made
	// the handshake fail and are reported by diagnose.
	type finding struct{ msg, field, fix string }
	var warns []finding
	if chk.chainErr != nil && !chk.expired {
		warns = append(warns, finding{fmt.Sprintf("chain not trusted by the %s roots: %s (Verify Ca and Verify Full would fail)", d.TrustedBy, d.ChainError), FieldSSLMode,
			"have the certificate issued by a publicly trusted CA: AEP trusts public roots only"})
	}
	// A chain that verifies only through the CA file: this machine trusts
	// it, a client that trusts public roots only does not.
	privateCA := chk.chainErr == nil && chk.systemErr != nil && r.verifier.roots != nil && r.mode >= connstr.SSLVerifyCA
	if privateCA && r.opts.PrivateCA != PolicyAccept {
		f := finding{fmt.Sprintf("the chain is trusted only through the ca-file roots, not the system roots: AEP trusts public roots only (basic authentication carries no CA), so %s would fail from AEP", r.libpq), FieldSSLMode,
			"have the certificate issued by a publicly trusted CA; " + r.withoutVerificationFix() + "; or, if AEP is known to trust this CA, accept it explicitly"}
		if r.opts.PrivateCA == PolicyFail {
			res.Status, res.Field, res.Message, res.Remediation = Fail, f.field, f.msg, f.fix
			return res
		}
		warns = append(warns, f)
	}
	if chk.hostErr != nil && r.libpq != "verify-full" {
		warns = append(warns, finding{d.HostnameError + " (Verify Full would fail)", FieldServer,
			"use in server a name the certificate lists, or re-issue the certificate with this name in its subjectAltName"})
	}
	switch {
	case chk.expired:
		warns = append(warns, finding{"a certificate in the chain has expired (Verify Ca and Verify Full would fail)", FieldServer, "renew the server certificate"})
	case chk.expiresIn < expiryWarning:
		warns = append(warns, finding{fmt.Sprintf("the certificate expires in %d days", d.DaysToExpiry), FieldServer,
			"renew the server certificate before it expires: AEP's connection fails once it has, under Verify Ca and Verify Full"})
	}
	leaf := d.Chain[0]
	switch {
	case len(warns) > 0:
		res.Status, res.Field = Warn, warns[0].field
		var msgs, fixes []string
		for _, w := range warns {
			msgs, fixes = append(msgs, w.msg), append(fixes, w.fix)
		}
		res.Message, res.Remediation = strings.Join(msgs, "; "), strings.Join(fixes, "; ")
	default:
		res.Status = Pass
		res.Message = fmt.Sprintf("%s, trusted by the %s roots, valid for %s, expires in %d days", leaf.Subject, d.TrustedBy, r.host, d.DaysToExpiry)
		if privateCA {
			res.Message += " (the system roots do not trust it; AEP is assumed to trust this CA, as requested)"
		}
	}
	if from == "probe" && res.Status == Pass {
		res.Message += " (seen by a TLS probe; sslMode " + r.libpq + " does not check it)"
	}
	return res
}

func (r *runner) sslmodeStage(c *connResult, probe *attempt, offered *bool) Result {
	res := Result{ID: StageSSLMode, Status: Pass, Duration: sub(c.end, c.start)}
	d := &SSLModeDetails{Mode: r.libpq}
	res.Details = d
	fin := c.final()
	if fin == nil {
		return res
	}
	d.TLSUsed = fin.usedTLS()
	// The fallback's reason is the first choice's failure, whether or not
	// the second choice then connected.
	if first := c.attempts[0]; first != fin && first.sslRequested != fin.sslRequested {
		d.Fallback = true
		d.FallbackReason = r.attemptFailure(first, offered != nil && *offered)
	}
	switch r.libpq {
	case "disable":
		res.Status, res.Field = Warn, FieldSSLMode
		res.Message = "sslMode Disable: the password and the data travel unencrypted"
		if offered != nil && *offered {
			res.Remediation = "the server offers TLS: use Verify Full (or Verify Ca, or Require)"
		} else {
			res.Remediation = "enable TLS on the server, then use Verify Full"
		}
	case "allow":
		if d.TLSUsed {
			res.Message = "sslMode Allow: plaintext was refused, so TLS was used (" + d.FallbackReason + ")"
		} else {
			res.Status, res.Field = Warn, FieldSSLMode
			res.Message = "sslMode Allow connected in plaintext (it tries plaintext first)"
			res.Remediation = "use Verify Full, Verify Ca or Require to encrypt the connection"
		}
	case "prefer":
		if d.TLSUsed {
			res.Message = "sslMode Prefer connected with TLS (the certificate is not verified)"
		} else {
			res.Status, res.Field = Warn, FieldSSLMode
			res.Message = "sslMode Prefer fell back to plaintext: " + d.FallbackReason
			res.Remediation = "enable TLS on the server, then use Verify Full"
		}
	case "require":
		res.Message = "connected with TLS; Require does not verify the certificate"
	case "verify-ca":
		res.Message = "connected with TLS; the chain is verified (Verify Ca does not check the host name)"
	case "verify-full":
		res.Message = "connected with TLS; the chain and the host name are verified"
	}
	return res
}

// attemptFailure words why an attempt that was not the final one failed,
// as diagnose would have, had it been the last: pgconn keeps only the
// errors of a connection that failed as a whole, so one that a fallback
// replaced is judged from what was observed on the wire.
func (r *runner) attemptFailure(a *attempt, tlsOffered bool) string {
	a.mu.Lock()
	err := a.err
	if err == nil {
		err = a.ioErr
	}
	a.mu.Unlock()
	if err == nil {
		err = errAttemptFailed
	}
	if f := r.diagnose(&connResult{attempts: []*attempt{a}, err: err}, tlsOffered); f != nil {
		return f.message
	}
	return errAttemptFailed.Error()
}

// errAttemptFailed stands for an attempt's error that nothing recorded.
var errAttemptFailed = errors.New("the attempt failed")

func (r *runner) authStage(c *connResult) Result {
	res := Result{ID: StageAuth, Status: Pass}
	d := &AuthDetails{User: r.conn.User}
	res.Details = d
	fin := c.final()
	if fin == nil {
		return res
	}
	_, _, res.Duration = fin.phaseTimes(c.end)
	fin.mu.Lock()
	d.Method, d.SASLMechanisms = fin.authMethod, fin.saslMechs
	if fin.pgErr != nil {
		d.SQLState, d.ServerMessage = fin.pgErr.Code, r.external(fin.pgErr.Message)
	}
	fin.mu.Unlock()

	res.Message = fmt.Sprintf("logged in as %q with %s", r.conn.User, d.Method)
	switch d.Method {
	case AuthMD5:
		res.Status, res.Field = Warn, FieldUsername
		res.Message += ": md5 is deprecated (PostgreSQL 18 warns about md5 passwords)"
		res.Remediation = "set password_encryption = 'scram-sha-256', reset the user's password, and use scram-sha-256 in pg_hba.conf"
	case AuthPassword:
		res.Status, res.Field = Warn, FieldUsername
		res.Message += ": the password is sent as is"
		if !fin.usedTLS() {
			res.Message += ", and this connection is not encrypted"
		}
		res.Remediation = "use scram-sha-256 in pg_hba.conf"
	case AuthTrust:
		res.Status, res.Field = Warn, FieldUsername
		res.Message = fmt.Sprintf("logged in as %q without a password: the server did not ask for one (trust)", r.conn.User)
		res.Remediation = "require scram-sha-256 for this user in pg_hba.conf"
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

// withoutVerificationFix names the strictest mode that works without
// verifying the chain, among those the registration can express: Require,
// else Prefer (which may fall back to plaintext).
func (r *runner) withoutVerificationFix() string {
	offers := func(m connstr.SSLMode) bool {
		return r.opts.OfferedModes == nil || slices.Contains(r.opts.OfferedModes, m)
	}
	switch {
	case offers(connstr.SSLRequire):
		return "or use sslMode Require, which encrypts without verifying the chain"
	case offers(connstr.SSLPrefer):
		return "or use sslMode Prefer, which does not verify the chain but may fall back to plaintext if the server stops offering TLS (the sslMode values on offer have no Require)"
	}
	return "no sslMode on offer encrypts without verifying the chain"
}
