package pgprobe_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient/flowtest"
	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/internal/pgprobe"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/internal/pgtls/pgtlstest"
)

// With a Dialer, the prober looks nothing up: the dialer receives the
// stored host as it is, so a guard can refuse a name before any query
// leaves the machine, and a Refuser sees every address.
func TestProber_DialerReceivesTheHostUnresolved(t *testing.T) {
	for _, tt := range []struct {
		name, spec string
		params     map[string]string
		want       string
	}{
		{"basic auth, name", connstr.BasicAuthSpecName,
			map[string]string{"server": "db.example.com", "port": "5432", "database": "d", "username": "u", "password": "pw-sentinel-86", "sslMode": "Disable"},
			"db.example.com:5432"},
		{"connection string, private address", connstr.ConnectionStringSpecName,
			map[string]string{"connectionString": "Server=10.1.2.3;Port=6432;Database=d;UID=u;PWD=pw-sentinel-86;EncryptionMethod=0"},
			"10.1.2.3:6432"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			refuser := &netguard.Refuser{}
			_, err := pgprobe.Prober(pgprobe.Options{Dialer: refuser})(ctx, flowtest.ProbeRequest{SpecName: tt.spec, Params: tt.params})
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "pw-sentinel-86")
			require.NotEmpty(t, refuser.Dialed())
			for _, a := range refuser.Dialed() {
				assert.Equal(t, tt.want, a)
			}
		})
	}
}

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

// roots is a trust store holding the CA in caFile: the emulator playing an
// Adobe that trusts the test's CA.
func roots(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	p := x509.NewCertPool()
	require.True(t, p.AppendCertsFromPEM(pem))
	return p
}

func probe(t *testing.T, p map[string]string, trust *x509.CertPool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := pgprobe.Prober(pgprobe.Options{Dialer: netguard.Dialer(t, nil)})(ctx, flowtest.ProbeRequest{SpecName: connstr.BasicAuthSpecName, Params: p, Roots: trust})
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
			err := probe(t, params(t, s.Addr, "aep", "pw-not-used", "Verify Full"), roots(t, s.CAFile))
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

			require.NoError(t, probe(t, params(t, px.Addr, pgtest.ScramUser, pgtest.ScramPassword, "Verify Full"), roots(t, s.CAFile)))
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
