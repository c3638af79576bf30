// Package pgprobe plays Adobe's part for the in-memory Flow Service
// (flowclient/flowtest): its Prober dials the PostgreSQL database a stored
// connection describes, logs in, and lists the tables and views the user can
// read, as Flow Service's test and explore endpoints do. The emulator thereby
// proves the whole loop against a real server instead of answering from a
// script.
package pgprobe

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient/flowtest"
)

// Options tune the prober.
type Options struct {
	// CAFile is the PEM bundle that verifies the server's certificate for the
	// verify-ca and verify-full modes. Adobe uses public roots; a test
	// server's private CA must be named here.
	CAFile string
}

// listTables returns every table and view outside the system schemas that
// the user may SELECT, as Flow Service's explore lists them.
const listTables = `
SELECT n.nspname, c.relname
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND has_schema_privilege(n.oid, 'USAGE')
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY 1, 2`

// Prober returns a flowtest.Prober that connects for real.
func Prober(opts Options) flowtest.Prober {
	return func(ctx context.Context, specName string, params map[string]string) ([]flowtest.ExploreItem, error) {
		conn, err := connFromParams(specName, params)
		if err != nil {
			return nil, err
		}
		return probe(ctx, conn, opts)
	}
}

// connFromParams reads a connection from a stored connection's auth params.
func connFromParams(specName string, params map[string]string) (connstr.Conn, error) {
	switch specName {
	case connstr.BasicAuthSpecName:
		conn, _, err := connstr.FromBasicAuth(connstr.BasicAuth{
			Server: params["server"], Port: params["port"], Database: params["database"],
			Username: params["username"], Password: params["password"], SSLMode: params["sslMode"],
		})
		return conn, err
	case connstr.ConnectionStringSpecName:
		p, err := connstr.Parse(params["connectionString"])
		if err != nil {
			return connstr.Conn{}, err
		}
		return p.Conn, nil
	}
	return connstr.Conn{}, fmt.Errorf("pgprobe: unknown auth spec %q", specName)
}

// probe logs in and lists the readable tables.
func probe(ctx context.Context, conn connstr.Conn, opts Options) ([]flowtest.ExploreItem, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	// Adobe's driver takes no libpq settings: dial with the connection alone.
	conn.Extra = nil
	dsn, _ := conn.LibPQ()
	if opts.CAFile != "" {
		// As in libpq, a root certificate makes require verify the chain too.
		dsn += " sslrootcert='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(opts.CAFile) + "'"
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its parse errors, and the DSN is not echoed.
		return nil, fmt.Errorf("pgprobe: the stored connection is not a valid PostgreSQL configuration: %w", err)
	}
	pg, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgprobe: connect to %s:%d: %w", conn.Server, conn.PortOrDefault(), err)
	}
	defer pg.Close(context.WithoutCancel(ctx))
	rows, err := pg.Query(ctx, listTables)
	if err != nil {
		return nil, fmt.Errorf("pgprobe: list tables: %w", err)
	}
	items := []flowtest.ExploreItem{}
	var schema, name string
	_, err = pgx.ForEachRow(rows, []any{&schema, &name}, func() error {
		items = append(items, flowtest.ExploreItem{
			Type: "table", Name: name, Path: schema + "." + name,
			CanPreview: true, CanFetchSchema: true,
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgprobe: list tables: %w", err)
	}
	return items, nil
}
