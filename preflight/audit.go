package preflight

import (
	"context"
	"net/netip"
	"sync"

	"github.com/flowpg/flowpg/connstr"
)

// auditModes are the sslmodes the audit tries, weakest first.
var auditModes = []connstr.SSLMode{
	connstr.SSLDisable, connstr.SSLAllow, connstr.SSLPrefer,
	connstr.SSLRequire, connstr.SSLVerifyCA, connstr.SSLVerifyFull,
}

// auditOthers connects once in every sslmode but the checked one, all in
// parallel, and closes each connection as soon as it is up.
func (r *runner) auditOthers(ctx context.Context, addrs []netip.Addr) []*connResult {
	out := make([]*connResult, len(auditModes))
	var wg sync.WaitGroup
	for i, m := range auditModes {
		if m == r.mode {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.connectAndClose(ctx, m.LibPQ(), addrs)
		}()
	}
	wg.Wait()
	return out
}

// finishAudit fills the audit from the other modes and the checked
// connection, and recommends the strictest mode that worked.
func (r *runner) finishAudit(main *connResult, others []*connResult, probe *attempt) {
	offered := offersTLS(main, probe)
	for _, c := range others {
		if c != nil {
			if o := offersTLS(c, nil); o != nil && (offered == nil || *o) {
				offered = o
			}
		}
	}
	tlsOffered := offered != nil && *offered
	r.audit = nil
	for i, m := range auditModes {
		c := others[i]
		if m == r.mode {
			c = main
		}
		ar := AuditResult{SSLMode: m}
		if c != nil {
			ar = r.auditResult(m, c, &tlsOffered)
		}
		r.audit = append(r.audit, ar)
	}
	r.rec, r.recWhy = recommend(r.audit)
}

// connectAndClose connects in mode and closes the connection at once: an
// attempt that only tells whether the mode works.
func (r *runner) connectAndClose(ctx context.Context, mode string, addrs []netip.Addr) *connResult {
	c := r.connect(ctx, mode, addrs)
	if c.conn != nil {
		_ = c.conn.Close(ctx)
		c.conn = nil
	}
	return c
}

// auditResult sums up an attempt in mode m.
func (r *runner) auditResult(m connstr.SSLMode, c *connResult, offered *bool) AuditResult {
	ar := AuditResult{SSLMode: m, OK: c.err == nil}
	if fin := c.final(); fin != nil {
		ar.TLS = ar.OK && fin.usedTLS()
	}
	if !ar.OK {
		if f := r.diagnose(c, offered != nil && *offered); f != nil {
			ar.Error = f.message
		} else {
			ar.Error = "the connection failed"
		}
	}
	return ar
}

// recommend picks the strictest mode that worked. Allow and Prefer count
// only when they ended on TLS; a plaintext success is no better than Disable.
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
		why += "; " + a.SSLMode.LibPQ() + " fails: " + a.Error
	}
	return best.SSLMode, why
}
