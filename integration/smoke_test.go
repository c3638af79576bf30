// Package integration_test proves that internal/pgtest stands up each scenario
// it promises, against every PostgreSQL version under test, by dialing it
// with pgx. It needs a Docker engine and the images (integration/docker-up.sh,
// integration/build-images.sh); without them the tests skip, loudly, or fail
// when CI=true.
package integration_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/internal/pgtest"
)

// testDeadline bounds each test's work once its server is up.
const testDeadline = 60 * time.Second

// SQLSTATEs asserted below.
const (
	invalidAuthorization = "28000"
	insufficientPrivs    = "42501"
	tooManyConnections   = "53300"
	invalidCatalogName   = "3D000"
)

// eachVersion runs fn as a parallel subtest per PostgreSQL version under test.
func eachVersion(t *testing.T, fn func(t *testing.T, version string)) {
	t.Helper()
	pgtest.RequireDocker(t)
	for _, v := range pgtest.Versions() {
		t.Run("pg"+v, func(t *testing.T) {
			t.Parallel()
			fn(t, v)
		})
	}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	t.Cleanup(cancel)
	return ctx
}

// dial connects with dsn, applying tweak to the parsed config, and returns the
// TLS state the client saw (nil without TLS).
func dial(ctx context.Context, t *testing.T, dsn string, tweak func(*pgconn.Config)) (*pgx.Conn, *tls.ConnectionState, error) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	var state *tls.ConnectionState
	if cfg.TLSConfig != nil {
		// VerifyConnection runs after the usual checks, even with InsecureSkipVerify.
		cfg.TLSConfig.VerifyConnection = func(cs tls.ConnectionState) error {
			state = &cs
			return nil
		}
	}
	if tweak != nil {
		tweak(&cfg.Config)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
	}
	return conn, state, err
}

// requireSQLState asserts that err carries a server error with code.
func requireSQLState(t *testing.T, err error, code string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, code, pgErr.Code, "server said: %s", pgErr.Message)
}

// requireAuthMethod asserts that the server logged user's login with method
// (log_connections is on); the log reaches Docker a moment after the login.
func requireAuthMethod(ctx context.Context, t *testing.T, srv *pgtest.Server, user, method string) {
	t.Helper()
	want := `identity="` + user + `" method=` + method
	var logs string
	require.Eventually(t, func() bool {
		var err error
		logs, err = srv.Logs(ctx)
		return err == nil && strings.Contains(logs, want)
	}, 10*time.Second, 100*time.Millisecond, "no %q in the server log:\n%s", want, logs)
}

func TestSharedServer(t *testing.T) {
	eachVersion(t, func(t *testing.T, version string) {
		srv := pgtest.StartT(t, pgtest.Options{Version: version, TLS: pgtest.TLSOn})
		ctx := testContext(t)
		require.Equal(t, version, srv.Version)

		t.Run("TLSPeerIsGenerated", func(t *testing.T) {
			_, state, err := dial(ctx, t, srv.DSN(pgtest.ScramUser, pgtest.ScramPassword), nil)
			require.NoError(t, err)
			require.NotNil(t, state, "no TLS")
			assert.Equal(t, uint16(tls.VersionTLS13), state.Version, "got %s", tls.VersionName(state.Version))
			require.NotEmpty(t, state.PeerCertificates)
			assert.Equal(t, srv.Cert.Raw, state.PeerCertificates[0].Raw, "server presented another leaf")
			require.NotEmpty(t, state.VerifiedChains)
			chain := state.VerifiedChains[0]
			assert.Equal(t, srv.CA.Raw, chain[len(chain)-1].Raw, "chain does not end at the generated CA")
		})

		t.Run("PlaintextAccepted", func(t *testing.T) {
			conn, state, err := dial(ctx, t, srv.ConnString(pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword, "disable"), nil)
			require.NoError(t, err)
			assert.Nil(t, state)
			require.NoError(t, conn.Ping(ctx))
		})

		t.Run("SCRAM", func(t *testing.T) {
			conn, _, err := dial(ctx, t, srv.DSN(pgtest.ScramUser, pgtest.ScramPassword), nil)
			require.NoError(t, err)
			require.NoError(t, conn.Ping(ctx))
			requireAuthMethod(ctx, t, srv, pgtest.ScramUser, "scram-sha-256")
		})

		t.Run("MD5", func(t *testing.T) {
			conn, _, err := dial(ctx, t, srv.DSN(pgtest.MD5User, pgtest.MD5Password), nil)
			require.NoError(t, err)
			require.NoError(t, conn.Ping(ctx))
			requireAuthMethod(ctx, t, srv, pgtest.MD5User, "md5")
		})

		t.Run("WrongPassword", func(t *testing.T) {
			_, _, err := dial(ctx, t, srv.DSN(pgtest.ScramUser, "wrong"), nil)
			requireSQLState(t, err, "28P01")
		})

		t.Run("SampleObjects", func(t *testing.T) {
			for _, user := range [][2]string{
				{pgtest.ScramUser, pgtest.ScramPassword},
				{pgtest.MD5User, pgtest.MD5Password},
			} {
				conn, _, err := dial(ctx, t, srv.DSN(user[0], user[1]), nil)
				require.NoError(t, err)
				for _, rel := range append(pgtest.SampleTables(), pgtest.SampleView) {
					var n int
					require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM "+rel).Scan(&n), "%s reading %s", user[0], rel)
					assert.Positive(t, n, "%s is empty", rel)
				}
			}
		})

		t.Run("NoReadUser", func(t *testing.T) {
			conn, _, err := dial(ctx, t, srv.DSN(pgtest.NoReadUser, pgtest.NoReadPassword), nil)
			require.NoError(t, err)
			var usage bool
			require.NoError(t, conn.QueryRow(ctx, "SELECT has_schema_privilege('sales', 'USAGE')").Scan(&usage))
			assert.True(t, usage)
			for _, rel := range append(pgtest.SampleTables(), pgtest.SampleView) {
				_, err := conn.Exec(ctx, "SELECT 1 FROM "+rel+" LIMIT 1")
				requireSQLState(t, err, insufficientPrivs)
			}
		})

		t.Run("MissingDatabase", func(t *testing.T) {
			_, _, err := dial(ctx, t, srv.ConnString("no_such_db", pgtest.SuperUser, pgtest.SuperPassword, ""), nil)
			requireSQLState(t, err, invalidCatalogName)
		})
	})
}

func TestTLSRequired(t *testing.T) {
	eachVersion(t, func(t *testing.T, version string) {
		srv := pgtest.StartT(t, pgtest.Options{Version: version, TLS: pgtest.TLSRequired})
		ctx := testContext(t)

		_, _, err := dial(ctx, t, srv.ConnString(pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword, "disable"), nil)
		requireSQLState(t, err, invalidAuthorization)

		for _, user := range [][2]string{
			{pgtest.ScramUser, pgtest.ScramPassword},
			{pgtest.MD5User, pgtest.MD5Password},
		} {
			conn, state, err := dial(ctx, t, srv.DSN(user[0], user[1]), nil)
			require.NoError(t, err, user[0])
			require.NotNil(t, state)
			require.NoError(t, conn.Ping(ctx))
		}
		requireAuthMethod(ctx, t, srv, pgtest.MD5User, "md5")
	})
}

func TestTLS13Only(t *testing.T) {
	eachVersion(t, func(t *testing.T, version string) {
		srv := pgtest.StartT(t, pgtest.Options{Version: version, TLS: pgtest.TLS13Only})
		ctx := testContext(t)
		dsn := srv.DSN(pgtest.ScramUser, pgtest.ScramPassword)

		_, state, err := dial(ctx, t, dsn, nil)
		require.NoError(t, err)
		require.NotNil(t, state)
		assert.Equal(t, uint16(tls.VersionTLS13), state.Version, "got %s", tls.VersionName(state.Version))

		// The same client capped at TLS 1.2 fails in the handshake, before
		// the server could say anything in its own protocol.
		_, _, err = dial(ctx, t, dsn, func(c *pgconn.Config) { c.TLSConfig.MaxVersion = tls.VersionTLS12 })
		require.Error(t, err)
		var pgErr *pgconn.PgError
		assert.False(t, errors.As(err, &pgErr), "want a handshake failure, got server error %v", pgErr)
	})
}

func TestCertKinds(t *testing.T) {
	kinds := []pgtest.CertKind{pgtest.CertWrongSAN, pgtest.CertExpired, pgtest.CertSelfSigned, pgtest.CertExpiringSoon}
	eachVersion(t, func(t *testing.T, version string) {
		for _, kind := range kinds {
			t.Run(kind.String(), func(t *testing.T) {
				t.Parallel()
				srv := pgtest.StartT(t, pgtest.Options{Version: version, TLS: pgtest.TLSOn, Cert: kind})
				ctx := testContext(t)

				// Unverified TLS reaches the server and shows the generated leaf.
				_, state, err := dial(ctx, t, srv.ConnString(pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword, "require"), nil)
				require.NoError(t, err)
				require.NotNil(t, state)
				require.NotEmpty(t, state.PeerCertificates)
				assert.Equal(t, srv.Cert.Raw, state.PeerCertificates[0].Raw)

				// DSN verifies fully, and each bad kind fails for its own reason.
				_, _, err = dial(ctx, t, srv.DSN(pgtest.ScramUser, pgtest.ScramPassword), nil)
				switch kind {
				case pgtest.CertExpiringSoon:
					require.NoError(t, err)
					left := time.Until(srv.Cert.NotAfter)
					assert.Greater(t, left, 9*24*time.Hour)
					assert.Less(t, left, 11*24*time.Hour)
				case pgtest.CertWrongSAN:
					var hostErr x509.HostnameError
					require.ErrorAs(t, err, &hostErr)
					assert.Equal(t, []string{pgtest.WrongSANHost}, hostErr.Certificate.DNSNames)
				case pgtest.CertExpired:
					var invErr x509.CertificateInvalidError
					require.ErrorAs(t, err, &invErr)
					assert.Equal(t, x509.Expired, invErr.Reason)
				case pgtest.CertSelfSigned:
					var uaErr x509.UnknownAuthorityError
					require.ErrorAs(t, err, &uaErr)
				}
			})
		}
	})
}

func TestMaxConnections(t *testing.T) {
	eachVersion(t, func(t *testing.T, version string) {
		srv := pgtest.StartT(t, pgtest.Options{Version: version, MaxConnections: 1})
		ctx := testContext(t)
		dsn := srv.DSN(pgtest.ScramUser, pgtest.ScramPassword)
		require.Contains(t, dsn, "sslmode=disable")

		first, _, err := dial(ctx, t, dsn, nil)
		require.NoError(t, err)
		require.NoError(t, first.Ping(ctx))

		_, _, err = dial(ctx, t, dsn, nil)
		requireSQLState(t, err, tooManyConnections)

		// The reserved slot still lets a superuser in, once the backend that
		// turned the second session away has exited and freed its slot (on a
		// loaded machine that takes a moment).
		var admin *pgx.Conn
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			admin, _, err = dial(ctx, t, srv.DSN(pgtest.SuperUser, pgtest.SuperPassword), nil)
			var pgErr *pgconn.PgError
			if err == nil || !errors.As(err, &pgErr) || pgErr.Code != tooManyConnections || time.Now().After(deadline) {
				break
			}
		}
		require.NoError(t, err)
		require.NoError(t, admin.Ping(ctx))

		// TLS is off: a client that requires it is turned away.
		require.NoError(t, first.Close(ctx))
		_, _, err = dial(ctx, t, srv.ConnString(pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword, "require"), nil)
		require.Error(t, err)
	})
}
