package preflight_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/preflight"
)

// interruptAfter runs a check whose caller's context ends after d, as
// Ctrl-C does, long before the check's own timeout.
func interruptAfter(t *testing.T, d time.Duration, c connstr.Conn, opts preflight.Options) *preflight.Report {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(d, cancel)
	opts.Timeout = 30 * time.Second
	return preflight.Run(ctx, c, guarded(t, opts))
}

// requireInterrupted asserts the report blames nothing: no stage failed,
// the one the interrupt cut and those after it are "not finished" or "not
// run", with no fix, and the verdict says so.
func requireInterrupted(t *testing.T, rep *preflight.Report, cut preflight.Stage) {
	t.Helper()
	require.Equal(t, preflight.Interrupted, rep.Verdict)
	after := false
	for _, c := range rep.Checks {
		require.NotEqual(t, preflight.Fail, c.Status, "%s: %s", c.ID, c.Message)
		after = after || c.ID == cut
		if after {
			require.Equal(t, preflight.Skip, c.Status, c.ID)
			require.Contains(t, c.Message, "interrupted", c.ID)
			require.Empty(t, c.Remediation, "%s: an interrupt has no fix", c.ID)
		}
	}
	r := rep.Check(cut)
	require.Equal(t, preflight.Skip, r.Status)
	require.Equal(t, preflight.KindInterrupted, r.Kind)
	require.Contains(t, r.Message, "interrupted")
}

// An interrupt is never a database failure: Ctrl-C during the TLS handshake
// of a black-holed server used to read as a TLS failure with a fix.
func TestInterrupt_IsNoFinding(t *testing.T) {
	t.Parallel()
	t.Run("during the TLS handshake", func(t *testing.T) {
		p, err := faultproxy.New(fakeServer(t, 'S'), faultproxy.Options{BlackHole: true})
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		rep := interruptAfter(t, 300*time.Millisecond, connTo(t, p.Addr, connstr.SSLVerifyFull), preflight.Options{})
		requireInterrupted(t, rep, preflight.StageTLS)
		require.Equal(t, preflight.Pass, rep.Check(preflight.StageTCP).Status)
		require.Contains(t, rep.Check(preflight.StageAuth).Message, "interrupted")
	})
	t.Run("during the startup", func(t *testing.T) {
		rep := interruptAfter(t, 300*time.Millisecond, connTo(t, fakeServer(t, 'N'), connstr.SSLDisable), preflight.Options{})
		requireInterrupted(t, rep, preflight.StageAuth)
	})
	t.Run("during the audit", func(t *testing.T) {
		rep := interruptAfter(t, 300*time.Millisecond, connTo(t, fakeServer(t, 'N'), connstr.SSLDisable), preflight.Options{Audit: true})
		require.Equal(t, preflight.Interrupted, rep.Verdict)
		for _, a := range rep.Audit {
			require.False(t, a.OK)
			require.NotContains(t, a.Error, "time limit", a.SSLMode.String())
		}
	})
	t.Run("during the TLS probe of a silent server", func(t *testing.T) {
		// Disable ends in plaintext, so a probe asks for TLS on a connection
		// of its own. The check's limit is an hour: a probe that ignored the
		// interrupt would hang this test until go test's -timeout.
		p, err := faultproxy.New(fakeServer(t, 'S'), faultproxy.Options{BlackHole: true})
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		rep := preflight.Run(ctx, connTo(t, p.Addr, connstr.SSLDisable), guarded(t, preflight.Options{Timeout: time.Hour}))
		require.Equal(t, preflight.Interrupted, rep.Verdict)
	})
	t.Run("during the name lookup", func(t *testing.T) {
		c := connTo(t, "127.0.0.1:5432", connstr.SSLVerifyFull)
		c.Server = "db.example.com"
		rep := interruptAfter(t, 200*time.Millisecond, c, preflight.Options{Resolver: netguard.Stall{}})
		requireInterrupted(t, rep, preflight.StageDNS)
	})
}
