package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/internal/pgtls/pgtlstest"
	"github.com/flowpg/flowpg/preflight"
)

// sampleReport is a fixed report, so renderings can be compared to golden
// files without depending on a network or a clock.
func sampleReport() *preflight.Report {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	yes, no := true, false
	return &preflight.Report{
		Target:  "aep@db.example.com:5432/sales",
		Verdict: preflight.Fail,
		Checks: []preflight.Result{
			{ID: preflight.StageInput, Status: preflight.Pass, Message: "aep@db.example.com:5432/sales, sslMode verify-full"},
			{ID: preflight.StageAddress, Status: preflight.Pass, Message: "public address"},
			{ID: preflight.StageDNS, Status: preflight.Pass, Duration: ms(12.3), Message: "db.example.com resolves to 203.0.114.7"},
			{ID: preflight.StageTCP, Status: preflight.Pass, Duration: ms(21.5), Message: "connected to 203.0.114.7:5432"},
			{ID: preflight.StageTLS, Status: preflight.Pass, Duration: ms(44), Message: "TLS 1.3, TLS_AES_128_GCM_SHA256, key exchange P-256",
				Details: &preflight.TLSDetails{Used: true, ServerOffersTLS: &yes, Version: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256",
					KeyExchange: "P-256", HelloRetryRequest: &no, Source: "connection"}},
			{ID: preflight.StageCertificate, Status: preflight.Warn, Field: "server", Message: "the certificate expires in 12 days", Remediation: "renew the server certificate"},
			{ID: preflight.StageSSLMode, Status: preflight.Pass, Duration: ms(120.4), Message: "connected with TLS; the chain and the host name are verified"},
			{ID: preflight.StageAuth, Status: preflight.Fail, Duration: ms(63), Field: "password", Message: `wrong password for user "aep"`, Remediation: "check password"},
			{ID: preflight.StageServer, Status: preflight.Skip, Message: "skipped: the auth stage failed"},
			{ID: preflight.StagePrivileges, Status: preflight.Skip, Message: "skipped: the auth stage failed"},
		},
		Timings: preflight.Timings{DNS: ms(12.3), TCP: ms(21.5), TLS: ms(44), Auth: ms(63), Total: ms(141.2)},
		Audit: []preflight.AuditResult{
			{SSLMode: connstr.SSLDisable, Error: "the server refuses unencrypted connections"},
			{SSLMode: connstr.SSLAllow, OK: true, TLS: true},
			{SSLMode: connstr.SSLPrefer, OK: true, TLS: true},
			{SSLMode: connstr.SSLRequire, OK: true, TLS: true},
			{SSLMode: connstr.SSLVerifyCA, OK: true, TLS: true},
			{SSLMode: connstr.SSLVerifyFull, Error: "the certificate is valid for other.example.com"},
		},
		RecommendedSSLMode:   connstr.SSLVerifyCA,
		RecommendationReason: "verify-ca is the strictest mode that connects",
	}
}

func TestRenderText_Golden(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, renderText(&b, sampleReport(), style{}))
	assertGolden(t, "check_text.golden", b.String())
}

// pinMismatchReport is a fixed report of a chain that matched no pin, with
// the time of an attempt that no phase holds.
func pinMismatchReport() *preflight.Report {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	no := false
	skipped := "skipped: the certificate stage failed"
	return &preflight.Report{
		Target:  "aep@db.example.com:5432/sales",
		Verdict: preflight.Fail,
		Checks: []preflight.Result{
			{ID: preflight.StageInput, Status: preflight.Pass, Message: "aep@db.example.com:5432/sales, sslMode require"},
			{ID: preflight.StageAddress, Status: preflight.Pass, Message: "public address"},
			{ID: preflight.StageDNS, Status: preflight.Pass, Duration: ms(3.1), Message: "db.example.com resolves to 203.0.114.7"},
			{ID: preflight.StageTCP, Status: preflight.Pass, Duration: ms(20.2), Message: "connected to 203.0.114.7:5432"},
			{ID: preflight.StageTLS, Status: preflight.Pass, Duration: ms(41.7), Message: "TLS 1.3, TLS_AES_128_GCM_SHA256, key exchange P-256"},
			{ID: preflight.StageCertificate, Status: preflight.Fail, Kind: preflight.KindCertificate,
				Message:     "the server's certificate chain matches none of the pinned SHA-256 fingerprints; the connection was aborted before sending credentials",
				Remediation: "compare the pins with the SHA-256 fingerprints of the server's chain, listed with this stage; the certificate may have been renewed, or this is not the expected server",
				Details: &preflight.CertificateDetails{
					Chain: []preflight.CertificateInfo{
						{Subject: "CN=db.example.com", SHA256: strings.Repeat("3F2A", 16)},
						{Subject: "CN=Example Issuing CA,O=Example", SHA256: strings.Repeat("9B1C", 16)},
					},
					PinMatched: &no,
					PinSHA256:  []string{strings.Repeat("00", 31) + "01", strings.Repeat("AB", 32)},
				}},
			{ID: preflight.StageSSLMode, Status: preflight.Skip, Message: skipped},
			{ID: preflight.StageAuth, Status: preflight.Skip, Message: skipped},
			{ID: preflight.StageServer, Status: preflight.Skip, Message: skipped},
			{ID: preflight.StagePrivileges, Status: preflight.Skip, Message: skipped},
		},
		Timings: preflight.Timings{DNS: ms(3.1), TCP: ms(20.2), TLS: ms(41.7), Total: ms(130.4)},
	}
}

// TestRenderText_PinMismatchGolden: a pin mismatch lists the chain's
// fingerprints and the pins under the certificate stage, and the waterfall
// shows the time no phase holds.
func TestRenderText_PinMismatchGolden(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, renderText(&b, pinMismatchReport(), style{}))
	assertGolden(t, "check_pin_text.golden", b.String())
	require.Contains(t, b.String(), "chain:  "+strings.Repeat("3F2A", 16)+"  CN=db.example.com\n")
	require.Contains(t, b.String(), "pinned: "+strings.Repeat("00", 31)+"01\n")
}

// TestCheck_PinMismatchShowsFingerprints runs check against a fake server
// whose chain matches no pin: the text output lists the server's
// fingerprint, as computed here from its certificate, and the pin given.
func TestCheck_PinMismatchShowsFingerprints(t *testing.T) {
	s := pgtlstest.Start(t, pgtlstest.Options{})
	raw, err := os.ReadFile(s.CAFile)
	require.NoError(t, err)
	block, _ := pem.Decode(raw)
	require.NotNil(t, block)
	sum := sha256.Sum256(block.Bytes)
	host, port, err := net.SplitHostPort(s.Addr)
	require.NoError(t, err)
	in := fmt.Sprintf("Server=%s;Port=%s;Database=d;UID=u;PWD=pw-sentinel-82;EncryptionMethod=1;ValidateServerCertificate=0", host, port)
	pin := strings.Repeat("ab:", 31) + "ab"
	code, out, errOut := runFlowpg(t, in, "check", "-", "--timeout", "5s", "--pin-sha256", pin)
	require.Equal(t, ExitFailed, code, "%s%s", out, errOut)
	require.Regexp(t, `(?m)^  ✗ certificate .*pinned SHA-256`, out)
	require.Regexp(t, `(?m)^ +chain:  `+strings.ToUpper(hex.EncodeToString(sum[:]))+`  CN=pgtlstest$`, out)
	require.Regexp(t, `(?m)^ +pinned: `+strings.Repeat("AB", 32)+`$`, out)
	require.NotContains(t, out+errOut, "pw-sentinel-82")
}

// TestCheck_PinMismatchNeverFallsBack: under Prefer, a certificate that
// matches no pin ends the connection; the plaintext fallback, which would
// hand the password to that server without TLS, is never tried. Under a
// mode that starts in plaintext, pins are refused before any dial.
func TestCheck_PinMismatchNeverFallsBack(t *testing.T) {
	s := pgtlstest.Start(t, pgtlstest.Options{})
	host, port, err := net.SplitHostPort(s.Addr)
	require.NoError(t, err)
	pin := strings.Repeat("ab", 32)
	prefer := fmt.Sprintf("Server=%s;Port=%s;Database=d;UID=u;PWD=pw-sentinel-83;EncryptionMethod=6;ValidateServerCertificate=0", host, port)
	code, out, errOut := runFlowpg(t, prefer, "check", "-", "--timeout", "5s", "--pin-sha256", pin)
	require.Equal(t, ExitFailed, code, "%s%s", out, errOut)
	require.Regexp(t, `(?m)^  ✗ certificate .*pinned SHA-256`, out)
	conns := s.WaitConns(t, 1)
	for _, c := range conns {
		require.False(t, c.Plaintext, "a startup message went out in plaintext after the pin mismatch")
	}

	// A server that declines TLS gets no plaintext fallback either.
	declines := pgtlstest.Start(t, pgtlstest.Options{DeclineTLS: true})
	host, port, err = net.SplitHostPort(declines.Addr)
	require.NoError(t, err)
	prefer = fmt.Sprintf("Server=%s;Port=%s;Database=d;UID=u;PWD=pw-sentinel-83;EncryptionMethod=6;ValidateServerCertificate=0", host, port)
	code, out, errOut = runFlowpg(t, prefer, "check", "-", "--timeout", "5s", "--pin-sha256", pin)
	require.Equal(t, ExitFailed, code, "%s%s", out, errOut)
	for _, c := range declines.WaitConns(t, 1) {
		require.False(t, c.Plaintext, "a startup message went out in plaintext to a server that declined TLS, with pins")
	}

	disable := fmt.Sprintf("Server=%s;Port=%s;Database=d;UID=u;PWD=pw-sentinel-83;EncryptionMethod=0", host, port)
	before := len(s.Conns())
	code, out, errOut = runFlowpg(t, disable, "check", "-", "--timeout", "5s", "--pin-sha256", pin)
	require.Equal(t, ExitInvalid, code, "%s%s", out, errOut)
	require.Regexp(t, `(?m)^  ✗ input .*a pin needs TLS before the password`, out)
	time.Sleep(50 * time.Millisecond)
	require.Len(t, s.Conns(), before, "nothing is dialed")
}

func TestRenderJSON_Golden(t *testing.T) {
	b, err := json.MarshalIndent(sampleReport(), "", "  ")
	require.NoError(t, err)
	assertGolden(t, "check_json.golden", string(append(b, '\n')))
}

func TestWaterfall(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	const otherNote = "           Other: time in none of the phases above (earlier attempts, the audit, waiting)\n"
	tests := []struct {
		name string
		t    preflight.Timings
		want string
	}{
		{"phases fill the total", preflight.Timings{DNS: ms(10), TCP: ms(10), TLS: ms(20), Auth: ms(40), Total: ms(80)},
			"Timings\n" +
				"  DNS         10.0 ms  │█████\n" +
				"  TCP         10.0 ms  │     █████\n" +
				"  TLS         20.0 ms  │          ██████████\n" +
				"  Auth        40.0 ms  │                    ████████████████████\n" +
				"  Queries      0.0 ms  │\n" +
				"  Total       80.0 ms  │────────────────────────────────────────│\n"},
		// The bars are scaled to the total, and what no phase holds is a
		// row of its own.
		{"time in no phase is Other", preflight.Timings{DNS: ms(10), TCP: ms(10), TLS: ms(20), Auth: ms(40), Total: ms(160)},
			"Timings\n" +
				"  DNS         10.0 ms  │███\n" +
				"  TCP         10.0 ms  │   ██\n" +
				"  TLS         20.0 ms  │     █████\n" +
				"  Auth        40.0 ms  │          ██████████\n" +
				"  Queries      0.0 ms  │\n" +
				"  Other       80.0 ms  │                    ████████████████████\n" +
				"  Total        160 ms  │────────────────────────────────────────│\n" + otherNote},
		// A black hole: the TLS phase that waited for the limit shows it.
		{"a phase cut by the limit", preflight.Timings{TCP: ms(1), TLS: ms(1999), Total: ms(2000)},
			"Timings\n" +
				"  DNS          0.0 ms  │\n" +
				"  TCP          1.0 ms  │▏\n" +
				"  TLS         1999 ms  │████████████████████████████████████████\n" +
				"  Auth         0.0 ms  │\n" +
				"  Queries      0.0 ms  │\n" +
				"  Total       2000 ms  │────────────────────────────────────────│\n"},
		// Under a column of waiting is not worth a row.
		{"a sliver of Other is left out", preflight.Timings{TCP: ms(20), Auth: ms(79), Total: ms(100)},
			"Timings\n" +
				"  DNS          0.0 ms  │\n" +
				"  TCP         20.0 ms  │████████\n" +
				"  TLS          0.0 ms  │\n" +
				"  Auth        79.0 ms  │        ████████████████████████████████\n" +
				"  Queries      0.0 ms  │\n" +
				"  Total        100 ms  │────────────────────────────────────────│\n"},
		{"nothing timed", preflight.Timings{}, "Timings\n  Total        0.0 ms\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, waterfall(tt.t, style{}))
		})
	}

	// A phase too short for one column still shows that it happened.
	got := waterfall(preflight.Timings{TCP: time.Microsecond * 100, Auth: ms(100), Total: ms(101)}, style{})
	require.Contains(t, got, "│▏")
}

func TestStyle_ColourOnlyOnTerminal(t *testing.T) {
	var b bytes.Buffer
	require.False(t, newStyle(&b, false).color, "a buffer is not a terminal")
	require.Equal(t, "x", style{}.paint("31", "x"))
	require.Equal(t, "\x1b[31mx\x1b[0m", style{color: true}.paint("31", "x"))
	t.Setenv("NO_COLOR", "1")
	require.False(t, newStyle(os.Stdout, false).color)
}

func TestCheck_InvalidInputExits2(t *testing.T) {
	code, out, errOut := runFlowpg(t, "", "check", "Server={unterminated")
	require.Equal(t, ExitInvalid, code, "%s%s", out, errOut)

	// Parses, but has no database: the input stage fails, exit 2.
	code, out, _ = runFlowpg(t, "Server=127.0.0.1;UID=u;PWD=pw-sentinel-77", "check", "-")
	require.Equal(t, ExitInvalid, code)
	require.Contains(t, out, "✗ input")
	require.NotContains(t, out, "pw-sentinel-77")

	code, _, _ = runFlowpg(t, "", "check")
	require.Equal(t, ExitInvalid, code)
}

func TestCheck_ClosedPortJSONExits1(t *testing.T) {
	addr, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	in := fmt.Sprintf("Server=127.0.0.1;Port=%s;Database=d;UID=u;PWD=pw-sentinel-78", port)
	code, out, errOut := runFlowpg(t, in, "check", "-", "-o", "json", "--timeout", "3s")
	require.Equal(t, ExitFailed, code, errOut)
	require.NotContains(t, out+errOut, "pw-sentinel-78")
	var rep struct {
		Verdict string `json:"verdict"`
		Checks  []struct {
			ID, Status, Field string
		} `json:"checks"`
		Timings map[string]float64 `json:"timings"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, "fail", rep.Verdict)
	require.Equal(t, "tcp", rep.Checks[3].ID)
	require.Equal(t, "fail", rep.Checks[3].Status)
	require.Equal(t, "port", rep.Checks[3].Field)
	require.Contains(t, rep.Timings, "totalMs")
}

func TestCheck_PasswordOnCommandLineWarns(t *testing.T) {
	addr, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	_, _, errOut := runFlowpg(t, "", "check", fmt.Sprintf("Server=127.0.0.1;Port=%s;Database=d;UID=u;PWD=pw-sentinel-79", port), "--timeout", "2s")
	require.Contains(t, errOut, "[password-on-command-line]")
	require.NotContains(t, errOut, "pw-sentinel-79")
}

func TestCheck_Batch(t *testing.T) {
	addr, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	file := filepath.Join(t.TempDir(), "targets.txt")
	content := strings.Join([]string{
		"# targets",
		"",
		fmt.Sprintf("Server=127.0.0.1;Port=%s;Database=one;UID=u;PWD=pw-sentinel-80", port),
		"Server={broken;PWD=pw-sentinel-81",
		fmt.Sprintf("  Server=127.0.0.1;Port=%s;Database=two;UID=u;PWD=pw-sentinel-82  ", port),
	}, "\n")
	require.NoError(t, os.WriteFile(file, []byte(content), 0o600))

	code, out, errOut := runFlowpg(t, "", "check", "--file", file, "-o", "json", "--timeout", "3s", "--concurrency", "2")
	require.Equal(t, ExitInvalid, code, "an unparseable line wins over failed targets: %s", errOut)
	for _, s := range []string{"pw-sentinel-80", "pw-sentinel-81", "pw-sentinel-82"} {
		require.NotContains(t, out+errOut, s)
	}
	var lines []batchLine
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l batchLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &struct {
			Line   *int        `json:"line"`
			Target *string     `json:"target"`
			Error  **errorInfo `json:"error"`
		}{&l.Line, &l.Target, &l.Error}))
		lines = append(lines, l)
	}
	require.Len(t, lines, 3)
	require.Equal(t, 3, lines[0].Line)
	require.Equal(t, "127.0.0.1:"+port+"/one", lines[0].Target)
	require.Equal(t, 4, lines[1].Line)
	require.NotNil(t, lines[1].Error)
	require.Equal(t, "syntax", lines[1].Error.Code)
	require.Equal(t, 5, lines[2].Line)

	code, out, _ = runFlowpg(t, "", "check", "--file", file, "--timeout", "3s")
	require.Equal(t, ExitInvalid, code)
	require.Contains(t, out, "3 targets: 0 pass, 0 warn, 2 fail, 1 invalid")
	require.Contains(t, out, "tcp")

	require.NoError(t, os.WriteFile(file, []byte(strings.Join(strings.Split(content, "\n")[:3], "\n")), 0o600))
	code, _, _ = runFlowpg(t, "", "check", "--file", file, "--timeout", "3s")
	require.Equal(t, ExitFailed, code)
}

func TestCheck_RealServer(t *testing.T) {
	s := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn})
	in := fmt.Sprintf("Server=%s;Port=%d;Database=%s;UID=%s;PWD=%s;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#",
		s.Host, s.Port, pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword)

	code, out, errOut := runFlowpg(t, in, "check", "-", "--ca-file", s.CAFile, "--table", "sales.regions", "--audit")
	require.Equal(t, ExitOK, code, "%s\n%s", out, errOut) // warnings (loopback) allowed
	require.NotContains(t, out, pgtest.ScramPassword)
	require.Contains(t, out, "✓ privileges")
	require.Contains(t, out, "verify-full connects  ← recommended")
	require.Contains(t, out, "Timings")
	require.NotContains(t, out, "\x1b[", "no colour off a terminal")

	code, out, _ = runFlowpg(t, in, "check", "-", "--ca-file", s.CAFile, "-o", "json", "--audit")
	require.Equal(t, ExitOK, code)
	var rep struct {
		Verdict     string `json:"verdict"`
		Recommended string `json:"recommendedSslMode"`
		Audit       []struct {
			SSLMode string `json:"sslMode"`
			OK      bool   `json:"ok"`
		} `json:"audit"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, "warn", rep.Verdict)
	require.Equal(t, "verify-full", rep.Recommended)
	require.Len(t, rep.Audit, 6)

	code, _, _ = runFlowpg(t, strings.Replace(in, pgtest.ScramPassword, "wrong-pw-sentinel", 1), "check", "-", "--ca-file", s.CAFile)
	require.Equal(t, ExitFailed, code)

	// JUnit: a pass with the loopback warning in system-out, then the wrong
	// password as a failure of the auth stage that names the user name and
	// the password, and blames neither field alone.
	code, out, _ = runFlowpg(t, in, "check", "-", "--ca-file", s.CAFile, "-o", "junit")
	require.Equal(t, ExitOK, code, out)
	cases := parseJUnit(t, out)
	require.Len(t, cases, 1)
	require.Nil(t, cases[0].Failure)
	require.Nil(t, cases[0].Error)
	require.Contains(t, cases[0].SystemOut, "warning: address: AEP cannot reach this")
	code, out, _ = runFlowpg(t, strings.Replace(in, pgtest.ScramPassword, "wrong-pw-sentinel", 1), "check", "-", "--ca-file", s.CAFile, "-o", "junit")
	require.Equal(t, ExitFailed, code)
	require.NotContains(t, out, "wrong-pw-sentinel")
	cases = parseJUnit(t, out)
	require.NotNil(t, cases[0].Failure)
	require.Equal(t, "auth", cases[0].Failure.Type)
	require.Contains(t, cases[0].Failure.Message, `auth: user "aep_scram" does not exist or the password is wrong`)
	require.Contains(t, cases[0].Failure.Message, "; fix: check username and password")
	require.NotContains(t, cases[0].Failure.Message, "field:")
}

// TestCheck_BatchBlackHoleEndsAtTimeout: targets that never answer cost one
// --timeout each, in parallel, and the batch ends. The bound is a hang
// guard with a wide margin, not a speed assertion.
func TestCheck_BatchBlackHoleEndsAtTimeout(t *testing.T) {
	up, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	hole, err := faultproxy.New(up, faultproxy.Options{BlackHole: true})
	require.NoError(t, err)
	defer hole.Close()
	port := hole.Addr[strings.LastIndexByte(hole.Addr, ':')+1:]
	var lines []string
	for i := range 8 {
		lines = append(lines, fmt.Sprintf("Server=127.0.0.1;Port=%s;Database=db%d;UID=u;PWD=pw", port, i))
	}
	file := filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600))

	code, out, errOut := runFlowpg(t, "", "check", "--file", file, "--timeout", "1s", "--concurrency", "4", "-o", "json")
	require.Equal(t, ExitFailed, code, errOut)
	require.Equal(t, 8, strings.Count(out, `"verdict":"fail"`))
	require.Equal(t, 8, strings.Count(out, `"kind":"timeout"`))
}

// TestCheckBatch_FailedWriteStopsDispatch: when the report cannot be
// written, no further check begins, those running end, and no goroutine of
// the batch outlives the command.
func TestCheckBatch_FailedWriteStopsDispatch(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var accepted atomic.Int32
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			held = append(held, c) // never answered: each check waits for its timeout
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	_, port, err := net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	lines := []string{"not a connection string"} // done at once: the first write fails
	for i := range 40 {
		lines = append(lines, fmt.Sprintf("Server=127.0.0.1;Port=%s;Database=db%d;UID=u;PWD=pw", port, i))
	}
	file := filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600))

	before := runtime.NumGoroutine()
	var errOut bytes.Buffer
	streams := &IO{Stdin: strings.NewReader(""), Stdout: failingWriter{}, Stderr: &errOut, LookupEnv: noEnv,
		dialer: netguard.Dialer(t, nil), resolver: netguard.Resolver(t, nil)}
	code := run(context.Background(), []string{"check", "--file", file, "--timeout", "10m", "--concurrency", "4", "-o", "json"},
		streams, &Session{Cleanup: context.Background()})
	require.Equal(t, ExitFailed, code, errOut.String())
	assert.Contains(t, errOut.String(), "disk full")
	// At most the four checks already running when the write failed dialed,
	// each at most twice (the session, and the TLS probe a mode that may end
	// in plaintext adds); the other 36 never began.
	assert.LessOrEqual(t, int(accepted.Load()), 4*2, "no check began after the write failed")
	// What the checks started (pgconn's watchers, the dialers) winds down
	// as their connections close; nothing is left running.
	// (Polled here: testify's Eventually runs its condition on goroutines of
	// its own, which would be counted.)
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); after > before && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	require.LessOrEqual(t, after, before, "goroutines left running after the command returned")
}

// TestCheck_GuardKeepsTrafficOnThisMachine shows runFlowpg's guard at work,
// on a recorder so that the failure can be watched: a check of a made-up
// name would ask the system's resolver, and a check of a private address
// would dial it. Each fails the test instead, naming the name or the
// address, and nothing is sent.
func TestCheck_GuardKeepsTrafficOnThisMachine(t *testing.T) {
	for _, tt := range []struct{ conn, stage, named string }{
		{"Server=db.example.com;Database=d;UID=u;PWD=pw-sentinel-83", "✗ dns", `"db.example.com"`},
		{"Server=10.1.2.3;Port=5432;Database=d;UID=u;PWD=pw-sentinel-84", "✗ tcp", "10.1.2.3:5432"},
	} {
		t.Run(tt.named, func(t *testing.T) {
			rec := &netguard.Recorder{TB: t}
			code, out, errOut := runFlowpg(rec, tt.conn, "check", "-", "--timeout", "5s")
			require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
			require.Contains(t, out, tt.stage)
			require.NotEmpty(t, rec.Failures(), "the guard did not fail the test")
			for _, f := range rec.Failures() {
				require.Contains(t, f, tt.named)
			}
		})
	}
}

// Any value of NO_COLOR, empty included, must leave every command usable:
// no-color.org defines it as "present and not empty", not as a boolean.
func TestNoColorAnyValue(t *testing.T) {
	for _, v := range []string{"", "1", "anything"} {
		t.Setenv("NO_COLOR", v)
		code, out, errOut := runFlowpg(t, "", "version")
		require.Equal(t, ExitOK, code, "NO_COLOR=%q: %s", v, errOut)
		require.Contains(t, out, "flowpg")
	}
}

// TestCheckBatch_HelpSaysHowClassesMapToExitCodes: check --help names every
// class of a batch and says the exit code each leads to, as batchExit
// computes it.
func TestCheckBatch_HelpSaysHowClassesMapToExitCodes(t *testing.T) {
	code, out, errOut := runFlowpg(t, "", "check", "--help")
	require.Equal(t, ExitOK, code, errOut)
	help := strings.Join(strings.Fields(out), " ")
	for _, c := range batchClasses {
		assert.Contains(t, help, c, "the help names the class %q", c)
	}
	exit := func(classes ...string) int {
		var ts []*batchTarget
		for _, c := range classes {
			ts = append(ts, &batchTarget{class: c})
		}
		var ee *ExitError
		if err := batchExit(ts); errors.As(err, &ee) {
			return ee.Code
		}
		return ExitOK
	}
	require.Equal(t, ExitInvalid, exit(classFail, classInvalid, classPass))
	assert.Contains(t, help, "the exit code is 2 when any line is invalid (the other lines are still checked)")
	for _, c := range []string{classFail, classInterrupted, classNotChecked} {
		require.Equal(t, ExitFailed, exit(classPass, c), c)
	}
	assert.Contains(t, help, "else 1 when any failed, was interrupted or not checked, else 0")
	require.Equal(t, ExitOK, exit(classPass, classWarn))
}

// TestCheckBatch_HashIsPartOfTheValue: in a --file, only a line that
// starts with # is a comment; a # after a value is part of it, as
// everywhere else.
func TestCheckBatch_HashIsPartOfTheValue(t *testing.T) {
	file := filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte("# a comment line\nServer=127.0.0.1;Port=1;Database=sales#eu;UID=u;PWD=pw # not a comment\n"), 0o600))
	code, out, errOut := runFlowpg(t, "", "check", "--file", file, "--timeout", "2s", "-o", "json")
	require.Equal(t, ExitFailed, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1, "the comment line is no target")
	var rec batchLine
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
	assert.Equal(t, 2, rec.Line)
	assert.Equal(t, "127.0.0.1:1/sales#eu", rec.Target)
	assert.Equal(t, classFail, rec.Class, "refused: the line parsed and was checked")
}
