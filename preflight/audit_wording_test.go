package preflight_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/preflight"
)

// TestAudit_RowsNameTheirOwnMode: each audit row's error speaks of its own
// mode. The verify-full row is derived from the same chain as verify-ca,
// and once said "verify-ca failed"; a row that connects never reads as a
// failure in the recommendation's reason.
func TestAudit_RowsNameTheirOwnMode(t *testing.T) {
	t.Parallel()
	// A private CA and no roots given: the system roots refuse the chain.
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn})
	rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire), preflight.Options{Audit: true})
	require.Len(t, rep.Audit, 6)
	for _, a := range rep.Audit {
		name := a.SSLMode.LibPQ()
		if a.SSLMode >= connstr.SSLVerifyCA {
			require.False(t, a.OK, name)
			require.Contains(t, a.Error, name+" failed", "the %s row names its own mode", name)
			continue
		}
		require.True(t, a.OK, "%s: %s", name, a.Error)
		require.NotContains(t, rep.RecommendationReason, name+" fails", "a row that connects is no failure")
	}
	require.Equal(t, connstr.SSLRequire, rep.RecommendedSSLMode)
	require.Contains(t, rep.RecommendationReason, "verify-full fails: verify-full failed")
	require.Contains(t, rep.RecommendationReason, "verify-ca fails: verify-ca failed")
}
