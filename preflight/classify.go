package preflight

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Failure kinds, reported in Result.Kind. They are derived from error types
// and protocol observations, never from error text.
const (
	KindTimeout        = "timeout"         // no answer before the deadline: a black hole, a firewall dropping packets, a slow server
	KindRefused        = "refused"         // nothing listens on the port (TCP RST to the SYN)
	KindUnreachable    = "unreachable"     // no route to the host or network
	KindReset          = "reset"           // the peer closed or reset an established connection
	KindTLSUnsupported = "tls-unsupported" // the server declined the SSLRequest
	KindNotPostgres    = "not-postgres"    // the port answered something other than PostgreSQL
	KindHandshake      = "tls-handshake"   // the TLS handshake failed (alert, protocol version, …)
	KindCertificate    = "certificate"     // the server certificate was rejected
	KindServer         = "server-error"    // the server answered with an error (SQLSTATE in the message)
	KindConnect        = "connect"         // any other connection failure
	KindInterrupted    = "interrupted"     // the caller stopped the run: no finding about the database
	// KindPasswordWithheld: the server asked for the password in cleartext
	// or as MD5 over a connection weaker than the input asks for, and the
	// audit did not send it (AuditResult.PasswordWithheld).
	KindPasswordWithheld = "password-withheld"
)

// failure is the plain-language diagnosis of a failed connection.
type failure struct {
	stage       Stage
	field       string
	kind        string
	message     string
	remediation string
	pgErr       *pgconn.PgError
	// interrupted is an attempt the caller's interrupt cut short: its stage
	// is reported as not finished, not failed.
	interrupted bool
}

// stageOfPhase is the stage that reports a failure in phase p.
func stageOfPhase(p phase) Stage {
	switch p {
	case phaseDial:
		return StageTCP
	case phaseSSLRequest, phaseHandshake:
		return StageTLS
	}
	return StageAuth
}

// diagnose explains why c failed, from the phase its last attempt reached
// and the types of the errors seen there. It returns nil when c connected.
func (r *runner) diagnose(c *connResult, tlsOffered bool) *failure {
	if c.err == nil {
		return nil
	}
	a := c.final()
	if a == nil {
		return &failure{stage: StageTCP, kind: KindConnect, message: "could not start a connection attempt", remediation: "retry; if it persists, report it"}
	}
	hostport := net.JoinHostPort(r.host, fmt.Sprint(r.port))
	a.mu.Lock()
	defer a.mu.Unlock()
	err := a.err
	if err == nil {
		err = c.err
	}
	if a.withheld != "" {
		// A finding, whether or not the run was interrupted since.
		return r.withheldFailure(a)
	}
	if r.interrupted() && a.pgErr == nil && a.certRejected == nil && !(a.sslAnswered && a.sslResponse != 'S') {
		// What failed is what the interrupt cut: no finding about the
		// database, whatever the error looks like.
		return &failure{stage: stageOfPhase(a.phase()), kind: KindInterrupted, interrupted: true,
			message: "not finished: the check was interrupted"}
	}
	switch a.phase() {
	case phaseDial:
		return r.dialFailure(a.dialErr, hostport)
	case phaseSSLRequest:
		if a.sslAnswered && a.sslResponse == 'N' {
			return &failure{stage: StageTLS, field: FieldSSLMode, kind: KindTLSUnsupported,
				message:     "the server does not support TLS: it declined the SSLRequest (ssl = off)",
				remediation: "enable TLS on the server (ssl = on with a certificate); only if plaintext is acceptable, set sslMode to Prefer or Disable",
			}
		}
		if a.sslAnswered {
			return &failure{stage: StageTLS, field: FieldPort, kind: KindNotPostgres,
				message:     fmt.Sprintf("%s answered the TLS request with %q instead of S or N: it does not look like PostgreSQL", hostport, a.sslResponse),
				remediation: "check that server and port point at PostgreSQL, not at another service or a proxy",
			}
		}
		return r.transportFailure(StageTLS, err, "while negotiating TLS (SSLRequest)")
	case phaseHandshake:
		if a.certRejected != nil {
			return r.certFailure(c.mode, a.certRejected, a.cert)
		}
		var rec tls.RecordHeaderError
		if alert, ok := a.serverAlert(); ok {
			f := &failure{stage: StageTLS, field: FieldSSLMode, kind: KindHandshake,
				message:     fmt.Sprintf("the server rejected the TLS handshake (alert: %s)", alert.Error()),
				remediation: "the server and flowpg share no TLS version, cipher suite or key-exchange group: allow TLS 1.2 or 1.3 with modern ciphers, and the group P-256 (prime256v1) or X25519, on the server",
			}
			if a.groupRetry {
				f.message += ", also on a second connection offering Go's default key-exchange groups"
			}
			return f
		}
		switch {
		case errors.As(a.handshakeErr, &rec):
			return &failure{stage: StageTLS, field: FieldPort, kind: KindNotPostgres,
				message:     "the server accepted TLS but then did not speak TLS",
				remediation: "check that server and port point at PostgreSQL, not at a proxy",
			}
		}
		e := a.handshakeErr
		if e == nil {
			e = err
		}
		return r.transportFailure(StageTLS, e, "during the TLS handshake")
	case phaseStartup:
		if a.pgErr != nil {
			return r.serverFailure(a, a.pgErr, tlsOffered)
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return r.serverFailure(a, pgErr, tlsOffered)
		}
		return r.transportFailure(StageAuth, err, "during startup and authentication")
	default:
		return r.transportFailure(StageAuth, err, "after authentication")
	}
}

// dialFailure classifies a TCP connect error.
func (r *runner) dialFailure(err error, hostport string) *failure {
	f := &failure{stage: StageTCP, field: FieldServer}
	switch {
	case isTimeout(err):
		f.kind = KindTimeout
		f.message = fmt.Sprintf("no answer from %s within the time limit: packets are dropped", hostport)
		f.remediation = "a firewall or security group is silently dropping the connection: allow inbound TCP to this port from AEP's IP ranges for your region (and from here, for this check), and check server and port; " + r.timeoutFix()
	case errors.Is(err, syscall.ECONNREFUSED):
		f.kind, f.field = KindRefused, FieldPort
		f.message = fmt.Sprintf("connection refused by %s: nothing listens on that port", hostport)
		f.remediation = "check port (PostgreSQL's default is 5432), that PostgreSQL runs, and that listen_addresses includes the public interface"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		f.kind = KindUnreachable
		f.message = fmt.Sprintf("no route to %s", hostport)
		f.remediation = "check server; this machine has no route to that network"
	case errors.Is(err, syscall.ECONNRESET):
		f.kind = KindReset
		f.message = fmt.Sprintf("%s reset the connection", hostport)
		f.remediation = "a firewall may be rejecting this source address: allow AEP's IP ranges"
	default:
		f.kind = KindConnect
		f.message = fmt.Sprintf("could not connect to %s%s", hostport, opDetail(err))
		f.remediation = "check server and port"
	}
	return f
}

// transportFailure classifies an I/O failure after the TCP connect.
func (r *runner) transportFailure(stage Stage, err error, when string) *failure {
	f := &failure{stage: stage, field: FieldServer}
	var tooLong *pgproto3.ExceededMaxBodyLenErr
	switch {
	case errors.As(err, &tooLong):
		f.kind, f.field = KindNotPostgres, FieldPort
		f.message = fmt.Sprintf("the server sent a message of %d bytes %s, where PostgreSQL sends at most a few kilobytes: it does not look like PostgreSQL", tooLong.ActualBodyLen, when)
		f.remediation = "check that server and port point at PostgreSQL, not at another service or a proxy"
	case isTimeout(err):
		f.kind = KindTimeout
		f.message = fmt.Sprintf("the server accepted the TCP connection but did not answer %s within the time limit", when)
		f.remediation = "something between here and the database (a proxy, a load balancer, a firewall doing deep inspection) swallows traffic, or the server is overloaded; check server and port; " + r.timeoutFix()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		f.kind = KindReset
		f.message = fmt.Sprintf("the connection was closed or reset %s", when)
		f.remediation = "a proxy or firewall may be cutting the connection, or the server refused this client early; check the server's log"
	default:
		f.kind = KindConnect
		f.message = fmt.Sprintf("the connection failed %s%s", when, opDetail(err))
		f.remediation = "check server and port, and the server's log"
	}
	return f
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
		if r.opts.CAFile == "" {
			f.remediation = "have the certificate issued by a publicly trusted CA (AEP trusts public roots only; a CA file makes this check trust a private CA, but AEP will not have it); " + r.withoutVerificationFix()
		} else {
			f.remediation = "the certificate is not signed by a CA in --ca-file: pass the right CA, including any intermediate"
		}
	}
	return f
}

// withheldFailure explains a guarded attempt that stopped before answering
// the server's request for the password (see attempt.withhold): what the
// server would have received in that mode, which is the finding.
func (r *runner) withheldFailure(a *attempt) *failure {
	f := &failure{stage: StageAuth, field: FieldSSLMode, kind: KindPasswordWithheld}
	what := "the password in cleartext"
	switch a.withheld {
	case AuthMD5:
		what = "the password as an MD5 hash (which a listener can crack or replay)"
	case AuthSCRAM, AuthSASL:
		what = "a SCRAM password exchange"
	}
	over := "over an unencrypted connection"
	if a.usedTLS() {
		over = "over TLS whose certificate " + a.guard.LibPQ() + " would not accept"
	}
	why := "the input asks for " + a.guard.LibPQ()
	if a.withheld == AuthSCRAM || a.withheld == AuthSASL {
		why = "a pin is set: no password before a pinned certificate"
	}
	f.message = fmt.Sprintf("the server asks for %s %s: a client in this mode would answer; flowpg did not (%s)", what, over, why)
	f.remediation = "use scram-sha-256 in pg_hba.conf, and an sslMode with TLS"
	return f
}

// serverFailure explains an ErrorResponse received during startup. The
// SQLSTATE decides, with the routine that raised it or what the wire showed
// where one SQLSTATE covers several causes. The server's message text is
// quoted where it tells more than the explanation (it never contains the
// password), and left out where it would only say the same again; the
// auth stage's details keep it either way.
func (r *runner) serverFailure(a *attempt, e *pgconn.PgError, tlsOffered bool) *failure {
	f := &failure{stage: StageAuth, kind: KindServer, pgErr: e}
	quoted := r.serverText(e)
	user := r.conn.User
	switch e.Code {
	case "28P01":
		// The server answers a user that does not exist exactly as a wrong
		// password, on purpose (it runs a mock exchange), so that no one can
		// probe for user names: no field can be blamed alone.
		f.field = ""
		f.message = fmt.Sprintf("user %q does not exist or the password is wrong (SQLSTATE 28P01: the server does not say which, on purpose)", user)
		f.remediation = credentialsFix
	case "28000":
		return r.loginRefused(a, e, f, tlsOffered)
	case "3D000":
		f.field = FieldDatabase
		f.message = fmt.Sprintf("database %q does not exist (SQLSTATE 3D000)", r.conn.Database)
		f.remediation = "check database (names are case-sensitive); list them with psql -l"
	case "42501":
		f.field = FieldUsername
		f.message = fmt.Sprintf("user %q may not connect: %s", user, quoted)
		f.remediation = fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", quoteIdent(r.conn.Database), quoteIdent(user))
	case "53300":
		f.field = FieldServer
		f.message = "the server has no free connection slot (too many connections): " + quoted
		f.remediation = "close idle sessions or raise max_connections (or the role's CONNECTION LIMIT); AEP's ingestion needs spare slots"
	case "57P03":
		f.field = FieldServer
		f.message = "the server is starting up, shutting down or in recovery and does not accept connections yet: " + quoted
		f.remediation = "retry in a moment; if it persists, check the server's state"
	default:
		f.field = ""
		f.message = "the server refused the connection: " + quoted
		f.remediation = "see the SQLSTATE in PostgreSQL's documentation (Appendix A) and the server's log"
	}
	return f
}

// credentialsFix is the remediation when the server refused the user name
// and password together.
const credentialsFix = "check username and password; if the password contains ; { } or =, pass it through basic authentication rather than the connection string"

// Routines, from an ErrorResponse's R field (the server function that
// raised it), that tell apart the steps of a login refused with SQLSTATE
// 28000. PostgreSQL 15 and 17 send these names (the integration tests see
// them); a proxy that rebuilds errors may send none, and then the wire tells
// (see loginStepOf).
const (
	routineHBA    = "ClientAuthentication"    // pg_hba.conf: no line admits the client, or a reject line matched
	routineMethod = "auth_failed"             // the matching line's method failed; for password methods the SQLSTATE is 28P01 instead
	routineRole   = "InitializeSessionUserId" // after authentication: the role may not log in, or does not exist
)

// loginStep is the step of a login at which the server refused it.
type loginStep int

const (
	stepHBA    loginStep = iota // before any authentication request
	stepMethod                  // the authentication method failed
	stepRole                    // after AuthenticationOk: the role itself
)

// loginStepOf says at which step the server refused a's login with e: from
// the routine that raised e, else from what a showed on the wire. The
// server checks pg_hba.conf before it asks for anything, and the role only
// after it sent AuthenticationOk.
func loginStepOf(a *attempt, e *pgconn.PgError) loginStep {
	switch e.Routine {
	case routineRole:
		return stepRole
	case routineMethod:
		return stepMethod
	case routineHBA:
		return stepHBA
	}
	switch {
	case a.authOK:
		return stepRole
	case a.authMethod != "":
		return stepMethod
	}
	return stepHBA
}

// checksRoleSecret reports whether the server verifies a password with
// method m against the role's own stored secret, so that a verified one
// proves the role exists. A cleartext password does not: LDAP, PAM and
// RADIUS ask for one too, and check it elsewhere.
func checksRoleSecret(m string) bool {
	return m == AuthSCRAM || m == AuthMD5
}

// loginRefused explains a 28000, which covers pg_hba.conf's refusals, a
// failed authentication method other than a password one, and a role that
// may not log in.
func (r *runner) loginRefused(a *attempt, e *pgconn.PgError, f *failure, tlsOffered bool) *failure {
	quoted := r.serverText(e)
	user := r.conn.User
	switch loginStepOf(a, e) {
	case stepRole:
		f.field = FieldUsername
		if checksRoleSecret(a.authMethod) && a.authOK {
			// The role's own password was verified, so the role exists.
			f.message = fmt.Sprintf("user %q may not log in: the role lacks the LOGIN attribute (SQLSTATE 28000)", user)
			f.remediation = fmt.Sprintf("ALTER ROLE %s LOGIN", quoteIdent(user))
			return f
		}
		// Nothing proved the role exists (trust, a password checked
		// elsewhere, or a method the wire did not show): it may as well
		// not. The server's text says which.
		f.message = fmt.Sprintf("the server refused user %q after authentication: %s", user, quoted)
		f.remediation = fmt.Sprintf("check username; if the role exists, ALTER ROLE %s LOGIN", quoteIdent(user))
		return f
	case stepMethod:
		if a.authMethod == AuthPassword {
			// A cleartext password asked for with 28000 on failure: LDAP,
			// PAM, RADIUS or BSD authentication.
			f.message = fmt.Sprintf("user %q does not exist or the password is wrong: %s", user, quoted)
			f.remediation = credentialsFix
			return f
		}
		f.field = FieldUsername
		f.message = "the pg_hba.conf line for this user, database and client address asks for an authentication method other than a password, and it failed: " + quoted
		f.remediation = "AEP logs in with a user name and a password only: use scram-sha-256 on the pg_hba.conf line that admits AEP's IP ranges, and reload"
		return f
	}
	// pg_hba's refusal of a plaintext connection that a hostssl line would
	// have accepted carries no structured marker: the server only appends
	// ", no encryption" to the message text. So it is recognised
	// structurally first (this attempt was plaintext and the server does
	// offer TLS), and by that suffix only as a fallback.
	if !a.usedTLS() && (tlsOffered || strings.HasSuffix(e.Message, "no encryption")) {
		f.stage, f.field = StageSSLMode, FieldSSLMode
		f.message = "the server refuses unencrypted connections (pg_hba.conf allows only hostssl here): " + quoted
		f.remediation = "use an sslMode with TLS: Verify Full, Verify Ca or Require (EncryptionMethod=1)"
		return f
	}
	f.field = FieldUsername
	f.message = "the server's pg_hba.conf does not admit this user, database and client address: " + quoted
	f.remediation = "add a pg_hba.conf line for AEP's IP ranges, e.g. hostssl <database> <user> <cidr> scram-sha-256, and reload; check username and database"
	return f
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

// timeoutFlag names the run's time limit (Options.Timeout) in remediations
// by the CLI flag that sets it. A library should leave command lines to its
// caller; until the CLI words its own fixes, this is the one place that
// names the flag.
const timeoutFlag = "--timeout"

// timeoutFix is the part of a remediation for a stage that the run's time
// limit ended: the limit may simply be too short for a slow path.
func (r *runner) timeoutFix() string {
	fix := "if the path is only slow, raise " + timeoutFlag
	if r.opts.Timeout > 0 {
		fix += fmt.Sprintf(" (%s now)", r.opts.Timeout)
	}
	return fix
}

func isTimeout(err error) bool {
	var ne net.Error
	return pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ETIMEDOUT) || (errors.As(err, &ne) && ne.Timeout())
}

// opDetail adds the system call error of a *net.OpError, which carries
// addresses and an errno but no configuration (and so no password).
func opDetail(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var errno syscall.Errno
		if errors.As(op.Err, &errno) {
			return ": " + errno.Error()
		}
	}
	return ""
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
