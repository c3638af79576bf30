package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/preflight"
)

// ConnectCmd registers a PostgreSQL base connection with Flow Service, only
// after the pre-flight passes, and then verifies it from Adobe's side.
type ConnectCmd struct {
	Input
	Fields    `embed:""`
	GateFlags `embed:""`

	Name                string `required:"" help:"Name of the base connection in AEP."`
	Description         string `help:"Description of the base connection."`
	Cloud               string `default:"azure" enum:"azure,aws" help:"Cloud your AEP organization runs on: azure or aws (aws takes basic auth only)."`
	DryRun              bool   `name:"dry-run" help:"Parse, run the pre-flight and look the name up, then print the pre-flight and the request instead of sending it (secrets masked)."`
	Curl                bool   `help:"With --dry-run, print the request as a curl command."`
	IfExists            string `name:"if-exists" default:"fail" enum:"fail,reuse" help:"When a connection of that name exists: fail, or reuse it if it registers the same server, port, database, user, sslMode and auth spec (verify it, create nothing)."`
	NoVerify            bool   `name:"no-verify" help:"Skip Adobe's test and explore of the new connection."`
	KeepOnVerifyFailure bool   `name:"keep-on-verify-failure" help:"Keep the new connection when Adobe's verification fails (it is deleted by default)."`
	AllowPrivateAddress bool   `name:"allow-private-address" help:"Accept a private, loopback or link-local database address (for the emulator and demos: AEP itself can never reach one)."`
	Output              string `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`

	Adobe AdobeFlags `embed:"" prefix:""`
}

// AdobeFlags locate Flow Service and Adobe IMS. The secrets themselves
// (AEP_ACCESS_TOKEN, AEP_CLIENT_SECRET) are read from the environment only,
// never from flags, so they cannot show in ps.
type AdobeFlags struct {
	FlowURL  string `name:"flow-url" env:"AEP_FLOW_URL" default:"${flowURL}" help:"Flow Service base URL (override for the emulator)."`
	TokenURL string `name:"ims-token-url" env:"AEP_IMS_TOKEN_URL" default:"${imsURL}" help:"Adobe IMS token URL (override for the emulator)."`
	ClientID string `name:"client-id" env:"AEP_CLIENT_ID" help:"OAuth server-to-server client id; the secret comes from $$AEP_CLIENT_SECRET."`
	Scopes   string `name:"scopes" env:"AEP_SCOPES" help:"IMS scopes, comma-separated (default: AEP's)."`
	APIKey   string `name:"api-key" env:"AEP_API_KEY" help:"x-api-key (defaults to the client id)."`
	OrgID    string `name:"org-id" env:"AEP_ORG_ID" help:"IMS organization id (…@AdobeOrg)."`
	Sandbox  string `name:"sandbox" env:"AEP_SANDBOX_NAME" help:"Sandbox name (x-sandbox-name)."`
}

// Help is shown by flowpg connect --help.
func (ConnectCmd) Help() string {
	return `Registers the PostgreSQL base connection with Flow Service, and only after
the pre-flight passes. First the connection string must parse, the auth type
suit the cloud, and the Adobe settings be complete. Then connect works out
exactly what it will register: with basic auth the sslMode value comes from
the live connection spec (read before anything else is sent), and the
pre-flight dials in the mode Adobe will dial in, not the one the string asks
for. An address AEP cannot reach fails the gate (unless
--allow-private-address), and so does a chain trusted only through --ca-file
when Adobe will verify it (unless --assume-adobe-trusts-ca): basic auth carries
no CA, and Adobe is assumed to trust public roots only. Only after a pass is
the database credential sent: if a connection of that name exists,
--if-exists decides (reuse compares what is registered first); otherwise it is
created, and Adobe is asked to test and explore it. A connection that fails
Adobe's verification is deleted unless --keep-on-verify-failure.

Adobe credentials come from the environment: AEP_ACCESS_TOKEN, or
AEP_CLIENT_ID with AEP_CLIENT_SECRET (and AEP_SCOPES); AEP_API_KEY (defaults
to the client id), AEP_ORG_ID and AEP_SANDBOX_NAME. AEP_FLOW_URL and
AEP_IMS_TOKEN_URL point flowpg at the emulator (flowtest).

Examples:
  echo "$CONN" | flowpg connect - --name sales-pg --region va7
  flowpg connect - --name sales-pg --dry-run --curl < conn.txt
  FLOWPG_PASSWORD=… flowpg connect --server db.example.com --database sales --user aep --ssl-mode verify-full --name sales-pg --cloud aws
  flowpg connect - --name sales-pg --if-exists reuse -o json

Exit codes: 0 created (or reused) and verified, 1 the pre-flight, a
difference with the stored connection, Adobe's verification or an API call
failed, 2 invalid input or usage.`
}

// connectResult is the outcome printed by connect.
type connectResult struct {
	Status       string              `json:"status"` // created, reused, dry-run, preflight-failed, verify-failed, exists, exists-differs, api-error
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

// Run carries out the steps in the order Help describes.
func (c *ConnectCmd) Run(ctx context.Context, g *Globals, streams *IO) error {
	// 1. Parse, and the input rules: nothing is dialed or sent before them.
	conn, warns, err := c.conn(streams)
	if err != nil {
		return err
	}
	if err := conn.Validate(); err != nil {
		return invalid(err)
	}
	spec := c.specName()
	if c.Cloud == "aws" && spec != connstr.BasicAuthSpecName {
		return invalid(errors.New("AEP on AWS documents basic authentication only: use --auth basic (the default)"))
	}
	region, err := c.region()
	if err != nil {
		return invalid(err)
	}
	res := &connectResult{Name: c.Name, SpecName: spec, Warnings: warns}
	// Missing Adobe settings are input errors too. Building the client sends
	// nothing (tokens are fetched on first use).
	client, credsErr := c.Adobe.client(ctx)
	if credsErr != nil && !c.DryRun {
		return invalid(credsErr)
	}

	// 2. What will be registered. With basic auth the live connection spec
	// decides the sslMode values, and so the mode Adobe will dial in: it is
	// read first (a GET that carries no database credential).
	vocab, source, err := c.offlineVocabulary()
	if err != nil {
		return invalid(err)
	}
	if credsErr == nil && spec == connstr.BasicAuthSpecName {
		if vocab, source, err = liveVocabulary(ctx, client, vocab, source); err != nil {
			return c.apiFailure(streams, g, res, "reading the connection spec", err)
		}
	}
	reg, err := newRegistration(conn, spec, vocab, source)
	if err != nil {
		return invalid(err)
	}
	res.Registration = reg.info()
	res.Warnings = mergeWarnings(res.Warnings, reg.Warnings)

	// 3. The gate: the pre-flight in the mode Adobe will dial, with what only
	// Adobe meets (its network, its roots) counted as failures.
	opts, err := c.GateFlags.options(reg, append(warns, weakened(reg.Warnings)...), true, c.AllowPrivateAddress)
	if err != nil {
		return invalid(err)
	}
	rep := preflight.Run(ctx, conn, opts)
	res.Report = rep
	if rep.Verdict == preflight.Fail {
		res.Status = "preflight-failed"
		res.Message = "the pre-flight failed, so nothing was sent to Adobe"
		if rq := rep.Requested; rq != nil && rq.OK {
			res.Message += fmt.Sprintf("; the mode the connection string itself asks for (%s) would connect, but Adobe would dial %s (%s)", rq.SSLMode.LibPQ(), reg.Mode.LibPQ(), reg.reason())
		}
		return c.finish(streams, g, res, &ExitError{Code: ExitFailed})
	}
	body := flowclient.Connection{
		Name:           c.Name,
		Description:    c.Description,
		Auth:           flowclient.Auth{SpecName: reg.SpecName, Params: reg.Params},
		ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: flowclient.PostgreSQLSpecVersion},
	}

	// 4. An existing connection of that name.
	var existing *flowclient.Connection
	if credsErr == nil {
		existing, err = client.FindConnectionByName(ctx, c.Name, flowclient.PostgreSQLSpecID)
		if err != nil {
			return c.apiFailure(streams, g, res, "looking the name up", err)
		}
	}
	if existing != nil {
		res.ID, res.Etag = existing.ID, existing.Etag
		res.Differences, res.NotCompared = compareStored(reg, *existing)
	}
	if c.DryRun {
		return c.dryRun(streams, g, res, client, body, credsErr, existing)
	}
	if existing != nil {
		switch {
		case c.IfExists == "fail":
			res.Status = "exists"
			res.Message = fmt.Sprintf("a connection named %q already exists (id %s); use --if-exists reuse to verify and keep it, or choose another --name", c.Name, existing.ID)
			return c.finish(streams, g, res, &ExitError{Code: ExitFailed})
		case len(res.Differences) > 0:
			res.Status = "exists-differs"
			res.Message = fmt.Sprintf("a connection named %q already exists (id %s) but registers something else, so it is not reused; choose another --name, or delete or update it", c.Name, existing.ID)
			return c.finish(streams, g, res, &ExitError{Code: ExitFailed})
		}
		res.Status = "reused"
	} else {
		// 5. Create.
		created, err := client.CreateConnection(ctx, body)
		if err != nil {
			return c.apiFailure(streams, g, res, "creating the connection", err)
		}
		res.Status, res.ID, res.Etag = "created", created.ID, created.Etag
	}

	// 6. Verify from Adobe's side.
	if c.NoVerify {
		res.Verify = &verifyResult{Skipped: true}
		return c.finish(streams, g, res, nil)
	}
	res.Verify = verify(ctx, client, res.ID)
	if res.Verify.Error == "" {
		return c.finish(streams, g, res, nil)
	}
	if res.Verify.refused {
		res.Hint = verifyHint(reg, region)
	}
	if res.Status == "created" && !c.KeepOnVerifyFailure {
		if err := client.DeleteConnection(ctx, res.ID); err != nil {
			res.Message = "the connection could not be deleted after the failed verification: " + err.Error()
		} else {
			res.Deleted = true
		}
	}
	res.Status = "verify-failed"
	return c.finish(streams, g, res, &ExitError{Code: ExitFailed})
}

// weakened picks the warnings that say the registration sends a weaker
// sslMode than the string asks for: the pre-flight's input stage reports
// them, since a pass then proves less than the string meant.
func weakened(warns []connstr.Warning) []connstr.Warning {
	var out []connstr.Warning
	for _, w := range warns {
		if w.Code == connstr.WarnSSLModeWeaker {
			out = append(out, w)
		}
	}
	return out
}

// dryRun ends a dry run: the request that would be sent, secrets masked.
func (c *ConnectCmd) dryRun(streams *IO, g *Globals, res *connectResult, client *flowclient.Client, body flowclient.Connection, credsErr error, existing *flowclient.Connection) error {
	if client == nil {
		var err error
		if client, err = c.Adobe.placeholderClient(); err != nil {
			return invalid(err)
		}
	}
	preview, err := client.PreviewCreate(body)
	if err != nil {
		return failed(err)
	}
	res.Status, res.Request = "dry-run", &preview
	switch {
	case credsErr != nil:
		res.Message = "no Adobe credentials in the environment, so the name was not looked up and the sslMode vocabulary is " + res.Registration.Vocabulary + " (" + credsErr.Error() + ")"
	case existing != nil && c.IfExists == "fail":
		res.Message = fmt.Sprintf("a connection named %q already exists (id %s): the real run would stop (--if-exists fail)", c.Name, existing.ID)
	case existing != nil && len(res.Differences) > 0:
		res.Message = fmt.Sprintf("a connection named %q already exists (id %s) and registers something else: the real run would stop", c.Name, existing.ID)
	case existing != nil:
		res.Message = fmt.Sprintf("a connection named %q already exists (id %s): the real run would reuse and verify it", c.Name, existing.ID)
	}
	return c.finish(streams, g, res, nil)
}

// conn reads the connection from the fields or from the string argument.
func (c *ConnectCmd) conn(streams *IO) (connstr.Conn, []connstr.Warning, error) {
	if c.Fields.given() {
		if c.Input.String != "" && c.Input.String != os.Getenv("FLOWPG_CONNECTION_STRING") {
			return connstr.Conn{}, nil, invalid(errors.New("pass either a connection string or --server and its fields, not both"))
		}
		conn, warns, err := c.Fields.conn(streams)
		if err != nil {
			return connstr.Conn{}, nil, invalid(err)
		}
		return conn, warns, nil
	}
	s, err := c.read(streams)
	if err != nil {
		return connstr.Conn{}, nil, err
	}
	p, err := connstr.Parse(s)
	if err != nil {
		return connstr.Conn{}, nil, invalidInput(streams, s, err)
	}
	warnCommandLineSecret(streams, c.Input, p)
	return p.Conn, p.Warnings, nil
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

// apiFailure reports a failed Flow Service call (exit 1).
func (c *ConnectCmd) apiFailure(streams *IO, g *Globals, res *connectResult, what string, err error) error {
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	res.Status, res.Message = "api-error", what+": "+err.Error()
	res.APIError = &apiErrorInfo{}
	var ae *flowclient.APIError
	if errors.As(err, &ae) {
		res.APIError = &apiErrorInfo{Status: ae.StatusCode, Code: ae.Code, RequestID: ae.RequestID}
	}
	return c.finish(streams, g, res, &ExitError{Code: ExitFailed})
}

// finish prints the result and returns exit.
func (c *ConnectCmd) finish(streams *IO, g *Globals, res *connectResult, exit error) error {
	if c.Output == "json" {
		if err := writeJSON(streams.Stdout, res); err != nil {
			return failed(err)
		}
		return exit
	}
	printWarnings(streams.Stderr, res.Warnings)
	st := newStyle(streams.Stdout, g.NoColor)
	if res.Report != nil {
		if err := renderText(streams.Stdout, res.Report, st); err != nil {
			return failed(err)
		}
		fmt.Fprintln(streams.Stdout)
	}
	if err := writeConnectText(streams.Stdout, res, c.Curl); err != nil {
		return failed(err)
	}
	return exit
}

func writeConnectText(w io.Writer, res *connectResult, curl bool) error {
	var b strings.Builder
	switch res.Status {
	case "dry-run":
		if curl {
			b.WriteString(res.Request.Curl())
		} else {
			b.WriteString(res.Request.String())
		}
	case "created", "reused", "verify-failed", "exists", "exists-differs":
		fmt.Fprintf(&b, "connection %q (%s)\n  id:    %s\n  etag:  %s\n", res.Name, res.Status, res.ID, res.Etag)
	}
	if len(res.Differences) > 0 {
		writeDiffs(&b, res.Differences)
	}
	if res.Status == "reused" || len(res.Differences) > 0 {
		fmt.Fprintf(&b, "  not compared: %s (Flow Service masks it)\n", strings.Join(res.NotCompared, ", "))
	}
	if v := res.Verify; v != nil {
		switch {
		case v.Skipped:
			b.WriteString("  verification skipped (--no-verify)\n")
		case v.Error != "":
			fmt.Fprintf(&b, "  verification failed: %s\n", v.Error)
		default:
			fmt.Fprintf(&b, "  verified by Flow Service: test passed, explore found %d table(s)\n", v.Tables)
			for _, t := range v.First {
				fmt.Fprintf(&b, "    %s\n", t.Path)
			}
		}
	}
	if res.Deleted {
		b.WriteString("  the new connection was deleted (use --keep-on-verify-failure to keep it)\n")
	}
	if res.Message != "" {
		fmt.Fprintf(&b, "%s\n", res.Message)
	}
	if res.Hint != "" {
		fmt.Fprintf(&b, "hint: %s\n", res.Hint)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// client builds a Flow Service client from the flags and the environment.
func (a AdobeFlags) client(ctx context.Context) (*flowclient.Client, error) {
	hc := &http.Client{Timeout: 60 * time.Second}
	if testNet.dialer != nil {
		hc.Transport = &http.Transport{DialContext: testNet.dialer.DialContext}
	}
	var ts oauth2.TokenSource
	switch tok, secret := os.Getenv("AEP_ACCESS_TOKEN"), os.Getenv("AEP_CLIENT_SECRET"); {
	case tok != "":
		ts = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok, TokenType: "Bearer"})
	case a.ClientID != "" && secret != "":
		cfg := flowclient.IMSConfig{ClientID: a.ClientID, ClientSecret: secret, TokenURL: a.TokenURL, HTTPClient: hc}
		if a.Scopes != "" {
			cfg.Scopes = strings.Split(a.Scopes, ",")
		}
		var err error
		if ts, err = flowclient.IMSTokenSource(ctx, cfg); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("no Adobe credentials: set AEP_ACCESS_TOKEN, or AEP_CLIENT_ID and AEP_CLIENT_SECRET")
	}
	apiKey := a.apiKey()
	var missing []string
	for name, v := range map[string]string{"AEP_API_KEY (or AEP_CLIENT_ID)": apiKey, "AEP_ORG_ID": a.OrgID, "AEP_SANDBOX_NAME": a.Sandbox} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing Adobe settings: %s", strings.Join(missing, ", "))
	}
	return flowclient.New(
		flowclient.WithBaseURL(a.FlowURL),
		flowclient.WithHTTPClient(hc),
		flowclient.WithTokenSource(ts),
		flowclient.WithAPIKey(apiKey),
		flowclient.WithOrgID(a.OrgID),
		flowclient.WithSandbox(a.Sandbox),
	)
}

// apiKey is the x-api-key: AEP_API_KEY, or else the client id.
func (a AdobeFlags) apiKey() string {
	if a.APIKey != "" {
		return a.APIKey
	}
	return a.ClientID
}

// placeholderClient stands in for a client when a dry run has no
// credentials: the headers it previews name the variables to set.
func (a AdobeFlags) placeholderClient() (*flowclient.Client, error) {
	or := func(v, name string) string {
		if v == "" {
			return "{" + name + "}"
		}
		return v
	}
	apiKey := a.apiKey()
	return flowclient.New(
		flowclient.WithBaseURL(a.FlowURL),
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "unused"})),
		flowclient.WithAPIKey(or(apiKey, "AEP_API_KEY")),
		flowclient.WithOrgID(or(a.OrgID, "AEP_ORG_ID")),
		flowclient.WithSandbox(or(a.Sandbox, "AEP_SANDBOX_NAME")),
	)
}
