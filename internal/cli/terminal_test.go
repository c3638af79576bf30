package cli

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/flowclient/flowtest"
	"github.com/flowpg/flowpg/preflight"
)

// hostileText is what a PostgreSQL server, Flow Service or a line of an
// input file may hold to act on the terminal that shows flowpg's output:
// clear the screen, retitle the window, fake a line of flowpg's own, and
// reverse what follows.
const hostileText = "\x1b[2J\x1b]0;pwned\x07\r\nINJECTED ✓ all good\u202e\x1b[0m"

// requireInert fails when out holds anything a terminal would act on, or a
// line that hostileText started.
func requireInert(t *testing.T, where, out string) {
	t.Helper()
	for _, r := range out {
		if r != '\n' && !unicode.IsPrint(r) {
			t.Fatalf("%s holds %q:\n%s", where, r, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "INJECTED") {
			t.Fatalf("%s has a line of the server's making:\n%s", where, out)
		}
	}
}

// TestTerminal_ReportRenderers: every text a check report carries is shown
// inert by every renderer of it: the text report (stages, the pins, the
// string's own mode, the audit), the --file summary and JUnit.
func TestTerminal_ReportRenderers(t *testing.T) {
	no := false
	rep := &preflight.Report{
		Target:  "db" + hostileText + ":5432/sales",
		Verdict: preflight.Fail,
		Checks: []preflight.Result{
			{ID: preflight.StageAddress, Status: preflight.Warn, Message: "address " + hostileText, Field: "server" + hostileText, Remediation: "fix " + hostileText},
			{ID: preflight.StageCertificate, Status: preflight.Fail, Message: "cert " + hostileText, Remediation: "pin " + hostileText,
				Details: &preflight.CertificateDetails{PinMatched: &no, PinSHA256: []string{"AB" + hostileText},
					Chain: []preflight.CertificateInfo{{Subject: "CN=" + hostileText, SHA256: "CD"}}}},
			{ID: preflight.StageAuth, Status: preflight.Skip, Message: "skipped " + hostileText},
		},
		Audit:                []preflight.AuditResult{{SSLMode: connstr.SSLRequire, Error: "audit " + hostileText}, {SSLMode: connstr.SSLPrefer, OK: true}},
		RecommendedSSLMode:   connstr.SSLPrefer,
		RecommendationReason: "because " + hostileText,
		Requested:            &preflight.AuditResult{SSLMode: connstr.SSLRequire, Error: "requested " + hostileText},
	}

	var text strings.Builder
	require.NoError(t, renderText(&text, rep, style{}))
	requireInert(t, "the text report", text.String())
	assert.Contains(t, text.String(), `\x1b[2J`, "what the server sent is shown, escaped")

	var summary strings.Builder
	targets := []*batchTarget{
		{line: 1, target: rep.Target, report: rep, class: classFail},
		{line: 2, target: "line 2", err: fmt.Errorf("connstr: %s", hostileText), class: classInvalid},
	}
	require.NoError(t, renderSummary(&summary, targets, false, style{}))
	requireInert(t, "the --file summary", summary.String())

	c := junitReportCase(rep.Target, rep)
	requireInert(t, "the JUnit failure message", c.Failure.Message)
	requireInert(t, "the JUnit failure text", strings.ReplaceAll(c.Failure.XML, "&#xD;", ""))
	requireInert(t, "the JUnit system-out", c.SystemOut.XML)
}

// hostilePostgres listens on loopback and answers every startup, after
// declining TLS, with an ErrorResponse whose message is hostileText.
func hostilePostgres(t *testing.T) (host, port string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	var fields []byte
	for _, f := range [][2]string{{"S", "FATAL"}, {"C", "XX000"}, {"M", "refused " + hostileText}, {"D", hostileText}} {
		fields = append(append(append(fields, f[0]...), f[1]...), 0)
	}
	fields = append(fields, 0)
	msg := binary.BigEndian.AppendUint32([]byte{'E'}, uint32(len(fields)+4))
	msg = append(msg, fields...)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					var hdr [8]byte
					if _, err := io.ReadFull(c, hdr[:]); err != nil {
						return
					}
					if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr[:4]))-8); err != nil {
						return
					}
					if binary.BigEndian.Uint32(hdr[4:]) == 80877103 { // SSLRequest
						if _, err := c.Write([]byte{'N'}); err != nil {
							return
						}
						continue
					}
					_, _ = c.Write(msg)
					return
				}
			}()
		}
	}()
	host, port, err = net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return host, port
}

// TestTerminal_HostileServer: a server's error message is shown inert by
// check, alone and in a --file batch, with the audit too.
func TestTerminal_HostileServer(t *testing.T) {
	host, port := hostilePostgres(t)
	conn := fmt.Sprintf("Server=%s;Port=%s;Database=d;UID=u;Password=pw-Secr3t;EncryptionMethod=6", host, port)
	file := filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte(conn+"\n"), 0o600))
	for _, args := range [][]string{
		{"check", "-"},
		{"check", "-", "--audit"},
		{"check", "--file", file},
		{"check", "--file", file, "-o", "junit"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runFlowpg(t, conn, append(args, "--timeout", "10s")...)
			assert.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
			assert.Contains(t, out, "refused", "the server's message is shown")
			requireInert(t, "stdout", strings.ReplaceAll(out, "&#xD;", ""))
			requireInert(t, "stderr", errOut)
		})
	}
}

// TestTerminal_HostileFlowService: what Flow Service stores and answers
// (names, params, etags, explored table names, a failed test's message) is
// shown inert by every connections command and by the errors it causes.
func TestTerminal_HostileFlowService(t *testing.T) {
	prober := func(_ context.Context, req flowtest.ProbeRequest) ([]flowtest.ExploreItem, error) {
		if req.Params["database"] == "broken" {
			return nil, fmt.Errorf("driver says %s", hostileText)
		}
		return []flowtest.ExploreItem{{Name: "t" + hostileText, Path: "public.t" + hostileText, Type: "table"}}, nil
	}
	fs := flowtest.NewServer(flowtest.WithProber(prober))
	defer fs.Close()
	connectEnv(t, fs)
	seedParams(t, fs, "evil", flowclient.Params{"server": "db" + hostileText, "port": "5432", "database": "sales" + hostileText,
		"username": "aep" + hostileText, "password": "pw", "sslMode": "Verify Full"})
	seedParams(t, fs, "broken", flowclient.Params{"server": "db.example.com", "port": "5432", "database": "broken",
		"username": "aep", "password": "pw", "sslMode": "Verify Full"})
	for _, args := range [][]string{
		{"connections", "list"},
		{"connections", "show", "evil"},
		{"connections", "test", "evil"},
		{"connections", "test", "broken"},
		{"connections", "delete", "evil", "--yes"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, out, errOut := runFlowpg(t, "", args...)
			assert.NotEmpty(t, out+errOut)
			requireInert(t, "stdout", out)
			requireInert(t, "stderr", errOut)
		})
	}
}

// TestTerminal_HostileInput: a value of the input is shown inert by parse
// and by the errors and warnings about it.
func TestTerminal_HostileInput(t *testing.T) {
	evil := strings.NewReplacer("\r", "", "\n", "").Replace(hostileText) // one line of input
	for _, in := range []string{
		"Server=db.example.com;Database=sales" + evil + ";UID=aep;Password=pw",
		"Server=db.example.com;Database=sales;UID=aep;Password=pw;Port=54" + evil,
		"Server=db.example.com;Database=sales;UID=aep;Password=pw;Unknown" + evil + "=1",
	} {
		for _, args := range [][]string{{"parse", "-"}, {"parse", "-", "--reveal"}, {"convert", "--to", "basic", "-"}} {
			_, out, errOut := runOffline(t, in, args...)
			if args[0] == "parse" {
				requireInert(t, "parse's stdout", out)
			}
			requireInert(t, "stderr", errOut)
		}
	}
}
