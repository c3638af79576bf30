package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/internal/faultproxy"
)

// batchFile writes lines to a targets file.
func batchFile(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return p
}

// runInterrupted runs flowpg in-process and ends its context after d, as
// an interrupt does.
func runInterrupted(t *testing.T, d time.Duration, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("FLOWPG_CONNECTION_STRING", "")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(d, cancel)
	var out, errb bytes.Buffer
	code := Main(ctx, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestCheckBatch_Interrupted: once a batch is stopped, no check begins; the
// checks that ran are interrupted (no finding), the others not checked, and
// the summary says the run was interrupted.
func TestCheckBatch_Interrupted(t *testing.T) {
	upstream, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	px, err := faultproxy.New(upstream, faultproxy.Options{BlackHole: true})
	require.NoError(t, err)
	t.Cleanup(func() { px.Close() })
	line := func(db string) string {
		return fmt.Sprintf("Server=127.0.0.1;Port=%s;Database=%s;UID=u;Password=batch-Pa55-sentinel;EncryptionMethod=1", strings.Split(px.Addr, ":")[1], db)
	}
	file := batchFile(t, line("first"), line("second"), line("third"))
	args := []string{"check", "--file", file, "--concurrency", "1", "--timeout", "30s"}

	code, out, errOut := runInterrupted(t, 500*time.Millisecond, args...)
	assert.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
	assert.Regexp(t, `(?m)^1 +127\.0\.0\.1:\d+/first +- interrupted +tls`, out)
	assert.Regexp(t, `(?m)^2 +127\.0\.0\.1:\d+/second +- not checked +the run was interrupted before this check began`, out)
	assert.Contains(t, out, "3 targets: 0 pass, 0 warn, 0 fail, 0 invalid, 1 interrupted, 2 not checked")
	assert.Contains(t, out, "The run was interrupted")
	assert.NotContains(t, out+errOut, "batch-Pa55-sentinel")

	code, out, _ = runInterrupted(t, 500*time.Millisecond, append(args, "-o", "json")...)
	assert.Equal(t, ExitFailed, code)
	var classes []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct{ Class string }
		require.NoError(t, json.Unmarshal([]byte(l), &rec), l)
		classes = append(classes, rec.Class)
	}
	assert.Equal(t, []string{"interrupted", "not checked", "not checked"}, classes)

	code, out, _ = runInterrupted(t, 500*time.Millisecond, append(args, "-o", "junit")...)
	assert.Equal(t, ExitFailed, code)
	var doc struct {
		Suite struct {
			Skipped int `xml:"skipped,attr"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal([]byte(out), &doc), out)
	assert.Equal(t, 3, doc.Suite.Skipped, "the targets not checked, and the one interrupted, are skipped cases")
}

// TestCheckBatch_Classes: a line that lacks a field AEP requires is invalid
// input (exit 2), like one that does not parse; a byte-order mark an editor
// wrote is ignored.
func TestCheckBatch_Classes(t *testing.T) {
	closed, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	port := strings.Split(closed, ":")[1]
	file := batchFile(t,
		"\uFEFF# targets, saved by an editor that writes a byte-order mark",
		"Server=127.0.0.1;Port="+port+";Database=d;UID=u;Password=p;EncryptionMethod=1",
		"Server=127.0.0.1;Port="+port+";Database=d;UID=u;EncryptionMethod=1",
	)
	code, out, errOut := runFlowpg(t, "", "check", "--file", file, "--timeout", "5s")
	assert.Equal(t, ExitInvalid, code, "%s\n%s", out, errOut)
	assert.Regexp(t, `(?m)^2 +127\.0\.0\.1:\d+/d +✗ fail +tcp`, out)
	assert.Regexp(t, `(?m)^3 +127\.0\.0\.1:\d+/d +✗ invalid +input +password`, out)
	assert.Contains(t, out, "2 targets: 0 pass, 0 warn, 1 fail, 1 invalid")
}

// TestCheckBatch_JSONErrorShape: a line that does not parse carries its
// error in the shape of every -o json error (code, message, field, offset),
// so that one reader serves both.
func TestCheckBatch_JSONErrorShape(t *testing.T) {
	file := batchFile(t, "Server=db.example.com;Port=54x2;Database=d;UID=u;PWD=pw-sentinel-77")
	code, out, errOut := runOffline(t, "", "check", "--file", file, "-o", "json")
	require.Equal(t, ExitInvalid, code, errOut)
	var rec struct {
		Line  int
		Class string
		Error *errorInfo
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rec), out)
	assert.Equal(t, classInvalid, rec.Class)
	require.NotNil(t, rec.Error, out)
	assert.Equal(t, "syntax", rec.Error.Code)
	assert.Equal(t, "Port", rec.Error.Field)
	require.NotNil(t, rec.Error.Offset)
	assert.Equal(t, 27, *rec.Error.Offset)
	assert.Contains(t, rec.Error.Message, `"54x2"`)
	assert.NotContains(t, out+errOut, "pw-sentinel-77")
}

// TestCheckBatch_LineTooLong: a --file whose line is longer than any
// connection string (a binary, /dev/zero) is refused in words, naming the
// line.
func TestCheckBatch_LineTooLong(t *testing.T) {
	file := batchFile(t, "# fine", strings.Repeat("x", 200<<10))
	code, out, errOut := runOffline(t, "", "check", "--file", file)
	require.Equal(t, ExitInvalid, code, out)
	assert.Contains(t, errOut, "--file, line 2: over 65536 bytes")
	assert.NotContains(t, errOut, "bufio")
}
