package preflight

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// endOfLife maps PostgreSQL major versions to their end-of-life dates, as
// the PostgreSQL project's versioning policy publishes them.
var endOfLife = map[int]time.Time{
	12: date(2024, 11, 21),
	13: date(2025, 11, 13),
	14: date(2026, 11, 12),
	15: date(2027, 11, 11),
	16: date(2028, 11, 9),
	17: date(2029, 11, 8),
	18: date(2030, 11, 14),
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// EndOfLife returns the end-of-life date of a PostgreSQL major version, and
// false when the table does not know it. Every major below 12 is past its
// end of life; majors above the table are too new to be listed.
func EndOfLife(major int) (time.Time, bool) {
	t, ok := endOfLife[major]
	return t, ok
}

// minHeadroom is the number of free connection slots below which the server
// stage warns: AEP's ingestion opens several connections at once.
const minHeadroom = 5

// ServerDetails are the findings of the server stage.
type ServerDetails struct {
	Version        string `json:"version"`
	VersionNum     int    `json:"versionNum"`
	Major          int    `json:"major"`
	EndOfLife      string `json:"endOfLife,omitempty"` // YYYY-MM-DD
	PastEndOfLife  bool   `json:"pastEndOfLife,omitempty"`
	InRecovery     bool   `json:"inRecovery"`
	ReadOnly       bool   `json:"readOnly"`
	MaxConnections int    `json:"maxConnections"`
	Reserved       int    `json:"reservedConnections"`
	InUse          int    `json:"connectionsInUse"`
	Headroom       int    `json:"headroom"`
	Encoding       string `json:"encoding"`
	Database       string `json:"database"`
	CurrentUser    string `json:"currentUser"`
	Superuser      bool   `json:"superuser,omitempty"`
}

// PrivilegesDetails are the findings of the privileges stage.
type PrivilegesDetails struct {
	Connect bool `json:"connect"`
	// Schemas are the non-system schemas with their USAGE privilege.
	Schemas []SchemaPrivilege `json:"schemas"`
	// ReadableCount counts the tables and views the user can SELECT;
	// Readable lists the first 20 of them.
	ReadableCount int      `json:"readableCount"`
	TotalCount    int      `json:"totalCount"`
	Readable      []string `json:"readable"`
	// Tables are the outcomes of Options.Tables.
	Tables []TableCheck `json:"tables,omitempty"`
}

// SchemaPrivilege is one schema and whether the user may use it.
type SchemaPrivilege struct {
	Name  string `json:"name"`
	Usage bool   `json:"usage"`
}

// TableCheck is the outcome of one table asserted with Options.Tables.
type TableCheck struct {
	Name     string `json:"name"`
	Exists   bool   `json:"exists"`
	Usage    bool   `json:"schemaUsage"`
	Readable bool   `json:"readable"`
}

const serverQuery = `SELECT current_setting('server_version_num')::int,
       current_setting('server_version'),
       pg_is_in_recovery(),
       current_setting('default_transaction_read_only') = 'on',
       current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int
         + coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int,
       (SELECT count(*) FROM pg_stat_get_activity(NULL::int) WHERE backend_type = 'client backend'),
       current_setting('server_encoding'),
       current_database(),
       current_user,
       current_setting('is_superuser') = 'on',
       has_database_privilege(current_database(), 'CONNECT')`

const systemSchemas = `n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'`

// catalogQuery lists, in one statement, the non-system schemas with their
// USAGE privilege ('s' rows), the number of tables and views and how many
// are readable ('c' row), and the first 20 readable ones ('t' rows).
// Readable means SELECT on the relation and USAGE on its schema: both are
// needed to read it. Partitions are left out; their parent is listed.
// pg_stat_activity and pg_roles are avoided on purpose: on a fresh backend
// every catalog a query touches costs a cache load, which is most of what a
// check costs beyond a bare connect on a fast network.
const catalogQuery = `WITH t AS (
  SELECT n.nspname, c.relname,
         has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') AS readable
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition AND ` + systemSchemas + `
)
SELECT 's', n.nspname, NULL, has_schema_privilege(n.oid, 'USAGE')
  FROM pg_namespace n WHERE ` + systemSchemas + `
UNION ALL
SELECT 'c', count(*)::text, (count(*) FILTER (WHERE readable))::text, NULL FROM t
UNION ALL
(SELECT 't', nspname, relname, NULL FROM t WHERE readable ORDER BY 2, 3 LIMIT 20)`

const assertQuery = `SELECT t.s, t.r, c.oid IS NOT NULL,
       coalesce(has_schema_privilege(n.oid, 'USAGE'), false),
       coalesce(has_table_privilege(c.oid, 'SELECT'), false)
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(s, r, i)
LEFT JOIN pg_namespace n ON n.nspname = t.s
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.r AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY t.i`

// queryResult is one pipelined query's rows or error.
type queryResult struct {
	rows [][][]byte
	err  error
}

// postLogin runs the server and privileges queries in one pipeline (one
// round trip), then closes the connection.
func (r *runner) postLogin(ctx context.Context, c *connResult) {
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = c.conn.Close(cctx)
	}()
	queries := []struct {
		sql    string
		params [][]byte
		oids   []uint32
	}{{sql: serverQuery}, {sql: catalogQuery}}
	if len(r.opts.Tables) > 0 {
		var schemas, names []string
		for _, t := range r.opts.Tables {
			s, n := splitTable(t)
			schemas, names = append(schemas, s), append(names, n)
		}
		queries = append(queries, struct {
			sql    string
			params [][]byte
			oids   []uint32
		}{assertQuery, [][]byte{[]byte(textArray(schemas)), []byte(textArray(names))}, []uint32{1009, 1009}})
	}

	r.started(StageServer)
	start := time.Now()
	results := make([]queryResult, len(queries))
	pl := c.conn.StartPipeline(ctx)
	for _, q := range queries {
		pl.SendQueryParams(q.sql, q.params, q.oids, nil, nil)
		// A sync after each query isolates failures: one query's error
		// does not abort the others. All are flushed together below.
		pl.SendPipelineSync()
	}
	err := pl.Flush()
	for i := range queries {
		if err != nil {
			results[i].err = err
			continue
		}
		results[i] = readPipelined(pl)
	}
	_ = pl.Close()
	r.timings.Queries = time.Since(start)

	for _, q := range results {
		if q.err != nil && r.interrupted() {
			r.set(interruptedStage(StageServer))
			return
		}
		if lost := r.sessionLost(q.err, r.timings.Queries); lost != nil {
			// The server stage fails; privileges is skipped by report().
			r.set(*lost)
			return
		}
	}
	r.set(r.serverStage(results[0], r.timings.Queries))
	var assert *queryResult
	if len(results) > 2 {
		assert = &results[2]
	}
	r.set(r.privilegesStage(results[0], results[1], assert, r.timings.Queries))
}

// sessionLost returns the server stage's failure when err means the session
// ended after login — a FATAL error such as 57P01 (administrator shutdown,
// which is what a restart sends), a broken connection, or no answer in time
// — and nil for an error that leaves the session usable (a statement error
// such as a missing privilege, which the stages report as a warning).
func (r *runner) sessionLost(err error, dur time.Duration) *Result {
	if err == nil {
		return nil
	}
	res := &Result{ID: StageServer, Status: Fail, Duration: dur, Field: FieldServer}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Severity != "FATAL" && pgErr.Severity != "PANIC":
		return nil
	case pgErr != nil:
		res.Kind = KindServer
		res.Message = "the server ended the session right after login: " + r.serverText(pgErr)
		res.Remediation = "the server is restarting or shutting down, or an administrator ended the session; retry when it is up, and check its logs if it recurs"
	case isTimeout(err):
		res.Kind = KindTimeout
		res.Message = "the server stopped answering after login: the queries timed out"
		res.Remediation = "check the server's load and the network path for dropped packets; " + r.timeoutFix()
	default:
		res.Kind = KindReset
		res.Message = "the connection was lost after login, before the server answered the queries"
		res.Remediation = "the server may have restarted or a firewall or proxy dropped the session; retry, and check the server's logs and any idle-session limits on the path"
	}
	return res
}

// readPipelined reads one query's result and the sync that follows it.
func readPipelined(pl *pgconn.Pipeline) queryResult {
	var out queryResult
	res, err := pl.GetResults()
	if err != nil {
		out.err = err
	} else if rr, ok := res.(*pgconn.ResultReader); ok {
		rres := rr.Read()
		out.rows, out.err = rres.Rows, rres.Err
	} else {
		out.err = errors.New("preflight: unexpected pipeline result")
	}
	for {
		res, err := pl.GetResults()
		if err != nil {
			if out.err == nil {
				out.err = err
			}
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) {
				continue // the query's error, reported again before its sync
			}
			return out
		}
		if _, ok := res.(*pgconn.PipelineSync); ok || res == nil {
			return out
		}
	}
}

// ValidTable reports whether name can be one of Options.Tables: schema.name,
// or name for a table in the public schema, with neither part empty.
func ValidTable(name string) bool {
	schema, rel := splitTable(name)
	return schema != "" && rel != ""
}

func splitTable(t string) (schema, name string) {
	if i := strings.IndexByte(t, '.'); i >= 0 {
		return t[:i], t[i+1:]
	}
	return "public", t
}

// textArray encodes ss as a PostgreSQL text[] literal.
func textArray(ss []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func atoi(b []byte) int    { n, _ := strconv.Atoi(string(b)); return n }
func isTrue(b []byte) bool { return string(b) == "t" }

// queryFailure words a failed post-login query without echoing driver
// text: a server error is shown with its SQLSTATE, anything else generically.
func (r *runner) queryFailure(err error) string {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		return r.serverText(pgErr)
	case isTimeout(err):
		return "the query timed out"
	default:
		return "the query failed"
	}
}

func (r *runner) serverStage(q queryResult, dur time.Duration) Result {
	res := Result{ID: StageServer, Status: Pass, Duration: dur}
	if q.err != nil || len(q.rows) != 1 || len(q.rows[0]) < 12 {
		res.Status = Warn
		res.Message = "could not read the server's settings: " + r.queryFailure(q.err)
		return res
	}
	row := q.rows[0]
	d := &ServerDetails{
		VersionNum: atoi(row[0]), Version: r.external(string(row[1])), InRecovery: isTrue(row[2]), ReadOnly: isTrue(row[3]),
		MaxConnections: atoi(row[4]), Reserved: atoi(row[5]), InUse: atoi(row[6]), Encoding: string(row[7]),
		Database: string(row[8]), CurrentUser: string(row[9]), Superuser: isTrue(row[10]),
	}
	d.Major = d.VersionNum / 10000
	d.Headroom = d.MaxConnections - d.Reserved - d.InUse
	res.Details = d

	var warns, fixes []string
	now := r.opts.Now()
	if eol, ok := EndOfLife(d.Major); ok {
		d.EndOfLife = eol.Format(time.DateOnly)
		d.PastEndOfLife = !now.Before(eol)
	} else if d.Major < 12 {
		d.PastEndOfLife = true
	}
	if d.PastEndOfLife {
		when := "long ago"
		if d.EndOfLife != "" {
			when = "on " + d.EndOfLife
		}
		warns = append(warns, fmt.Sprintf("PostgreSQL %d reached end of life %s: no more security fixes", d.Major, when))
		fixes = append(fixes, "upgrade to a supported PostgreSQL major version")
	}
	if d.InRecovery {
		warns = append(warns, "the server is a standby in recovery: long reads may be cancelled by replication conflicts")
		fixes = append(fixes, "point AEP at the primary, or raise max_standby_streaming_delay / enable hot_standby_feedback on the standby")
	}
	if d.Headroom < minHeadroom {
		warns = append(warns, fmt.Sprintf("only %d connection slots are free (max_connections %d, %d reserved, %d in use)", d.Headroom, d.MaxConnections, d.Reserved, d.InUse))
		fixes = append(fixes, "raise max_connections or close idle sessions: AEP's ingestion opens several connections")
	}
	if !strings.EqualFold(d.Encoding, "UTF8") {
		warns = append(warns, fmt.Sprintf("the database encoding is %s, not UTF8", d.Encoding))
		fixes = append(fixes, "non-UTF-8 text may not survive ingestion; check what AEP receives")
	}
	res.Message = fmt.Sprintf("PostgreSQL %s", strings.Fields(d.Version + " ?")[0])
	if d.EndOfLife != "" && !d.PastEndOfLife {
		res.Message += ", supported until " + d.EndOfLife
	}
	if d.ReadOnly {
		res.Message += ", read-only by default (fine: AEP only reads)"
	}
	res.Message += fmt.Sprintf(", %d connection slots free, encoding %s", d.Headroom, d.Encoding)
	if len(warns) > 0 {
		res.Status, res.Field = Warn, FieldServer
		res.Message = strings.Join(warns, "; ")
		res.Remediation = strings.Join(fixes, "; ")
	}
	return res
}

func (r *runner) privilegesStage(server, catalog queryResult, assert *queryResult, dur time.Duration) Result {
	res := Result{ID: StagePrivileges, Status: Pass, Duration: dur}
	d := &PrivilegesDetails{Readable: []string{}, Schemas: []SchemaPrivilege{}}
	res.Details = d
	if server.err == nil && len(server.rows) == 1 && len(server.rows[0]) >= 12 {
		d.Connect = isTrue(server.rows[0][11])
	}
	counted := false
	for _, row := range catalog.rows {
		if len(row) != 4 {
			continue
		}
		switch string(row[0]) {
		case "s":
			d.Schemas = append(d.Schemas, SchemaPrivilege{Name: string(row[1]), Usage: isTrue(row[3])})
		case "c":
			d.TotalCount, d.ReadableCount, counted = atoi(row[1]), atoi(row[2]), true
		case "t":
			d.Readable = append(d.Readable, string(row[1])+"."+string(row[2]))
		}
	}
	if catalog.err != nil || !counted {
		res.Status = Warn
		res.Message = "could not list readable tables: " + r.queryFailure(catalog.err)
		return res
	}
	user := quoteIdent(r.conn.User)
	var tables tableProblems
	if assert != nil && assert.err == nil {
		tables = checkTables(assert.rows, d)
	}
	if d.ReadableCount == 0 {
		res.Status, res.Field = Fail, FieldUsername
		res.Message = fmt.Sprintf("user %q can read no table or view (%d exist): AEP's explore step will be empty and there is nothing to ingest", r.conn.User, d.TotalCount)
		res.Remediation = fmt.Sprintf("GRANT USAGE ON SCHEMA <schema> TO %s; GRANT SELECT ON ALL TABLES IN SCHEMA <schema> TO %s", user, user)
		if len(tables.missing) > 0 {
			// A name that is wrong is wrong whatever the grants: it is said
			// first, and blamed.
			res.Field = FieldTable
			res.Message = strings.Join(tables.missing, "; ") + "; and " + res.Message
			res.Remediation = tableNameFix + "; " + res.Remediation
		}
		return res
	}
	res.Message = fmt.Sprintf("can read %d of %d tables and views", d.ReadableCount, d.TotalCount)
	if len(d.Readable) > 0 {
		more := ""
		if d.ReadableCount > len(d.Readable) {
			more = ", …"
		}
		res.Message += ": " + strings.Join(d.Readable, ", ") + more
	}
	if assert == nil {
		return res
	}
	if assert.err != nil {
		res.Status = Warn
		res.Message += "; could not check the requested tables: " + r.queryFailure(assert.err)
		return res
	}
	if len(tables.bad) == 0 {
		return res
	}
	// Each problem blames what to fix: a table that does not exist is the
	// name asked for, one that is not readable is the user's grants.
	res.Status, res.Field = Fail, tables.field
	var fixes []string
	if len(tables.missing) > 0 {
		fixes = append(fixes, tableNameFix)
	}
	if tables.denied {
		fixes = append(fixes, fmt.Sprintf("GRANT USAGE ON SCHEMA <schema> TO %s; GRANT SELECT ON <schema>.<table> TO %s (names are case-sensitive)", user, user))
	}
	res.Message = "requested tables are not readable: " + strings.Join(tables.bad, "; ")
	res.Remediation = strings.Join(fixes, "; ")
	return res
}

// tableNameFix is the fix for a requested table that does not exist.
const tableNameFix = "check the table name: schema.name exactly as the catalog stores it (case-sensitive; a bare name means public.name)"

// tableProblems are what is wrong with the requested tables.
type tableProblems struct {
	bad     []string // every problem, in the order the tables were asked for
	missing []string // the tables that do not exist
	denied  bool     // some table exists but is not readable
	field   string   // the field the first problem blames
}

// checkTables reads the requested tables' rows (schema, name, exists,
// usage, select) into d.Tables, and says what is wrong with them.
func checkTables(rows [][][]byte, d *PrivilegesDetails) tableProblems {
	var p tableProblems
	for _, row := range rows {
		tc := TableCheck{Name: string(row[0]) + "." + string(row[1]), Exists: isTrue(row[2]), Usage: isTrue(row[3]), Readable: isTrue(row[4])}
		tc.Readable = tc.Readable && tc.Usage
		d.Tables = append(d.Tables, tc)
		field := FieldUsername
		switch {
		case !tc.Exists:
			p.bad = append(p.bad, tc.Name+" does not exist")
			p.missing, field = append(p.missing, tc.Name+" does not exist"), FieldTable
		case !tc.Usage:
			p.bad, p.denied = append(p.bad, tc.Name+": no USAGE on its schema"), true
		case !tc.Readable:
			p.bad, p.denied = append(p.bad, tc.Name+": no SELECT"), true
		default:
			continue
		}
		if p.field == "" {
			p.field = field
		}
	}
	return p
}
