package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/flowclient/flowtest"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/internal/pgprobe"
	"github.com/flowpg/flowpg/internal/pgtest"
)

// connectEnv points connect at fs through the environment, as a user would.
func connectEnv(t *testing.T, fs *flowtest.Server) {
	t.Helper()
	for k, v := range map[string]string{
		"AEP_FLOW_URL":      fs.URL(),
		"AEP_IMS_TOKEN_URL": fs.TokenURL(),
		"AEP_CLIENT_ID":     flowtest.DefaultClientID,
		"AEP_CLIENT_SECRET": flowtest.DefaultClientSecret,
		"AEP_ACCESS_TOKEN":  "",
		"AEP_API_KEY":       "",
		"AEP_ORG_ID":        flowtest.DefaultOrg,
		"AEP_SANDBOX_NAME":  "prod",
	} {
		t.Setenv(k, v)
	}
}

// connectString is the sample database as the SCRAM user, under Verify Full.
func connectString(s *pgtest.Server, password string) string {
	return fmt.Sprintf("Server=%s;Database=%s;Port=%d;UID=%s;Password=%s;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#",
		s.Host, pgtest.Database, s.Port, pgtest.ScramUser, password)
}

// assertOnlySpecRead asserts that fs saw nothing but what connect sends
// before its gate: a token request and the connection spec's read. Neither
// carries the database's credentials.
func assertOnlySpecRead(t *testing.T, fs *flowtest.Server) {
	t.Helper()
	for _, r := range fs.Requests() {
		ok := r.Method == http.MethodPost && r.Path == flowtest.TokenPath ||
			r.Method == http.MethodGet && r.Path == flowtest.BasePath+"/connectionSpecs/"+flowtest.PostgreSQLSpecID
		assert.True(t, ok, "request before the gate passed: %s %s", r.Method, r.Path)
	}
}

// posts counts the create requests fs received.
func posts(fs *flowtest.Server) int {
	n := 0
	for _, r := range fs.Requests() {
		if r.Method == http.MethodPost && r.Path == flowtest.BasePath+"/connections" {
			n++
		}
	}
	return n
}

// TestConnect runs connect end to end against a real PostgreSQL and the
// emulator, whose test and explore dial that PostgreSQL for real.
func TestConnect(t *testing.T) {
	pg := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn})
	good := connectString(pg, pgtest.ScramPassword)
	base := []string{"connect", "-", "--ca-file", pg.CAFile, "--assume-adobe-trusts-ca", "--allow-private-address", "--timeout", "20s"}
	// The emulator's prober dials what connect registered, through the guard,
	// and trusts the test CA: it plays an Adobe that does.
	withCA := []flowtest.Option{flowtest.WithProber(pgprobe.Prober(pgprobe.Options{Dialer: netguard.Dialer(t, nil)})), flowtest.WithTrustStore(pg.CAPool())}

	t.Run("creates and verifies", func(t *testing.T) {
		fs := flowtest.NewServer(withCA...)
		defer fs.Close()
		connectEnv(t, fs)
		code, out, errOut := runFlowpg(t, good, append(base, "--name", "sales-pg", "-o", "json")...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		var res struct {
			Status       string
			ID, Etag     string
			Verification struct {
				Test   struct{ OK bool }
				Tables int
			}
		}
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		assert.Equal(t, "created", res.Status)
		assert.Regexp(t, `^"[^"]+"$`, res.Etag, "the etag keeps its quotes")
		assert.True(t, res.Verification.Test.OK)
		assert.Equal(t, len(pgtest.SampleTables())+1, res.Verification.Tables, "the tables and the view")

		stored := fs.Connections()
		require.Len(t, stored, 1)
		assert.Equal(t, res.ID, stored[0].ID)
		assert.Equal(t, "Basic Authentication", stored[0].SpecName)
		assert.Equal(t, map[string]string{
			"server": pg.Host, "port": fmt.Sprint(pg.Port), "database": pgtest.Database,
			"username": pgtest.ScramUser, "password": pgtest.ScramPassword, "sslMode": "Verify Full",
		}, stored[0].Params)
		assert.NotContains(t, out+errOut, pgtest.ScramPassword)
		assert.NotContains(t, out+errOut, flowtest.DefaultClientSecret)
	})

	t.Run("sslMode follows the live connection spec's spelling", func(t *testing.T) {
		fs := flowtest.NewServer(withCA...)
		defer fs.Close()
		connectEnv(t, fs)
		// The overview vocabulary says Verify-Full; the spec lists Verify Full.
		code, out, errOut := runFlowpg(t, good, append(base, "--name", "overview", "--ssl-mode-style", "overview", "--no-verify")...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		stored := fs.Connections()
		require.Len(t, stored, 1)
		assert.Equal(t, "Verify Full", stored[0].Params["sslMode"])
	})

	t.Run("connection string auth", func(t *testing.T) {
		fs := flowtest.NewServer(withCA...)
		defer fs.Close()
		connectEnv(t, fs)
		code, out, errOut := runFlowpg(t, good, append(base, "--name", "cs", "--auth", "connection-string")...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		stored := fs.Connections()
		require.Len(t, stored, 1)
		assert.Equal(t, "Connection String Based Authentication", stored[0].SpecName)
		assert.Contains(t, stored[0].Params["connectionString"], "Password="+pgtest.ScramPassword)
		assert.Contains(t, out, "explore found 4 table(s)")
	})

	t.Run("pre-flight failure sends nothing", func(t *testing.T) {
		fs := flowtest.NewServer(withCA...)
		defer fs.Close()
		connectEnv(t, fs)
		code, out, errOut := runFlowpg(t, connectString(pg, "wrong-password"), append(base, "--name", "x")...)
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, "✗ auth")
		assert.Contains(t, out, "nothing was sent to Adobe")
		assertOnlySpecRead(t, fs)
	})

	t.Run("an address AEP cannot reach is a failure", func(t *testing.T) {
		fs := flowtest.NewServer(withCA...)
		defer fs.Close()
		connectEnv(t, fs)
		code, out, errOut := runFlowpg(t, good, "connect", "-", "--ca-file", pg.CAFile, "--name", "x", "-o", "json")
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		var res struct {
			Status    string
			Preflight struct {
				Checks []struct{ ID, Status, Field, Remediation string }
			}
		}
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		assert.Equal(t, "preflight-failed", res.Status)
		require.NotEmpty(t, res.Preflight.Checks)
		assert.Equal(t, "address", res.Preflight.Checks[1].ID)
		assert.Equal(t, "fail", res.Preflight.Checks[1].Status)
		assert.Equal(t, "server", res.Preflight.Checks[1].Field)
		assert.Contains(t, res.Preflight.Checks[1].Remediation, "accept it with --allow-private-address")
		assertOnlySpecRead(t, fs)
	})

	t.Run("verify failure rolls back", func(t *testing.T) {
		// Adobe's side does not trust the private CA: the pre-flight passes
		// here, Flow Service's test fails there.
		fs := flowtest.NewServer(flowtest.WithProber(pgprobe.Prober(pgprobe.Options{Dialer: netguard.Dialer(t, nil)})))
		defer fs.Close()
		connectEnv(t, fs)
		code, out, errOut := runFlowpg(t, good, append(base, "--name", "rollback")...)
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, "verification failed")
		assert.Contains(t, out, "was deleted")
		assert.Contains(t, out, "ip-address-allow-list")
		assert.Equal(t, 1, posts(fs))
		assert.Empty(t, fs.Connections(), "the failed connection is deleted")

		code, out, _ = runFlowpg(t, good, append(base, "--name", "kept", "--keep-on-verify-failure")...)
		require.Equal(t, ExitFailed, code, out)
		assert.Len(t, fs.Connections(), 1, "--keep-on-verify-failure keeps it")
	})

	t.Run("if-exists", func(t *testing.T) {
		fs := flowtest.NewServer(withCA...)
		defer fs.Close()
		connectEnv(t, fs)
		args := append(base, "--name", "twice", "--no-verify")
		code, out, _ := runFlowpg(t, good, args...)
		require.Equal(t, ExitOK, code, out)
		assert.Contains(t, out, "verification skipped")

		code, out, _ = runFlowpg(t, good, args...)
		require.Equal(t, ExitFailed, code, out)
		assert.Contains(t, out, "already exists")

		code, out, _ = runFlowpg(t, good, append(args, "--if-exists", "reuse")...)
		require.Equal(t, ExitOK, code, out)
		assert.Contains(t, out, "(reused)")
		assert.Equal(t, 1, posts(fs), "one create in three runs")
		assert.Len(t, fs.Connections(), 1)
	})

	t.Run("dry run prints the request and creates nothing", func(t *testing.T) {
		fs := flowtest.NewServer(withCA...)
		defer fs.Close()
		connectEnv(t, fs)
		code, out, errOut := runFlowpg(t, good, append(base, "--name", "dry", "--dry-run")...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, "POST "+fs.URL()+"/connections")
		assert.Contains(t, out, "Authorization: Bearer ********")
		assert.Contains(t, out, "X-Sandbox-Name: prod")
		assert.Contains(t, out, `"password": "********"`)
		assert.Contains(t, out, `"version": "1.0"`)
		assert.NotContains(t, out+errOut, pgtest.ScramPassword)
		assert.Zero(t, posts(fs))

		code, out, _ = runFlowpg(t, good, append(base, "--name", "dry", "--dry-run", "--curl")...)
		require.Equal(t, ExitOK, code, out)
		assert.Contains(t, out, "curl -X POST '"+fs.URL()+"/connections'")
		assert.NotContains(t, out, pgtest.ScramPassword)
	})

	t.Run("the guard keeps connect off Adobe's real service", func(t *testing.T) {
		// Credentials without AEP_FLOW_URL would send the calls to Adobe's
		// production service. The guard fails the test instead, on a
		// recorder here so that the failure can be watched, and names the
		// host; nothing is sent.
		for k, v := range map[string]string{"AEP_ACCESS_TOKEN": "tok-sentinel-85", "AEP_CLIENT_ID": "", "AEP_CLIENT_SECRET": "",
			"AEP_API_KEY": "key", "AEP_ORG_ID": "org@AdobeOrg", "AEP_SANDBOX_NAME": "prod", "AEP_FLOW_URL": "", "AEP_IMS_TOKEN_URL": ""} {
			t.Setenv(k, v)
		}
		require.NoError(t, os.Unsetenv("AEP_FLOW_URL")) // t.Setenv restores it
		require.NoError(t, os.Unsetenv("AEP_IMS_TOKEN_URL"))
		rec := &netguard.Recorder{TB: t}
		code, out, errOut := runFlowpg(rec, good, append(base, "--name", "guarded", "--dry-run")...)
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		require.NotEmpty(t, rec.Failures(), "the guard did not fail the test")
		for _, f := range rec.Failures() {
			require.Contains(t, f, "platform.adobe.io:443")
		}
	})

	t.Run("dry run without credentials names the variables", func(t *testing.T) {
		for _, k := range []string{"AEP_ACCESS_TOKEN", "AEP_CLIENT_ID", "AEP_CLIENT_SECRET", "AEP_API_KEY", "AEP_ORG_ID", "AEP_SANDBOX_NAME"} {
			t.Setenv(k, "")
		}
		code, out, errOut := runFlowpg(t, good, append(base, "--name", "dry", "--dry-run")...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, "X-Gw-Ims-Org-Id: {AEP_ORG_ID}")
		assert.Contains(t, out, "no Adobe credentials")
	})
}

func TestConnect_AWSRefusesConnectionString(t *testing.T) {
	fs := flowtest.NewServer()
	defer fs.Close()
	connectEnv(t, fs)
	code, _, errOut := runFlowpg(t, "Server=db.example.com;Database=d;UID=u;Password=p;EncryptionMethod=1", "connect", "-",
		"--name", "x", "--cloud", "aws", "--auth", "connection-string")
	require.Equal(t, ExitInvalid, code, errOut)
	assert.Contains(t, errOut, "basic authentication only")
	assert.Empty(t, fs.Requests())
}

func TestConnect_MissingCredentials(t *testing.T) {
	for _, k := range []string{"AEP_ACCESS_TOKEN", "AEP_CLIENT_ID", "AEP_CLIENT_SECRET"} {
		t.Setenv(k, "")
	}
	// Missing credentials are an input error, found before the pre-flight
	// dials anything: the closed port below is never tried.
	code, out, errOut := runFlowpg(t, "Server=127.0.0.1;Port=1;Database=d;UID=u;Password=p", "connect", "-", "--name", "x",
		"--allow-private-address", "--timeout", "2s")
	require.Equal(t, ExitInvalid, code)
	assert.Contains(t, errOut, "no Adobe credentials")
	assert.NotContains(t, out, "Checking")
}

// TestConnect_BadAdobeURL: a URL flowclient refuses is an input error found
// first, even in a dry run without credentials, and the password in its
// userinfo shows nowhere.
func TestConnect_BadAdobeURL(t *testing.T) {
	for _, k := range []string{"AEP_ACCESS_TOKEN", "AEP_CLIENT_ID", "AEP_CLIENT_SECRET", "AEP_CONFIG"} {
		t.Setenv(k, "")
	}
	for _, u := range []string{"https://u:S3NT1NEL-url@platform.example.com/x", "http://10.1.2.3/data/foundation/flowservice"} {
		t.Setenv("AEP_FLOW_URL", u)
		code, out, errOut := runFlowpg(t, "Server=127.0.0.1;Port=1;Database=d;UID=u;Password=p", "connect", "-", "--name", "x", "--dry-run", "--curl")
		assert.Equal(t, ExitInvalid, code, u)
		assert.NotContains(t, out, "Checking", "found before the pre-flight")
		assert.Contains(t, errOut, "base url")
		assert.NotContains(t, out+errOut, "S3NT1NEL")
	}
}
