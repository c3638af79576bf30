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

// runFlowpg drives cli.Main in-process, with a deadline so that no test can
// hang. It clears FLOWPG_CONNECTION_STRING, so tests that use it are not
// parallel, and that lets it set testNet for the run: dials go through
// netguard's guard, which fails t at once on any address but loopback, and
// a lookup of any name fails t, since it would ask the system's resolver.
func runFlowpg(t testing.TB, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Setenv("FLOWPG_CONNECTION_STRING", "")
	testNet.dialer, testNet.resolver = netguard.Dialer(t, nil), netguard.Resolver(t, nil)
	defer func() { testNet.dialer, testNet.resolver = nil, nil }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code = Main(ctx, args, strings.NewReader(stdin), &out, &errb)
	if wantsJSON(args) {
		assertJSONContract(t, args, out.String())
	}
	return code, out.String(), errb.String()
}
