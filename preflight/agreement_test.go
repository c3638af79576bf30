package preflight_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/preflight"
)

// The audit dials only the attempts that differ on the wire and derives the
// other modes. These helpers hold it to the truth: pgx itself, connecting
// once in every sslmode with libpq's settings, as a client in that mode
// would.

// pgxOutcome is how pgx fared in one sslmode.
type pgxOutcome struct {
	ok, tls bool
	err     error
}

// pgxAudit connects with pgx to c's server in every sslmode, one after
// another. caFile, when set, is sslrootcert for verify-ca and verify-full
// (pgx would turn require into verify-ca with one); otherwise those verify
// against the system roots, as a run without Options.RootCAs does.
func pgxAudit(t *testing.T, c connstr.Conn, caFile string) map[connstr.SSLMode]pgxOutcome {
	t.Helper()
	out := map[connstr.SSLMode]pgxOutcome{}
	for _, m := range []connstr.SSLMode{connstr.SSLDisable, connstr.SSLAllow, connstr.SSLPrefer, connstr.SSLRequire, connstr.SSLVerifyCA, connstr.SSLVerifyFull} {
		root := "''"
		if caFile != "" && m >= connstr.SSLVerifyCA {
			root = "'" + caFile + "'"
		}
		dsn := fmt.Sprintf("host=%s port=%d dbname=%s user=%s password=%s sslmode=%s sslrootcert=%s sslcert='' sslkey='' sslnegotiation=postgres target_session_attrs=any connect_timeout=20",
			c.Server, c.PortOrDefault(), c.Database, c.User, c.Password, m.LibPQ(), root)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		conn, err := pgx.Connect(ctx, dsn)
		o := pgxOutcome{ok: err == nil, err: err}
		if err == nil {
			_, o.tls = conn.PgConn().Conn().(*tls.Conn)
			require.NoError(t, conn.Close(ctx))
		}
		cancel()
		out[m] = o
	}
	return out
}

// requireAuditAgrees runs the audit on c and asserts, mode by mode, that it
// says what pgx met: connected or not, over TLS or not. Where the audit
// withheld the password, pgx, which sent it, must have logged in (or been
// refused the password) on the kind of connection the audit names.
func requireAuditAgrees(t *testing.T, c connstr.Conn, opts preflight.Options) *preflight.Report {
	t.Helper()
	opts.Audit = true
	rep := runCheck(t, c, opts)
	truth := pgxAudit(t, c, caFileOf(opts.RootCAs))
	require.Len(t, rep.Audit, 6)
	for _, a := range rep.Audit {
		p := truth[a.SSLMode]
		if a.PasswordWithheld != "" {
			require.False(t, a.OK, a.SSLMode.LibPQ())
			if p.tls {
				require.Contains(t, a.Error, "over TLS", "%s: pgx used TLS", a.SSLMode.LibPQ())
			} else {
				require.Contains(t, a.Error, "unencrypted", "%s: pgx used plaintext", a.SSLMode.LibPQ())
			}
			t.Logf("%-11s withheld (%s); pgx: ok=%v tls=%v err=%v", a.SSLMode.LibPQ(), a.PasswordWithheld, p.ok, p.tls, p.err)
			continue
		}
		require.Equal(t, p.ok, a.OK, "%s: audit says %q, pgx: %v", a.SSLMode.LibPQ(), a.Error, p.err)
		require.Equal(t, p.tls, a.TLS, "%s: TLS", a.SSLMode.LibPQ())
		t.Logf("%-11s ok=%v tls=%v; agrees with pgx", a.SSLMode.LibPQ(), a.OK, a.TLS)
	}
	return rep
}

// countingDialer counts the TCP connections a run opens.
type countingDialer struct {
	mu sync.Mutex
	n  int
	d  net.Dialer
}

func (c *countingDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.d.DialContext(ctx, network, address)
}

func (c *countingDialer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// dialsOf runs a check with opts and returns how many TCP connections it
// opened.
func dialsOf(t *testing.T, c connstr.Conn, opts preflight.Options) (*preflight.Report, int) {
	t.Helper()
	d := &countingDialer{}
	opts.Dialer = d
	rep := runCheck(t, c, opts)
	return rep, d.count()
}

// auditAgreement runs the agreement scenarios that every TLS server with
// the valid certificate shares.
func auditAgreement(t *testing.T, s *pgtest.Server) {
	t.Run("ScramVerifyFull", func(t *testing.T) {
		requireAuditAgrees(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
	})
	t.Run("ScramRequireSystemRoots", func(t *testing.T) {
		requireAuditAgrees(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire), preflight.Options{})
	})
	t.Run("ScramDisable", func(t *testing.T) {
		requireAuditAgrees(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLDisable), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
	})
	t.Run("WrongPassword", func(t *testing.T) {
		requireAuditAgrees(t, connFor(s, pgtest.ScramUser, "wrong-pw-sentinel", connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
	})
	// An md5 user, Verify Full asked: the plaintext modes are the finding.
	t.Run("MD5VerifyFull", func(t *testing.T) {
		rep := requireAuditAgrees(t, connFor(s, pgtest.MD5User, pgtest.MD5Password, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
		for _, a := range rep.Audit {
			require.Equal(t, a.SSLMode <= connstr.SSLAllow, a.PasswordWithheld == preflight.AuthMD5, a.SSLMode.LibPQ())
		}
		require.Equal(t, connstr.SSLVerifyFull, rep.RecommendedSSLMode)
	})
	// Disable asked: the user's own choice, so nothing is withheld.
	t.Run("MD5Disable", func(t *testing.T) {
		rep := requireAuditAgrees(t, connFor(s, pgtest.MD5User, pgtest.MD5Password, connstr.SSLDisable), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
		for _, a := range rep.Audit {
			require.Empty(t, a.PasswordWithheld, a.SSLMode.LibPQ())
		}
	})
	// A pin no certificate matches aborts every TLS handshake, and the
	// connection with it (no plaintext fallback); pgx knows no pins, so the
	// expectations are written out. With a pin, no password exchange
	// starts before a pinned certificate: the plaintext modes learn that
	// the server would take SCRAM in the clear, and answer nothing.
	t.Run("PinMismatch", func(t *testing.T) {
		c := connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull)
		rep := runCheck(t, c, preflight.Options{RootCAs: rootsOf(t, s.CAFile), Audit: true, PinSHA256: []string{fmt.Sprintf("%064x", 1)}})
		requireFailAt(t, rep, preflight.StageCertificate, "")
		for _, a := range rep.Audit {
			require.False(t, a.OK, a.SSLMode.LibPQ())
			if a.SSLMode <= connstr.SSLAllow {
				require.Equal(t, preflight.AuthSCRAM, a.PasswordWithheld, a.SSLMode.LibPQ())
				require.Contains(t, a.Error, "a pin is set", a.SSLMode.LibPQ())
			} else {
				require.Empty(t, a.PasswordWithheld, a.SSLMode.LibPQ())
				require.Contains(t, a.Error, "pinned", a.SSLMode.LibPQ())
			}
		}
	})
	// What the audit costs in connections: one check that connected in
	// Verify Full shows TLS, the chain and the login; only plaintext is
	// left to try. A check in Disable leaves TLS, which also serves as the
	// TLS probe. Without the audit, Verify Full makes one connection.
	t.Run("Dials", func(t *testing.T) {
		_, n := dialsOf(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
		require.Equal(t, 1, n, "check in verify-full")
		rep, n := dialsOf(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile), Audit: true})
		require.Equal(t, 2, n, "audit from verify-full: the check, and disable")
		require.Equal(t, connstr.SSLVerifyFull, rep.RecommendedSSLMode)
		rep, n = dialsOf(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLDisable), preflight.Options{RootCAs: rootsOf(t, s.CAFile), Audit: true})
		require.Equal(t, 2, n, "audit from disable: the check, and require")
		require.Equal(t, "probe", rep.Check(preflight.StageTLS).Details.(*preflight.TLSDetails).Source)
		require.Equal(t, connstr.SSLVerifyFull, rep.RecommendedSSLMode)
	})
}
