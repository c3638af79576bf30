package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/mod/module"
)

// Version, when set at build time with
// -ldflags "-X github.com/flowpg/flowpg/internal/cli.Version=v1.2.3",
// replaces the module version that Go records in the binary. Go records the
// version itself for `go install …@v1.2.3` and, from a git checkout, for
// `go build` (a tag, or a pseudo-version with "+dirty" when the tree has
// changes); the override is for builds from a source tree without version
// control, where Go can only record "(devel)".
var Version = ""

// VersionCmd prints flowpg's version.
type VersionCmd struct {
	Output string `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
}

// Help is shown by flowpg version --help.
func (VersionCmd) Help() string {
	return `Prints the module version, the version-control revision and commit time the
binary was built from, and the Go version and platform that built it, as Go
recorded them in the binary. flowpg --version prints the same text.

Examples:
  flowpg version
  flowpg version -o json`
}

// Run prints the build information.
func (c *VersionCmd) Run(streams *IO) error {
	info := currentBuild()
	if c.Output == "json" {
		enc := json.NewEncoder(streams.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintln(streams.Stdout, info.text())
	return err
}

// buildInfo says which flowpg this is.
type buildInfo struct {
	// Version is the module version: a tag such as v1.2.3, a pseudo-version
	// for an untagged commit, or "(devel)" when Go knew neither.
	Version string `json:"version"`
	// Revision is the commit the binary was built from, when known.
	Revision string `json:"revision,omitempty"`
	// Time is the commit's time (RFC 3339, UTC), when known.
	Time string `json:"time,omitempty"`
	// Modified says the working tree had uncommitted changes.
	Modified  bool   `json:"modified"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// currentBuild reads this binary's build information.
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return buildInfoFrom(bi, Version)
}

// buildInfoFrom extracts what version reports from bi (nil when the binary
// has none), with override, if set, in place of the module version.
func buildInfoFrom(bi *debug.BuildInfo, override string) buildInfo {
	info := buildInfo{GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi != nil {
		info.Version = bi.Main.Version
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.time":
				info.Time = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if override != "" {
		info.Version = override
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	// `go install …@<commit>` builds from a module zip, which carries no
	// version-control data, but the pseudo-version names the commit.
	if info.Revision == "" && module.IsPseudoVersion(info.Version) {
		if rev, err := module.PseudoVersionRev(info.Version); err == nil {
			info.Revision = rev
		}
		if t, err := module.PseudoVersionTime(info.Version); err == nil {
			info.Time = t.UTC().Format(time.RFC3339)
		}
	}
	return info
}

// text renders the build information for people, one fact per line.
func (b buildInfo) text() string {
	var s strings.Builder
	fmt.Fprintf(&s, "flowpg %s\n", b.Version)
	rev := b.Revision
	if rev == "" {
		rev = "unknown"
	}
	if b.Modified {
		rev += " (modified)"
	}
	fmt.Fprintf(&s, "  revision  %s\n", rev)
	if b.Time != "" {
		fmt.Fprintf(&s, "  committed %s\n", b.Time)
	}
	fmt.Fprintf(&s, "  go        %s %s/%s", b.GoVersion, b.OS, b.Arch)
	return s.String()
}
