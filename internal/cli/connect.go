package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/preflight"
)

// allowListURL is Adobe's list of the IP ranges AEP's sources connect from.
const allowListURL = "https://experienceleague.adobe.com/en/docs/experience-platform/sources/ip-address-allow-list"

// ConnectCmd registers a PostgreSQL base connection with Flow Service, only
// after the pre-flight passes, and then verifies it from Adobe's side.
type ConnectCmd struct {
	Input
	Fields `embed:""`

	Name                string        `required:"" help:"Name of the base connection in AEP."`
	Description         string        `help:"Description of the base connection."`
	Auth                string        `default:"basic" enum:"basic,connection-string" help:"Auth spec to register: basic (Basic Authentication) or connection-string (Connection String Based Authentication)."`
	Cloud               string        `default:"azure" enum:"azure,aws" help:"Cloud your AEP organization runs on: azure or aws (aws takes basic auth only)."`
	SSLModeStyle        string        `name:"ssl-mode-style" enum:"tutorial,overview" default:"tutorial" help:"sslMode vocabulary sent with basic auth, when the live connection spec cannot be read."`
	DryRun              bool          `name:"dry-run" help:"Parse, run the pre-flight and look the name up, then print the request instead of sending it (secrets masked)."`
	Curl                bool          `help:"With --dry-run, print the request as a curl command."`
	IfExists            string        `name:"if-exists" default:"fail" enum:"fail,reuse" help:"When a connection of that name exists: fail, or reuse it (verify it, create nothing)."`
	NoVerify            bool          `name:"no-verify" help:"Skip Adobe's test and explore of the new connection."`
	KeepOnVerifyFailure bool          `name:"keep-on-verify-failure" help:"Keep the new connection when Adobe's verification fails (it is deleted by default)."`
	AllowPrivateAddress bool          `name:"allow-private-address" help:"Accept a private, loopback or link-local database address (for the emulator and demos: AEP itself can never reach one)."`
	Output              string        `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
	Timeout             time.Duration `default:"15s" help:"Time limit for the pre-flight."`
	CAFile              string        `name:"ca-file" type:"path" placeholder:"PEM" help:"CA certificates for the pre-flight to verify the server with."`
	Table               []string      `name:"table" sep:"none" placeholder:"SCHEMA.NAME" help:"A table or view the pre-flight must find readable (repeatable)."`
	PinSHA256           []string      `name:"pin-sha256" sep:"none" placeholder:"HEX" help:"SHA-256 fingerprint the server's chain must contain (repeatable)."`

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
the pre-flight passes. Nothing is sent to Adobe until the connection string
parses, the auth type suits the cloud, the Adobe settings are complete and
the pre-flight has no failure (an address AEP cannot reach is one). Then: if a connection of that name exists,
--if-exists decides; otherwise it is created, and Adobe is asked to test and
explore it. A connection that fails Adobe's verification is deleted unless
--keep-on-verify-failure.

Adobe credentials come from the environment: AEP_ACCESS_TOKEN, or
AEP_CLIENT_ID with AEP_CLIENT_SECRET (and AEP_SCOPES); AEP_API_KEY (defaults
to the client id), AEP_ORG_ID and AEP_SANDBOX_NAME. AEP_FLOW_URL and
AEP_IMS_TOKEN_URL point flowpg at the emulator (flowtest).

Examples:
  echo "$CONN" | flowpg connect - --name sales-pg
  flowpg connect - --name sales-pg --dry-run --curl < conn.txt
  FLOWPG_PASSWORD=… flowpg connect --server db.example.com --database sales --user aep --ssl-mode verify-full --name sales-pg --cloud aws
  flowpg connect - --name sales-pg --if-exists reuse -o json

Exit codes: 0 created (or reused) and verified, 1 the pre-flight, Adobe's
verification or an API call failed, 2 invalid input or usage.`
}

// connectResult is the outcome printed by connect.
type connectResult struct {
	Status   string              `json:"status"` // created, reused, dry-run, preflight-failed, verify-failed, exists
	ID       string              `json:"id,omitempty"`
	Etag     string              `json:"etag,omitempty"`
	Name     string              `json:"name"`
	SpecName string              `json:"specName"`
	Deleted  bool                `json:"deleted,omitempty"`
	Verify   *verifyResult       `json:"verification,omitempty"`
	Request  *flowclient.Preview `json:"request,omitempty"`
	Report   *preflight.Report   `json:"preflight,omitempty"`
	Warnings []connstr.Warning   `json:"warnings"`
	Message  string              `json:"message,omitempty"`
	Hint     string              `json:"hint,omitempty"`
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
}

// Run carries out the steps in the order Help describes.
func (c *ConnectCmd) Run(ctx context.Context, g *Globals, streams *IO) error {
	// 1. Parse.
	conn, warns, err := c.conn(streams)
	if err != nil {
		return err
	}
	if err := conn.Validate(); err != nil {
		return invalid(err)
	}
	spec := connstr.BasicAuthSpecName
	if c.Auth == "connection-string" {
		spec = connstr.ConnectionStringSpecName
	}
	// The cloud's auth rule is an input rule; checking it before dialing
	// spares a pre-flight whose result could not be used. Nothing is sent to
	// Adobe either way.
	if c.Cloud == "aws" && spec != connstr.BasicAuthSpecName {
		return invalid(errors.New("AEP on AWS documents basic authentication only: use --auth basic (the default)"))
	}
	res := &connectResult{Name: c.Name, SpecName: spec, Warnings: warns}
	// Missing Adobe settings are input errors too. Building the client sends
	// nothing (tokens are fetched on first use), so it happens before the
	// pre-flight, which would otherwise run for nothing.
	client, credsErr := c.Adobe.client(ctx)
	if credsErr != nil && !c.DryRun {
		return invalid(credsErr)
	}

	// 2. Pre-flight.
	rep := preflight.Run(ctx, conn, preflight.Options{
		Timeout:             c.Timeout,
		CAFile:              c.CAFile,
		Tables:              c.Table,
		PinSHA256:           c.PinSHA256,
		AllowPrivateAddress: c.AllowPrivateAddress,
		InputWarnings:       warns,
		Dialer:              testNet.dialer,
		Resolver:            testNet.resolver,
	})
	res.Report = rep
	requireReachableFromAEP(rep)
	if rep.Verdict == preflight.Fail {
		res.Status = "preflight-failed"
		res.Message = "the pre-flight failed, so nothing was sent to Adobe"
		return c.finish(streams, g, res, &ExitError{Code: ExitFailed})
	}

	// 3. Build the request.
	body, more, err := c.connection(conn, spec)
	if err != nil {
		return invalid(err)
	}
	res.Warnings = mergeWarnings(res.Warnings, more)

	// 4. An existing connection of that name.
	var existing *flowclient.Connection
	if credsErr == nil {
		if err := c.liveSSLMode(ctx, client, &body); err != nil {
			return c.apiFailure(streams, g, res, "reading the connection spec", err)
		}
		existing, err = client.FindConnectionByName(ctx, c.Name, flowclient.PostgreSQLSpecID)
		if err != nil {
			return c.apiFailure(streams, g, res, "looking the name up", err)
		}
	}
	if c.DryRun {
		if client == nil {
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
			res.Message = "no Adobe credentials in the environment, so the name was not looked up (" + credsErr.Error() + ")"
		case existing != nil && c.IfExists == "fail":
			res.Message = fmt.Sprintf("a connection named %q already exists (id %s): the real run would stop (--if-exists fail)", c.Name, existing.ID)
		case existing != nil:
			res.Message = fmt.Sprintf("a connection named %q already exists (id %s): the real run would reuse and verify it", c.Name, existing.ID)
		}
		return c.finish(streams, g, res, nil)
	}
	if existing != nil {
		if c.IfExists == "fail" {
			res.Status, res.ID, res.Etag = "exists", existing.ID, existing.Etag
			res.Message = fmt.Sprintf("a connection named %q already exists (id %s); use --if-exists reuse to verify and keep it, or choose another --name", c.Name, existing.ID)
			return c.finish(streams, g, res, &ExitError{Code: ExitFailed})
		}
		res.Status, res.ID, res.Etag = "reused", existing.ID, existing.Etag
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
	res.Hint = "Flow Service could not use the connection although the pre-flight passed from here. The likely cause is the network: " +
		"the database must accept connections from Adobe's IP ranges for your region (" + allowListURL + ")."
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

// connection is the create request's body.
func (c *ConnectCmd) connection(conn connstr.Conn, spec string) (flowclient.Connection, []connstr.Warning, error) {
	var params flowclient.Params
	var warns []connstr.Warning
	if spec == connstr.BasicAuthSpecName {
		style, err := connstr.ParseSSLModeStyle(c.SSLModeStyle)
		if err != nil {
			return flowclient.Connection{}, nil, err
		}
		var b connstr.BasicAuth
		b, warns = conn.BasicAuth(style)
		params = flowclient.Params{"server": b.Server, "port": b.Port, "database": b.Database,
			"username": b.Username, "password": b.Password, "sslMode": b.SSLMode}
	} else {
		var s string
		s, warns = connstr.Build(conn)
		params = flowclient.Params{"connectionString": s}
	}
	return flowclient.Connection{
		Name:           c.Name,
		Description:    c.Description,
		Auth:           flowclient.Auth{SpecName: spec, Params: params},
		ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: flowclient.PostgreSQLSpecVersion},
	}, warns, nil
}

// liveSSLMode checks the sslMode against the enum of the live connection
// spec, and switches to the other vocabulary when only that one is listed.
func (c *ConnectCmd) liveSSLMode(ctx context.Context, client *flowclient.Client, body *flowclient.Connection) error {
	mode, ok := body.Auth.Params["sslMode"]
	if !ok {
		return nil
	}
	spec, err := client.GetConnectionSpec(ctx, flowclient.PostgreSQLSpecID)
	if err != nil {
		return err
	}
	enum := spec.ParamEnum(connstr.BasicAuthSpecName, "sslMode")
	if len(enum) == 0 || slices.Contains(enum, mode) {
		return nil
	}
	want, err := connstr.ParseSSLMode(mode)
	if err != nil {
		return err
	}
	for _, v := range enum {
		if got, err := connstr.ParseSSLMode(v); err == nil && got == want {
			body.Auth.Params["sslMode"] = v
			return nil
		}
	}
	return invalid(fmt.Errorf("sslMode %q is not among the values Flow Service accepts for this source (%s)", mode, strings.Join(enum, ", ")))
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
	if res.Report != nil && (res.Report.Verdict == preflight.Fail || res.Status != "dry-run") {
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
	case "created", "reused", "verify-failed", "exists":
		fmt.Fprintf(&b, "connection %q (%s)\n  id:    %s\n  etag:  %s\n", res.Name, res.Status, res.ID, res.Etag)
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

// requireReachableFromAEP fails the address stage of a pre-flight whose
// address AEP cannot reach: check only warns, since the local network may
// reach it, but connect registers the database for Adobe's network.
// --allow-private-address makes the pre-flight pass the stage instead.
func requireReachableFromAEP(rep *preflight.Report) {
	r := rep.Check(preflight.StageAddress)
	if r == nil || r.Status != preflight.Warn {
		return
	}
	if d, ok := r.Details.(*preflight.AddressDetails); !ok || d.ReachableFromAEP {
		return
	}
	r.Status = preflight.Fail
	r.Remediation += "; for a local test against the emulator, pass --allow-private-address"
	rep.Verdict = preflight.Fail
}
