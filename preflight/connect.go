package preflight

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/pgtls"
)

// connResult is one connection attempt through pgconn, in one sslmode, with
// every dial it made.
type connResult struct {
	mode     string // libpq sslmode
	attempts []*attempt
	conn     *pgconn.PgConn // nil when err is set
	err      error
	start    time.Time
	end      time.Time
}

// final returns the attempt that decided the outcome: the one that
// connected, or the last one tried before the run's time was up.
func (c *connResult) final() *attempt {
	for _, a := range c.attempts {
		if a.ready && a.err == nil {
			return a
		}
	}
	for i := len(c.attempts) - 1; i >= 0; i-- {
		if !c.attempts[i].late {
			return c.attempts[i]
		}
	}
	if len(c.attempts) == 0 {
		return nil
	}
	return c.attempts[len(c.attempts)-1]
}

// maxServerMessage bounds one message from the server, in bytes.
const maxServerMessage = 1 << 20

// quoteDSN quotes a value for a libpq keyword/value string.
func quoteDSN(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// pgconnConfig builds the pgconn configuration for one sslmode. Every key
// that pgconn would otherwise take from PG* environment variables or from
// files in the home directory is set explicitly, so the result depends only
// on the input and the options: in particular sslrootcert is emptied, so
// ~/.postgresql/root.crt cannot silently turn require into verify-ca, and
// sslmode is always "disable" here because TLS and the allow/prefer
// fallbacks are set up below from our own tls.Config, not by pgconn.
// (PGSERVICE cannot be neutralised this way; a broken one fails ParseConfig.)
// The password never enters the string, so no parse error can quote it.
func (r *runner) pgconnConfig(mode string, addrs []netip.Addr, obs *observer) (*pgconn.Config, error) {
	cfg, err := r.baseConfig()
	if err != nil {
		return nil, err
	}

	hosts := make([]string, len(addrs))
	for i, a := range addrs {
		hosts[i] = a.String()
	}
	// Resolution already happened, timed, in the dns stage: hand pgconn the
	// same addresses so it neither resolves again nor sees a different answer.
	cfg.LookupFunc = func(context.Context, string) ([]string, error) { return hosts, nil }

	var tlsCfg *tls.Config
	if mode != "disable" {
		tlsCfg = r.verifier.tlsConfig(mode)
	}
	cfg.DialFunc = r.dialHook(mode, obs)
	cfg.AfterNetConnect = r.afterNetConnectHook(tlsCfg, obs)
	cfg.OnPgError = pgErrorHook(obs)
	r.setTLSLegs(cfg, mode, tlsCfg)
	return cfg, nil
}

// baseConfig is the pgconn configuration of the checked connection before
// its hooks and TLS legs: every libpq setting that could come from the
// environment or a file is pinned, so that only the connection itself
// decides what is dialed and sent.
func (r *runner) baseConfig() (*pgconn.Config, error) {
	dsn := strings.Join([]string{
		"host=" + quoteDSN(r.host),
		"port=" + strconv.Itoa(r.port),
		"dbname=" + quoteDSN(r.conn.Database),
		"user=" + quoteDSN(r.conn.User),
		"sslmode=disable",
		"sslrootcert=''", "sslcert=''", "sslkey=''", "sslpassword=''",
		"sslcertmode=allow", "sslsni=1", "sslnegotiation=postgres",
		"passfile=''", "target_session_attrs=any", "channel_binding=prefer",
		"min_protocol_version=3.0", "max_protocol_version=3.0", "require_auth=''",
	}, " ")
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		var pce *pgconn.ParseConfigError
		if errors.As(err, &pce) && pce.Unwrap() != nil {
			return nil, fmt.Errorf("preflight: building the driver configuration: %w", pce.Unwrap())
		}
		return nil, errors.New("preflight: building the driver configuration failed")
	}
	cfg.Password = r.conn.Password
	cfg.RuntimeParams = map[string]string{"application_name": "flowpg-preflight"}
	cfg.ConnectTimeout = 0 // the run's context bounds everything
	cfg.ValidateConnect, cfg.AfterConnect = nil, nil
	// The server says how long each of its messages is, and pgproto3 takes
	// up to 1 GiB: a hostile one could make the check allocate that much.
	// Nothing a check reads comes near maxServerMessage (an error's text, a
	// row of names).
	cfg.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		f := pgproto3.NewFrontend(r, w)
		f.SetMaxBodyLen(maxServerMessage)
		return f
	}
	return cfg, nil
}

// dialHook is pgconn's DialFunc: it opens each attempt's TCP connection
// through Options.Dialer and records it in obs.
func (r *runner) dialHook(mode string, obs *observer) pgconn.DialFunc {
	dialer := r.opts.Dialer
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if ctx.Value(attemptsKey{}) == nil {
			// Not a connection attempt: pgconn's CancelRequest, which it
			// sends on a context of its own after a startup fails on I/O.
			return dialer.DialContext(ctx, network, address)
		}
		if obs.rejected() || obs.notPostgres() {
			// Our verification refused the server's certificate (a pin
			// mismatch, under Prefer), or the server answered the TLS
			// request with what PostgreSQL never sends: Prefer's plaintext
			// fallback would send the password to that very server with no
			// TLS at all. libpq stops there too.
			return nil, errNoFallback
		}
		a := obs.begin(address, ctx.Err() != nil)
		obs.enter(StageTCP)
		c, err := dialer.DialContext(ctx, network, address)
		a.mu.Lock()
		a.dialEnd, a.dialErr = time.Now(), err
		a.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if mode == "disable" || mode == "allow" { // plaintext first
			obs.enter(StageAuth)
		} else {
			obs.enter(StageTLS)
		}
		return a.wire(c), nil
	}
}

// afterNetConnectHook is pgconn's AfterNetConnect. pgconn layers TLS over
// the dialed conn without completing the handshake (it would happen lazily
// on the first write). Completing it here times it separately from
// authentication, and the conn returned here, above TLS, is where the
// protocol can be read in the clear.
func (r *runner) afterNetConnectHook(tlsCfg *tls.Config, obs *observer) func(context.Context, *pgconn.Config, net.Conn) (net.Conn, error) {
	return func(ctx context.Context, _ *pgconn.Config, conn net.Conn) (net.Conn, error) {
		a := obs.current()
		if tc, ok := conn.(*tls.Conn); ok {
			tc, err := r.handshake(ctx, a, tc, tlsCfg)
			if err != nil {
				return tc, err // pgconn closes the conn it is given back
			}
			conn = tc
		}
		a.mu.Lock()
		a.authStart = time.Now()
		a.mu.Unlock()
		obs.enter(StageAuth)
		return &msgConn{Conn: conn, a: a}, nil
	}
}

// pgErrorHook is pgconn's OnPgError. pgconn reports startup errors only for
// the last attempt; this keeps each attempt's own, e.g. the plaintext
// refusal before Allow's TLS leg.
func pgErrorHook(obs *observer) pgconn.PgErrorHandler {
	return func(_ *pgconn.PgConn, e *pgconn.PgError) bool {
		if a := obs.current(); a != nil {
			a.mu.Lock()
			if !a.ready && a.pgErr == nil {
				a.pgErr = e
			}
			a.mu.Unlock()
		}
		return !strings.EqualFold(e.Severity, "FATAL") // pgconn's default: close on FATAL
	}
}

// setTLSLegs sets the TLS of cfg's first attempt and its fallbacks as libpq
// does in mode.
func (r *runner) setTLSLegs(cfg *pgconn.Config, mode string, tlsCfg *tls.Config) {
	switch mode {
	case "disable":
		cfg.TLSConfig, cfg.Fallbacks = nil, nil
	case "allow":
		cfg.TLSConfig = nil
		cfg.Fallbacks = []*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: tlsCfg}}
	case "prefer":
		cfg.TLSConfig = tlsCfg
		// With pins, no password goes where no certificate was seen: a
		// server that declines TLS gets no plaintext fallback either.
		if len(r.opts.PinSHA256) == 0 {
			cfg.Fallbacks = []*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: nil}}
		}
	default:
		cfg.TLSConfig, cfg.Fallbacks = tlsCfg, nil
	}
}

// handshake completes a's TLS handshake on tc, made from cfg, and records
// it. A server that refuses the ClientHello outright gets the one retry
// pgtls allows, on a new connection to the same address that a keeps
// observing. It returns the connection to go on with (or for pgconn to
// close, on error).
func (r *runner) handshake(ctx context.Context, a *attempt, tc *tls.Conn, cfg *tls.Config) (*tls.Conn, error) {
	a.mu.Lock()
	w := a.watch
	a.mu.Unlock()
	redial := func(ctx context.Context) (net.Conn, error) {
		c, err := r.opts.Dialer.DialContext(ctx, "tcp", a.address)
		if err != nil {
			return nil, err
		}
		return a.wire(c), nil
	}
	tc, retried, err := pgtls.Handshake(ctx, tc, w, cfg, redial)
	end := time.Now()
	st := tc.ConnectionState()
	var rej *rejection
	var check *certCheck
	switch {
	case errors.As(err, &rej):
		check = rej.check
	case err == nil || len(st.PeerCertificates) > 0:
		// A handshake that failed after the certificate (say, the
		// server's alert) still shows the chain.
		check = r.verifier.check(st.PeerCertificates)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.handshakeEnd, a.handshakeErr, a.groupRetry = end, err, retried
	if check != nil {
		a.tlsState, a.peerCerts, a.cert = &st, st.PeerCertificates, check
		if rej != nil {
			a.certRejected = rej.err
		}
	}
	return tc, err
}

// errNoFallback ends a connection whose TLS leg our verification refused,
// or that a server which is not PostgreSQL answered, instead of the
// fallback to plaintext.
var errNoFallback = errors.New("preflight: no plaintext fallback after the TLS leg was refused")

// attemptsKey marks the context of ConnectConfig, so that DialFunc tells
// its connection attempts from other dials.
type attemptsKey struct{}

// connect makes one pgconn connection in mode, observing every dial. guard,
// when set, is the mode whose protection the password must have before
// it leaves (attempt.withhold): the audit's attempts have one, the checked
// connection and the connection's own mode do not.
//
// phases, when given, is told of the stage each step of the first attempt
// begins (Options.Progress): only the checked connection passes it.
func (r *runner) connect(ctx context.Context, mode string, addrs []netip.Addr, guard connstr.SSLMode, phases ...func(Stage)) *connResult {
	res := &connResult{mode: mode, start: time.Now()}
	obs := &observer{guard: guard, pinned: guard != connstr.SSLModeUnset && len(r.opts.PinSHA256) > 0}
	if len(phases) > 0 {
		obs.phase = phases[0]
	}
	cfg, err := r.pgconnConfig(mode, addrs, obs)
	if err != nil {
		res.err, res.end = err, time.Now()
		return res
	}
	res.conn, res.err = pgconn.ConnectConfig(context.WithValue(ctx, attemptsKey{}, true), cfg)
	res.end = time.Now()
	res.attempts = obs.list()
	if res.err != nil {
		res.conn = nil
		assignErrors(res.attempts, res.err)
	}
	return res
}

// assignErrors hands each failed attempt its own error. pgconn joins the
// per-dial errors, in dial order, inside its *ConnectError.
func assignErrors(attempts []*attempt, err error) {
	if len(attempts) == 0 {
		return
	}
	var errs []error
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		if j, ok := ce.Unwrap().(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
	}
	if len(errs) != len(attempts) {
		errs = make([]error, len(attempts))
		errs[len(errs)-1] = err
	}
	for i, a := range attempts {
		if errs[i] == nil {
			continue
		}
		a.mu.Lock() // still live: the connection's socket may be read on another goroutine
		a.err = errs[i]
		a.mu.Unlock()
	}
}
