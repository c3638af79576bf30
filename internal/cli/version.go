package cli

import (
	"fmt"
	"runtime"
)

// VersionCmd prints flowpg's version.
type VersionCmd struct{}

// Run prints the version, the Go version and the platform.
func (VersionCmd) Run(streams *IO) error {
	_, err := fmt.Fprintf(streams.Stdout, "flowpg %s (%s %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
