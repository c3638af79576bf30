// Command flowpg checks and registers PostgreSQL connections for Adobe
// Experience Platform. See the README for usage.
package main

import (
	"os"

	"github.com/flowpg/flowpg/internal/cli"
)

func main() {
	os.Exit(cli.MainWithSignals(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
