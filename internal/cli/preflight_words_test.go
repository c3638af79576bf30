package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/preflight"
)

// TestInFlagWords: preflight names its options (Options.Timeout) and
// carries their code; the CLI shows its user the flags that set them, and
// the roots --ca-file gives as "the ca-file roots", as it always has.
func TestInFlagWords(t *testing.T) {
	for o, flag := range optionFlags {
		res := preflight.Result{Remediation: "raise " + o.String() + " now", Option: o}
		inFlagWords(&res)
		assert.Equal(t, "raise "+flag+" now", res.Remediation, o)
	}
	d := &preflight.CertificateDetails{TrustedBy: string(preflight.OptionRootCAs)}
	res := preflight.Result{
		Message:     "the chain is trusted only through the " + preflight.OptionRootCAs.String() + " roots, not the system roots",
		Remediation: "pass the right CA in " + preflight.OptionRootCAs.String(),
		Option:      preflight.OptionRootCAs, Details: d,
	}
	inFlagWords(&res)
	assert.Equal(t, "the chain is trusted only through the ca-file roots, not the system roots", res.Message)
	assert.Equal(t, "pass the right CA in --ca-file", res.Remediation)
	got, ok := res.Certificate()
	require.True(t, ok)
	assert.Equal(t, "ca-file", got.TrustedBy)
	assert.Equal(t, "RootCAs", d.TrustedBy, "the report's own details, shared with a streamed result, are not changed")

	res = preflight.Result{Message: "chain not trusted by the Options.RootCAs roots: signed by an unknown certificate authority", Option: preflight.OptionRootCAs}
	inFlagWords(&res)
	assert.Equal(t, "chain not trusted by the ca-file roots: signed by an unknown certificate authority", res.Message)

	// A result that names no option is left as it is.
	res = preflight.Result{Message: "Options.Timeout is a server's word here"}
	inFlagWords(&res)
	assert.Equal(t, "Options.Timeout is a server's word here", res.Message)
}

// TestCheck_TimeoutFixNamesFlag: a server that accepts the connection and
// never answers runs the check into --timeout, and the fix names that flag
// and its value, in text and in JSON, never preflight's option.
func TestCheck_TimeoutFixNamesFlag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	in := fmt.Sprintf("Server=127.0.0.1;Port=%d;Database=d;UID=u;Password=pw-sentinel", ln.Addr().(*net.TCPAddr).Port)

	code, out, _ := runFlowpg(t, in, "check", "-", "--timeout", "300ms")
	assert.Equal(t, ExitFailed, code, out)
	assert.Contains(t, out, "raise --timeout (300ms now)")
	assert.NotContains(t, out, "Options.")

	code, out, _ = runFlowpg(t, in, "check", "-", "--timeout", "300ms", "-o", "json")
	assert.Equal(t, ExitFailed, code, out)
	var rep struct {
		Checks []struct {
			Status, Remediation string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	found := false
	for _, c := range rep.Checks {
		if c.Status == "fail" {
			assert.Contains(t, c.Remediation, "raise --timeout (300ms now)")
			found = true
		}
	}
	assert.True(t, found, out)
	assert.NotContains(t, out, "Options.")
}

// TestCheck_BadCAFile: the CLI reads --ca-file (preflight takes a pool), and
// a file that is missing, a directory, larger than any CA bundle (read up to
// a bound, not until memory runs out) or holds no PEM certificate is refused
// before any dial, naming the flag, without a panic.
func TestCheck_BadCAFile(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.pem")
	f, err := os.Create(huge)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(9<<20))
	require.NoError(t, f.Close())
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\n\x00\xff not base64\n-----END CERTIFICATE-----\nplain text"), 0o600))
	empty := filepath.Join(dir, "empty.pem")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	// A named pipe no one writes to reads as empty: it once blocked the
	// open, before any signal could end the command.
	fifo := filepath.Join(dir, "fifo.pem")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	// A path's line break and escape stay quoted, on one line.
	odd := filepath.Join(dir, "odd\n\x1b[31mname.pem")
	require.NoError(t, os.WriteFile(odd, nil, 0o600))

	for _, tt := range []struct{ path, msg string }{
		{"/nonexistent/ca.pem", "no such file"},
		{dir, "is a directory"},
		{huge, "is over 8 MiB"},
		{garbage, "holds no PEM certificate"},
		{empty, "holds no PEM certificate"},
		{fifo, "holds no PEM certificate"},
		{odd, `odd\n\x1b[31mname.pem" holds no PEM certificate`},
	} {
		for _, cmd := range [][]string{
			{"check", "-", "--ca-file", tt.path},
			{"check", "-", "--ca-file", tt.path, "-o", "json"},
			{"connect", "-", "--name", "x", "--dry-run", "--ca-file", tt.path},
		} {
			code, out, errOut := runFlowpg(t, "Server=127.0.0.1;Port=1;Database=d;UID=u;Password=pw-sentinel", cmd...)
			assert.Equal(t, ExitInvalid, code, "%v: %s%s", cmd, out, errOut)
			assert.Contains(t, errOut, "--ca-file", cmd)
			assert.Contains(t, errOut, tt.msg, cmd)
			assert.NotContains(t, out+errOut, "pw-sentinel", cmd)
			assert.Equal(t, 1, strings.Count(strings.Split(errOut, "Usage:")[0], "\n"), "one line: %q", errOut)
		}
	}
	// A bad pin is the flag's error too, before any work.
	code, _, errOut := runFlowpg(t, "Server=127.0.0.1;Port=1;Database=d;UID=u;Password=pw-sentinel", "check", "-", "--pin-sha256", "aa")
	assert.Equal(t, ExitInvalid, code)
	assert.Contains(t, errOut, `--pin-sha256 "aa" is not a hex SHA-256 fingerprint`)
	assert.NotContains(t, errOut, "preflight:")
}

// TestCheck_CAFileWordingAgainstServer: against a real server whose chain
// only --ca-file trusts, the check's text and JSON speak of the ca-file
// roots, as they did when preflight read the file itself: the pass line,
// the private-CA warning and trustedBy, never preflight's Options.RootCAs.
func TestCheck_CAFileWordingAgainstServer(t *testing.T) {
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn})
	in := fmt.Sprintf("Server=%s;Port=%d;Database=%s;UID=%s;PWD=%s;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#",
		s.Host, s.Port, pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword)

	_, out, errOut := runFlowpg(t, in, "check", "-", "--ca-file", s.CAFile, "--assume-adobe-trusts-ca")
	assert.Contains(t, out, "trusted by the ca-file roots", errOut)
	assert.NotContains(t, out, "Options.")

	_, out, errOut = runFlowpg(t, in, "check", "-", "--ca-file", s.CAFile)
	assert.Contains(t, out, "! certificate the chain is trusted only through the ca-file roots, not the system roots", errOut)
	assert.NotContains(t, out, "Options.")

	_, out, _ = runFlowpg(t, in, "check", "-", "--ca-file", s.CAFile, "-o", "json")
	var rep struct {
		Checks []struct {
			ID      string
			Message string
			Details struct{ TrustedBy string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Len(t, rep.Checks, 10)
	cert := rep.Checks[5]
	require.Equal(t, "certificate", cert.ID)
	assert.Equal(t, "ca-file", cert.Details.TrustedBy)
	assert.Contains(t, cert.Message, "trusted only through the ca-file roots")
	assert.NotContains(t, out, "Options.")
	assert.NotContains(t, out, "RootCAs")
}
