package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/internal/printable"
)

// ConnectionsUpdateCmd changes a stored base connection, after the same gate
// as connect: the new password after a rotation, a moved database.
type ConnectionsUpdateCmd struct {
	Target
	Input
	UpdateFields `embed:""`
	GateFlags    `embed:""`

	AllowPrivateAddress bool       `name:"allow-private-address" help:"Accept a private, loopback or link-local database address (for the emulator and demos: AEP itself can never reach one)."`
	DryRun              bool       `name:"dry-run" help:"Run the gate, then print the PATCH request instead of sending it (secrets masked)."`
	Curl                bool       `help:"With --dry-run, print the request as a curl command."`
	NoVerify            bool       `name:"no-verify" help:"Skip Adobe's test and explore of the updated connection."`
	Output              string     `short:"o" enum:"text,json" default:"text" help:"Output format: text or json."`
	Adobe               AdobeFlags `embed:"" prefix:""`
}

// UpdateFields change single fields of a stored connection; what is not
// given stays as stored. The password is always needed: Flow Service masks
// the stored one, and an update replaces every param.
type UpdateFields struct {
	Server        string `help:"New database host name or address."`
	Port          int    `help:"New TCP port (1-65535)."`
	Database      string `help:"New database name."`
	User          string `help:"New user name."`
	SSLMode       string `name:"ssl-mode" help:"New sslMode, in any spelling (disable … verify-full)."`
	PasswordFlags `embed:""`
}

func (f *UpdateFields) given() bool {
	return f.Server != "" || f.Port != 0 || f.Database != "" || f.User != "" || f.SSLMode != ""
}

// Help is shown by flowpg connections update --help.
func (ConnectionsUpdateCmd) Help() string {
	return `Changes a base connection: the new password after a rotation, or a moved
database. The new connection comes as a whole connection string (argument,
- for standard input, or $FLOWPG_CONNECTION_STRING), or as single fields
(--server, --port, --database, --user, --ssl-mode) over what is stored. The
password is always needed (--password-stdin, --password-file,
$FLOWPG_PASSWORD, or in the string): Flow Service masks the stored one, and an
update replaces every param.

Then, in order: it shows what changes (the password as "changed", never its
value); it runs the same gate as connect, in the sslMode Adobe will dial (on
failure nothing is sent, exit 1); it sends PATCH /connections/{id} replacing
/auth/params, with If-Match set to the etag exactly as Flow Service gave it;
when that etag is stale it reads the connection again, and sends the update
once more only if what the connection registers did not change meanwhile
(else it shows the new differences and stops: it never overwrites blindly);
finally it asks Adobe to test and explore the result.

Examples:
  printf %s "$NEW_PW" | flowpg connections update sales-pg --password-stdin
  echo "$NEW_CONN" | flowpg connections update sales-pg -
  flowpg connections update sales-pg --server db2.example.com --password-file pw.txt --dry-run --curl

Exit codes: 0 updated and verified, 1 the gate, a conflict, Adobe's
verification or an API call failed (or no such connection), 2 invalid input.`
}

// Validate refuses flags that cannot work, before any work.
func (c *ConnectionsUpdateCmd) Validate() error {
	if err := c.Target.Validate(); err != nil {
		return err
	}
	if err := c.GateFlags.validate(); err != nil {
		return err
	}
	return checkCurl(c.Curl, c.DryRun)
}

// Run updates, after the same gate as connect, and renders the result
// once, whichever step ends the run.
func (c *ConnectionsUpdateCmd) Run(ctx context.Context, g *Globals, streams *IO, session *Session) error {
	client, err := c.Adobe.client(ctx, streams)
	if err != nil {
		return invalid(err)
	}
	stored, err := c.find(ctx, client)
	if err != nil {
		return apiError(streams, c.Output, "looking the connection up", err)
	}
	conn, warns, err := c.newConn(streams, *stored)
	if err != nil {
		return err
	}
	if err := conn.Validate(); err != nil {
		return invalid(err)
	}
	p := &pipeline{streams: streams, g: g, session: session, client: client,
		out: &resultOutput{Format: c.Output, Curl: c.Curl, DiffShown: true},
		res: &connectResult{Name: stored.Name, ID: stored.ID, Etag: stored.Etag, SpecName: stored.Auth.SpecName, Warnings: warns}}
	return p.render(c.update(ctx, p, conn, warns, *stored))
}

// update runs the steps after the input rules, filling p's result.
func (c *ConnectionsUpdateCmd) update(ctx context.Context, p *pipeline, conn connstr.Conn, warns []connstr.Warning, stored flowclient.Connection) error {
	res := p.res
	reg, err := registerFor(ctx, p.client, conn, stored.Auth.SpecName, connstr.VocabularyOf(connstr.StyleTutorial), "the API tutorial's list")
	if err != nil {
		var ae *flowclient.APIError
		if errors.As(err, &ae) || flowclient.IsRetryable(err) {
			return p.apiFailed("reading the connection spec", err)
		}
		return invalid(err)
	}
	res.Registration = reg.info()
	res.Warnings = mergeWarnings(res.Warnings, reg.Warnings)
	res.Differences = updateDiff(reg, stored)
	if c.Output != "json" {
		// The differences come first, so the gate's report streams under them.
		writeUpdateHeader(p.streams.Stdout, stored, res.Differences)
	}
	if err := p.gate(ctx, &c.GateFlags, conn, reg, warns, c.AllowPrivateAddress, "nothing was sent to Adobe: the connection is unchanged"); err != nil {
		return err
	}
	if c.DryRun {
		preview, err := p.client.PreviewUpdate(stored.ID, stored.Etag, []flowclient.PatchOp{flowclient.ReplaceParams(reg.Params)})
		if err != nil {
			return failed(err)
		}
		res.Status, res.Request = "dry-run", &preview
		return nil
	}
	if err := p.update(ctx, reg, stored); err != nil {
		return err
	}
	region, _ := c.region() // checked by Validate
	return p.verify(ctx, verification{skip: c.NoVerify, mode: reg.Mode, region: region})
}

// newConn is the connection to register: a whole new string, or the stored
// fields with the flags' changes. Either way the password comes from the
// caller.
func (c *ConnectionsUpdateCmd) newConn(streams *IO, stored flowclient.Connection) (connstr.Conn, []connstr.Warning, error) {
	if c.Input.given(streams) && !c.UpdateFields.given() {
		if err := c.checkStdin(c.Input); err != nil {
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
		more, err := c.fill(streams, &conn)
		if err != nil {
			return connstr.Conn{}, nil, invalid(err)
		}
		return conn, append(p.Warnings, more...), nil
	}
	if c.Input.String != "" {
		return connstr.Conn{}, nil, invalid(errors.New("give either a whole connection string or single fields (--server, --port, …), not both"))
	}
	if stored.Auth.SpecName != connstr.BasicAuthSpecName {
		return connstr.Conn{}, nil, invalid(fmt.Errorf("%q is registered with %s, which Flow Service masks whole: give the whole new connection string", stored.Name, stored.Auth.SpecName))
	}
	conn, ok := registeredFields(stored.Auth.SpecName, stored.Auth.Params)
	if !ok {
		return connstr.Conn{}, nil, invalid(fmt.Errorf("the stored params of %q cannot be read (sslMode %q): give the whole new connection string", stored.Name, stored.Auth.Params["sslMode"]))
	}
	f := c.UpdateFields
	if f.Server != "" {
		conn.Server = f.Server
	}
	if f.Port != 0 {
		if f.Port < 1 || f.Port > 65535 {
			return connstr.Conn{}, nil, invalid(fmt.Errorf("--port %d is out of range 1-65535", f.Port))
		}
		conn.Port = f.Port
	}
	if f.Database != "" {
		conn.Database = f.Database
	}
	if f.User != "" {
		conn.User = f.User
	}
	var warns []connstr.Warning
	if f.SSLMode != "" {
		m, err := connstr.ParseSSLMode(f.SSLMode)
		if err != nil {
			return connstr.Conn{}, nil, invalid(fmt.Errorf("--ssl-mode: %w", err))
		}
		warns = conn.SetSSLMode(m)
	}
	pw, more, err := c.password(streams)
	if err != nil {
		return connstr.Conn{}, nil, invalid(err)
	}
	conn.Password = pw
	return conn, append(warns, more...), nil
}

// updateDiff is what an update changes: the registered fields that differ,
// and the password, whose stored value Flow Service masks.
func updateDiff(reg registration, stored flowclient.Connection) []fieldDiff {
	diffs, _ := compareStored(reg, stored)
	return append(diffs, fieldDiff{Field: "password", Stored: connstr.Redacted, ThisRun: "changed"})
}

// writeUpdateHeader shows, before the gate runs, what the update changes.
func writeUpdateHeader(w io.Writer, stored flowclient.Connection, diffs []fieldDiff) {
	var b strings.Builder
	fmt.Fprintf(&b, "Updating connection %q (id %s, etag %s)\n", stored.Name, printable.Line(stored.ID), printable.Line(stored.Etag))
	writeDiffs(&b, diffs)
	b.WriteString("\n")
	_, _ = io.WriteString(w, b.String())
}

// applyUpdate sends reg's params to the stored connection with If-Match set
// to its etag. On a stale etag it reads the connection again: when what the
// connection registers did not change meanwhile (only its etag did), the
// update is sent once more with the new etag; otherwise nothing is
// overwritten, res becomes a conflict showing the new differences, and the
// stale error is returned.
//
// When the update's outcome is unknown (its reply was lost), the connection
// is read again with a fresh, short deadline: an etag that changed means it
// was changed, most likely by this update; res says which it is, as far as
// can be told, and the error is returned.
func applyUpdate(ctx context.Context, session *Session, client *flowclient.Client, reg registration, stored flowclient.Connection, res *connectResult) error {
	ops := []flowclient.PatchOp{flowclient.ReplaceParams(reg.Params)}
	up, err := client.UpdateConnection(ctx, stored.ID, stored.Etag, ops)
	if err != nil && flowclient.OutcomeUnknown(err) {
		settleUpdate(ctx, session, client, stored, res, err)
		return err
	}
	if flowclient.IsStaleEtag(err) {
		now, gerr := client.GetConnection(ctx, stored.ID)
		if gerr != nil {
			return gerr
		}
		if !sameRegistration(stored, now) {
			res.Status, res.Etag = "conflict", now.Etag
			res.Differences = updateDiff(reg, now)
			res.Message = fmt.Sprintf("the connection changed since it was read (etag %s, now %s) and registers something else now; nothing was overwritten. The differences above are between it now and this update: run the update again to apply it to the new state", stored.Etag, now.Etag)
			return err
		}
		res.Message = fmt.Sprintf("the connection's etag changed since it was read (%s, now %s) but not what it registers, so the update was sent once more with the new etag", stored.Etag, now.Etag)
		up, err = client.UpdateConnection(ctx, now.ID, now.Etag, ops)
	}
	if err != nil {
		return err
	}
	res.Status, res.ID, res.Etag = "updated", up.ID, up.Etag
	return nil
}

// settleUpdate says what became of an update whose reply was lost, in
// res.Outcome: not-updated (the etag is the one read), changed (it is not:
// most likely this update), or unknown (reading it again failed too).
func settleUpdate(ctx context.Context, session *Session, client *flowclient.Client, stored flowclient.Connection, res *connectResult, updateErr error) {
	lctx, cancel := session.cleanupContext()
	defer cancel()
	info := describeAPIFailure("updating the connection", updateErr)
	res.Status, res.APIError = "api-error", info.APIError
	if ctx.Err() != nil {
		res.Status, res.APIError = "interrupted", nil
	}
	now, err := client.GetConnection(lctx, stored.ID)
	switch {
	case err != nil:
		res.Outcome = "unknown"
		res.Message = fmt.Sprintf("%s; the update may have reached Flow Service, and reading the connection again failed too (%v): see what it holds with: flowpg connections show %s",
			info.Message, err, stored.ID)
	case now.Etag == stored.Etag:
		res.Outcome = "not-updated"
		res.Message = fmt.Sprintf("%s; the update did not reach Flow Service: the connection is unchanged (etag %s)", info.Message, now.Etag)
	default:
		res.Outcome, res.Etag = "changed", now.Etag
		res.Message = fmt.Sprintf("%s; the reply was lost, and the connection changed since it was read (etag %s, now %s), most likely by this update: verify it with: flowpg connections test %s",
			info.Message, stored.Etag, now.Etag, stored.ID)
	}
}

// sameRegistration reports whether two reads of a connection register the
// same thing, as far as Flow Service lets it be read: auth spec, server,
// port, database, username and sslMode. A masked connection string cannot be
// compared, and so is never the same.
func sameRegistration(a, b flowclient.Connection) bool {
	if a.Auth.SpecName != b.Auth.SpecName {
		return false
	}
	ca, ok1 := registeredFields(a.Auth.SpecName, a.Auth.Params)
	cb, ok2 := registeredFields(b.Auth.SpecName, b.Auth.Params)
	if !ok1 || !ok2 {
		return false
	}
	ma, _ := ca.SSLMode()
	mb, _ := cb.SSLMode()
	return strings.EqualFold(ca.Server, cb.Server) && ca.PortOrDefault() == cb.PortOrDefault() &&
		ca.Database == cb.Database && ca.User == cb.User && ma == mb
}

// registerFor resolves what conn registers with auth spec spec: with basic
// auth, in the live connection spec's sslMode vocabulary (fallback when it
// lists none).
func registerFor(ctx context.Context, client *flowclient.Client, conn connstr.Conn, spec string, fallback connstr.Vocabulary, fallbackSource string) (registration, error) {
	vocab, source := fallback, fallbackSource
	if client != nil && spec == connstr.BasicAuthSpecName {
		var err error
		if vocab, source, err = liveVocabulary(ctx, client, fallback, fallbackSource); err != nil {
			return registration{}, err
		}
	}
	return newRegistration(conn, spec, vocab, source)
}
