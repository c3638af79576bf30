// Command flowpg-demo runs flowpg end to end on an embedded default, for
// `make demo`: it starts a TLS-enabled PostgreSQL with sample tables (the
// integration harness's image) and the in-memory Flow Service, runs
// `flowpg check` and `flowpg connect` against both, prints what they report
// and what the emulator stored, and cleans up.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	tclog "github.com/testcontainers/testcontainers-go/log"
	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/flowclient/flowtest"
	"github.com/flowpg/flowpg/internal/cli"
	"github.com/flowpg/flowpg/internal/pgprobe"
	"github.com/flowpg/flowpg/internal/pgtest"
)

func main() {
	// The demo shows flowpg's output; testcontainers' own log would bury it.
	tclog.SetDefault(tclog.NewNoopLogger())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	step := func(format string, args ...any) {
		fmt.Fprintf(stdout, "\n\033[1m== %s\033[0m\n", fmt.Sprintf(format, args...))
	}
	if os.Getenv("NO_COLOR") != "" || !isTTY(stdout) {
		step = func(format string, args ...any) { fmt.Fprintf(stdout, "\n== %s\n", fmt.Sprintf(format, args...)) }
	}

	step("1. starting PostgreSQL with TLS and sample tables (testcontainers, image %s)", mustImage())
	start := time.Now()
	pg, err := pgtest.Start(ctx, pgtest.Options{Version: pgtest.Versions()[len(pgtest.Versions())-1], TLS: pgtest.TLSOn, Cert: pgtest.CertValid})
	if err != nil {
		fmt.Fprintf(stderr, "flowpg-demo: %v\n", err)
		return 1
	}
	defer func() {
		if err := pg.Close(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(stderr, "flowpg-demo: cleanup: %v\n", err)
		}
	}()
	fmt.Fprintf(stdout, "PostgreSQL %s on %s:%d, certificate signed by a CA generated for this run (%s), up in %s\n",
		pg.Version, pg.Host, pg.Port, pg.CAFile, time.Since(start).Round(time.Millisecond))

	step("2. starting the in-memory Flow Service (flowclient/flowtest)")
	// The emulator plays an Adobe that trusts this run's CA. Real Adobe
	// trusts public roots only, so connect is told so with
	// --assume-adobe-trusts-ca below; without it the gate would fail.
	fs := flowtest.NewServer(flowtest.WithProber(pgprobe.Prober(pgprobe.Options{})), flowtest.WithTrustStore(pg.CAPool()))
	defer fs.Close()
	fmt.Fprintf(stdout, "Flow Service emulator at %s; its test and explore endpoints dial the real database and, like Adobe,\n"+
		"verify its certificate against their trust store, which for this demo holds the run's private CA\n", fs.URL())

	conn := fmt.Sprintf("Server=%s;Database=%s;Port=%d;UID=%s;Password=%s;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#",
		pg.Host, pgtest.Database, pg.Port, pgtest.ScramUser, pgtest.ScramPassword)
	shown := strings.Replace(conn, pgtest.ScramPassword, "********", 1)

	step("3. flowpg check - --ca-file CA.pem   (stdin: %s)", shown)
	if code := cli.Main(ctx, []string{"check", "-", "--ca-file", pg.CAFile}, strings.NewReader(conn), stdout, stderr); code != 0 {
		fmt.Fprintf(stderr, "flowpg-demo: check exited %d\n", code)
		return code
	}

	env := map[string]string{
		"AEP_FLOW_URL":      fs.URL(),
		"AEP_IMS_TOKEN_URL": fs.TokenURL(),
		"AEP_CLIENT_ID":     flowtest.DefaultClientID,
		"AEP_CLIENT_SECRET": flowtest.DefaultClientSecret,
		"AEP_ORG_ID":        flowtest.DefaultOrg,
		"AEP_SANDBOX_NAME":  "prod",
	}
	for k, v := range env {
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintf(stderr, "flowpg-demo: %v\n", err)
			return 1
		}
	}
	args := []string{"connect", "-", "--name", "demo-postgres", "--description", "created by make demo",
		"--ca-file", pg.CAFile, "--assume-adobe-trusts-ca", "--allow-private-address"}
	dry := append(args, "--dry-run", "--curl")
	step("4. flowpg %s", strings.Join(dry, " "))
	fmt.Fprintf(stdout, "(Adobe credentials from AEP_* variables, pointing at the emulator. The certificate comes from a CA made for\n"+
		"this run: basic auth carries no CA and real Adobe trusts public roots only, so connect would refuse it;\n"+
		"--assume-adobe-trusts-ca says the receiver trusts it, which is true of this emulator. --allow-private-address:\n"+
		"the database is on loopback, which only the emulator can reach.)\n")
	if code := cli.Main(ctx, dry, strings.NewReader(conn), stdout, stderr); code != 0 {
		fmt.Fprintf(stderr, "flowpg-demo: connect --dry-run exited %d\n", code)
		return code
	}

	step("5. flowpg %s", strings.Join(args, " "))
	if code := cli.Main(ctx, args, strings.NewReader(conn), stdout, stderr); code != 0 {
		fmt.Fprintf(stderr, "flowpg-demo: connect exited %d\n", code)
		return code
	}

	step("6. the base connection as Flow Service now holds it (GET /connections?property=name==demo-postgres)")
	client, err := flowclient.New(
		flowclient.WithBaseURL(fs.URL()),
		flowclient.WithTokenSource(staticToken(flowtest.DefaultToken)),
		flowclient.WithAPIKey(flowtest.DefaultClientID),
		flowclient.WithOrgID(flowtest.DefaultOrg),
		flowclient.WithSandbox("prod"),
	)
	if err != nil {
		fmt.Fprintf(stderr, "flowpg-demo: %v\n", err)
		return 1
	}
	got, err := client.FindConnectionByName(ctx, "demo-postgres", flowclient.PostgreSQLSpecID)
	if err != nil || got == nil {
		fmt.Fprintf(stderr, "flowpg-demo: the emulator does not hold the connection: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "id %s, etag %s, state %q, auth %q, params:\n", got.ID, got.Etag, got.State, got.Auth.SpecName)
	for _, k := range []string{"server", "port", "database", "username", "password", "sslMode"} {
		fmt.Fprintf(stdout, "  %-9s %s\n", k, got.Auth.Params[k])
	}
	fmt.Fprintf(stdout, "The emulator received %d requests.\n", len(fs.Requests()))

	step("7. cleaning up (the container and the emulator stop now)")
	return 0
}

func mustImage() string {
	img, err := pgtest.ImageFor(pgtest.Versions()[len(pgtest.Versions())-1])
	if err != nil {
		return "?"
	}
	return img
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func staticToken(tok string) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"})
}
