package cli

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/preflight"
)

// junitDoc is the JUnit schema as a CI system reads it, declared apart from
// the writer's types so that the tests check the document, not the structs.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Suites   []struct {
		Name     string          `xml:"name,attr"`
		Tests    int             `xml:"tests,attr"`
		Failures int             `xml:"failures,attr"`
		Errors   int             `xml:"errors,attr"`
		Skipped  int             `xml:"skipped,attr"`
		Cases    []junitTestcase `xml:"testcase"`
	} `xml:"testsuite"`
}

type junitTestcase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	File      string        `xml:"file,attr"`
	Line      int           `xml:"line,attr"`
	Failure   *junitOutcome `xml:"failure"`
	Error     *junitOutcome `xml:"error"`
	Skipped   *junitOutcome `xml:"skipped"`
	SystemOut string        `xml:"system-out"`
}

type junitOutcome struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// parseJUnit decodes a JUnit document strictly and checks the counts that
// every reader trusts: one suite, and root and suite totals that match its
// cases.
func parseJUnit(t *testing.T, out string) []junitTestcase {
	t.Helper()
	require.True(t, strings.HasPrefix(out, xml.Header), "XML declaration first:\n%s", out)
	var doc junitDoc
	dec := xml.NewDecoder(strings.NewReader(out))
	dec.Strict = true
	require.NoError(t, dec.Decode(&doc), out)
	require.Len(t, doc.Suites, 1)
	s := doc.Suites[0]
	failures, errs, skipped := 0, 0, 0
	for _, c := range s.Cases {
		require.Equal(t, "flowpg.check", c.Classname)
		secs, err := strconv.ParseFloat(c.Time, 64)
		require.NoError(t, err, "time of %s", c.Name)
		require.GreaterOrEqual(t, secs, 0.0)
		require.False(t, c.Failure != nil && c.Error != nil, "%s: a failure or an error, not both", c.Name)
		if c.Failure != nil {
			failures++
		}
		if c.Error != nil {
			errs++
		}
		if c.Skipped != nil {
			skipped++
		}
	}
	require.Equal(t, len(s.Cases), s.Tests)
	require.Equal(t, failures, s.Failures)
	require.Equal(t, errs, s.Errors)
	require.Equal(t, skipped, s.Skipped)
	require.Equal(t, []int{s.Tests, s.Failures, s.Errors}, []int{doc.Tests, doc.Failures, doc.Errors})
	return s.Cases
}

func passingReport() *preflight.Report {
	return &preflight.Report{
		Target:  "aep@db2.example.com:5432/sales",
		Verdict: preflight.Warn,
		Checks: []preflight.Result{
			{ID: preflight.StageInput, Status: preflight.Pass, Message: "aep@db2.example.com:5432/sales, sslMode verify-full"},
			{ID: preflight.StageAddress, Status: preflight.Warn, Field: "server", Message: "AEP cannot reach this from Adobe's network: 10.0.0.7 (private)", Remediation: "give AEP a public host name"},
			{ID: preflight.StageCertificate, Status: preflight.Warn, Field: "server", Message: "the certificate expires in 12 days", Remediation: "renew the server certificate"},
			{ID: preflight.StagePrivileges, Status: preflight.Pass, Message: "can read 4 of 4 tables"},
		},
		Timings: preflight.Timings{Total: 1234567 * time.Microsecond},
	}
}

func TestRenderJUnit_Golden(t *testing.T) {
	cases := []junitCase{
		junitReportCase("aep@db.example.com:5432/sales", sampleReport()),
		junitReportCase("aep@db2.example.com:5432/sales", passingReport()),
		junitInvalidCase("line 7", errors.New(`connstr: offset 27: key "Port": port "54x2" is not a number in 1-65535`)),
	}
	cases[2].File, cases[2].Line = "targets.txt", 7
	var b bytes.Buffer
	require.NoError(t, writeJUnit(&b, cases))
	assertGolden(t, "check_junit.golden", b.String())

	got := parseJUnit(t, b.String())
	require.Len(t, got, 3)

	failed := got[0]
	require.Equal(t, "aep@db.example.com:5432/sales", failed.Name)
	require.Equal(t, "0.141", failed.Time)
	require.Nil(t, failed.Error)
	require.NotNil(t, failed.Failure)
	require.Equal(t, "auth", failed.Failure.Type, "the first failing stage")
	require.Equal(t, `auth: wrong password for user "aep"; field: password; fix: check password`, failed.Failure.Message)
	require.Contains(t, failed.Failure.Text, "stage: auth\nfield: password\n")
	require.Contains(t, failed.Failure.Text, "✗ auth        wrong password", "the whole report follows")
	require.Equal(t, "warning: certificate: the certificate expires in 12 days; field: server; fix: renew the server certificate\n", failed.SystemOut)

	passed := got[1]
	require.Nil(t, passed.Failure)
	require.Nil(t, passed.Error)
	require.Equal(t, "1.235", passed.Time)
	require.Equal(t, 2, strings.Count(passed.SystemOut, "warning: "), passed.SystemOut)
	require.Contains(t, passed.SystemOut, "warning: address: AEP cannot reach this")

	invalid := got[2]
	require.NotNil(t, invalid.Error)
	require.Equal(t, "input", invalid.Error.Type)
	require.Contains(t, invalid.Error.Message, `port "54x2" is not a number`)
	require.Equal(t, "targets.txt", invalid.File)
	require.Equal(t, 7, invalid.Line)
}

// A message can hold anything a server or a user sent: markup, quotes, and
// characters XML 1.0 cannot carry at all. The document must stay valid, and
// show them as the text report does.
func TestRenderJUnit_HostileText(t *testing.T) {
	rep := sampleReport()
	rep.Checks[7].Message = "]]></failure><x a=\"1\">&amp; \x00\x07\x1b[31m\ufffe end"
	var b bytes.Buffer
	require.NoError(t, writeJUnit(&b, []junitCase{junitReportCase(`a"b<c>&d`, rep)}))
	got := parseJUnit(t, b.String())
	require.Len(t, got, 1)
	require.Equal(t, `a"b<c>&d`, got[0].Name)
	require.Contains(t, got[0].Failure.Message, "]]></failure><x a=\"1\">&amp; ")
	require.Contains(t, got[0].Failure.Message, " end")
	require.Contains(t, got[0].Failure.Text, `]]></failure><x a="1">&amp; \x00\a\x1b[31m\ufffe end`, "control characters are shown escaped, as on a terminal")
}

func TestCheck_JUnitSingle(t *testing.T) {
	addr, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	in := fmt.Sprintf("Server=127.0.0.1;Port=%s;Database=d;UID=u;PWD=pw-sentinel-90", port)
	code, out, errOut := runFlowpg(t, in, "check", "-", "-o", "junit", "--timeout", "3s")
	require.Equal(t, ExitFailed, code, errOut)
	require.NotContains(t, out+errOut, "pw-sentinel-90")
	got := parseJUnit(t, out)
	require.Len(t, got, 1)
	require.Equal(t, "u@127.0.0.1:"+port+"/d", got[0].Name)
	require.Empty(t, got[0].File, "a single check has no file line")
	require.NotNil(t, got[0].Failure)
	require.Equal(t, "tcp", got[0].Failure.Type)
	require.Contains(t, got[0].Failure.Message, "; field: port; fix: ")
	require.Contains(t, got[0].SystemOut, "warning: address: ", "loopback is a warning")

	// Parses, but has no database: the check cannot run, an <error>, exit 2.
	code, out, _ = runFlowpg(t, "Server=127.0.0.1;UID=u;PWD=pw-sentinel-91", "check", "-", "-o", "junit")
	require.Equal(t, ExitInvalid, code)
	require.NotContains(t, out, "pw-sentinel-91")
	got = parseJUnit(t, out)
	require.Len(t, got, 1)
	require.Nil(t, got[0].Failure)
	require.NotNil(t, got[0].Error)
	require.Equal(t, "input", got[0].Error.Type)
	require.Contains(t, got[0].Error.Message, "field: database")

	// Input that does not parse, or is missing, still gives a document to
	// publish, with the parser's masked error; the message goes to stderr too.
	for _, tt := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"Server=db;Password={pw-sentinel-95;Port=5432", []string{"check", "-", "-o", "junit"}, "unterminated"},
		{"", []string{"check", "-o", "junit"}, "no connection string"},
	} {
		code, out, errOut := runFlowpg(t, tt.stdin, tt.args...)
		require.Equal(t, ExitInvalid, code)
		require.NotContains(t, out+errOut, "pw-sentinel-95")
		require.Contains(t, errOut, tt.want)
		got = parseJUnit(t, out)
		require.Len(t, got, 1)
		require.Equal(t, "connection string", got[0].Name)
		require.NotNil(t, got[0].Error)
		require.Equal(t, "input", got[0].Error.Type)
		require.Contains(t, got[0].Error.Message, tt.want)
	}
}

func TestCheck_JUnitBatch(t *testing.T) {
	addr, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	file := filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte(strings.Join([]string{
		"# fleet",
		fmt.Sprintf("Server=127.0.0.1;Port=%s;Database=one;UID=u;PWD=pw-sentinel-92", port),
		"Server=db;Password={pw-sentinel-93;Port=5432",
		"",
		fmt.Sprintf("Server=127.0.0.1;Port=%s;Database=two;UID=u;PWD=pw-sentinel-94", port),
	}, "\n")), 0o600))

	code, out, errOut := runFlowpg(t, "", "check", "--file", file, "-o", "junit", "--timeout", "3s", "--concurrency", "2")
	require.Equal(t, ExitInvalid, code, errOut)
	for _, s := range []string{"pw-sentinel-92", "pw-sentinel-93", "pw-sentinel-94"} {
		require.NotContains(t, out+errOut, s)
	}
	got := parseJUnit(t, out)
	require.Len(t, got, 3, "one case per target, comments and blank lines skipped")

	assert.Equal(t, "127.0.0.1:"+port+"/one", got[0].Name, "named without the user or password")
	assert.Equal(t, 2, got[0].Line)
	assert.Equal(t, file, got[0].File)
	require.NotNil(t, got[0].Failure)
	assert.Equal(t, "tcp", got[0].Failure.Type)
	assert.Contains(t, got[0].Failure.Message, "field: port")

	assert.Equal(t, "line 3", got[1].Name)
	assert.Equal(t, 3, got[1].Line)
	require.NotNil(t, got[1].Error)
	assert.Equal(t, "input", got[1].Error.Type)
	assert.Contains(t, got[1].Error.Text, "unterminated")

	assert.Equal(t, "127.0.0.1:"+port+"/two", got[2].Name)
	assert.Equal(t, 5, got[2].Line)
	require.NotNil(t, got[2].Failure)

	// A --file that cannot be read is one <error>.
	code, out, _ = runFlowpg(t, "", "check", "--file", filepath.Join(t.TempDir(), "missing.txt"), "-o", "junit")
	require.Equal(t, ExitInvalid, code)
	got = parseJUnit(t, out)
	require.Len(t, got, 1)
	require.Equal(t, "--file", got[0].Name)
	require.NotNil(t, got[0].Error)

	// Standard input as the file: no file attribute to point at.
	content, err := os.ReadFile(file)
	require.NoError(t, err)
	_, out, _ = runFlowpg(t, string(content), "check", "--file", "-", "-o", "junit", "--timeout", "3s")
	got = parseJUnit(t, out)
	require.Len(t, got, 3)
	assert.Empty(t, got[0].File)
	assert.Equal(t, 2, got[0].Line)
}

// A check the run was interrupted in proved nothing: it is a skipped case,
// never a passing one, alone and in a --file batch.
func TestCheck_JUnitInterrupted(t *testing.T) {
	// A server that accepts and never answers: the check waits until the
	// context ends, as a Ctrl-C or a CI job's cancel would end it.
	upstream, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	px, err := faultproxy.New(upstream, faultproxy.Options{BlackHole: true})
	require.NoError(t, err)
	t.Cleanup(func() { px.Close() })
	host, port, err := net.SplitHostPort(px.Addr)
	require.NoError(t, err)
	in := fmt.Sprintf("Server=%s;Port=%s;Database=d;UID=u;PWD=pw-sentinel-91", host, port)
	file := filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte(in+"\n"+in+"\n"), 0o600))
	for _, args := range [][]string{{"check", "-", "-o", "junit"}, {"check", "--file", file, "-o", "junit"}} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			var out, errOut bytes.Buffer
			Main(ctx, append(args, "--timeout", "30s"), strings.NewReader(in), &out, &errOut)
			cases := parseJUnit(t, out.String())
			require.NotEmpty(t, cases)
			for _, c := range cases {
				require.NotNil(t, c.Skipped, "%s: an interrupted check is not a pass\n%s", c.Name, out.String())
				assert.Equal(t, "interrupted", c.Skipped.Type)
				assert.Contains(t, c.Skipped.Message, "proved nothing")
			}
		})
	}
}

// TestCheckJUnit_UsageErrorIsADocument: a pipeline publishes the report
// whatever the exit code, so a command line check refuses still writes one
// JUnit document, its error the refusal, never the password.
func TestCheckJUnit_UsageErrorIsADocument(t *testing.T) {
	const in = "Server=127.0.0.1;Port=1;Database=d;UID=u;PWD=pw-S3NT1NEL"
	for _, args := range [][]string{
		{"check", in, "--ca-file", filepath.Join(t.TempDir(), "none.pem"), "-o", "junit"},
		{"check", in, "--timeout", in, "--output=junit"},
		{"check", "--file", filepath.Join(t.TempDir(), "none.txt"), "-ojunit"},
	} {
		code, out, errOut := runFlowpg(t, "", args...)
		require.Equal(t, ExitInvalid, code, errOut)
		cases := parseJUnit(t, out)
		require.Len(t, cases, 1, out)
		require.NotNil(t, cases[0].Error, out)
		assert.NotContains(t, out+errOut, "pw-S3NT1NEL")
	}
	// Only check writes JUnit: another command's usage error writes none.
	code, out, _ := runFlowpg(t, "", "parse", "-o", "junit")
	require.Equal(t, ExitInvalid, code)
	assert.Empty(t, out)
}
