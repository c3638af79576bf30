package preflight

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

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

// Run checks conn stage by stage (see Stages()) and returns the report. It
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
// result now final in the order of Stages().
func (r *runner) set(res Result) {
	r.results[res.ID] = res
	for r.emitted < len(stages) {
		next, ok := r.results[stages[r.emitted]]
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
	for _, id := range stages {
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

// firstAddr returns the address string of the first address, for probes.
func firstAddr(addrs []netip.Addr, port int) string {
	return net.JoinHostPort(addrs[0].String(), strconv.Itoa(port))
}

// stageOrder indexes connection stages, to skip those after a failure.
var stageOrder = map[Stage]int{StageTCP: 0, StageTLS: 1, StageCertificate: 2, StageSSLMode: 3, StageAuth: 4}

// connectionStages turns the observed connection into the tcp … auth
// results. It reports whether the connection is usable for the post-login
// stages.
func (r *runner) connectionStages(c *connResult, probe *attempt) bool {
	tlsOffered := offersTLS(c, probe)
	f := r.diagnose(c, tlsOffered != nil && *tlsOffered)
	failedAt := len(stageOrder)
	if f != nil {
		failedAt = stageOrder[f.stage]
	}
	fin := c.final()

	if fin != nil {
		r.timings.TCP, r.timings.TLS, r.timings.Auth = fin.phaseTimes(c.end)
	}

	for _, id := range []Stage{StageTCP, StageTLS, StageCertificate, StageSSLMode, StageAuth} {
		idx := stageOrder[id]
		if idx > failedAt {
			break // skipped; report() fills the message
		}
		var res Result
		switch id {
		case StageTCP:
			res = r.tcpStage(c)
		case StageTLS:
			res = r.tlsStage(c, probe, tlsOffered)
		case StageCertificate:
			res = r.certificateStage(c, probe)
		case StageSSLMode:
			res = r.sslmodeStage(c, probe, tlsOffered)
		case StageAuth:
			res = r.authStage(c)
		}
		switch {
		case idx == failedAt && f.interrupted:
			res = interruptedStage(id)
		case idx == failedAt:
			res.Status, res.Field, res.Message, res.Remediation, res.Kind, res.Option = Fail, f.field, f.message, f.remediation, f.kind, f.option
		}
		r.set(res)
	}
	return f == nil && c.conn != nil
}
