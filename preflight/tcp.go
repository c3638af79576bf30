package preflight

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// DialInfo is one TCP connect the check made.
type DialInfo struct {
	Address    string  `json:"address"`
	TLS        bool    `json:"tls"`
	DurationMS float64 `json:"durationMs"`
	Error      string  `json:"error,omitempty"`
}

// TCPDetails are the findings of the tcp stage.
type TCPDetails struct {
	Attempts []DialInfo `json:"attempts"`
}

func (r *runner) tcpStage(c *connResult) Result {
	res := Result{ID: StageTCP, Status: Pass}
	d := &TCPDetails{}
	res.Details = d
	var okAddr string
	var failed []string
	fin := c.final()
	for _, a := range c.attempts {
		if a.late && a != fin {
			continue // not dialed: the time was up
		}
		di := DialInfo{Address: a.address, TLS: a.sslRequested, DurationMS: millis(sub(a.dialEnd, a.dialStart))}
		if a.dialErr != nil {
			f := r.dialFailure(a.dialErr, a.address)
			di.Error = f.message
			failed = append(failed, a.address)
			if okAddr == "" {
				res.Duration += sub(a.dialEnd, a.dialStart) // until one connects, the dials are the stage
			}
		} else if okAddr == "" {
			okAddr = a.address
			res.Duration = sub(a.dialEnd, a.dialStart)
		}
		d.Attempts = append(d.Attempts, di)
	}
	res.Message = fmt.Sprintf("connected to %s", okAddr)
	if len(failed) > 0 && okAddr != "" {
		res.Status, res.Field = Warn, FieldServer
		res.Message = fmt.Sprintf("connected to %s, but %s did not accept the connection", okAddr, strings.Join(failed, ", "))
		res.Remediation = "every address of server should accept connections, or AEP may pick one that fails"
	}
	return res
}

// dialFailure classifies a TCP connect error.
func (r *runner) dialFailure(err error, hostport string) *failure {
	f := &failure{stage: StageTCP, field: FieldServer}
	switch {
	case isTimeout(err):
		f.kind = KindTimeout
		f.message = fmt.Sprintf("no answer from %s within the time limit: packets are dropped", hostport)
		f.remediation = "a firewall or security group is silently dropping the connection: allow inbound TCP to this port from AEP's IP ranges for your region (and from here, for this check), and check server and port; " + r.timeoutFix()
		f.option = OptionTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		f.kind, f.field = KindRefused, FieldPort
		f.message = fmt.Sprintf("connection refused by %s: nothing listens on that port", hostport)
		f.remediation = "check port (PostgreSQL's default is 5432), that PostgreSQL runs, and that listen_addresses includes the public interface"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		f.kind = KindUnreachable
		f.message = fmt.Sprintf("no route to %s", hostport)
		f.remediation = "check server; this machine has no route to that network"
	case errors.Is(err, syscall.ECONNRESET):
		f.kind = KindReset
		f.message = fmt.Sprintf("%s reset the connection", hostport)
		f.remediation = "a firewall may be rejecting this source address: allow AEP's IP ranges"
	default:
		f.kind = KindConnect
		f.message = fmt.Sprintf("could not connect to %s%s", hostport, opDetail(err))
		f.remediation = "check server and port"
	}
	return f
}
