package preflight_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/preflight"
)

func TestRun_TLSOnHappyPath(t *testing.T) {
	t.Parallel()
	for _, v := range pgtest.Versions() {
		t.Run("PG"+v, func(t *testing.T) {
			t.Parallel()
			s := pgtest.StartT(t, pgtest.Options{Version: v, TLS: pgtest.TLSOn})
			rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull),
				preflight.Options{CAFile: s.CAFile, Tables: []string{"public.customers", "sales.regions", "public.customer_orders"}})
			require.Equal(t, preflight.Warn, rep.Verdict) // loopback address
			requireStatus(t, rep, preflight.StageAddress, preflight.Warn)
			requireStatus(t, rep, preflight.StageTLS, preflight.Pass)
			// pgtest's CertValid lives 28 days, inside the 30-day warning.
			cert := requireStatus(t, rep, preflight.StageCertificate, preflight.Warn)
			cd := cert.Details.(*preflight.CertificateDetails)
			require.True(t, cd.ChainValid)
			require.True(t, cd.HostnameMatch)
			require.Equal(t, "ca-file", cd.TrustedBy)
			require.InDelta(t, 27, cd.DaysToExpiry, 1)
			requireStatus(t, rep, preflight.StageSSLMode, preflight.Pass)
			auth := requireStatus(t, rep, preflight.StageAuth, preflight.Pass)
			require.Equal(t, preflight.AuthSCRAM, auth.Details.(*preflight.AuthDetails).Method)
			srv := requireStatus(t, rep, preflight.StageServer, preflight.Pass)
			require.Equal(t, v, itoa(srv.Details.(*preflight.ServerDetails).Major))
			priv := requireStatus(t, rep, preflight.StagePrivileges, preflight.Pass)
			pd := priv.Details.(*preflight.PrivilegesDetails)
			require.Equal(t, 4, pd.ReadableCount)
			require.True(t, pd.Connect)
			require.Len(t, pd.Tables, 3)
		})
	}
}
