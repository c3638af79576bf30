package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/internal/netguard"
)

// Golden files are rewritten with: go test ./internal/cli -run Golden -update
var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// assertGolden compares got with testdata/name, or rewrites it with -update.
func assertGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run with -update")
	assert.Equal(t, string(want), got)
}

// runFlowpg drives flowpg in-process with the process's environment, with a
// deadline so that no test can hang. It clears FLOWPG_CONNECTION_STRING, so
// tests that use it are not parallel (runEnv's are). Dials go through
// netguard's guard, which fails t at once on any address but loopback, and
// a lookup of any name fails t, since it would ask the system's resolver.
func runFlowpg(t testing.TB, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("FLOWPG_CONNECTION_STRING", "")
	return runWith(t, os.LookupEnv, stdin, args...)
}

// runEnv is runFlowpg with env as the whole environment, so that tests
// using it can run in parallel.
func runEnv(t testing.TB, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return runWith(t, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, stdin, args...)
}

// noEnv is an empty environment.
func noEnv(string) (string, bool) { return "", false }

func runWith(t testing.TB, lookupEnv func(string) (string, bool), stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	streams := &IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, LookupEnv: lookupEnv,
		dialer: netguard.Dialer(t, nil), resolver: netguard.Resolver(t, nil)}
	code = run(ctx, args, streams, &Session{Cleanup: context.WithoutCancel(ctx)})
	if wantsJSON(args) {
		assertJSONContract(t, args, out.String())
	}
	return code, out.String(), errb.String()
}
