package preflight

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flowpg/flowpg/connstr"
)

// runner holds the state of one Run.
type runner struct {
	conn     connstr.Conn
	opts     Options
	parent   context.Context // the caller's: its end is an interrupt, not a failure
	mode     connstr.SSLMode // the mode checked
	own      connstr.SSLMode // the mode conn's TLS keys map to
	libpq    string
	host     string
	port     int
	verifier *verifier

	results map[Stage]Result
	timings Timings
	emitted int // how many stages Options.Progress was told of, in order
	audit   []AuditResult
	ownRes  *AuditResult // conn's own mode, when another is checked
	rec     connstr.SSLMode
	recWhy  string
}

// InputDetails are the findings of the input stage. The password is never
// included.
type InputDetails struct {
	Server   string `json:"server"`
	Port     int    `json:"port"`
	Database string `json:"database"`
	User     string `json:"username"`
	// SSLMode is the mode checked: Options.SSLMode, or else the mode the
	// connection's TLS keys map to.
	SSLMode string `json:"sslMode"`
	// RequestedSSLMode is the mode the connection's own TLS keys map to, when
	// another is checked.
	RequestedSSLMode string `json:"requestedSslMode,omitempty"`
	// SSLModeReason is Options.SSLModeReason, when another mode is checked.
	SSLModeReason string            `json:"sslModeReason,omitempty"`
	Warnings      []connstr.Warning `json:"warnings,omitempty"`
}

// Run checks conn stage by stage (see Stages) and returns the report. It
// never returns nil, and every failure is a Result, not an error. The whole
// run, audit included, is bounded by Options.Timeout and by ctx.
func Run(ctx context.Context, conn connstr.Conn, opts Options) *Report {
	start := time.Now()
	opts = opts.withDefaults()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	r := &runner{conn: conn, opts: opts, results: map[Stage]Result{}, parent: parent}
	if opts.Progress != nil {
		opts.Progress(Event{Target: r.target()})
	}
	r.run(ctx)
	r.timings.Total = time.Since(start)
	return r.report()
}

// set records a stage's result, and tells Options.Progress of every
// result now final in the order of Stages.
func (r *runner) set(res Result) {
	r.results[res.ID] = res
	for r.emitted < len(Stages) {
		next, ok := r.results[Stages[r.emitted]]
		if !ok {
			return
		}
		r.emit(next)
	}
}

// emit tells Options.Progress of a finished stage.
func (r *runner) emit(res Result) {
	r.emitted++
	if r.opts.Progress == nil {
		return
	}
	r.opts.Progress(Event{Stage: res.ID, Result: &res})
}

// started tells Options.Progress that a stage waiting on the network began.
func (r *runner) started(id Stage) {
	if r.opts.Progress != nil {
		r.opts.Progress(Event{Stage: id})
	}
}

func (r *runner) run(ctx context.Context) {
	in := r.input()
	r.set(in)
	if in.Status == Fail {
		return
	}

	r.started(StageDNS)
	addrs, dns := r.resolve(ctx)
	if dns.Kind == KindInterrupted {
		r.set(dns)
		return
	}
	if dns.Status != Fail {
		r.set(r.classifyAddresses(addrs))
	} else {
		// The address stage classifies what the name resolves to.
		r.set(Result{ID: StageAddress, Status: Skip, Message: "skipped: the name did not resolve, so there is no address to classify"})
	}
	r.set(dns)
	if dns.Status == Fail {
		return
	}

	// Extra dials, each justified (see startExtra), all made while the
	// checked connection is, so they cost little wall time.
	extra := r.startExtra(ctx, addrs)
	main := r.connect(ctx, r.libpq, addrs, connstr.SSLModeUnset, r.started)
	probe := extra.waitProbe()
	ok := r.connectionStages(main, probe)
	if ok {
		r.postLogin(ctx, main)
	}
	if r.opts.Audit {
		// The own mode's row is extra.own's; report() takes it from there.
		r.finishAudit(ctx, addrs, main, extra)
		return
	}
	extra.all.Wait()
	if extra.own != nil {
		res := r.auditResult(r.own, extra.own, tlsOffered(main, probe))
		r.ownRes = &res
	}
}

// plaintextFirst reports whether m's first attempt is plaintext, so that
// the password may go out before any certificate is seen.
func plaintextFirst(m connstr.SSLMode) bool {
	return m == connstr.SSLDisable || m == connstr.SSLAllow
}

// tlsOffered says whether the server accepted an SSLRequest of the checked
// connection or of the probe.
func tlsOffered(main *connResult, probe *attempt) bool {
	o := offersTLS(main, probe)
	return o != nil && *o
}

// input validates the connection and maps its TLS keys to an sslmode.
func (r *runner) input() Result {
	res := Result{ID: StageInput}
	c := r.conn
	var ve *connstr.ValidationError
	if err := c.Validate(); err != nil {
		res.Status = Fail
		res.Message = err.Error()
		if errors.As(err, &ve) && len(ve.Fields) > 0 {
			res.Field = ve.Fields[0].Field
		}
		res.Remediation = "fix the connection string; every field AEP's basic authentication takes is required"
		return res
	}
	for i, t := range r.opts.Tables {
		if !ValidTable(t) {
			res.Status, res.Field = Fail, FieldTable
			res.Message = fmt.Sprintf("table %d of the tables to check, %q, names no table: a schema or a name is empty", i+1, t)
			res.Remediation = "name each table to check as schema.name, or as name for one in the public schema"
			return res
		}
	}
	var warns []connstr.Warning
	r.own, warns = c.SSLMode()
	warns = append(append([]connstr.Warning(nil), r.opts.InputWarnings...), warns...)
	if r.own == connstr.SSLModeUnset {
		r.own = connstr.SSLDisable
	}
	r.mode = r.opts.SSLMode
	if r.mode == connstr.SSLModeUnset {
		r.mode = r.own
	}
	r.libpq = r.mode.LibPQ()
	if len(r.opts.PinSHA256) > 0 && plaintextFirst(r.mode) {
		res.Status, res.Field = Fail, FieldSSLMode
		res.Message = fmt.Sprintf("a pin needs TLS before the password, and sslMode %s sends the password in plaintext before any certificate is seen", r.libpq)
		res.Remediation = "check under an sslMode that starts with TLS (Prefer or stricter), or leave out --pin-sha256"
		return res
	}
	r.host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(c.Server), "["), "]")
	r.port = c.PortOrDefault()

	v, err := newVerifier(r.host, r.opts.CAFile, r.opts.PinSHA256, r.opts.Now)
	if err != nil {
		res.Status, res.Message = Fail, err.Error()
		res.Remediation = "fix --ca-file or --pin-sha256"
		return res
	}
	r.verifier = v

	d := &InputDetails{Server: r.host, Port: r.port, Database: c.Database, User: c.User, SSLMode: r.libpq, Warnings: warns}
	res.Details = d
	res.Status = Pass
	res.Message = fmt.Sprintf("%s@%s/%s, sslMode %s", c.User, net.JoinHostPort(r.host, strconv.Itoa(r.port)), c.Database, r.libpq)
	if r.own != r.mode {
		d.RequestedSSLMode, d.SSLModeReason = r.own.LibPQ(), r.opts.SSLModeReason
		why := r.opts.SSLModeReason
		if why == "" {
			why = "as asked"
		}
		res.Message += fmt.Sprintf(" (%s; the connection string itself asks for %s)", why, r.own.LibPQ())
	}
	if len(warns) > 0 {
		res.Status = Warn
		res.Field = warns[0].Field
		msgs := make([]string, len(warns))
		for i, w := range warns {
			msgs[i] = w.Message
		}
		res.Message += ": " + strings.Join(msgs, "; ")
	}
	return res
}

// target names the connection for reports, without the password.
func (r *runner) target() string {
	host := r.host
	if host == "" {
		host = strings.TrimSpace(r.conn.Server)
	}
	port := r.port
	if port == 0 {
		port = r.conn.PortOrDefault()
	}
	return fmt.Sprintf("%s@%s/%s", r.conn.User, net.JoinHostPort(host, strconv.Itoa(port)), r.conn.Database)
}

// report fills skipped stages, scrubs secrets and computes the verdict.
func (r *runner) report() *Report {
	rep := &Report{Target: r.target(), Timings: r.timings, Audit: r.audit, RecommendedSSLMode: r.rec, RecommendationReason: r.recWhy}
	if r.own != r.mode && r.ownRes == nil {
		for i := range r.audit {
			if r.audit[i].SSLMode == r.own {
				res := r.audit[i]
				r.ownRes = &res
			}
		}
	}
	if r.ownRes != nil {
		own := *r.ownRes
		rep.Requested = &own
	}
	var failed Stage
	interrupted := r.interrupted()
	for _, id := range Stages {
		res, ok := r.results[id]
		if !ok {
			res = Result{ID: id, Status: Skip, Message: "not run"}
			switch {
			case failed != "":
				res.Message = fmt.Sprintf("skipped: the %s stage failed", failed)
			case interrupted:
				res.Message, res.Kind = "not run: the check was interrupted", KindInterrupted
			}
		}
		if res.Status == Fail && failed == "" {
			failed = id
		}
		rep.Checks = append(rep.Checks, res)
	}
	for r.emitted < len(rep.Checks) {
		r.emitted++
		if r.opts.Progress != nil {
			res := rep.Checks[r.emitted-1]
			r.opts.Progress(Event{Stage: res.ID, Result: &res})
		}
	}
	rep.Verdict = verdict(rep.Checks)
	if interrupted && rep.Verdict != Fail {
		// Nothing failed before the interrupt, and nothing was proven after it.
		rep.Verdict = Interrupted
	}
	return rep
}

// interrupted reports whether the caller's context ended: the run was
// stopped (Ctrl-C, a signal, a caller's deadline), which is no finding about
// the database. Options.Timeout is the run's own limit, and a timeout.
func (r *runner) interrupted() bool { return r.parent != nil && r.parent.Err() != nil }

// interruptedStage is the result of a stage the interrupt cut short.
func interruptedStage(id Stage) Result {
	return Result{ID: id, Status: Skip, Kind: KindInterrupted, Message: "not finished: the check was interrupted"}
}

// external masks the password in text that comes from outside flowpg: a
// server's error message or version, a driver's error. flowpg's own text
// (user names, addresses, versions, prose) is built from structured fields
// and never passes through here, so it is never garbled.
//
// Only where the password appears as the password is it masked. A password
// of eight bytes or more is masked wherever it occurs; a shorter one only as
// a whole token, not inside a longer word, number, address or version ("1"
// is not masked in "127.0.0.1" or "TLS 1.3", nor "port" in "ports"). And a
// password equal to the user, the database or the server is not masked at
// all: the text may quote those names as such, and masking them would tell
// the reader what the password is.
//
// The result is cut at maxExternalText bytes, after masking (a cut before
// it could leave the start of the password), so that a server answering
// with megabytes makes no report of megabytes.
func (r *runner) external(s string) string {
	return cutText(r.masked(s), maxExternalText)
}

// maxExternalText bounds one text from outside in a report. PostgreSQL's
// messages are a line or two.
const maxExternalText = 1 << 10

// cutText cuts s to at most n bytes, on a rune boundary, marking the cut.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// masked is external before the cut.
func (r *runner) masked(s string) string {
	p := r.conn.Password
	if p == "" || !strings.Contains(s, p) || p == r.conn.User || p == r.conn.Database || p == r.host {
		return s
	}
	if len(p) >= 8 {
		// Too long to be there by chance, even inside a longer token.
		return strings.ReplaceAll(s, p, connstr.Redacted)
	}
	var b strings.Builder
	for {
		i := strings.Index(s, p)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(p)
		if tokenByte(s, i-1) && tokenByte(s, i) || tokenByte(s, end-1) && tokenByte(s, end) {
			b.WriteString(s[:i+1]) // part of a longer token: keep, and look again one byte on
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(connstr.Redacted)
		s = s[end:]
	}
}

// serverText quotes a server's error as a report does, the message masked
// by external.
func (r *runner) serverText(e *pgconn.PgError) string {
	return fmt.Sprintf("%s (SQLSTATE %s)", r.external(e.Message), e.Code)
}

// tokenByte reports whether s[i] exists and belongs to a token: a letter,
// a digit, or one of the characters that join the parts of a name, a number,
// an address or a version ("_", ".", "-", ":", "/", "@").
func tokenByte(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c == '.' || c == '-' || c == ':' || c == '/' || c == '@' ||
		c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// firstAddr returns the address string of the first address, for probes.
func firstAddr(addrs []netip.Addr, port int) string {
	return net.JoinHostPort(addrs[0].String(), strconv.Itoa(port))
}
