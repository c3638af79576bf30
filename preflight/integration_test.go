package preflight_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/preflight"
)

// These tests run real PostgreSQL servers through internal/pgtest; they skip
// without Docker (and fail under CI=true). Each server configuration starts
// once, and the scenarios that only read share it. Scenarios run one after
// another inside the test that holds the server: a parallel subtest would
// wait for a free -parallel slot while its parent keeps a pgtest slot, and
// with few cores (-parallel 2) and pgtest's 4 slots that can deadlock.

func TestRun_TLSOn(t *testing.T) {
	t.Parallel()
	for _, v := range pgtest.Versions() {
		t.Run("PG"+v, func(t *testing.T) {
			t.Parallel()
			s := pgtest.StartT(t, pgtest.Options{Version: v, TLS: pgtest.TLSOn})

			t.Run("HappyPathVerifyFull", func(t *testing.T) {
				rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull),
					preflight.Options{RootCAs: rootsOf(t, s.CAFile), PrivateCA: preflight.PolicyAccept, Tables: []string{"public.customers", "sales.regions", "customer_orders"}})
				require.Equal(t, preflight.Warn, rep.Verdict) // loopback address
				addr := requireStatus(t, rep, preflight.StageAddress, preflight.Warn)
				require.Contains(t, addr.Message, "AEP cannot reach this from Adobe's network")
				require.False(t, addr.Details.(*preflight.AddressDetails).ReachableFromAEP)
				tlsRes := requireStatus(t, rep, preflight.StageTLS, preflight.Pass)
				require.True(t, tlsRes.Details.(*preflight.TLSDetails).Used)
				cert := requireStatus(t, rep, preflight.StageCertificate, preflight.Pass)
				cd := cert.Details.(*preflight.CertificateDetails)
				require.True(t, cd.ChainValid)
				require.True(t, cd.HostnameMatch)
				require.Equal(t, string(preflight.OptionRootCAs), cd.TrustedBy)
				require.False(t, *cd.SystemRootsValid, "the test CA is private")
				require.Contains(t, cert.Message, "AEP is assumed to trust this CA")
				require.Greater(t, cd.DaysToExpiry, 300)
				require.Len(t, cd.Chain[0].SHA256, 64)
				requireStatus(t, rep, preflight.StageSSLMode, preflight.Pass)
				auth := requireStatus(t, rep, preflight.StageAuth, preflight.Pass)
				require.Equal(t, preflight.AuthSCRAM, auth.Details.(*preflight.AuthDetails).Method)
				srv := requireStatus(t, rep, preflight.StageServer, preflight.Pass)
				sd := srv.Details.(*preflight.ServerDetails)
				require.Equal(t, v, itoa(sd.Major))
				require.Equal(t, "UTF8", sd.Encoding)
				require.Positive(t, sd.Headroom)
				priv := requireStatus(t, rep, preflight.StagePrivileges, preflight.Pass)
				pd := priv.Details.(*preflight.PrivilegesDetails)
				require.Equal(t, 4, pd.ReadableCount)
				require.True(t, pd.Connect)
				require.Len(t, pd.Tables, 3)
				for _, tc := range pd.Tables {
					require.True(t, tc.Readable, tc.Name)
				}
				require.Positive(t, rep.Timings.TLS)
				require.Positive(t, rep.Timings.Auth)
				require.Positive(t, rep.Timings.Queries)
			})

			// A wrong password and a user that does not exist get the same
			// answer from the server, on purpose: the report names both and
			// blames neither field alone.
			t.Run("WrongPasswordOrMissingUser", func(t *testing.T) {
				const sentinel = "S3ntinel-Pa55word-xyzzy"
				for _, user := range []string{pgtest.ScramUser, "no_such_user"} {
					rep := runCheck(t, connFor(s, user, sentinel, connstr.SSLRequire), preflight.Options{Audit: true})
					requireFailAt(t, rep, preflight.StageAuth, "")
					auth := rep.Check(preflight.StageAuth)
					require.Equal(t, fmt.Sprintf("user %q does not exist or the password is wrong (SQLSTATE 28P01: the server does not say which, on purpose)", user), auth.Message)
					require.Contains(t, auth.Remediation, "check username and password")
					require.Equal(t, "28P01", auth.Details.(*preflight.AuthDetails).SQLState)
					require.Equal(t, preflight.AuthSCRAM, auth.Details.(*preflight.AuthDetails).Method)
				}
				require.Equal(t, "auth_failed", serverRoutine(t, s, pgtest.ScramUser, sentinel), "PostgreSQL %s", v)
			})

			t.Run("MissingDatabase", func(t *testing.T) {
				c := connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire)
				c.Database = "no_such_db"
				rep := runCheck(t, c, preflight.Options{})
				requireFailAt(t, rep, preflight.StageAuth, preflight.FieldDatabase)
				auth := rep.Check(preflight.StageAuth)
				require.Equal(t, 1, strings.Count(auth.Message, "no_such_db"), "said once: %s", auth.Message)
				require.Contains(t, auth.Message, "does not exist")
				require.Equal(t, "3D000", auth.Details.(*preflight.AuthDetails).SQLState)
			})

			// A role without LOGIN passes authentication, then is refused
			// with 28000 like a pg_hba.conf refusal: the fix is the role,
			// not pg_hba.conf, and not TLS either on a plaintext connection
			// to a server that offers TLS.
			t.Run("RoleWithoutLogin", func(t *testing.T) {
				const role, pw = "aep_nologin", "nologin-pw-1"
				superExec(t, s, "CREATE ROLE "+role+" NOLOGIN PASSWORD '"+pw+"'")
				for _, m := range []connstr.SSLMode{connstr.SSLRequire, connstr.SSLDisable} {
					rep := runCheck(t, connFor(s, role, pw, m), preflight.Options{})
					requireFailAt(t, rep, preflight.StageAuth, preflight.FieldUsername)
					auth := rep.Check(preflight.StageAuth)
					require.Equal(t, `user "aep_nologin" may not log in: the role lacks the LOGIN attribute (SQLSTATE 28000)`, auth.Message, m.LibPQ())
					require.Equal(t, `ALTER ROLE "aep_nologin" LOGIN`, auth.Remediation)
					require.NotContains(t, auth.Remediation, "pg_hba")
					require.Equal(t, "28000", auth.Details.(*preflight.AuthDetails).SQLState)
				}
				require.Equal(t, "InitializeSessionUserId", serverRoutine(t, s, role, pw), "PostgreSQL %s", v)
			})

			t.Run("MissingTable", func(t *testing.T) {
				rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire),
					preflight.Options{Tables: []string{"public.customers", "public.no_such_table"}})
				requireFailAt(t, rep, preflight.StagePrivileges, preflight.FieldTable)
				priv := rep.Check(preflight.StagePrivileges)
				require.Contains(t, priv.Message, "public.no_such_table does not exist")
				require.NotContains(t, priv.Remediation, "GRANT")
			})

			t.Run("NoReadUser", func(t *testing.T) {
				rep := runCheck(t, connFor(s, pgtest.NoReadUser, pgtest.NoReadPassword, connstr.SSLRequire), preflight.Options{Tables: []string{"public.orders"}})
				requireFailAt(t, rep, preflight.StagePrivileges, preflight.FieldUsername)
				pd := rep.Check(preflight.StagePrivileges).Details.(*preflight.PrivilegesDetails)
				require.Zero(t, pd.ReadableCount)
				require.Equal(t, 4, pd.TotalCount)
				require.Contains(t, rep.Check(preflight.StagePrivileges).Message, "explore")
			})

			t.Run("MD5Method", func(t *testing.T) {
				rep := runCheck(t, connFor(s, pgtest.MD5User, pgtest.MD5Password, connstr.SSLRequire), preflight.Options{})
				auth := requireStatus(t, rep, preflight.StageAuth, preflight.Warn)
				require.Equal(t, preflight.AuthMD5, auth.Details.(*preflight.AuthDetails).Method)
				requireStatus(t, rep, preflight.StagePrivileges, preflight.Pass)
			})

			t.Run("PinMatchesCA", func(t *testing.T) {
				sum := sha256.Sum256(s.CA.Raw)
				leaf := sha256.Sum256(s.Cert.Raw)
				rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire),
					preflight.Options{PinSHA256: []string{hex.EncodeToString(leaf[:]), hex.EncodeToString(sum[:])}})
				require.NotEqual(t, preflight.Fail, rep.Verdict)
				require.True(t, *rep.Check(preflight.StageCertificate).Details.(*preflight.CertificateDetails).PinMatched)
			})

			t.Run("PinMismatch", func(t *testing.T) {
				rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire),
					preflight.Options{PinSHA256: []string{fmt.Sprintf("%064x", 1)}})
				requireFailAt(t, rep, preflight.StageCertificate, "")
				// The details hold both sides of the comparison the fix asks for.
				cd := rep.Check(preflight.StageCertificate).Details.(*preflight.CertificateDetails)
				require.False(t, *cd.PinMatched)
				require.Equal(t, []string{fmt.Sprintf("%064X", 1)}, cd.PinSHA256)
				leaf := sha256.Sum256(s.Cert.Raw)
				require.Equal(t, strings.ToUpper(hex.EncodeToString(leaf[:])), cd.Chain[0].SHA256)
			})

			t.Run("DisableProbesTLS", func(t *testing.T) {
				rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLDisable), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
				require.Equal(t, preflight.Warn, rep.Verdict)
				tlsRes := requireStatus(t, rep, preflight.StageTLS, preflight.Pass)
				td := tlsRes.Details.(*preflight.TLSDetails)
				require.False(t, td.Used)
				require.Equal(t, "probe", td.Source)
				require.True(t, *td.ServerOffersTLS)
				sm := requireStatus(t, rep, preflight.StageSSLMode, preflight.Warn)
				require.Equal(t, preflight.FieldSSLMode, sm.Field)
				requireStatus(t, rep, preflight.StagePrivileges, preflight.Pass)
			})

			// A chain that only the CA file verifies, under a mode that
			// verifies it: what AEP, trusting public roots only, meets.
			t.Run("PrivateCAPolicies", func(t *testing.T) {
				c := connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull)
				rep := runCheck(t, c, preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
				cert := requireStatus(t, rep, preflight.StageCertificate, preflight.Warn)
				require.Contains(t, cert.Message, "trusted only through the "+preflight.OptionRootCAs.String()+" roots")
				require.Equal(t, preflight.OptionRootCAs, cert.Option)
				require.Contains(t, cert.Remediation, "Require")

				tutorial := []connstr.SSLMode{connstr.SSLDisable, connstr.SSLAllow, connstr.SSLPrefer, connstr.SSLVerifyCA, connstr.SSLVerifyFull}
				rep = runCheck(t, c, preflight.Options{RootCAs: rootsOf(t, s.CAFile), PrivateCA: preflight.PolicyFail, OfferedModes: tutorial})
				require.Equal(t, preflight.Fail, rep.Verdict)
				cert = requireStatus(t, rep, preflight.StageCertificate, preflight.Fail)
				require.Equal(t, preflight.FieldSSLMode, cert.Field)
				require.Contains(t, cert.Remediation, "Prefer", "the strictest non-verifying mode the vocabulary offers")
				require.NotContains(t, cert.Remediation, "use sslMode Require")
				// A policy failure is a verdict, not a broken connection: the
				// later stages still report.
				requireStatus(t, rep, preflight.StagePrivileges, preflight.Pass)

				// Under Require nothing is verified, so the CA does not matter.
				rep = runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire),
					preflight.Options{RootCAs: rootsOf(t, s.CAFile), PrivateCA: preflight.PolicyFail})
				require.NotEqual(t, preflight.Fail, rep.Verdict)
			})

			// The mode checked is the one the receiver will dial, not the
			// string's own; the report says both and whether the string's own
			// mode works.
			t.Run("CheckedModeDiffersFromRequested", func(t *testing.T) {
				c := connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire)
				rep := runCheck(t, c, preflight.Options{SSLMode: connstr.SSLVerifyCA, SSLModeReason: `sslMode "Verify Ca" as registered`})
				in := rep.Check(preflight.StageInput)
				require.Contains(t, in.Message, "sslMode verify-ca")
				require.Contains(t, in.Message, "asks for require")
				require.Equal(t, connstr.SSLRequire, in.Details.(*preflight.InputDetails).RequestedSSLMode)
				requireFailAt(t, rep, preflight.StageCertificate, preflight.FieldSSLMode)
				require.Contains(t, rep.Check(preflight.StageCertificate).Message, "verify-ca failed")
				require.NotNil(t, rep.Requested)
				require.Equal(t, connstr.SSLRequire, rep.Requested.SSLMode)
				require.True(t, rep.Requested.OK)
				require.True(t, rep.Requested.TLS)

				rep = runCheck(t, c, preflight.Options{SSLMode: connstr.SSLRequire})
				require.Nil(t, rep.Requested, "no second attempt when the modes agree")
			})

			t.Run("AuditAgreesWithPgx", func(t *testing.T) { auditAgreement(t, s) })

			t.Run("PreferUsesTLS", func(t *testing.T) {
				rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLPrefer), preflight.Options{})
				sm := requireStatus(t, rep, preflight.StageSSLMode, preflight.Pass)
				require.True(t, sm.Details.(*preflight.SSLModeDetails).TLSUsed)
			})
		})
	}
}

func TestRun_TLSOff(t *testing.T) {
	t.Parallel()
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOff})

	t.Run("RequireFails", func(t *testing.T) {
		rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire), preflight.Options{Audit: true})
		requireFailAt(t, rep, preflight.StageTLS, preflight.FieldSSLMode)
		require.False(t, *rep.Check(preflight.StageTLS).Details.(*preflight.TLSDetails).ServerOffersTLS)
		// Only plaintext modes work; the strictest of them is disable, as
		// allow and prefer in plaintext are no better.
		require.Equal(t, connstr.SSLDisable, rep.RecommendedSSLMode)
		for _, a := range rep.Audit {
			require.Equal(t, a.SSLMode <= connstr.SSLPrefer, a.OK, a.SSLMode.LibPQ())
			require.False(t, a.TLS)
		}
	})

	t.Run("AuditAgreesWithPgx", func(t *testing.T) {
		requireAuditAgrees(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire), preflight.Options{})
		// Nothing protects an md5 password from a listener here: the audit
		// says so for every mode that would send it, and sends it in none.
		rep := requireAuditAgrees(t, connFor(s, pgtest.MD5User, pgtest.MD5Password, connstr.SSLVerifyFull), preflight.Options{})
		for _, a := range rep.Audit {
			require.Equal(t, a.SSLMode <= connstr.SSLPrefer, a.PasswordWithheld == preflight.AuthMD5, a.SSLMode.LibPQ())
		}
		require.Equal(t, connstr.SSLModeUnset, rep.RecommendedSSLMode)
	})

	t.Run("PreferFallsBackToPlaintext", func(t *testing.T) {
		rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLPrefer), preflight.Options{})
		sm := requireStatus(t, rep, preflight.StageSSLMode, preflight.Warn)
		sd := sm.Details.(*preflight.SSLModeDetails)
		require.False(t, sd.TLSUsed)
		require.True(t, sd.Fallback)
		require.Contains(t, sd.FallbackReason, "does not support TLS: it declined the SSLRequest")
		require.Equal(t, "sslMode Prefer fell back to plaintext: "+sd.FallbackReason, sm.Message)
		requireStatus(t, rep, preflight.StagePrivileges, preflight.Pass)
	})
}

func TestRun_TLSRequired(t *testing.T) {
	t.Parallel()
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSRequired})

	t.Run("DisableRefused", func(t *testing.T) {
		rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLDisable), preflight.Options{})
		requireFailAt(t, rep, preflight.StageSSLMode, preflight.FieldSSLMode)
		require.Contains(t, rep.Check(preflight.StageSSLMode).Message, "28000")
		require.Equal(t, "ClientAuthentication", serverRoutine(t, s, pgtest.ScramUser, pgtest.ScramPassword, "disable"))
	})

	// A Conn cannot say Allow (EncryptionMethod=6 reads as Prefer), so
	// Allow is only ever tried by the audit.
	t.Run("AuditAllowEndsOnTLS", func(t *testing.T) {
		rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile), Audit: true})
		require.NotEqual(t, preflight.Fail, rep.Verdict)
		require.Equal(t, connstr.SSLVerifyFull, rep.RecommendedSSLMode)
		for _, a := range rep.Audit {
			require.Equal(t, a.SSLMode != connstr.SSLDisable, a.OK, a.SSLMode.LibPQ())
			require.Equal(t, a.SSLMode != connstr.SSLDisable, a.TLS, a.SSLMode.LibPQ())
		}
		require.Contains(t, rep.Audit[0].Error, "28000")
	})

	t.Run("AuditAgreesWithPgx", func(t *testing.T) {
		requireAuditAgrees(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
		requireAuditAgrees(t, connFor(s, pgtest.MD5User, pgtest.MD5Password, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
		requireAuditAgrees(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLDisable), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
	})
}

func TestRun_WrongSAN(t *testing.T) {
	t.Parallel()
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn, Cert: pgtest.CertWrongSAN})

	t.Run("VerifyFullFailsAuditRecommendsVerifyCA", func(t *testing.T) {
		rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile), Audit: true})
		requireFailAt(t, rep, preflight.StageCertificate, preflight.FieldServer)
		require.Contains(t, rep.Check(preflight.StageCertificate).Message, pgtest.WrongSANHost)
		require.False(t, rep.Check(preflight.StageCertificate).Details.(*preflight.CertificateDetails).HostnameMatch)
		require.Equal(t, connstr.SSLVerifyCA, rep.RecommendedSSLMode)
		require.Len(t, rep.Audit, 6)
		for _, a := range rep.Audit {
			require.Equal(t, a.SSLMode != connstr.SSLVerifyFull, a.OK, a.SSLMode.LibPQ())
		}
		require.Contains(t, rep.RecommendationReason, "verify-full fails")
	})

	// The checked connection stops at the host name, before the login:
	// the audit then dials Require (after it, sequentially) for the login
	// over TLS, and derives Verify Ca from the chain.
	t.Run("AuditAgreesWithPgx", func(t *testing.T) {
		rep, n := dialsOf(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile), Audit: true})
		require.Equal(t, 3, n, "the check, disable, and require")
		require.Equal(t, connstr.SSLVerifyCA, rep.RecommendedSSLMode)
		requireAuditAgrees(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
		// An md5 password over TLS to a certificate that Verify Full
		// rejects is withheld too: that is what a man in the middle with a
		// certificate of its own would collect.
		rep = requireAuditAgrees(t, connFor(s, pgtest.MD5User, pgtest.MD5Password, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
		for _, m := range []connstr.SSLMode{connstr.SSLPrefer, connstr.SSLRequire, connstr.SSLVerifyCA} {
			require.Equal(t, preflight.AuthMD5, rep.Audit[m-1].PasswordWithheld, m.LibPQ())
		}
		requireAuditAgrees(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyCA), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
	})

	t.Run("VerifyCAPasses", func(t *testing.T) {
		rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyCA), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
		require.NotEqual(t, preflight.Fail, rep.Verdict)
		cert := requireStatus(t, rep, preflight.StageCertificate, preflight.Warn)
		require.Contains(t, cert.Message, "Verify Full would fail")
		requireStatus(t, rep, preflight.StageSSLMode, preflight.Pass)
	})
}

func TestRun_ExpiredCertificate(t *testing.T) {
	t.Parallel()
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn, Cert: pgtest.CertExpired})

	t.Run("VerifyCAFails", func(t *testing.T) {
		rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyCA), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
		requireFailAt(t, rep, preflight.StageCertificate, preflight.FieldSSLMode)
		cd := rep.Check(preflight.StageCertificate).Details.(*preflight.CertificateDetails)
		require.True(t, cd.Expired)
		require.Negative(t, cd.DaysToExpiry)
		require.Contains(t, rep.Check(preflight.StageCertificate).Message, "expired")
	})

	t.Run("RequireWarns", func(t *testing.T) {
		rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
		cert := requireStatus(t, rep, preflight.StageCertificate, preflight.Warn)
		require.Contains(t, cert.Message, "expired")
		requireStatus(t, rep, preflight.StagePrivileges, preflight.Pass)
	})

	t.Run("AuditAgreesWithPgx", func(t *testing.T) {
		rep := requireAuditAgrees(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
		require.Contains(t, rep.Audit[4].Error, "expired")
	})
}

func TestRun_SelfSignedWithoutCAFile(t *testing.T) {
	t.Parallel()
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn, Cert: pgtest.CertSelfSigned})
	rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyCA), preflight.Options{})
	requireFailAt(t, rep, preflight.StageCertificate, preflight.FieldSSLMode)
	cert := rep.Check(preflight.StageCertificate)
	require.Contains(t, cert.Message, "self-signed")
	require.Contains(t, cert.Remediation, "publicly trusted CA")
	require.Contains(t, cert.Remediation, "Require")
	cd := cert.Details.(*preflight.CertificateDetails)
	require.True(t, cd.SelfSigned)
	require.Equal(t, "system", cd.TrustedBy)

	t.Run("AuditAgreesWithPgx", func(t *testing.T) {
		rep := requireAuditAgrees(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyCA), preflight.Options{})
		require.Equal(t, connstr.SSLRequire, rep.RecommendedSSLMode)
		require.Contains(t, rep.Audit[5].Error, "self-signed")
	})
}

func TestRun_ExpiringSoon(t *testing.T) {
	t.Parallel()
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn, Cert: pgtest.CertExpiringSoon})
	rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
	cert := requireStatus(t, rep, preflight.StageCertificate, preflight.Warn)
	require.Contains(t, cert.Message, "expires in")
	require.LessOrEqual(t, cert.Details.(*preflight.CertificateDetails).DaysToExpiry, 10)
	requireStatus(t, rep, preflight.StagePrivileges, preflight.Pass)
}

func TestRun_TLS13Only(t *testing.T) {
	t.Parallel()
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLS13Only})
	rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
	tlsRes := requireStatus(t, rep, preflight.StageTLS, preflight.Pass)
	require.Equal(t, "TLS 1.3", tlsRes.Details.(*preflight.TLSDetails).Version)
	require.Contains(t, tlsRes.Message, "TLS 1.3")

	t.Run("AuditAgreesWithPgx", func(t *testing.T) {
		requireAuditAgrees(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLVerifyFull), preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
	})
}

// TestRun_KeyExchange checks the key exchange against PostgreSQL's own
// OpenSSL: with the default ssl_ecdh_curve (prime256v1) the handshake takes
// one ClientHello, and a server set to another curve still connects, after
// the one HelloRetryRequest it costs. The ClientHellos are counted at a
// tracing proxy, apart from what the report says.
func TestRun_KeyExchange(t *testing.T) {
	t.Parallel()
	for _, v := range pgtest.Versions() {
		for _, tc := range []struct {
			curve, group string
			hellos       int
		}{
			{"", "P-256", 1},
			{"secp384r1", "P-384", 2},
		} {
			name := "PG" + v + "/default"
			if tc.curve != "" {
				name = "PG" + v + "/" + tc.curve
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := pgtest.StartT(t, pgtest.Options{Version: v, TLS: pgtest.TLSOn, ECDHCurve: tc.curve})
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				pg, err := pgx.Connect(ctx, s.ConnString(pgtest.Database, pgtest.SuperUser, pgtest.SuperPassword, "require"))
				require.NoError(t, err)
				var curve string
				require.NoError(t, pg.QueryRow(ctx, "SHOW ssl_ecdh_curve").Scan(&curve))
				require.NoError(t, pg.Close(ctx))
				if tc.curve == "" {
					require.Equal(t, "prime256v1", curve, "PostgreSQL %s's default ssl_ecdh_curve", v)
				}

				px, err := faultproxy.New(net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), faultproxy.Options{Latency: 5 * time.Millisecond, Trace: true})
				require.NoError(t, err)
				t.Cleanup(func() { px.Close() })
				c := connTo(t, px.Addr, connstr.SSLVerifyFull)
				c.Database, c.User, c.Password = pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword
				rep := runCheck(t, c, preflight.Options{RootCAs: rootsOf(t, s.CAFile)})
				requireStatus(t, rep, preflight.StagePrivileges, preflight.Pass)
				res := requireStatus(t, rep, preflight.StageTLS, preflight.Pass)
				d := res.Details.(*preflight.TLSDetails)
				t.Logf("PostgreSQL %s, ssl_ecdh_curve %s: tls %q", s.Version, curve, res.Message)
				require.Equal(t, "TLS 1.3", d.Version)
				require.Equal(t, tc.group, d.KeyExchange)
				require.NotNil(t, d.HelloRetryRequest)
				require.Equal(t, tc.hellos == 2, *d.HelloRetryRequest)
				require.False(t, d.GroupRetry)
				require.Contains(t, res.Message, "key exchange "+tc.group)

				// verify-full makes one connection and no probe.
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
				require.Equal(t, tc.hellos, hellos, "ClientHellos on the wire")
			})
		}
	}
}

func TestRun_TooManyConnections(t *testing.T) {
	t.Parallel()
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn, MaxConnections: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	held, err := pgx.Connect(ctx, s.ConnString(pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword, "require"))
	require.NoError(t, err)
	defer held.Close(context.Background())

	rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire), preflight.Options{})
	requireFailAt(t, rep, preflight.StageAuth, preflight.FieldServer)
	require.Equal(t, "53300", rep.Check(preflight.StageAuth).Details.(*preflight.AuthDetails).SQLState)
}

// TestRun_IgnoresPGEnvironment proves that the result depends only on the
// input and the options: libpq variables and files in the home directory
// that would change pgx's behaviour (PGSSLMODE, PGSSLROOTCERT, a
// ~/.postgresql/root.crt that turns require into verify-ca, a wrong
// PGPASSWORD or ~/.pgpass, PGOPTIONS, PGTARGETSESSIONATTRS) are ignored.
// Not parallel: it sets the environment.
func TestRun_IgnoresPGEnvironment(t *testing.T) {
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn, Cert: pgtest.CertSelfSigned})
	home := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".postgresql"), 0o700))
	// The CA did not sign the self-signed certificate: verify-ca with it would fail.
	require.NoError(t, os.WriteFile(filepath.Join(home, ".postgresql", "root.crt"), s.CAPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(home, ".pgpass"), []byte("*:*:*:*:wrong\n"), 0o600))
	t.Setenv("HOME", home)
	t.Setenv("PGSSLMODE", "verify-full")
	t.Setenv("PGSSLROOTCERT", filepath.Join(home, "missing.crt"))
	t.Setenv("PGPASSWORD", "wrong-from-env")
	t.Setenv("PGOPTIONS", "-c statement_timeout=1")
	t.Setenv("PGTARGETSESSIONATTRS", "standby")
	t.Setenv("PGCONNECT_TIMEOUT", "1")

	rep := runCheck(t, connFor(s, pgtest.ScramUser, pgtest.ScramPassword, connstr.SSLRequire), preflight.Options{})
	require.NotEqual(t, preflight.Fail, rep.Verdict)
	requireStatus(t, rep, preflight.StageSSLMode, preflight.Pass)
	requireStatus(t, rep, preflight.StagePrivileges, preflight.Pass)
}

// superExec runs sql on s as the superuser.
func superExec(t *testing.T, s *pgtest.Server, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, s.ConnString(pgtest.Database, pgtest.SuperUser, pgtest.SuperPassword, "require"))
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, sql)
	require.NoError(t, err, sql)
}

// serverRoutine logs in to s as user with pgconn alone, in sslmode
// (default require), and returns the routine (the R field) of the
// ErrorResponse that refuses it: what the classification of SQLSTATE 28000
// relies on, seen here straight from the server.
func serverRoutine(t *testing.T, s *pgtest.Server, user, password string, sslmode ...string) string {
	t.Helper()
	mode := "require"
	if len(sslmode) > 0 {
		mode = sslmode[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, s.ConnString(pgtest.Database, user, password, mode))
	if err == nil {
		conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	return pgErr.Routine
}
