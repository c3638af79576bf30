package preflight

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/flowpg/flowpg/connstr"
)

// The audit says, for every sslmode, whether a client dialing in it would
// connect. Six modes make only two kinds of attempt on the wire: plaintext
// (a startup message first) and TLS (an SSLRequest, then a handshake with
// the same ClientHello in every mode). What differs is what the client
// does with what it sees:
//
//   - disable makes a plaintext attempt; allow a plaintext attempt, then a
//     TLS one if that failed; prefer the reverse;
//   - require makes a TLS attempt and accepts any chain; verify-ca and
//     verify-full make the same attempt and refuse the chain for reasons
//     certCheck.refusal states, before any credential is sent.
//
// So the audit dials at most one attempt of each kind beyond what the
// checked connection (and the connection's own mode, when another is
// checked) already shows, and derives every mode's verdict from the
// attempts seen, following pgconn's order of attempts and its rule for
// when to stop. Where the attempts seen cannot tell (the checked
// connection stopped at the certificate, so login over TLS is untested),
// it dials what is missing, and only as a last resort the mode itself.
//
// The audit's own attempts are guarded (attempt.withhold): they do not hand
// the password in cleartext or as MD5 to a connection less protected than
// the stronger of the checked mode and the connection's own mode, and with
// pins they start no password exchange at all before a pinned certificate.
// Those two connections are the user's choice and are never guarded (with
// pins, the own mode is not dialed when it starts in plaintext).

// auditModes are the sslmodes the audit tries, weakest first.
var auditModes = []connstr.SSLMode{
	connstr.SSLDisable, connstr.SSLAllow, connstr.SSLPrefer,
	connstr.SSLRequire, connstr.SSLVerifyCA, connstr.SSLVerifyFull,
}

// wireKind is what an attempt sends first: a startup message or an
// SSLRequest.
type wireKind int8

const (
	wirePlain wireKind = iota
	wireTLS
)

// wireKinds are the kinds of attempt pgconn makes in mode m, in order; it
// tries each kind at every address before the next kind (see pgconnConfig
// and pgconn's buildConnectOneConfigs).
func wireKinds(m connstr.SSLMode) []wireKind {
	switch m {
	case connstr.SSLDisable:
		return []wireKind{wirePlain}
	case connstr.SSLAllow:
		return []wireKind{wirePlain, wireTLS}
	case connstr.SSLPrefer:
		return []wireKind{wireTLS, wirePlain}
	}
	return []wireKind{wireTLS}
}

// guard is the mode whose protection the audit's attempts give the
// password: the stronger of the checked mode and the connection's own.
func (r *runner) guard() connstr.SSLMode { return max(r.mode, r.own) }

// extraDials are the connections a run makes besides the checked one, all
// started with it. Fields are set by their goroutines and read after
// waitProbe (probe and the connection it comes from) or waitAll.
type extraDials struct {
	all sync.WaitGroup
	// own is the connection's own mode, when another is checked: the
	// user's choice, so not guarded.
	own *connResult
	// plain and tls are the audit's plaintext (disable) and TLS (require)
	// attempts, made when no other connection makes one; guarded.
	plain, tls *connResult
	// probe is a bare TLS handshake, for checked modes that may end in
	// plaintext, when no connection above offers one; probeFrom is the
	// connection whose first TLS attempt serves instead, if any.
	probe     *attempt
	probeFrom **connResult
	probeDone chan struct{} // closed when the probe's source is done; nil without one
}

// dial runs f in the background into dst; when isProbe, dst's handshake is
// the checked connection's view of the server's TLS.
func (e *extraDials) dial(dst **connResult, isProbe bool, f func() *connResult) {
	e.all.Add(1)
	var done chan struct{}
	if isProbe {
		done = make(chan struct{})
		e.probeDone, e.probeFrom = done, dst
	}
	go func() {
		defer e.all.Done()
		*dst = f()
		if done != nil {
			close(done)
		}
	}()
}

// startsTLS says whether a mode's first attempt is TLS (see plaintextFirst).
func startsTLS(m connstr.SSLMode) bool { return m >= connstr.SSLPrefer }

// startExtra starts the extra dials the run is known to need up front, so
// that they cost no wall time beside the checked connection:
//   - the connection's own mode, when another is checked, so the report can
//     say whether what the string asks for would work;
//   - for the audit, a plaintext attempt unless the checked or the own mode
//     starts with one, and a TLS attempt unless one of them does;
//   - for checked modes that may end in plaintext (disable, allow), a TLS
//     handshake, the only way to learn whether the server offers TLS and
//     with which certificate: that of a TLS connection above when there is
//     one, else a bare probe.
func (r *runner) startExtra(ctx context.Context, addrs []netip.Addr) *extraDials {
	e := &extraDials{}
	wantProbe := plaintextFirst(r.mode)
	made := []connstr.SSLMode{r.mode}
	// With pins, no password goes where no certificate was seen first: the
	// own mode is not dialed when it starts in plaintext (the audit's
	// guarded attempt stands in for it).
	if r.own != r.mode && !(len(r.opts.PinSHA256) > 0 && plaintextFirst(r.own)) {
		made = append(made, r.own)
		isProbe := wantProbe && startsTLS(r.own)
		wantProbe = wantProbe && !isProbe
		e.dial(&e.own, isProbe, func() *connResult { return r.connectAndClose(ctx, r.own.LibPQ(), addrs, connstr.SSLModeUnset) })
	}
	if r.opts.Audit {
		if !slices.ContainsFunc(made, plaintextFirst) {
			e.dial(&e.plain, false, func() *connResult { return r.connectAndClose(ctx, "disable", addrs, r.guard()) })
		}
		if !slices.ContainsFunc(made, startsTLS) {
			e.dial(&e.tls, wantProbe, func() *connResult { return r.connectAndClose(ctx, "require", addrs, r.guard()) })
			wantProbe = false
		}
	}
	if wantProbe {
		done := make(chan struct{})
		e.probeDone = done
		e.all.Add(1)
		go func() { defer e.all.Done(); e.probe = r.probeTLS(ctx, addrs); close(done) }()
	}
	return e
}

// waitProbe waits for the probe's source and returns the attempt that shows
// the server's TLS to the stages of a checked mode that did not use it:
// the probe, or the first TLS attempt of another connection; nil without
// one.
func (e *extraDials) waitProbe() *attempt {
	if e.probeDone == nil {
		return nil
	}
	<-e.probeDone
	if e.probe != nil || e.probeFrom == nil || *e.probeFrom == nil {
		return e.probe
	}
	for _, a := range (*e.probeFrom).attempts {
		if a.sslRequested {
			return a
		}
	}
	return nil
}

// connectAndClose connects in mode and closes the connection at once: an
// attempt that only tells whether the mode works.
func (r *runner) connectAndClose(ctx context.Context, mode string, addrs []netip.Addr, guard connstr.SSLMode) *connResult {
	c := r.connect(ctx, mode, addrs, guard)
	if c.conn != nil {
		_ = c.conn.Close(ctx)
		c.conn = nil
	}
	return c
}

// finishAudit fills the audit: the checked connection and the own mode's
// connection give their modes' rows as they are, every other row is
// derived from the attempts seen (see the comment at the top of this
// file). Then it recommends the strictest mode that worked.
func (r *runner) finishAudit(ctx context.Context, addrs []netip.Addr, main *connResult, e *extraDials) {
	e.all.Wait()
	conns := []*connResult{main, e.own, e.plain, e.tls}
	actual := map[connstr.SSLMode]*connResult{r.mode: main}
	if e.own != nil {
		actual[r.own] = e.own
	}
	ev := &evidence{}
	for _, a := range addrs {
		ev.addrs = append(ev.addrs, net.JoinHostPort(a.String(), strconv.Itoa(r.port)))
	}
	ev.add(conns...)

	// What the attempts seen cannot tell: dial the missing kind once
	// (after the checked connection stopped at its certificate, a TLS
	// login), then, if still missing, the mode itself.
	missing := func() map[wireKind]bool {
		out := map[wireKind]bool{}
		for _, m := range auditModes {
			if actual[m] == nil {
				if _, k, ok := ev.derive(m); !ok {
					out[k] = true
				}
			}
		}
		return out
	}
	if need := missing(); len(need) > 0 {
		var more extraDials
		if need[wirePlain] {
			more.dial(&more.plain, false, func() *connResult { return r.connectAndClose(ctx, "disable", addrs, r.guard()) })
		}
		if need[wireTLS] {
			more.dial(&more.tls, false, func() *connResult { return r.connectAndClose(ctx, "require", addrs, r.guard()) })
		}
		more.all.Wait()
		conns = append(conns, more.plain, more.tls)
		ev.add(more.plain, more.tls)
	}
	if len(missing()) > 0 {
		var modes []connstr.SSLMode
		for _, m := range auditModes {
			if _, _, ok := ev.derive(m); !ok && actual[m] == nil {
				modes = append(modes, m)
			}
		}
		dialed := make([]*connResult, len(modes))
		var wg sync.WaitGroup
		for i, m := range modes {
			wg.Go(func() { dialed[i] = r.connectAndClose(ctx, m.LibPQ(), addrs, r.guard()) })
		}
		wg.Wait()
		for i, m := range modes {
			actual[m] = dialed[i]
		}
		conns = append(conns, dialed...)
	}

	tlsOffered := false
	for _, c := range conns {
		if c != nil {
			if o := offersTLS(c, nil); o != nil && *o {
				tlsOffered = true
			}
		}
	}
	r.audit = nil
	for _, m := range auditModes {
		if c := actual[m]; c != nil {
			r.audit = append(r.audit, r.auditResult(m, c, tlsOffered))
			continue
		}
		steps, _, _ := ev.derive(m)
		r.audit = append(r.audit, r.derivedResult(m, steps, tlsOffered))
	}
	r.rec, r.recWhy = recommend(r.audit)
}

// evidence is every connection attempt a run made, to derive modes from.
type evidence struct {
	addrs    []string // the resolved addresses, host:port, in pgconn's order
	attempts []*attempt
}

func (ev *evidence) add(cs ...*connResult) {
	for _, c := range cs {
		if c != nil {
			ev.attempts = append(ev.attempts, c.attempts...)
		}
	}
}

// best returns the attempt at addr, among those keep accepts, that tells
// the most: the one that got furthest; a withheld one only when no other
// shows the outcome, since its outcome is unknown.
func (ev *evidence) best(addr string, keep func(*attempt) bool) *attempt {
	rank := func(a *attempt) int {
		if a.withheld != "" {
			return -1
		}
		return int(a.phase())
	}
	var best *attempt
	for _, a := range ev.attempts {
		if a.address == addr && keep(a) && (best == nil || rank(a) > rank(best)) {
			best = a
		}
	}
	return best
}

// step is one attempt of a derived mode: the attempt seen that shows its
// outcome, and the refusal of its chain in the derived mode, if any (the
// attempt seen may have been made in a mode that accepts that chain).
type step struct {
	a      *attempt
	refuse error
}

func (s step) ok() bool { return s.refuse == nil && s.a.ready && s.a.err == nil }

// last reports whether the connection stops after this attempt: it
// connected; our verification refused the chain, or the server answered
// the SSLRequest with neither S nor N (pgconnConfig then allows no further
// attempt, errNoFallback); the server refused the password, the database or
// the privilege to connect (pgconn's connectPreferred tries no further
// then); or the audit withheld the password, after which what a client
// would meet is unknown.
func (s step) last() bool {
	odd := s.a.sslAnswered && s.a.sslResponse != 'S' && s.a.sslResponse != 'N'
	if s.ok() || s.refuse != nil || odd || s.a.withheld != "" {
		return true
	}
	if s.a.pgErr == nil {
		return false
	}
	switch s.a.pgErr.Code {
	case "28P01", "3D000", "42501":
		return true
	}
	return false
}

// outcome is what an attempt of kind k at addr, in mode m, would meet,
// from the attempts seen; false when none tells. A dial that failed tells
// both kinds: TCP is the same.
func (ev *evidence) outcome(addr string, k wireKind, m connstr.SSLMode) (step, bool) {
	if k == wirePlain {
		a := ev.best(addr, func(a *attempt) bool { return !a.sslRequested })
		return step{a: a}, a != nil
	}
	h := ev.best(addr, func(a *attempt) bool { return a.sslRequested || a.dialErr != nil })
	if h == nil {
		return step{}, false
	}
	if h.cert != nil {
		if err := h.cert.refusal(m.LibPQ()); err != nil {
			return step{a: h, refuse: err}, true
		}
	}
	if !h.usedTLS() && h.certRejected == nil {
		// Refused TLS, failed the handshake or the dial: alike in every mode.
		return step{a: h}, true
	}
	// The chain passes in m; the login over TLS decides.
	a := ev.best(addr, func(a *attempt) bool { return a.usedTLS() })
	return step{a: a}, a != nil
}

// derive replays pgconn's attempts in mode m on the outcomes seen. It
// returns the steps up to the one that decides, or, when an outcome is
// unknown, false and the kind of attempt that would tell it.
func (ev *evidence) derive(m connstr.SSLMode) ([]step, wireKind, bool) {
	var steps []step
	for _, k := range wireKinds(m) {
		for _, addr := range ev.addrs {
			s, ok := ev.outcome(addr, k, m)
			if !ok {
				return nil, k, false
			}
			steps = append(steps, s)
			if s.last() {
				return steps, k, true
			}
		}
	}
	return steps, 0, len(steps) > 0
}

// derivedResult sums up a derived mode from its steps.
func (r *runner) derivedResult(m connstr.SSLMode, steps []step, tlsOffered bool) AuditResult {
	ar := AuditResult{SSLMode: m}
	if len(steps) == 0 {
		ar.Error = "the connection failed"
		return ar
	}
	s := steps[len(steps)-1]
	switch {
	case s.ok():
		ar.OK, ar.TLS = true, s.a.usedTLS()
		return ar
	case s.refuse != nil:
		ar.Error = r.certFailure(m.LibPQ(), s.refuse, s.a.cert).message
		return ar
	}
	// The deciding attempt, as if pgconn had made it in m: diagnose reads
	// the last attempt of a connection.
	err := s.a.err
	switch {
	case err != nil:
	case s.a.pgErr != nil:
		err = s.a.pgErr // an attempt before the one that connected: pgconn keeps no error for it
	default:
		err = errors.New("preflight: the attempt failed")
	}
	return r.auditResult(m, &connResult{mode: m.LibPQ(), attempts: []*attempt{s.a}, err: err}, tlsOffered)
}

// auditResult sums up a connection made in mode m.
func (r *runner) auditResult(m connstr.SSLMode, c *connResult, tlsOffered bool) AuditResult {
	ar := AuditResult{SSLMode: m, OK: c.err == nil}
	fin := c.final()
	if fin != nil {
		ar.TLS = ar.OK && fin.usedTLS()
	}
	if !ar.OK {
		if f := r.diagnose(c, tlsOffered); f != nil {
			ar.Error = f.message
		} else {
			ar.Error = "the connection failed"
		}
		if fin != nil {
			ar.PasswordWithheld = fin.withheld
		}
	}
	return ar
}

// recommend picks the strictest mode that worked. Allow and Prefer count
// only when they ended on TLS; a plaintext success is no better than
// Disable. A mode whose password the audit withheld did not work: it is
// not OK, and its Error says what the server would have received.
func recommend(audit []AuditResult) (connstr.SSLMode, string) {
	var best *AuditResult
	for i := range audit {
		a := &audit[i]
		if !a.OK {
			continue
		}
		if (a.SSLMode == connstr.SSLAllow || a.SSLMode == connstr.SSLPrefer) && !a.TLS {
			continue
		}
		best = a
	}
	if best == nil {
		return connstr.SSLModeUnset, "no sslmode could connect"
	}
	why := best.SSLMode.LibPQ() + " is the strictest mode that connects"
	for i := len(audit) - 1; i >= 0; i-- {
		a := audit[i]
		if a.SSLMode <= best.SSLMode {
			break
		}
		if a.OK {
			why += "; " + a.SSLMode.LibPQ() + " connects only in plaintext"
		} else {
			why += "; " + a.SSLMode.LibPQ() + " fails: " + a.Error
		}
	}
	return best.SSLMode, why
}
