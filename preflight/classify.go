package preflight

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// failure is the plain-language diagnosis of a failed connection.
type failure struct {
	stage       Stage
	field       Field
	kind        Kind
	message     string
	remediation string
	option      Option // the field of Options that message or remediation names
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
		return r.sslRequestFailure(a, hostport, err)
	case phaseHandshake:
		return r.handshakeFailure(c.mode, a, err)
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

// sslRequestFailure explains an attempt that ended at the SSLRequest: the
// server declined TLS, answered what PostgreSQL never does, or the
// transport failed. The caller holds a.mu.
func (r *runner) sslRequestFailure(a *attempt, hostport string, err error) *failure {
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
}

// handshakeFailure explains an attempt whose TLS handshake failed in mode:
// our verification refused the chain, the server sent an alert, or what
// came back was not TLS. The caller holds a.mu.
func (r *runner) handshakeFailure(mode string, a *attempt, err error) *failure {
	if a.certRejected != nil {
		return r.certFailure(mode, a.certRejected, a.cert)
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
		f.option = OptionTimeout
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

// timeoutFix is the part of a remediation for a stage that the run's time
// limit ended: the limit may simply be too short for a slow path. The
// result that carries it sets Option to OptionTimeout.
func (r *runner) timeoutFix() string {
	fix := "if the path is only slow, raise " + OptionTimeout.String()
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
