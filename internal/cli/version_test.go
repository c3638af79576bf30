package cli

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildInfoFrom(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	const rev = "e0fa726abcde0123456789abcdef0123456789ab"
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		override string
		want     buildInfo
	}{
		{
			name: "make build in a git checkout",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20251203162000-e0fa726abcde+dirty"},
				Settings: vcs("-trimpath", "true", "vcs", "git", "vcs.revision", rev, "vcs.time", "2025-12-03T16:20:00Z", "vcs.modified", "true")},
			want: buildInfo{Version: "v0.0.0-20251203162000-e0fa726abcde+dirty", Revision: rev, Time: "2025-12-03T16:20:00Z", Modified: true, GoVersion: "go1.26.8"},
		},
		{
			name: "tagged commit",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
				Settings: vcs("vcs.revision", rev, "vcs.time", "2025-12-03T16:20:00Z", "vcs.modified", "false")},
			want: buildInfo{Version: "v1.2.3", Revision: rev, Time: "2025-12-03T16:20:00Z", GoVersion: "go1.26.8"},
		},
		{
			name: "go install at a tag: no version control data",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			want: buildInfo{Version: "v1.2.3", GoVersion: "go1.26.8"},
		},
		{
			name: "go install at a commit: the pseudo-version names it",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20251203162000-e0fa726abcde"}},
			want: buildInfo{Version: "v0.0.0-20251203162000-e0fa726abcde", Revision: "e0fa726abcde", Time: "2025-12-03T16:20:00Z", GoVersion: "go1.26.8"},
		},
		{
			name: "no version control",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: buildInfo{Version: "(devel)", GoVersion: "go1.26.8"},
		},
		{
			name:     "-ldflags -X override",
			bi:       &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			override: "v9.9.9",
			want:     buildInfo{Version: "v9.9.9", GoVersion: "go1.26.8"},
		},
		{
			name: "no build info at all",
			want: buildInfo{Version: "(devel)", GoVersion: runtime.Version()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.OS, tt.want.Arch = runtime.GOOS, runtime.GOARCH
			assert.Equal(t, tt.want, buildInfoFrom(tt.bi, tt.override))
		})
	}
}

func TestBuildInfo_Text(t *testing.T) {
	b := buildInfo{Version: "v1.2.3", Revision: "e0fa726abcde", Time: "2025-12-03T16:20:00Z", Modified: true, GoVersion: "go1.26.8", OS: "linux", Arch: "arm64"}
	assert.Equal(t, "flowpg v1.2.3\n"+
		"  revision  e0fa726abcde (modified)\n"+
		"  committed 2025-12-03T16:20:00Z\n"+
		"  go        go1.26.8 linux/arm64", b.text())
	assert.Equal(t, "flowpg (devel)\n"+
		"  revision  unknown\n"+
		"  go        go1.26.8 linux/arm64", buildInfo{Version: "(devel)", GoVersion: "go1.26.8", OS: "linux", Arch: "arm64"}.text())
}

// The commands read this test binary's own build info: whatever it holds,
// version, --version and -o json must agree with it.
func TestVersion_Command(t *testing.T) {
	want := currentBuild()

	code, text, errOut := runFlowpg(t, "", "version")
	require.Equal(t, ExitOK, code, errOut)
	require.Equal(t, want.text()+"\n", text)
	require.Contains(t, text, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH)

	code, flag, _ := runFlowpg(t, "", "--version")
	require.Equal(t, ExitOK, code)
	require.Equal(t, text, flag, "--version prints what version prints")

	code, out, _ := runFlowpg(t, "", "version", "-o", "json")
	require.Equal(t, ExitOK, code)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, want.Version, got["version"])
	require.Equal(t, runtime.Version(), got["goVersion"])
	require.Equal(t, runtime.GOOS, got["os"])
	require.Equal(t, runtime.GOARCH, got["arch"])
	require.Contains(t, got, "modified")

	old := Version
	t.Cleanup(func() { Version = old })
	Version = "v7.7.7-test"
	_, out, _ = runFlowpg(t, "", "version", "-o", "json")
	require.Contains(t, out, `"version": "v7.7.7-test"`)
}
