package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/preflight"
)

// pipeline is one run of the work that registers or changes a base
// connection, which connect and connections update share, in its order: the
// registration is resolved, the gate runs, the remote operation is done,
// Adobe verifies, and a failed verification is rolled back where that can
// be done. Each step fills res and returns what ends the run, if it does;
// the command renders res once, at the end (render), whichever step ended
// it.
type pipeline struct {
	streams *IO
	g       *Globals
	session *Session
	client  *flowclient.Client // nil in a dry run without credentials
	out     *resultOutput
	res     *connectResult
}

// errResultFailed ends a run whose result says why it failed (exit 1).
var errResultFailed = &ExitError{Code: ExitFailed}

// render writes the result once and ends with exit, unless exit speaks for
// itself (invalid input or usage, which run says): then there is no result
// to show.
func (p *pipeline) render(exit error) error {
	var ee *ExitError
	if exit != nil && (!errors.As(exit, &ee) || ee.Err != nil) {
		return exit
	}
	return p.out.finish(p.streams, p.g, p.res, exit)
}

// gate runs the pre-flight in the mode Adobe will dial, with what only Adobe
// meets (its network, its roots) counted as failures. A run it stops says
// so, and what stays as it was (unchanged).
func (p *pipeline) gate(ctx context.Context, gf *GateFlags, conn connstr.Conn, reg registration, warns []connstr.Warning, allowPrivate bool, unchanged string) error {
	rep, err := gf.gate(ctx, p.streams, conn, reg, warns, allowPrivate, p.out.streaming(p.streams, p.g, p.res.Warnings))
	if err != nil {
		return invalid(err)
	}
	p.res.Report = rep
	switch rep.Verdict {
	case preflight.Interrupted:
		p.res.Status, p.res.Message = "interrupted", "interrupted during the pre-flight: "+unchanged
		return errResultFailed
	case preflight.Fail:
		p.res.Status, p.res.Message = "preflight-failed", "the pre-flight failed, so "+unchanged
		if rq := rep.Requested; rq != nil && rq.OK {
			p.res.Message += fmt.Sprintf("; the mode the connection string itself asks for (%s) would connect, but Adobe would dial %s (%s)", rq.SSLMode.LibPQ(), reg.Mode.LibPQ(), reg.reason())
		}
		return errResultFailed
	}
	return nil
}

// apiFailed fills the result for a failed Flow Service call (exit 1).
func (p *pipeline) apiFailed(what string, err error) error {
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		p.res.Status, p.res.Message = "interrupted", "interrupted while "+what+": nothing was changed at Adobe"
		return errResultFailed
	}
	info := describeAPIFailure(what, err)
	p.res.Status, p.res.Message, p.res.APIError = "api-error", info.Message, info.APIError
	if info.Meaning != "" {
		p.res.Message += " (that is: " + info.Meaning + ")"
	}
	return errResultFailed
}

// update applies the registration to the stored connection.
func (p *pipeline) update(ctx context.Context, reg registration, stored flowclient.Connection) error {
	if err := applyUpdate(ctx, p.session, p.client, reg, stored, p.res); err != nil {
		if p.res.Status == "conflict" || p.res.Outcome != "" {
			return errResultFailed
		}
		return p.apiFailed("updating the connection", err)
	}
	return nil
}

// verification is what the verify step needs to know beyond the result.
type verification struct {
	skip     bool // --no-verify
	rollback bool // delete a connection this run created that fails
	mode     connstr.SSLMode
	region   *flowclient.Region
}

// verify asks Adobe to test and explore the connection this run created,
// reused or changed, unless the run was interrupted: then what exists is
// said, and left for the user to verify or delete. A created connection
// that fails is rolled back when v says so.
func (p *pipeline) verify(ctx context.Context, v verification) error {
	res := p.res
	if ctx.Err() != nil {
		return p.interruptedAfterWrite()
	}
	if v.skip {
		res.Verify = &verifyResult{Skipped: true}
		return nil
	}
	res.Verify = verify(ctx, p.client, res.ID)
	if ctx.Err() != nil {
		return p.interruptedAfterWrite()
	}
	if res.Verify.Error == "" {
		return nil
	}
	if res.Verify.refused {
		res.Hint = verifyHint(v.mode, true, v.region, true, res.Name)
	}
	if res.Status == "updated" {
		res.Message = "the update was applied but Adobe cannot use the connection now; flowpg cannot restore the previous settings (Flow Service never returns the stored password): fix the cause and update again"
	}
	if res.Status == "created" && v.rollback {
		p.rollback()
	}
	res.Status = "verify-failed"
	return errResultFailed
}

// rollback deletes the connection this run created. It finishes even when
// an interrupt comes now; only a second one abandons it.
func (p *pipeline) rollback() {
	res := p.res
	dctx, cancel := p.session.cleanupContext()
	err := p.client.DeleteConnection(dctx, res.ID)
	cancel()
	left := fmt.Sprintf("connection %q (id %s) is left behind; delete it with: flowpg connections delete %s --yes", res.Name, res.ID, shellWord(res.Name))
	switch {
	case err != nil && p.session.Cleanup.Err() != nil:
		res.Message = "the roll-back was abandoned: " + left
	case err != nil:
		res.Message = fmt.Sprintf("the connection could not be deleted after the failed verification (%v): %s", err, left)
	default:
		res.Deleted = true
	}
}

// interruptedAfterWrite ends a run interrupted after it created or changed
// the connection: what exists is said, with the commands that verify it
// (and remove it, when this run created it).
func (p *pipeline) interruptedAfterWrite() error {
	res := p.res
	what := res.Status
	res.Status = "interrupted"
	msg := fmt.Sprintf("\ninterrupted: connection %q (id %s) was %s but not verified; verify it with: flowpg connections test %s",
		res.Name, res.ID, what, shellWord(res.Name))
	if what == "created" {
		msg += fmt.Sprintf("; remove it with: flowpg connections delete %s --yes", shellWord(res.Name))
	}
	res.Message = strings.TrimSpace(res.Message + msg)
	return errResultFailed
}
