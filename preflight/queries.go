package preflight

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

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
		res.Option = OptionTimeout
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

func atoi(b []byte) int { n, _ := strconv.Atoi(string(b)); return n }

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
