package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/preflight"
)

// opTimeout bounds one operation; far above any healthy figure, it only
// stops a wedged run.
const opTimeout = 60 * time.Second

// target is one address of the server (direct, or through the proxy) in the
// two spellings the compared operations take.
type target struct {
	// conn is the DataDirect string flowpg check reads: verify-full,
	// since HostNameInCertificate=#SERVERNAME# asks for the host name.
	conn string
	// dsn is the libpq DSN pgx.Connect reads, with the same TLS settings.
	dsn    string
	caFile string
	host   string
	port   int
}

func newTarget(host string, port int, caFile string) target {
	return target{
		conn: fmt.Sprintf("Server=%s;Database=%s;Port=%d;UID=%s;Password=%s;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#",
			host, pgtest.Database, port, pgtest.ScramUser, pgtest.ScramPassword),
		dsn: fmt.Sprintf("host=%s port=%d dbname=%s user=%s password=%s sslmode=verify-full sslrootcert=%s connect_timeout=60",
			host, port, pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword, caFile),
		caFile: caFile,
		host:   host,
		port:   port,
	}
}

// roots reads the target's CA file into a pool, on every call: the CLI
// reads --ca-file once per command, so a measured check pays it too.
func (t target) roots() (*x509.CertPool, error) {
	pem, err := os.ReadFile(t.caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", t.caFile)
	}
	return pool, nil
}

// check is one `flowpg check` without its rendering: parse the string,
// then every stage, as the CLI does.
func check(ctx context.Context, t target, audit bool) error {
	p, err := connstr.Parse(t.conn)
	if err != nil {
		return err
	}
	roots, err := t.roots()
	if err != nil {
		return err
	}
	rep := preflight.Run(ctx, p.Conn, preflight.Options{
		Timeout:       opTimeout,
		Audit:         audit,
		RootCAs:       roots,
		InputWarnings: p.Warnings,
	})
	if f := rep.Failed(); f != nil {
		return fmt.Errorf("check failed at %s: %s", f.ID, f.Message)
	}
	return nil
}

// bare is the cheapest proof that a login works: connect with TLS, run one
// query, close.
func bare(ctx context.Context, t target) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, t.dsn)
	if err != nil {
		return err
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		conn.Close(ctx)
		return err
	}
	return conn.Close(ctx)
}
