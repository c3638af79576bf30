// Package pgprobe plays Adobe's part for the in-memory Flow Service
// (flowclient/flowtest): its Prober dials the PostgreSQL database a stored
// connection describes, logs in, and lists the tables and views the user can
// read, as Flow Service's test and explore endpoints do. The emulator thereby
// proves the whole loop against a real server instead of answering from a
// script.
package pgprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient/flowtest"
	"github.com/flowpg/flowpg/internal/pgtls"
)

// Options tune the prober. The zero value is ready to use.
type Options struct {
	// Dialer, when set, opens the prober's connections, and host names
	// reach it unresolved: a test gives a netguard dialer, which refuses
	// any address beyond this machine and any name, since looking one up
	// may send the query beyond it. Nil means pgx's own lookup and dialer.
	Dialer interface {
		DialContext(ctx context.Context, network, address string) (net.Conn, error)
	}
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

// Prober returns a flowtest.Prober that connects for real, in the sslMode
// the stored connection registers, verifying certificates (where that mode
// asks it to) against the emulator's trust store only: the system roots
// unless a test set flowtest.WithTrustStore. That is how Adobe is assumed to
// dial: basic authentication carries no CA.
func Prober(opts Options) flowtest.Prober {
	return func(ctx context.Context, req flowtest.ProbeRequest) ([]flowtest.ExploreItem, error) {
		conn, err := connFromParams(req.SpecName, req.Params)
		if err != nil {
			return nil, err
		}
		return probe(ctx, conn, req.Roots, opts)
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
func probe(ctx context.Context, conn connstr.Conn, roots *x509.CertPool, opts Options) ([]flowtest.ExploreItem, error) {
	if err := conn.Validate(); err != nil {
		return nil, err
	}
	// Adobe's driver takes no libpq settings: dial with the connection alone.
	// The keys after the DSN keep this machine's files and PG* variables out:
	// Adobe has neither.
	conn.Extra = nil
	dsn, _ := conn.LibPQ()
	cfg, err := pgx.ParseConfig(dsn + " sslrootcert='' sslcert='' sslkey='' passfile='' target_session_attrs=any")
	if err != nil {
		// pgx redacts the password in its parse errors, and the DSN is not echoed.
		return nil, fmt.Errorf("pgprobe: the stored connection is not a valid PostgreSQL configuration: %w", err)
	}
	// pgx verifies verify-ca and verify-full against RootCAs (nil: the system
	// roots), reading the field when it verifies, so the trust store is set
	// on every TLS configuration it built: the main one and the fallbacks'.
	if cfg.TLSConfig != nil {
		cfg.TLSConfig.RootCAs = roots
	}
	for _, fb := range cfg.Fallbacks {
		if fb.TLSConfig != nil {
			fb.TLSConfig.RootCAs = roots
		}
	}
	if opts.Dialer != nil {
		cfg.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
		cfg.DialFunc = opts.Dialer.DialContext
	}
	// Last: it wraps whatever dialer the lines above chose.
	dialLikePreflight(&cfg.Config)
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

// dialLikePreflight makes the prober's TLS handshakes those of the
// pre-flight (internal/pgtls): a P-256 key share in the first ClientHello,
// and the one retry with Go's default groups for a server that refuses it.
// pgx builds one TLS configuration per host, and a stored connection names
// one host, so the configuration of the retry is that one.
func dialLikePreflight(cfg *pgconn.Config) {
	var tlsCfg *tls.Config
	for _, c := range append([]*tls.Config{cfg.TLSConfig}, fallbackTLS(cfg.Fallbacks)...) {
		if c != nil {
			pgtls.PreferP256(c)
			tlsCfg = c
		}
	}
	if tlsCfg == nil {
		return
	}
	dial := cfg.DialFunc
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return pgtls.Watch(c), nil
	}
	cfg.AfterNetConnect = func(ctx context.Context, _ *pgconn.Config, conn net.Conn) (net.Conn, error) {
		tc, ok := conn.(*tls.Conn)
		if !ok {
			return conn, nil
		}
		w, _ := tc.NetConn().(*pgtls.Watcher)
		addr := tc.RemoteAddr().String()
		tc, _, err := pgtls.Handshake(ctx, tc, w, tlsCfg, func(ctx context.Context) (net.Conn, error) {
			c, err := dial(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return pgtls.Watch(c), nil
		})
		return tc, err // on error pgconn closes what it is given back
	}
}

func fallbackTLS(fs []*pgconn.FallbackConfig) []*tls.Config {
	out := make([]*tls.Config, len(fs))
	for i, f := range fs {
		out[i] = f.TLSConfig
	}
	return out
}
