package pgprobe_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/pgprobe"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/internal/pgtls/pgtlstest"
)

// params are the stored connection's basic-auth params for addr.
func params(t *testing.T, addr, user, password, sslMode string) map[string]string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return map[string]string{
		"server": host, "port": port, "database": pgtest.Database,
		"username": user, "password": password, "sslMode": sslMode,
	}
}

func probe(t *testing.T, p map[string]string, opts pgprobe.Options) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := pgprobe.Prober(opts)(ctx, connstr.BasicAuthSpecName, p)
	return err
}

// The prober dials as the pre-flight does. pgtlstest's server refuses the
// login after the handshake, so the probe fails with its SQLSTATE: proof
// that the startup went over the connection whose handshake the server
// recorded.
func TestProber_KeyShares(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		groups []tls.CurveID
		conns  int
		group  tls.CurveID
	}{
		{"P-256 server, one ClientHello", []tls.CurveID{tls.CurveP256}, 1, tls.CurveP256},
		{"X25519MLKEM768-only server, the one retry", []tls.CurveID{tls.X25519MLKEM768}, 2, tls.X25519MLKEM768},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := pgtlstest.Start(t, pgtlstest.Options{Groups: tc.groups})
			err := probe(t, params(t, s.Addr, "aep", "pw-not-used", "Verify Full"), pgprobe.Options{CAFile: s.CAFile})
			var pgErr *pgconn.PgError
			require.True(t, errors.As(err, &pgErr), "%v", err)
			require.Equal(t, pgtlstest.RefusalSQLState, pgErr.Code)
			got := s.WaitConns(t, tc.conns)
			require.Len(t, got, tc.conns)
			last := got[len(got)-1].State
			require.NotNil(t, last)
			require.Equal(t, tc.group, last.CurveID)
			require.False(t, last.HelloRetryRequest)
		})
	}
}

// Against a real PostgreSQL through a tracing proxy, explore's login sends
// one ClientHello: no HelloRetryRequest.
func TestProber_OneClientHelloToPostgreSQL(t *testing.T) {
	t.Parallel()
	for _, v := range pgtest.Versions() {
		t.Run("PG"+v, func(t *testing.T) {
			t.Parallel()
			s := pgtest.StartT(t, pgtest.Options{Version: v, TLS: pgtest.TLSOn})
			px, err := faultproxy.New(net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), faultproxy.Options{Latency: 5 * time.Millisecond, Trace: true})
			require.NoError(t, err)
			t.Cleanup(func() { px.Close() })

			require.NoError(t, probe(t, params(t, px.Addr, pgtest.ScramUser, pgtest.ScramPassword, "Verify Full"), pgprobe.Options{CAFile: s.CAFile}))
			require.Eventually(t, func() bool {
				fs := px.Flights()
				return len(fs) == 1 && len(fs[0]) > 0 && fs[0][len(fs[0])-1].Closed
			}, 5*time.Second, 5*time.Millisecond)
			hellos := 0
			for _, f := range px.Flights()[0] {
				if _, ch := f.TLSHandshake(); ch && f.FromClient {
					hellos++
				}
			}
			require.Equal(t, 1, hellos)
		})
	}
}
