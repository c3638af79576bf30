package preflight

import (
	"encoding/json"
	"time"

	"github.com/flowpg/flowpg/connstr"
)

// Stage identifies one check. Stages run in the order of Stages(), and a stage
// whose prerequisite failed is reported as skipped.
type Stage string

// The stages of a check run, in order.
const (
	StageInput       Stage = "input"
	StageAddress     Stage = "address"
	StageDNS         Stage = "dns"
	StageTCP         Stage = "tcp"
	StageTLS         Stage = "tls"
	StageCertificate Stage = "certificate"
	StageSSLMode     Stage = "sslmode"
	StageAuth        Stage = "auth"
	StageServer      Stage = "server"
	StagePrivileges  Stage = "privileges"
)

// stages lists every stage in the order Run reports them.
var stages = [...]Stage{
	StageInput, StageAddress, StageDNS, StageTCP, StageTLS,
	StageCertificate, StageSSLMode, StageAuth, StageServer, StagePrivileges,
}

// Stages returns every stage in the order Run reports them; the slice is
// the caller's own.
func Stages() []Stage { return append([]Stage(nil), stages[:]...) }

// Status is the outcome of one stage, or the verdict of a whole report.
type Status string

// Statuses, from best to worst; Skip means "not run because an earlier stage
// failed" and never counts towards the verdict.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
	// Interrupted is the verdict of a run the caller stopped before it could
	// prove anything (its context ended), when nothing had failed before.
	Interrupted Status = "interrupted"
)

// Field is an input field a Result can blame.
type Field string

// Input fields a Result can blame. All but FieldTable are the names of AEP's
// basic authentication parameters, as connstr's errors and warnings name
// them.
const (
	FieldServer   Field = "server"
	FieldPort     Field = "port"
	FieldDatabase Field = "database"
	FieldUsername Field = "username"
	FieldPassword Field = "password"
	FieldSSLMode  Field = "sslMode"
	// FieldTable blames one of Options.Tables: a table the caller asked to
	// check, which is no part of the connection and no basic-auth parameter.
	FieldTable Field = "table"
)

// Result is the outcome of one stage.
type Result struct {
	ID       Stage         `json:"id"`
	Status   Status        `json:"status"`
	Duration time.Duration `json:"-"`
	// Message says in plain words what was found. It never contains the
	// password.
	Message string `json:"message"`
	// Field is the input field to blame for a warning or failure (one of
	// the Field constants). It is empty when no single field is to blame:
	// the server answers a user that does not exist and a wrong password
	// alike (SQLSTATE 28P01), on purpose, so that failure names both in
	// Message and blames neither here.
	Field Field `json:"field,omitempty"`
	// Remediation tells how to fix a warning or failure.
	Remediation string `json:"remediation,omitempty"`
	// Option is the field of Options that Message or Remediation names
	// (as Option.String spells it), or "" when they name none. It is not
	// written to JSON: a caller that renders the field under another name
	// rewrites the text instead.
	Option Option `json:"-"`
	// Kind classifies a failed connection, from error types and what was
	// seen on the wire: one of the Kind constants, or "" when the failure is
	// not a connection failure (or the stage passed).
	Kind Kind `json:"kind,omitempty"`
	// Details holds the stage's structured findings: a pointer to one of
	// the *Details types of this package (InputDetails, AddressDetails,
	// DNSDetails, TCPDetails,
	// TLSDetails, CertificateDetails, SSLModeDetails, AuthDetails,
	// ServerDetails, PrivilegesDetails), or nil. The accessors named after
	// the stages (Result.TLS, Report.Certificate, …) return them typed.
	Details any `json:"details,omitempty"`
}

// MarshalJSON writes the duration in milliseconds as durationMs.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		DurationMS float64 `json:"durationMs"`
	}{plain(r), millis(r.Duration)})
}

// Timings is the phase waterfall of the checked connection. A phase that did
// not happen is zero.
type Timings struct {
	DNS     time.Duration // name resolution
	TCP     time.Duration // TCP connect of the attempt that was used
	TLS     time.Duration // SSLRequest and TLS handshake
	Auth    time.Duration // startup message to ReadyForQuery
	Queries time.Duration // the pipelined post-login queries
	Total   time.Duration // the whole run, audit included
}

// MarshalJSON writes every phase in milliseconds.
func (t Timings) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		DNS     float64 `json:"dnsMs"`
		TCP     float64 `json:"tcpMs"`
		TLS     float64 `json:"tlsMs"`
		Auth    float64 `json:"authMs"`
		Queries float64 `json:"queriesMs"`
		Total   float64 `json:"totalMs"`
	}{millis(t.DNS), millis(t.TCP), millis(t.TLS), millis(t.Auth), millis(t.Queries), millis(t.Total)})
}

func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// AuditResult is the outcome of one sslmode tried by the audit.
type AuditResult struct {
	SSLMode connstr.SSLMode
	OK      bool
	// TLS is true when the successful connection used TLS (Allow and Prefer
	// may end in plaintext).
	TLS bool
	// Error says why the mode failed, in plain words; empty when OK.
	Error string
	// PasswordWithheld is set when the server, in this mode, asked for the
	// password in cleartext (AuthPassword) or as MD5 (AuthMD5) over a
	// connection less protected than the input asks for: a client in this
	// mode would have sent it, and the audit did not. OK is then false.
	PasswordWithheld string
}

// MarshalJSON writes the mode under its libpq name.
func (a AuditResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		SSLMode          string `json:"sslMode"`
		OK               bool   `json:"ok"`
		TLS              bool   `json:"tls"`
		Error            string `json:"error,omitempty"`
		PasswordWithheld string `json:"passwordWithheld,omitempty"`
	}{a.SSLMode.LibPQ(), a.OK, a.TLS, a.Error, a.PasswordWithheld})
}

// Report is the outcome of a check run.
type Report struct {
	// Target names the checked connection without its password:
	// user@host:port/database.
	Target  string
	Verdict Status // Pass, Warn, Fail or Interrupted
	Checks  []Result
	Timings Timings
	// Audit holds one entry per sslmode, strictest last, when Options.Audit
	// was set.
	Audit []AuditResult
	// RecommendedSSLMode is the strictest mode that worked in the audit;
	// SSLModeUnset when no mode worked or no audit ran.
	RecommendedSSLMode connstr.SSLMode
	// RecommendationReason explains the recommendation.
	RecommendationReason string
	// Requested is the outcome in the mode the connection's own TLS keys
	// map to, when Options.SSLMode made the run check another; nil otherwise.
	// It does not count towards the verdict.
	Requested *AuditResult
}

// MarshalJSON writes the report with camel-case keys and libpq sslmode names.
func (r *Report) MarshalJSON() ([]byte, error) {
	out := struct {
		Target               string        `json:"target"`
		Verdict              Status        `json:"verdict"`
		Checks               []Result      `json:"checks"`
		Timings              Timings       `json:"timings"`
		Audit                []AuditResult `json:"audit,omitempty"`
		RecommendedSSLMode   string        `json:"recommendedSslMode,omitempty"`
		RecommendationReason string        `json:"recommendationReason,omitempty"`
		Requested            *AuditResult  `json:"requested,omitempty"`
	}{
		Target: r.Target, Verdict: r.Verdict, Checks: r.Checks, Timings: r.Timings,
		Audit: r.Audit, RecommendationReason: r.RecommendationReason, Requested: r.Requested,
	}
	if r.RecommendedSSLMode != connstr.SSLModeUnset {
		out.RecommendedSSLMode = r.RecommendedSSLMode.LibPQ()
	}
	return json.Marshal(out)
}

// Check returns the result of stage id, or nil when the report has none.
func (r *Report) Check(id Stage) *Result {
	for i := range r.Checks {
		if r.Checks[i].ID == id {
			return &r.Checks[i]
		}
	}
	return nil
}

// Failed returns the first failed stage, or nil when none failed.
func (r *Report) Failed() *Result {
	for i := range r.Checks {
		if r.Checks[i].Status == Fail {
			return &r.Checks[i]
		}
	}
	return nil
}

// verdict is the worst status among checks, skips ignored.
func verdict(checks []Result) Status {
	v := Pass
	for _, c := range checks {
		switch c.Status {
		case Fail:
			return Fail
		case Warn:
			v = Warn
		}
	}
	return v
}

// Kind classifies a failed connection (Result.Kind).
type Kind string

// Failure kinds, reported in Result.Kind. They are derived from error types
// and protocol observations, never from error text.
const (
	KindTimeout        Kind = "timeout"         // no answer before the deadline: a black hole, a firewall dropping packets, a slow server
	KindRefused        Kind = "refused"         // nothing listens on the port (TCP RST to the SYN)
	KindUnreachable    Kind = "unreachable"     // no route to the host or network
	KindReset          Kind = "reset"           // the peer closed or reset an established connection
	KindTLSUnsupported Kind = "tls-unsupported" // the server declined the SSLRequest
	KindNotPostgres    Kind = "not-postgres"    // the port answered something other than PostgreSQL
	KindHandshake      Kind = "tls-handshake"   // the TLS handshake failed (alert, protocol version, …)
	KindCertificate    Kind = "certificate"     // the server certificate was rejected
	KindServer         Kind = "server-error"    // the server answered with an error (SQLSTATE in the message)
	KindConnect        Kind = "connect"         // any other connection failure
	KindInterrupted    Kind = "interrupted"     // the caller stopped the run: no finding about the database
	// KindPasswordWithheld: the server asked for the password in cleartext
	// or as MD5 over a connection weaker than the input asks for, and the
	// audit did not send it (AuditResult.PasswordWithheld).
	KindPasswordWithheld Kind = "password-withheld"
)
