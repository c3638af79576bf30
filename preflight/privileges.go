package preflight

import (
	"fmt"
	"strings"
	"time"
)

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
	field   Field    // the field the first problem blames
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
