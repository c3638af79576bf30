package preflight

import (
	"errors"
	"slices"

	"github.com/flowpg/flowpg/connstr"
)

// SSLModeDetails are the findings of the sslmode stage.
type SSLModeDetails struct {
	Mode    connstr.SSLMode `json:"mode"`
	TLSUsed bool            `json:"tlsUsed"`
	// Fallback is set when allow or prefer ended on its second choice.
	Fallback       bool   `json:"fallback,omitempty"`
	FallbackReason string `json:"fallbackReason,omitempty"`
}

func (r *runner) sslmodeStage(c *connResult, probe *attempt, offered *bool) Result {
	res := Result{ID: StageSSLMode, Status: Pass, Duration: sub(c.end, c.start)}
	d := &SSLModeDetails{Mode: r.mode}
	res.Details = d
	fin := c.final()
	if fin == nil {
		return res
	}
	d.TLSUsed = fin.usedTLS()
	// The fallback's reason is the first choice's failure, whether or not
	// the second choice then connected.
	if first := c.attempts[0]; first != fin && first.sslRequested != fin.sslRequested {
		d.Fallback = true
		d.FallbackReason = r.attemptFailure(first, offered != nil && *offered)
	}
	switch r.libpq {
	case "disable":
		res.Status, res.Field = Warn, FieldSSLMode
		res.Message = "sslMode Disable: the password and the data travel unencrypted"
		if offered != nil && *offered {
			res.Remediation = "the server offers TLS: use Verify Full (or Verify Ca, or Require)"
		} else {
			res.Remediation = "enable TLS on the server, then use Verify Full"
		}
	case "allow":
		if d.TLSUsed {
			res.Message = "sslMode Allow: plaintext was refused, so TLS was used (" + d.FallbackReason + ")"
		} else {
			res.Status, res.Field = Warn, FieldSSLMode
			res.Message = "sslMode Allow connected in plaintext (it tries plaintext first)"
			res.Remediation = "use Verify Full, Verify Ca or Require to encrypt the connection"
		}
	case "prefer":
		if d.TLSUsed {
			res.Message = "sslMode Prefer connected with TLS (the certificate is not verified)"
		} else {
			res.Status, res.Field = Warn, FieldSSLMode
			res.Message = "sslMode Prefer fell back to plaintext: " + d.FallbackReason
			res.Remediation = "enable TLS on the server, then use Verify Full"
		}
	case "require":
		res.Message = "connected with TLS; Require does not verify the certificate"
	case "verify-ca":
		res.Message = "connected with TLS; the chain is verified (Verify Ca does not check the host name)"
	case "verify-full":
		res.Message = "connected with TLS; the chain and the host name are verified"
	}
	return res
}

// attemptFailure words why an attempt that was not the final one failed,
// as diagnose would have, had it been the last: pgconn keeps only the
// errors of a connection that failed as a whole, so one that a fallback
// replaced is judged from what was observed on the wire.
func (r *runner) attemptFailure(a *attempt, tlsOffered bool) string {
	a.mu.Lock()
	err := a.err
	if err == nil {
		err = a.ioErr
	}
	a.mu.Unlock()
	if err == nil {
		err = errAttemptFailed
	}
	if f := r.diagnose(&connResult{attempts: []*attempt{a}, err: err}, tlsOffered); f != nil {
		return f.message
	}
	return errAttemptFailed.Error()
}

// errAttemptFailed stands for an attempt's error that nothing recorded.
var errAttemptFailed = errors.New("the attempt failed")

// withoutVerificationFix names the strictest mode that works without
// verifying the chain, among those the registration can express: Require,
// else Prefer (which may fall back to plaintext).
func (r *runner) withoutVerificationFix() string {
	offers := func(m connstr.SSLMode) bool {
		return r.opts.OfferedModes == nil || slices.Contains(r.opts.OfferedModes, m)
	}
	switch {
	case offers(connstr.SSLRequire):
		return "or use sslMode Require, which encrypts without verifying the chain"
	case offers(connstr.SSLPrefer):
		return "or use sslMode Prefer, which does not verify the chain but may fall back to plaintext if the server stops offering TLS (the sslMode values on offer have no Require)"
	}
	return "no sslMode on offer encrypts without verifying the chain"
}
