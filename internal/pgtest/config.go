package pgtest

import (
	"fmt"
	"strconv"
	"strings"
)

// Paths inside the container. Files copied in by testcontainers are owned by
// root, so only non-secret files are read where they land; the key is copied
// into PGDATA by tlsInitScript, which runs as the server user.
const (
	hbaPath     = "/flowpg/pg_hba.conf"
	tlsCertPath = "/flowpg/tls/server.crt"
	tlsKeyPath  = "/flowpg/tls/server.key"
	initDir     = "/docker-entrypoint-initdb.d"
)

// hbaConf returns the pg_hba.conf for a TLS mode. Lines are matched top down,
// so the md5 user's line comes before the generic SCRAM one. The local line
// lets the image's init scripts reach the temporary server over its socket.
func hbaConf(mode TLSMode) string {
	host := "host"
	if mode == TLSRequired {
		host = "hostssl"
	}
	var b strings.Builder
	b.WriteString("# Written by flowpg's internal/pgtest.\n")
	b.WriteString("local all all trust\n")
	fmt.Fprintf(&b, "%s all %s all md5\n", host, MD5User)
	fmt.Fprintf(&b, "%s all all all scram-sha-256\n", host)
	if mode == TLSRequired {
		b.WriteString("hostnossl all all all reject\n")
	}
	return b.String()
}

// tlsInitScript enables TLS from postgresql.conf rather than from -c flags:
// the official image passes the -c flags to its temporary init server too,
// before any init script could have made the key readable by the server user.
// The key arrives root-owned and world-readable, and the server insists on a
// key that only its own user (or root with mode 0640) can read, so the script
// copies it into PGDATA as the server user with mode 0600.
func tlsInitScript(mode TLSMode) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n# Written by flowpg's internal/pgtest.\nset -eu\n")
	fmt.Fprintf(&b, "cp %s \"$PGDATA/server.crt\"\n", tlsCertPath)
	fmt.Fprintf(&b, "cp %s \"$PGDATA/server.key\"\n", tlsKeyPath)
	b.WriteString("chmod 0600 \"$PGDATA/server.key\"\n")
	b.WriteString("cat >>\"$PGDATA/postgresql.conf\" <<'EOF'\n")
	b.WriteString("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
	if mode == TLS13Only {
		b.WriteString("ssl_min_protocol_version = 'TLSv1.3'\n")
	}
	b.WriteString("EOF\n")
	return b.String()
}

// sampleTables are the tables the init SQL creates, schema-qualified.
var sampleTables = []string{"public.customers", "public.orders", "sales.regions"}

// SampleView is the view the init SQL creates over customers and orders.
const SampleView = "public.customer_orders"

// SampleTables returns the schema-qualified tables in Database, each with a few rows.
func SampleTables() []string { return append([]string(nil), sampleTables...) }

// initSQL creates the users, the sample schema and the grants. It runs in
// Database as SuperUser, from the image's init directory.
func initSQL() string {
	return fmt.Sprintf(`-- Written by flowpg's internal/pgtest.
CREATE ROLE %[1]s LOGIN PASSWORD '%[2]s';
-- An md5 hash is stored only if md5 is the encryption in force when the password is set.
SET password_encryption = 'md5';
CREATE ROLE %[3]s LOGIN PASSWORD '%[4]s';
RESET password_encryption;
CREATE ROLE %[5]s LOGIN PASSWORD '%[6]s';

CREATE SCHEMA sales;
CREATE TABLE public.customers (
    id         integer PRIMARY KEY,
    name       text NOT NULL,
    email      text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.orders (
    id          integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES public.customers (id),
    amount      numeric(10, 2) NOT NULL,
    ordered_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sales.regions (
    id   integer PRIMARY KEY,
    name text NOT NULL
);
INSERT INTO public.customers (id, name, email) VALUES
    (1, 'Ada', 'ada@example.com'), (2, 'Grace', 'grace@example.com'), (3, 'Linus', NULL);
INSERT INTO public.orders (id, customer_id, amount) VALUES
    (1, 1, 19.99), (2, 1, 5.00), (3, 2, 42.50);
INSERT INTO sales.regions (id, name) VALUES (1, 'EMEA'), (2, 'AMER'), (3, 'APAC');
CREATE VIEW %[7]s AS
    SELECT c.id AS customer_id, c.name, count(o.id) AS order_count,
           coalesce(sum(o.amount), 0) AS total_amount
    FROM public.customers c LEFT JOIN public.orders o ON o.customer_id = c.id
    GROUP BY c.id, c.name;

REVOKE ALL ON DATABASE %[8]s FROM PUBLIC;
GRANT CONNECT ON DATABASE %[8]s TO %[1]s, %[3]s, %[5]s;
GRANT USAGE ON SCHEMA public, sales TO %[1]s, %[3]s, %[5]s;
GRANT SELECT ON ALL TABLES IN SCHEMA public, sales TO %[1]s, %[3]s;
`, ScramUser, ScramPassword, MD5User, MD5Password, NoReadUser, NoReadPassword, SampleView, Database)
}

// serverArgs returns the postgres command line for opts.
func serverArgs(opts Options) []string {
	args := []string{
		"postgres",
		// Durability buys nothing in a throwaway container and costs start-up time.
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "synchronous_commit=off",
		"-c", "hba_file=" + hbaPath,
		// Logs "connection authenticated: ... method=md5|scram-sha-256"; see Server.Logs.
		"-c", "log_connections=on",
	}
	if opts.MaxConnections > 0 {
		// One slot stays reserved for superusers (PostgreSQL 16's
		// reserved_connections defaults to 0), so MaxConnections ordinary
		// sessions fit and the next one gets SQLSTATE 53300.
		args = append(args,
			"-c", "max_connections="+strconv.Itoa(opts.MaxConnections+1),
			"-c", "superuser_reserved_connections=1")
	}
	if opts.ECDHCurve != "" {
		args = append(args, "-c", "ssl_ecdh_curve="+opts.ECDHCurve)
	}
	return args
}
