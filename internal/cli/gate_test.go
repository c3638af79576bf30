package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/flowclient/flowtest"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/internal/pgprobe"
	"github.com/flowpg/flowpg/internal/pgtest"
)

// gateResult is the part of connect's JSON the gate tests read.
type gateResult struct {
	Status       string
	Message      string
	Hint         string
	Registration struct {
		SpecName, SSLMode, CheckedSslMode, RequestedSslMode, Vocabulary string
	}
	Preflight struct {
		Verdict   string
		Checks    []struct{ ID, Status, Field, Message, Remediation string }
		Requested *struct {
			SSLMode string
			OK, TLS bool
		}
	}
	Differences  []struct{ Field, Stored, ThisRun string }
	NotCompared  []string
	Verification *struct {
		Test   struct{ OK bool }
		Tables int
	}
}

func (r gateResult) check(id string) (status, message, remediation string) {
	for _, c := range r.Preflight.Checks {
		if c.ID == id {
			return c.Status, c.Message, c.Remediation
		}
	}
	return "", "", ""
}

func decodeGate(t *testing.T, out string) gateResult {
	t.Helper()
	var r gateResult
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	return r
}

// requireString is EncryptionMethod=1 without validation: libpq require.
func requireString(s *pgtest.Server) string {
	return fmt.Sprintf("Server=%s;Database=%s;Port=%d;UID=%s;Password=%s;EncryptionMethod=1;ValidateServerCertificate=0",
		s.Host, pgtest.Database, s.Port, pgtest.ScramUser, pgtest.ScramPassword)
}

// TestGate_PredictsAdobe runs connect and check against a real PostgreSQL
// whose certificate comes from a private CA, and the emulator, which like
// Adobe trusts the system roots only unless a test says otherwise.
func TestGate_PredictsAdobe(t *testing.T) {
	pg := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn})
	asAdobe := flowtest.WithProber(pgprobe.Prober(pgprobe.Options{Dialer: netguard.Dialer(t, nil)})) // system roots: the private CA is not trusted
	local := []string{"--allow-private-address", "--timeout", "20s", "-o", "json"}

	t.Run("require sent as Verify Ca is checked as verify-ca: nothing sent", func(t *testing.T) {
		fs := flowtest.NewServer(asAdobe)
		defer fs.Close()
		connectEnv(t, fs)
		code, out, errOut := runFlowpg(t, requireString(pg), append([]string{"connect", "-", "--name", "req"}, local...)...)
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		r := decodeGate(t, out)
		assert.Equal(t, "preflight-failed", r.Status)
		assert.Equal(t, "Verify Ca", r.Registration.SSLMode)
		assert.Equal(t, "verify-ca", r.Registration.CheckedSslMode)
		assert.Equal(t, "require", r.Registration.RequestedSslMode)
		assert.Equal(t, "the live connection spec", r.Registration.Vocabulary)
		_, in, _ := r.check("input")
		assert.Contains(t, in, `sslMode verify-ca (sslMode "Verify Ca" as registered with basic authentication; the connection string itself asks for require)`)
		st, msg, fix := r.check("certificate")
		assert.Equal(t, "fail", st)
		assert.Contains(t, msg, "verify-ca failed")
		assert.Contains(t, fix, "publicly trusted CA")
		assert.Contains(t, fix, "Prefer", "the live spec offers no Require, so the fix names Prefer")
		require.NotNil(t, r.Preflight.Requested)
		assert.True(t, r.Preflight.Requested.OK, "the string's own mode, require, works")
		assert.Contains(t, r.Message, "asks for (require) would connect")
		assertOnlySpecRead(t, fs)
		assert.Empty(t, fs.Connections())
	})

	t.Run("a live enum that lists Require sends Require: created and verified", func(t *testing.T) {
		fs := flowtest.NewServer(asAdobe, flowtest.WithSSLModes("Disable", "Allow", "Prefer", "Require", "Verify-Ca", "Verify-Full"))
		defer fs.Close()
		connectEnv(t, fs)
		code, out, errOut := runFlowpg(t, requireString(pg), append([]string{"connect", "-", "--name", "req"}, local...)...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		r := decodeGate(t, out)
		assert.Equal(t, "created", r.Status)
		assert.Equal(t, "Require", r.Registration.SSLMode)
		assert.Equal(t, "require", r.Registration.CheckedSslMode)
		require.NotNil(t, r.Verification)
		assert.True(t, r.Verification.Test.OK)
		require.Len(t, fs.Connections(), 1)
		assert.Equal(t, "Require", fs.Connections()[0].Params["sslMode"])
	})

	t.Run("a boolean sslMode spec: true is TLS required, checked as require", func(t *testing.T) {
		fs := flowtest.NewServer(asAdobe, flowtest.WithSSLModeBoolean())
		defer fs.Close()
		connectEnv(t, fs)
		code, out, errOut := runFlowpg(t, connectString(pg, pgtest.ScramPassword), append([]string{"connect", "-", "--name", "aws", "--cloud", "aws"}, local...)...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		r := decodeGate(t, out)
		assert.Equal(t, "true", r.Registration.SSLMode)
		assert.Equal(t, "require", r.Registration.CheckedSslMode)
		assert.Equal(t, "verify-full", r.Registration.RequestedSslMode)
		st, in, _ := r.check("input")
		assert.Equal(t, "warn", st, "Adobe gets less than the string asks for")
		assert.Contains(t, in, "cannot express Verify Full")
		assert.Equal(t, "true", fs.Connections()[0].Params["sslMode"])
		assert.True(t, r.Verification.Test.OK)
	})

	t.Run("a chain only --ca-file verifies fails the gate", func(t *testing.T) {
		fs := flowtest.NewServer(asAdobe)
		defer fs.Close()
		connectEnv(t, fs)
		args := append([]string{"connect", "-", "--name", "ca", "--ca-file", pg.CAFile}, local...)
		code, out, errOut := runFlowpg(t, connectString(pg, pgtest.ScramPassword), args...)
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		r := decodeGate(t, out)
		st, msg, fix := r.check("certificate")
		assert.Equal(t, "fail", st)
		assert.Contains(t, msg, "trusted only through the ca-file roots")
		assert.Contains(t, fix, "publicly trusted CA")
		assert.Contains(t, fix, "accept it with --assume-adobe-trusts-ca", "the fix names the flag, not the library's option")
		assertOnlySpecRead(t, fs)

		// Said to be trusted by Adobe, and so it is (the emulator's trust
		// store holds the CA): created and verified.
		trusting := flowtest.NewServer(asAdobe, flowtest.WithTrustStore(pg.CAPool()))
		defer trusting.Close()
		connectEnv(t, trusting)
		code, out, errOut = runFlowpg(t, connectString(pg, pgtest.ScramPassword), append(args, "--assume-adobe-trusts-ca")...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		r = decodeGate(t, out)
		assert.Equal(t, "created", r.Status)
		st, msg, _ = r.check("certificate")
		assert.Equal(t, "pass", st)
		assert.Contains(t, msg, "assumed to trust this CA")
	})

	t.Run("an Adobe that does not trust the CA after all: the hint names trust and the network", func(t *testing.T) {
		fs := flowtest.NewServer(asAdobe)
		defer fs.Close()
		connectEnv(t, fs)
		code, out, errOut := runFlowpg(t, connectString(pg, pgtest.ScramPassword), append([]string{"connect", "-", "--name", "lie",
			"--ca-file", pg.CAFile, "--assume-adobe-trusts-ca", "--region", "va6"}, local...)...)
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		r := decodeGate(t, out)
		assert.Equal(t, "verify-failed", r.Status)
		assert.Contains(t, r.Hint, "34.193.63.59/32, 44.217.93.240/32, 44.194.79.229/32", "--region lists what to admit")
		assert.Contains(t, r.Hint, "publicly trusted roots only")
		assert.Empty(t, fs.Connections(), "rolled back")
	})

	t.Run("reuse compares what is registered", func(t *testing.T) {
		fs := flowtest.NewServer(asAdobe, flowtest.WithTrustStore(pg.CAPool()))
		defer fs.Close()
		connectEnv(t, fs)
		base := append([]string{"connect", "-", "--name", "shared", "--ca-file", pg.CAFile, "--assume-adobe-trusts-ca"}, local...)
		code, out, errOut := runFlowpg(t, connectString(pg, pgtest.ScramPassword), base...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)

		// Same connection: reused, the password named as not compared.
		code, out, errOut = runFlowpg(t, connectString(pg, pgtest.ScramPassword), append(base, "--if-exists", "reuse")...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		r := decodeGate(t, out)
		assert.Equal(t, "reused", r.Status)
		assert.Empty(t, r.Differences)
		assert.Equal(t, []string{"password"}, r.NotCompared)

		// Another user, under Verify Ca: a field-by-field diff, exit 1.
		other := fmt.Sprintf("Server=%s;Database=%s;Port=%d;UID=%s;Password=%s;EncryptionMethod=1;ValidateServerCertificate=1",
			pg.Host, pgtest.Database, pg.Port, pgtest.MD5User, pgtest.MD5Password)
		code, out, errOut = runFlowpg(t, other, append(base, "--if-exists", "reuse")...)
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		r = decodeGate(t, out)
		assert.Equal(t, "exists-differs", r.Status)
		assert.ElementsMatch(t, []struct{ Field, Stored, ThisRun string }{
			{"username", pgtest.ScramUser, pgtest.MD5User},
			{"sslMode", "Verify Full", "Verify Ca"},
		}, r.Differences)
		assert.Contains(t, r.NotCompared, "password")
		assert.Len(t, fs.Connections(), 1, "nothing created")

		code, out, _ = runFlowpg(t, other, append(base[:len(base)-2], "--if-exists", "reuse")...)
		require.Equal(t, ExitFailed, code, out)
		assert.Contains(t, out, "stored")
		assert.Regexp(t, `sslMode +Verify Full +Verify Ca`, out)
		assert.Contains(t, out, "not compared: password")
	})

	t.Run("a dry run shows the pre-flight, then the request", func(t *testing.T) {
		fs := flowtest.NewServer(asAdobe)
		defer fs.Close()
		connectEnv(t, fs)
		code, out, errOut := runFlowpg(t, requireString(pg), "connect", "-", "--name", "dry", "--dry-run",
			"--allow-private-address", "--ssl-mode-style", "overview")
		// The live spec (tutorial) decides, not --ssl-mode-style: Verify Ca
		// is what would be sent, and it fails here.
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, "Checking aep_scram@")
		assert.Contains(t, out, "nothing was sent to Adobe")

		trusting := flowtest.NewServer(asAdobe, flowtest.WithSSLModes("Disable", "Prefer", "Require", "Verify Full"))
		defer trusting.Close()
		connectEnv(t, trusting)
		code, out, errOut = runFlowpg(t, requireString(pg), "connect", "-", "--name", "dry", "--dry-run", "--allow-private-address")
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		check := strings.Index(out, "Checking aep_scram@")
		post := strings.Index(out, "POST "+trusting.URL()+"/connections")
		require.True(t, check >= 0 && post > check, "the pre-flight first, then the request:\n%s", out)
		assert.Contains(t, out, `"sslMode": "Require"`)

		code, out, _ = runFlowpg(t, requireString(pg), "connect", "-", "--name", "dry", "--dry-run", "--allow-private-address", "-o", "json")
		require.Equal(t, ExitOK, code, out)
		r := decodeGate(t, out)
		assert.NotEqual(t, "fail", r.Preflight.Verdict)
		assert.NotEmpty(t, r.Preflight.Checks, "the JSON carries the pre-flight")
		assert.Zero(t, posts(trusting))
	})

	t.Run("check tells the same story offline", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, requireString(pg), "check", "-", "--timeout", "20s")
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, `sslMode verify-ca (sslMode "Verify Ca" as registered with basic authentication; the connection string itself asks for require)`)
		assert.Contains(t, out, "✗ certificate verify-ca failed")
		assert.Contains(t, out, "The connection string itself asks for require: ✓ connects, with TLS")

		// The overview's vocabulary sends Require, which does not verify.
		code, out, errOut = runFlowpg(t, requireString(pg), "check", "-", "--ssl-mode-style", "overview")
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, "sslMode require")
		assert.NotContains(t, out, "asks for")

		// Connection-string auth: Adobe's driver reads the keys themselves.
		code, out, errOut = runFlowpg(t, requireString(pg), "check", "-", "--auth", "connection-string")
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)

		// --ca-file under a verifying mode: a warning here, a failure for connect.
		code, out, errOut = runFlowpg(t, connectString(pg, pgtest.ScramPassword), "check", "-", "--ca-file", pg.CAFile, "--region", "can2")
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, "! certificate the chain is trusted only through the ca-file roots")
		assert.Contains(t, out, "must admit AEP's can2 addresses (8 ranges): 13.71.175.80/28")
	})
}

// TestGateFlags_UsageErrors: a time limit that is not positive, and a table
// with an empty schema or name, are usage errors of every command that runs
// the gate: exit 2, naming the flag, before anything is dialed or sent.
func TestGateFlags_UsageErrors(t *testing.T) {
	fs := flowtest.NewServer()
	defer fs.Close()
	connectEnv(t, fs)
	const conn = "Server=127.0.0.1;Port=1;Database=d;UID=u;Password=pw-sentinel-81"
	commands := []struct {
		name string
		args []string
	}{
		{"check", []string{"check", "-"}},
		{"check --file", []string{"check", "--file", "-"}},
		{"connect", []string{"connect", "-", "--name", "x", "--allow-private-address"}},
		{"connections update", []string{"connections", "update", "x", "-", "--allow-private-address"}},
	}
	flags := []struct {
		args []string
		flag string
	}{
		{[]string{"--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--timeout=-1s"}, "--timeout must be positive"},
		{[]string{"--table", ""}, `--table "" names no table`},
		{[]string{"--table", "sales."}, `--table "sales." names no table`},
		{[]string{"--table", "public.orders", "--table", ".orders"}, `--table ".orders" names no table`},
	}
	for _, c := range commands {
		for _, f := range flags {
			args := append(append([]string(nil), c.args...), f.args...)
			code, out, errOut := runFlowpg(t, conn, args...)
			assert.Equal(t, ExitInvalid, code, "%s %v: %s%s", c.name, f.args, out, errOut)
			assert.Contains(t, errOut, f.flag, "%s %v", c.name, f.args)
			assert.NotContains(t, out, "Checking", "%s %v: no pre-flight ran", c.name, f.args)
			assert.NotContains(t, out+errOut, "pw-sentinel-81")
		}
	}
	assert.Empty(t, fs.Requests(), "nothing was sent to Adobe")
}
