// Command flowpg checks and registers PostgreSQL connections for Adobe
// Experience Platform. See the README for usage.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/flowpg/flowpg/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
