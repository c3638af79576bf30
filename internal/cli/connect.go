package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
)

// ConnectCmd registers a PostgreSQL base connection with Flow Service, only
// after the pre-flight passes, and then verifies it from Adobe's side.
type ConnectCmd struct {
	Input
	Fields        `embed:""`
	GateFlags     `embed:""`
	RegisterFlags `embed:""`

	Name                string `required:"" help:"Name of the base connection in AEP."`
	Description         string `help:"Description of the base connection."`
	Cloud               string `default:"azure" enum:"azure,aws" help:"Cloud your AEP organization runs on: azure or aws (aws takes basic auth only)."`
	DryRun              bool   `name:"dry-run" help:"Parse, run the pre-flight and look the name up, then print the pre-flight and the request instead of sending it (secrets masked)."`
	Curl                bool   `help:"With --dry-run, print the request as a curl command."`
	IfExists            string `name:"if-exists" default:"fail" enum:"fail,reuse,update" help:"When a connection of that name exists: fail; reuse it if it registers the same server, port, database, user, sslMode and auth spec (verify it, create nothing); or update it to this connection (PATCH, as connections update does)."`
	NoVerify            bool   `name:"no-verify" help:"Skip Adobe's test and explore of the new connection."`
	KeepOnVerifyFailure bool   `name:"keep-on-verify-failure" help:"Keep the new connection when Adobe's verification fails (it is deleted by default)."`
	AllowPrivateAddress bool   `name:"allow-private-address" help:"Accept a private, loopback or link-local database address (for the emulator and demos: AEP itself can never reach one)."`
	Output              string `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`

	Adobe AdobeFlags `embed:"" prefix:""`
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

The password is in the string, or, when the string holds none, from
--password-stdin, --password-file or $FLOWPG_PASSWORD, as with the fields.

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

// Validate refuses flags that cannot work together, before any work.
func (c *ConnectCmd) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("--name must not be empty: it names the connection in AEP")
	}
	// A line break or an escape in a name is a quoting slip in a script,
	// never a name anyone can find again in AEP's UI.
	if i := strings.IndexFunc(c.Name, unicode.IsControl); i >= 0 {
		return fmt.Errorf("--name holds a control character at byte %d (a line break, a tab or an escape): give the name on one line", i)
	}
	if err := c.GateFlags.validate(); err != nil {
		return err
	}
	if c.Cloud == "aws" && c.specName() != connstr.BasicAuthSpecName {
		return errors.New("AEP on AWS documents basic authentication only: use --auth basic (the default)")
	}
	return checkCurl(c.Curl, c.DryRun)
}

// checkCurl refuses --curl without --dry-run: the curl command is a dry
// run's way of showing the request, and a real run sends it.
func checkCurl(curl, dryRun bool) error {
	if curl && !dryRun {
		return errors.New("--curl prints the request instead of sending it: add --dry-run")
	}
	return nil
}

// Run carries out the steps in the order Help describes, and renders the
// result once, whichever step ends the run.
func (c *ConnectCmd) Run(ctx context.Context, g *Globals, streams *IO, session *Session) error {
	// 1. Parse, and the input rules: nothing is dialed or sent before them.
	conn, warns, err := c.conn(streams)
	if err != nil {
		return err
	}
	if err := conn.Validate(); err != nil {
		return invalid(err)
	}
	// Missing Adobe settings are input errors too. Building the client sends
	// nothing (tokens are fetched on first use).
	client, credsErr := c.Adobe.client(ctx, streams)
	if credsErr != nil && !(c.DryRun && errors.Is(credsErr, errNoCredentials)) {
		return invalid(credsErr)
	}
	p := &pipeline{streams: streams, g: g, session: session, client: client, out: &resultOutput{Format: c.Output, Curl: c.Curl},
		res: &connectResult{Name: c.Name, SpecName: c.specName(), Warnings: warns}}
	return p.render(c.register(ctx, p, conn, warns, credsErr))
}

// register runs the steps after the input rules, filling p's result.
func (c *ConnectCmd) register(ctx context.Context, p *pipeline, conn connstr.Conn, warns []connstr.Warning, credsErr error) error {
	// 2. What will be registered.
	reg, err := c.resolve(ctx, p, conn, credsErr)
	if err != nil {
		return err
	}
	// 3. The gate.
	if err := p.gate(ctx, &c.GateFlags, conn, reg, warns, c.AllowPrivateAddress, "nothing was sent to Adobe"); err != nil {
		return err
	}
	// 4. An existing connection of that name.
	existing, err := c.lookup(ctx, p, reg, credsErr)
	if err != nil {
		return err
	}
	if c.DryRun {
		return c.dryRun(p, reg, credsErr, existing)
	}
	// 5. Create, reuse or update.
	if err := c.write(ctx, p, reg, existing); err != nil {
		return err
	}
	// 6. Verify from Adobe's side.
	region, _ := c.region() // checked by Validate
	return p.verify(ctx, verification{skip: c.NoVerify, rollback: !c.KeepOnVerifyFailure, mode: reg.Mode, region: region})
}

// resolve works out exactly what will be registered. With basic auth the
// live connection spec decides the sslMode values, and so the mode Adobe
// will dial in: it is read first (a GET that carries no database
// credential).
func (c *ConnectCmd) resolve(ctx context.Context, p *pipeline, conn connstr.Conn, credsErr error) (registration, error) {
	spec := c.specName()
	vocab, source, err := c.offlineVocabulary()
	if err != nil {
		return registration{}, invalid(err)
	}
	if credsErr == nil && spec == connstr.BasicAuthSpecName {
		if vocab, source, err = liveVocabulary(ctx, p.client, vocab, source); err != nil {
			return registration{}, p.apiFailed("reading the connection spec", err)
		}
	}
	reg, err := newRegistration(conn, spec, vocab, source)
	if err != nil {
		return registration{}, invalid(err)
	}
	p.res.Registration = reg.info()
	p.res.Warnings = mergeWarnings(p.res.Warnings, reg.Warnings)
	return reg, nil
}

// lookup finds a connection of the same name, and what it registers
// otherwise; nil when none exists, or when there are no credentials to ask
// with (a dry run).
func (c *ConnectCmd) lookup(ctx context.Context, p *pipeline, reg registration, credsErr error) (*flowclient.Connection, error) {
	if credsErr != nil {
		return nil, nil
	}
	existing, err := p.client.FindConnectionByName(ctx, c.Name, flowclient.PostgreSQLSpecID)
	if err != nil {
		return nil, p.apiFailed("looking the name up", err)
	}
	if existing == nil {
		return nil, nil
	}
	res := p.res
	res.ID, res.Etag = existing.ID, existing.Etag
	if c.IfExists == "update" {
		res.Differences = updateDiff(reg, *existing)
	} else {
		res.Differences, res.NotCompared = compareStored(reg, *existing)
	}
	return existing, nil
}

// write creates the connection, or does what --if-exists says with the one
// that exists.
func (c *ConnectCmd) write(ctx context.Context, p *pipeline, reg registration, existing *flowclient.Connection) error {
	res := p.res
	switch {
	case existing == nil:
		return c.create(ctx, p, reg)
	case c.IfExists == "update":
		return p.update(ctx, reg, *existing)
	case c.IfExists == "fail":
		res.Status = "exists"
		res.Message = fmt.Sprintf("a connection named %q already exists (id %s); use --if-exists reuse to verify and keep it, or choose another --name", c.Name, existing.ID)
		return errResultFailed
	case len(res.Differences) > 0:
		res.Status = "exists-differs"
		res.Message = fmt.Sprintf("a connection named %q already exists (id %s) but registers something else, so it is not reused; choose another --name, or delete or update it", c.Name, existing.ID)
		return errResultFailed
	}
	res.Status = "reused"
	return nil
}

// body is the create request for reg.
func (c *ConnectCmd) body(reg registration) flowclient.Connection {
	return flowclient.Connection{
		Name:           c.Name,
		Description:    c.Description,
		Auth:           flowclient.Auth{SpecName: reg.SpecName, Params: reg.Params},
		ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: flowclient.PostgreSQLSpecVersion},
	}
}

// create creates the connection. A create whose reply was lost is settled
// before anything is said.
func (c *ConnectCmd) create(ctx context.Context, p *pipeline, reg registration) error {
	created, err := p.client.CreateConnection(ctx, c.body(reg))
	switch {
	case err != nil && flowclient.OutcomeUnknown(err):
		if !c.settleCreate(ctx, p, err) {
			return errResultFailed
		}
	case err != nil:
		return p.apiFailed("creating the connection", err)
	default:
		p.res.Status, p.res.ID, p.res.Etag = "created", created.ID, created.Etag
	}
	return nil
}

// settleCreate resolves a create whose outcome is unknown (the reply was
// lost: a timeout, a reset, an interrupt) by looking the name up, with a
// fresh, short deadline that an interrupt does not end. It reports whether
// the connection exists, filling the result either way: found, it
// continues as created; not found, nothing was created; the look-up failing
// too, the connection may exist, and the result says how to see. Outcome
// records which.
func (c *ConnectCmd) settleCreate(ctx context.Context, p *pipeline, createErr error) bool {
	res := p.res
	lctx, cancel := p.session.cleanupContext()
	defer cancel()
	found, err := p.client.FindConnectionByName(lctx, c.Name, flowclient.PostgreSQLSpecID)
	if found != nil {
		res.Status, res.ID, res.Etag, res.Outcome = "created", found.ID, found.Etag, "created"
		res.Message = fmt.Sprintf("the create's reply was lost (%v), but the connection was found by name: it was created", createErr)
		return true
	}
	info := describeAPIFailure("creating the connection", createErr)
	res.Status, res.APIError = "api-error", info.APIError
	if ctx.Err() != nil {
		res.Status, res.APIError = "interrupted", nil
	}
	if err != nil {
		res.Outcome = "may-exist"
		res.Message = fmt.Sprintf("%s; the create may have reached Flow Service, and looking the name up failed too (%v): connection %q may exist; see with: flowpg connections show %s",
			info.Message, err, c.Name, shellWord(c.Name))
		return false
	}
	res.Outcome = "not-created"
	res.Message = fmt.Sprintf("%s; no connection named %q exists: nothing was created", info.Message, c.Name)
	return false
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
func (c *ConnectCmd) dryRun(p *pipeline, reg registration, credsErr error, existing *flowclient.Connection) error {
	client := p.client
	if client == nil {
		var err error
		if client, err = c.Adobe.placeholderClient(p.streams); err != nil {
			return invalid(err)
		}
	}
	preview, err := client.PreviewCreate(c.body(reg))
	if existing != nil && c.IfExists == "update" {
		preview, err = client.PreviewUpdate(existing.ID, existing.Etag, []flowclient.PatchOp{flowclient.ReplaceParams(reg.Params)})
	}
	if err != nil {
		return failed(err)
	}
	res := p.res
	res.Status, res.Request = "dry-run", &preview
	switch {
	case credsErr != nil:
		res.Message = "no Adobe credentials in the environment, so the name was not looked up and the sslMode vocabulary is " + res.Registration.Vocabulary + " (" + credsErr.Error() + ")"
	case existing != nil && c.IfExists == "update":
		res.Message = fmt.Sprintf("a connection named %q already exists (id %s): the real run would update it with the request above", c.Name, existing.ID)
	case existing != nil && c.IfExists == "fail":
		res.Message = fmt.Sprintf("a connection named %q already exists (id %s): the real run would stop (--if-exists fail)", c.Name, existing.ID)
	case existing != nil && len(res.Differences) > 0:
		res.Message = fmt.Sprintf("a connection named %q already exists (id %s) and registers something else: the real run would stop", c.Name, existing.ID)
	case existing != nil:
		res.Message = fmt.Sprintf("a connection named %q already exists (id %s): the real run would reuse and verify it", c.Name, existing.ID)
	}
	return nil
}

// conn reads the connection from the fields or from the string argument.
func (c *ConnectCmd) conn(streams *IO) (connstr.Conn, []connstr.Warning, error) {
	if c.Fields.given() {
		if c.Input.String != "" {
			return connstr.Conn{}, nil, invalid(errors.New("pass either a connection string or --server and its fields, not both"))
		}
		conn, warns, err := c.Fields.conn(streams)
		if err != nil {
			return connstr.Conn{}, nil, invalid(err)
		}
		return conn, warns, nil
	}
	if err := c.Fields.PasswordFlags.checkStdin(c.Input); err != nil {
		return connstr.Conn{}, nil, invalid(err)
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
	conn := p.Conn
	more, err := c.Fields.PasswordFlags.fill(streams, &conn)
	if err != nil {
		return connstr.Conn{}, nil, invalid(err)
	}
	return conn, append(p.Warnings, more...), nil
}
