package preflight_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/preflight"
)

// connFor returns a Conn to s for user in sslmode m.
func connFor(s *pgtest.Server, user, password string, m connstr.SSLMode) connstr.Conn {
	c := connstr.Conn{Server: s.Host, Port: s.Port, Database: pgtest.Database, User: user, Password: password}
	c.SetSSLMode(m)
	return c
}

// guarded keeps a run on this machine (TESTING.md, "Where tests may send
// traffic"). Dials go through netguard's guard, which fails t at once,
// naming the address, on any address but loopback and the own addresses
// that allow declares; a netguard.Refuser passes as it is, since it sends
// nothing. Lookups fail t, unless the test gave a netguard.Hosts.
func guarded(t testing.TB, opts preflight.Options, allow ...netguard.Option) preflight.Options {
	t.Helper()
	opts.Dialer = netguard.Dialer(t, opts.Dialer, allow...)
	opts.Resolver = netguard.Resolver(t, opts.Resolver)
	return opts
}

// runCheck runs preflight.Run, guarded, with a deadline and checks
// invariants every report must keep: all stages present in order, and no
// password anywhere. A test that needs one of this machine's own
// non-loopback addresses passes netguard.AllowOwnAddress in allow.
func runCheck(t *testing.T, c connstr.Conn, opts preflight.Options, allow ...netguard.Option) *preflight.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep := preflight.Run(ctx, c, guarded(t, opts, allow...))
	require.NotNil(t, rep)
	require.Len(t, rep.Checks, len(preflight.Stages()))
	for i, id := range preflight.Stages() {
		require.Equal(t, id, rep.Checks[i].ID)
	}
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	if c.Password != "" {
		require.NotContains(t, string(b), c.Password, "password leaked into the report")
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("report: %s", b)
	}
	return rep
}

// requireFailAt asserts that stage id failed blaming field, that every
// earlier stage did not fail and that every later one was skipped.
func requireFailAt(t *testing.T, rep *preflight.Report, id preflight.Stage, field preflight.Field) {
	t.Helper()
	b, _ := json.MarshalIndent(rep, "", "  ")
	require.Equal(t, preflight.Fail, rep.Verdict, "%s", b)
	seen := false
	for _, c := range rep.Checks {
		switch {
		case c.ID == id:
			require.Equal(t, preflight.Fail, c.Status, "%s: %s", c.ID, b)
			require.Equal(t, field, c.Field, "%s: %s", c.ID, b)
			require.NotEmpty(t, c.Remediation)
			seen = true
		case seen:
			require.Equal(t, preflight.Skip, c.Status, "%s after %s: %s", c.ID, id, b)
		default:
			require.NotEqual(t, preflight.Fail, c.Status, "%s before %s: %s", c.ID, id, b)
		}
	}
}

func requireStatus(t *testing.T, rep *preflight.Report, id preflight.Stage, want preflight.Status) *preflight.Result {
	t.Helper()
	r := rep.Check(id)
	require.NotNil(t, r)
	if r.Status != want {
		b, _ := json.MarshalIndent(rep, "", "  ")
		require.Equal(t, want, r.Status, "%s: %s", id, b)
	}
	return r
}

func itoa(n int) string { return strconv.Itoa(n) }

// caPools maps a CA file's path to its pool, and caFiles a pool back to its
// file, so that a test that hands preflight a pool can hand pgx the file.
var caPools, caFiles sync.Map

// rootsOf returns the pool of the PEM CA file at path, the same pool for the
// same path.
func rootsOf(t testing.TB, path string) *x509.CertPool {
	t.Helper()
	if p, ok := caPools.Load(path); ok {
		return p.(*x509.CertPool)
	}
	pem, err := os.ReadFile(path)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem), "no PEM certificate in %s", path)
	p, _ := caPools.LoadOrStore(path, pool)
	caFiles.Store(p, path)
	return p.(*x509.CertPool)
}

// caFileOf is the file rootsOf read pool from; "" for nil (system roots).
func caFileOf(pool *x509.CertPool) string {
	if f, ok := caFiles.Load(pool); ok {
		return f.(string)
	}
	return ""
}
