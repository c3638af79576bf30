package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/internal/printable"
	"github.com/flowpg/flowpg/preflight"
)

// connectResult is the outcome printed by connect.
type connectResult struct {
	Status string `json:"status"` // created, reused, updated, dry-run, preflight-failed, verify-failed, exists, exists-differs, conflict, api-error, interrupted
	// Outcome settles a write whose reply was lost: for a create, created
	// (found by name afterwards), not-created or may-exist (the look-up
	// failed too); for an update, changed, not-updated or unknown.
	Outcome      string              `json:"outcome,omitempty"`
	ID           string              `json:"id,omitempty"`
	Etag         string              `json:"etag,omitempty"`
	Name         string              `json:"name"`
	SpecName     string              `json:"specName"`
	Registration *registrationInfo   `json:"registration,omitempty"`
	Deleted      bool                `json:"deleted,omitempty"`
	Verify       *verifyResult       `json:"verification,omitempty"`
	Request      *flowclient.Preview `json:"request,omitempty"`
	Report       *preflight.Report   `json:"preflight,omitempty"`
	// Differences are what a stored connection of that name registers
	// otherwise, for --if-exists reuse; NotCompared names what cannot be
	// compared because Flow Service masks it.
	Differences []fieldDiff       `json:"differences,omitempty"`
	NotCompared []string          `json:"notCompared,omitempty"`
	Warnings    []connstr.Warning `json:"warnings"`
	Message     string            `json:"message,omitempty"`
	Hint        string            `json:"hint,omitempty"`
	// APIError describes a failed Flow Service call.
	APIError *apiErrorInfo `json:"apiError,omitempty"`
}

// apiErrorInfo is the structured part of a failed Flow Service call.
type apiErrorInfo struct {
	Status    int    `json:"status,omitempty"` // HTTP status; 0 when no reply came
	Code      string `json:"code,omitempty"`   // Adobe's error code, such as 403010 or FLOW-1415-400
	RequestID string `json:"requestId,omitempty"`
}

// verifyResult is Adobe's view of the new connection.
type verifyResult struct {
	Test    flowclient.TestResult    `json:"test"`
	Tables  int                      `json:"tables"`
	First   []flowclient.ExploreItem `json:"firstTables,omitempty"`
	Error   string                   `json:"error,omitempty"`
	Skipped bool                     `json:"skipped,omitempty"`
	// refused is set when Adobe ran the test and could not use the
	// connection (the evidence a hint can follow), as opposed to a call that
	// failed.
	refused bool
}

// verify asks Flow Service to test the connection, then to explore it.
func verify(ctx context.Context, client *flowclient.Client, id string) *verifyResult {
	v := &verifyResult{}
	t, err := client.TestConnection(ctx, id)
	if err != nil {
		v.Error = "test: " + err.Error()
		return v
	}
	v.Test = t
	if !t.OK {
		v.refused = true
		v.Error = "test: Flow Service could not connect"
		if t.Message != "" {
			v.Error += ": " + t.Message
		}
		return v
	}
	items, err := client.ExploreRoot(ctx, id)
	if err != nil {
		v.Error = "explore: " + err.Error()
		return v
	}
	v.Tables = len(items)
	v.First = items[:min(len(items), 20)]
	return v
}

// resultOutput renders a connectResult, once, as the command's -o and
// --curl ask: the commands that register or change a connection share it.
type resultOutput struct {
	Format string // text or json
	Curl   bool   // a dry run's request as a curl command
	// DiffShown says that the differences were shown before the pre-flight
	// (connections update does), so the outcome does not repeat them.
	DiffShown bool
	// stream, in text, is the pre-flight's report as it streams; finish
	// completes it.
	stream *textReport
}

// streaming starts streaming the pre-flight's report in text, and returns
// the preflight.Options.Progress that feeds it (nil for JSON). Warnings so
// far go to stderr first, as finish would have printed them.
func (o *resultOutput) streaming(streams *IO, g *Globals, warns []connstr.Warning) func(preflight.Event) {
	if o.Format == "json" {
		return nil
	}
	printWarnings(streams.Stderr, warns)
	o.stream = newTextReport(streams.Stdout, newStyle(streams.Stdout, g.NoColor), isTerminal(streams.Stdout))
	return o.stream.progress
}

// describeAPIFailure words a failed call to Adobe, labelled by the call that
// failed: a token request is IMS's, whichever Flow Service call needed the
// token. A refused token says so, and never sends the reader to the network.
func describeAPIFailure(what string, err error) errorInfo {
	info := errorInfo{Code: "api-error"}
	var (
		te *flowclient.TokenError
		tr *flowclient.TokenRefusedError
		re *flowclient.RedirectError
		ae *flowclient.APIError
		rp *flowclient.ReplyError
	)
	switch {
	case errors.As(err, &te):
		what = "getting a token from IMS"
		if te.StatusCode != 0 {
			info.APIError = &apiErrorInfo{Status: te.StatusCode, Code: te.Code}
		}
	case errors.As(err, &tr) && tr.Static:
		info.Meaning = "Adobe refused the access token in AEP_ACCESS_TOKEN: it may have expired (they last about 24 hours) or belong to another organization; get a new one, or use AEP_CLIENT_ID and AEP_CLIENT_SECRET so that flowpg fetches its own"
	case errors.As(err, &tr):
		info.Meaning = "Adobe refused the token IMS issued, twice: check that the credential's API key (AEP_API_KEY, or the client id), organization (AEP_ORG_ID) and product profile are those of this sandbox"
	case errors.As(err, &rp):
		info.APIError = &apiErrorInfo{Status: rp.StatusCode}
	case errors.As(err, &re):
		info.APIError = &apiErrorInfo{Status: re.StatusCode}
		info.Meaning = "Adobe's APIs do not redirect, so flowpg follows no redirect and re-sends nothing: check AEP_FLOW_URL and any proxy in between"
	}
	if errors.As(err, &ae) {
		info.APIError = &apiErrorInfo{Status: ae.StatusCode, Code: ae.Code, RequestID: ae.RequestID}
		if info.Meaning == "" {
			info.Meaning = ae.Meaning()
		}
	}
	var ne net.Error
	if info.Meaning == "" && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()) {
		info.Meaning = "no answer within the time limit of one call (--api-timeout): Adobe may be slow, or something on the way holds the traffic; check AEP_FLOW_URL, AEP_IMS_TOKEN_URL and any proxy, or raise --api-timeout"
	}
	info.Message = what + ": " + err.Error()
	return info
}

// finish prints the result and returns exit.
func (o *resultOutput) finish(streams *IO, g *Globals, res *connectResult, exit error) error {
	if o.Format == "json" {
		res.Warnings = nonNil(res.Warnings)
		if err := writeJSON(streams.Stdout, res); err != nil {
			return failed(err)
		}
		return exit
	}
	switch {
	case o.stream != nil && res.Report != nil:
		if err := o.stream.finish(res.Report); err != nil {
			return failed(err)
		}
		fmt.Fprintln(streams.Stdout)
	case res.Report != nil:
		printWarnings(streams.Stderr, res.Warnings)
		if err := renderText(streams.Stdout, res.Report, newStyle(streams.Stdout, g.NoColor)); err != nil {
			return failed(err)
		}
		fmt.Fprintln(streams.Stdout)
	default:
		printWarnings(streams.Stderr, res.Warnings)
	}
	if err := writeConnectText(streams.Stdout, res, o); err != nil {
		return failed(err)
	}
	return exit
}

func writeConnectText(w io.Writer, res *connectResult, o *resultOutput) error {
	var b strings.Builder
	switch res.Status {
	case "dry-run":
		// Escaped, not quoted: the request is meant to be copied, and a
		// stored etag (Flow Service's text) is part of it.
		if o.Curl {
			b.WriteString(printable.Text(res.Request.Curl()))
		} else {
			b.WriteString(printable.Text(res.Request.String()))
		}
	case "created", "reused", "updated", "verify-failed", "exists", "exists-differs", "conflict", "interrupted", "api-error":
		if res.ID == "" {
			break
		}
		fmt.Fprintf(&b, "connection %q (%s)\n  id:    %s\n  etag:  %s\n", res.Name, res.Status, printable.Line(res.ID), printable.Line(res.Etag))
	}
	if len(res.Differences) > 0 && (!o.DiffShown || res.Status == "conflict") {
		writeDiffs(&b, res.Differences)
	}
	if len(res.NotCompared) > 0 && (res.Status == "reused" || len(res.Differences) > 0) {
		fmt.Fprintf(&b, "  not compared: %s (Flow Service masks it)\n", strings.Join(res.NotCompared, ", "))
	}
	writeVerification(&b, res.Verify)
	if res.Deleted {
		b.WriteString("  the new connection was deleted (use --keep-on-verify-failure to keep it)\n")
	}
	if res.Message != "" {
		fmt.Fprintf(&b, "%s\n", printable.Line(res.Message))
	}
	if res.Hint != "" {
		fmt.Fprintf(&b, "hint: %s\n", printable.Line(res.Hint))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeVerification writes Adobe's verdict on a connection, if it was asked.
func writeVerification(b *strings.Builder, v *verifyResult) {
	switch {
	case v == nil:
	case v.Skipped:
		b.WriteString("  verification skipped (--no-verify)\n")
	case v.Error != "":
		fmt.Fprintf(b, "  verification failed: %s\n", printable.Line(v.Error))
	default:
		fmt.Fprintf(b, "  verified by Flow Service: test passed, explore found %d table(s)\n", v.Tables)
		for _, t := range v.First {
			fmt.Fprintf(b, "    %s\n", printable.Line(t.Path)) // a table name, as the database spells it
		}
	}
}
