// Command flowtest runs the in-memory Flow Service emulator of package
// flowtest on a loopback port, for trying flowpg by hand:
//
//	go run ./flowclient/flowtest/cmd/flowtest -addr 127.0.0.1:0
//
// It prints the base URL, the IMS token URL and the credentials it accepts.
// It has no prober, so /test and /explore answer 501.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flowpg/flowpg/flowclient/flowtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "flowtest:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("flowtest", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	token := fs.String("token", flowtest.DefaultToken, "bearer token to accept")
	apiKey := fs.String("api-key", flowtest.DefaultClientID, "x-api-key (client id) to accept")
	org := fs.String("org", flowtest.DefaultOrg, "x-gw-ims-org-id to accept")
	secret := fs.String("client-secret", flowtest.DefaultClientSecret, "client secret the IMS endpoint accepts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %s: the emulator listens on loopback addresses only", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	h := flowtest.NewHandler(flowtest.WithToken(*token), flowtest.WithAPIKey(*apiKey),
		flowtest.WithOrg(*org), flowtest.WithClientCredentials(*apiKey, *secret))
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "flowtest: Flow Service emulator (no prober: /test and /explore answer 501)\n")
	fmt.Fprintf(stdout, "base url:      %s%s\n", base, flowtest.BasePath)
	fmt.Fprintf(stdout, "ims token url: %s%s\n", base, flowtest.TokenPath)
	fmt.Fprintf(stdout, "token:         %s\n", h.Token())
	fmt.Fprintf(stdout, "api key:       %s\n", h.APIKey())
	fmt.Fprintf(stdout, "org id:        %s\n", h.Org())
	fmt.Fprintf(stdout, "client secret: %s (test credential)\n", h.ClientSecret())

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return err
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
