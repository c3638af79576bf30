package flowclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/flowpg/flowpg/connstr"
)

// The PostgreSQL source as Adobe's Flow Service API reference and its
// PostgreSQL tutorial document it: one connection spec, always sent with its
// version. They are Adobe catalog facts, listed here so callers need not
// repeat them. The source's two auth spec names are defined once, in
// connstr beside the params they take: connstr.BasicAuthSpecName and
// connstr.ConnectionStringSpecName.
const (
	// PostgreSQLSpecID is the connection spec id of AEP's PostgreSQL source.
	PostgreSQLSpecID = "74a1c565-4e59-48d7-9d67-7c03b8a13137"
	// PostgreSQLSpecVersion is the connection spec version to send.
	PostgreSQLSpecVersion = "1.0"
)

// Connection is a Flow Service base connection.
//
// Only Name, Description, Auth and ConnectionSpec are sent by
// CreateConnection; the other fields are filled in by Flow Service.
type Connection struct {
	// ID is Flow Service's id for the connection, a UUID.
	ID string `json:"id,omitempty"`
	// Name is required on create. The API reference does not say that
	// names are unique; CreateConnection relies on it when it recovers a
	// lost reply, so check first with FindConnectionByName.
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Auth is the auth spec and its params; secret params come back masked.
	Auth Auth `json:"auth,omitzero"`
	// ConnectionSpec names the source, such as PostgreSQLSpecID at
	// PostgreSQLSpecVersion.
	ConnectionSpec SpecRef `json:"connectionSpec,omitzero"`
	// State is "enabled" or "disabled".
	State string `json:"state,omitempty"`
	// Etag is the entity tag, quotes included (`"6802064a-…"`). Send it back
	// as received, in If-Match.
	Etag string `json:"etag,omitempty"`
	// Version is Flow Service's copy of the etag.
	Version string `json:"version,omitempty"`
	// CreatedAt and UpdatedAt are Unix epoch milliseconds.
	CreatedAt int64 `json:"createdAt,omitempty"`
	UpdatedAt int64 `json:"updatedAt,omitempty"`
	// CreatedBy and UpdatedBy are the Adobe IDs that created and last
	// changed the connection; CreatedClient and UpdatedClient, the client
	// ids (API keys) they used.
	CreatedBy     string `json:"createdBy,omitempty"`
	UpdatedBy     string `json:"updatedBy,omitempty"`
	CreatedClient string `json:"createdClient,omitempty"`
	UpdatedClient string `json:"updatedClient,omitempty"`
	// SandboxID, SandboxName and IMSOrgID say where the connection lives:
	// its sandbox and organization.
	SandboxID   string `json:"sandboxId,omitempty"`
	SandboxName string `json:"sandboxName,omitempty"`
	IMSOrgID    string `json:"imsOrgId,omitempty"`
}

// Auth is a connection's authentication: which of the connection spec's auth
// specs it uses, and that spec's parameters.
type Auth struct {
	// SpecName must match an auth spec name exactly, such as
	// connstr.BasicAuthSpecName.
	SpecName string `json:"specName"`
	// Params are the auth spec's params, every one a string.
	Params Params `json:"params,omitempty"`
}

// Params are auth parameters. They are strings on the wire: AEP's PostgreSQL
// auth specs take only string parameters (port included: "5432", never 5432),
// and a string map makes sending anything else impossible. When decoding,
// a number or boolean is kept as its JSON text and null as "", so that a
// reply with other types still decodes. Flow Service returns secret
// parameters masked.
type Params map[string]string

// UnmarshalJSON decodes an object of scalars leniently (see Params).
func (p *Params) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*p = nil
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := make(Params, len(raw))
	for k, v := range raw {
		if t := bytes.TrimSpace(v); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			out[k] = string(t) // not expected; kept rather than lost
			continue
		}
		out[k] = scalarText(v)
	}
	*p = out
	return nil
}

// SpecRef names a connection spec and its version.
type SpecRef struct {
	// ID is the connection spec's id, such as PostgreSQLSpecID.
	ID string `json:"id"`
	// Version is the spec's version, such as PostgreSQLSpecVersion. Flow
	// Service wants it on create.
	Version string `json:"version,omitempty"`
}

// Created is the reply to CreateConnection.
type Created struct {
	// ID is the new connection's id.
	ID string `json:"id"`
	// Etag keeps its quotes, as Flow Service sent it.
	Etag string `json:"etag"`
	// Recovered is true when the create request's outcome was unknown (a lost
	// reply or a 5xx) and the connection was then found by name rather than
	// created again.
	Recovered bool `json:"-"`
}

// itemsReply is Flow Service's envelope for GET by id and for lists.
type itemsReply[T any] struct {
	Items []T `json:"items"`
	Links struct {
		Next struct {
			Href string `json:"href"`
		} `json:"next"`
	} `json:"_links"`
	ContinuationToken string `json:"continuationToken"`
}

// nextToken returns the continuation token of a list page: from
// _links.next.href's continuationToken parameter (the documented place) or,
// failing that, from a top-level continuationToken field.
func (r *itemsReply[T]) nextToken() string {
	if href := r.Links.Next.Href; href != "" {
		if u, err := url.Parse(href); err == nil {
			if t := u.Query().Get("continuationToken"); t != "" {
				return t
			}
		}
	}
	return r.ContinuationToken
}

func connectionPath(id string) (string, error) {
	if strings.TrimSpace(id) == "" {
		return "", errors.New("flowclient: empty connection id")
	}
	return "/connections/" + url.PathEscape(id), nil
}

// createBody is the body of POST /connections: only the fields a caller sets.
type createBody struct {
	Name           string  `json:"name"`
	Description    string  `json:"description,omitempty"`
	Auth           Auth    `json:"auth"`
	ConnectionSpec SpecRef `json:"connectionSpec"`
}

// createRequest is the body CreateConnection sends for conn.
func createRequest(conn Connection) createBody {
	return createBody{conn.Name, conn.Description, conn.Auth, conn.ConnectionSpec}
}

// CreateConnection creates a base connection: POST /connections with name,
// description, auth and connectionSpec. Flow Service answers 201 with the new
// id and etag.
//
// The request is not idempotent, so retries are careful. A 429 is retried as
// is (the request was refused), and so is a 401 once, with a new token, when
// the token source can renew it (the gateway refused the request). After a
// transport failure or a 5xx, when the connection may or may not exist,
// FindConnectionByName looks for it first; if found, it is returned with
// Recovered set instead of being created twice. A 2xx reply that cannot be
// read is resolved the same way. This relies on the name being unique for
// the spec, which callers should check (with FindConnectionByName) before
// creating.
//
// When ctx ends while the outcome is unknown (the create was sent and no
// reply came), nothing is looked up with the dead context: the error
// returned is one for which OutcomeUnknown is true, and the caller should
// look the name up with a fresh one. OutcomeUnknown is also true when the
// retries ran out before the look-up could tell.
//
// Auth params that look secret (password, connectionString, …) are redacted
// from any error returned.
func (c *Client) CreateConnection(ctx context.Context, conn Connection) (Created, error) {
	if strings.TrimSpace(conn.Name) == "" {
		return Created{}, errors.New("flowclient: create connection: name is empty")
	}
	if conn.ConnectionSpec.ID == "" {
		return Created{}, errors.New("flowclient: create connection: connection spec id is empty")
	}
	body := createRequest(conn)
	secrets := secretValues(conn.Auth.Params)

	var created Created
	unknown := false
	err := c.withRetry(ctx, func() error {
		if unknown {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("flowclient: create connection: the outcome is unknown, and %w before the name could be looked up", err)
			}
			found, err := c.findConnection(ctx, conn.Name, conn.ConnectionSpec.ID, false)
			if err != nil {
				return err
			}
			if found != nil {
				created = Created{ID: found.ID, Etag: found.Etag, Recovered: true}
				return nil
			}
		}
		err := c.once(ctx, http.MethodPost, "/connections", nil, body, &created, nil)
		unknown = unknown || outcomeUnknown(err)
		return err
	})
	var re *ReplyError
	if errors.As(err, &re) || (err == nil && created.ID == "") {
		// Created, but the reply says not what: find out by name.
		unknown = true
		if ctx.Err() == nil {
			if found, ferr := c.FindConnectionByName(ctx, conn.Name, conn.ConnectionSpec.ID); ferr == nil && found != nil {
				return Created{ID: found.ID, Etag: found.Etag, Recovered: true}, nil
			}
		}
		if err == nil {
			err = errors.New("flowclient: create connection: reply has no id")
		}
	}
	if err != nil {
		return Created{}, &outcomeError{err: redactError(err, secrets), unknown: unknown}
	}
	return created, nil
}

// GetConnection returns one connection: GET /connections/{id}, unwrapping
// the {"items": […]} envelope. A missing connection is an *APIError for
// which IsNotFound is true.
func (c *Client) GetConnection(ctx context.Context, id string) (Connection, error) {
	path, err := connectionPath(id)
	if err != nil {
		return Connection{}, err
	}
	var reply itemsReply[Connection]
	if err := c.call(ctx, http.MethodGet, path, nil, nil, &reply); err != nil {
		return Connection{}, err
	}
	if len(reply.Items) == 0 {
		return Connection{}, fmt.Errorf("flowclient: get connection %s: reply has no items", id)
	}
	return reply.Items[0], nil
}

// ListOptions filters and pages ListConnections.
type ListOptions struct {
	// Property filters, each sent as its own property parameter, such as
	// "name==orders" or "connectionSpec.id==74a1c565-…". All must hold.
	Property []string
	// Limit is the page size; zero lets Flow Service choose.
	Limit int
	// OrderBy sorts, such as "createdAt" or "-name".
	OrderBy string
}

// maxPages stops a server that keeps handing out continuation tokens.
const maxPages = 1000

// ListConnections returns every connection matching opts: GET /connections,
// following continuation tokens until the last page.
func (c *Client) ListConnections(ctx context.Context, opts ListOptions) ([]Connection, error) {
	return c.listConnections(ctx, opts, true)
}

func (c *Client) listConnections(ctx context.Context, opts ListOptions, retry bool) ([]Connection, error) {
	q := url.Values{}
	for _, p := range opts.Property {
		q.Add("property", p)
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.OrderBy != "" {
		q.Set("orderby", opts.OrderBy)
	}
	var all []Connection
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page >= maxPages {
			return nil, fmt.Errorf("flowclient: list connections: more than %d pages", maxPages)
		}
		var reply itemsReply[Connection]
		var err error
		if retry {
			err = c.call(ctx, http.MethodGet, "/connections", q, nil, &reply)
		} else {
			err = c.once(ctx, http.MethodGet, "/connections", q, nil, &reply, nil)
		}
		if err != nil {
			return nil, err
		}
		all = append(all, reply.Items...)
		tok := reply.nextToken()
		if tok == "" {
			return all, nil
		}
		if seen[tok] {
			return nil, errors.New("flowclient: list connections: continuation token repeated")
		}
		seen[tok] = true
		q.Set("continuationToken", tok)
	}
}

// FindConnectionByName returns the connection named name for connection spec
// specID (GET /connections?property=name==…&property=connectionSpec.id==…),
// or nil and no error when there is none. When several match, the most
// recently created wins.
func (c *Client) FindConnectionByName(ctx context.Context, name, specID string) (*Connection, error) {
	return c.findConnection(ctx, name, specID, true)
}

func (c *Client) findConnection(ctx context.Context, name, specID string, retry bool) (*Connection, error) {
	if name == "" {
		return nil, errors.New("flowclient: find connection: name is empty")
	}
	opts := ListOptions{Property: []string{"name==" + name}}
	if specID != "" {
		opts.Property = append(opts.Property, "connectionSpec.id=="+specID)
	}
	list, err := c.listConnections(ctx, opts, retry)
	if err != nil {
		return nil, err
	}
	var best *Connection
	for i := range list {
		// The server filters; checking again costs nothing and guards against
		// a filter it ignored.
		if list[i].Name != name || (specID != "" && list[i].ConnectionSpec.ID != specID) {
			continue
		}
		if best == nil || list[i].CreatedAt > best.CreatedAt {
			best = &list[i]
		}
	}
	return best, nil
}

// DeleteConnection deletes a connection: DELETE /connections/{id}, 204.
// A 404 on a retry, after an attempt whose outcome was unknown, means that
// attempt succeeded, and is not an error.
func (c *Client) DeleteConnection(ctx context.Context, id string) error {
	path, err := connectionPath(id)
	if err != nil {
		return err
	}
	unknown := false
	return c.withRetry(ctx, func() error {
		err := c.once(ctx, http.MethodDelete, path, nil, nil, nil, nil)
		if unknown && IsNotFound(err) {
			return nil
		}
		unknown = unknown || outcomeUnknown(err)
		return err
	})
}

// TestResult is Flow Service's verdict on a connection.
type TestResult struct {
	// OK is true when Adobe reached the source and logged in.
	OK bool `json:"ok"`
	// Message is Adobe's explanation of a failure, when it gave one.
	Message string `json:"message,omitempty"`
	// Code and RequestID identify a failure Flow Service answered with an
	// error reply, when it did.
	Code      string `json:"code,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

// TestConnection asks Flow Service to connect to the source from Adobe's side:
// GET /connections/{id}/test. The API reference answers 200 {"result": bool};
// a failed test may also come back as a 400 Flow Service error whose
// detailed-message holds the cause. Both become a TestResult with OK false
// and a nil error; an error is returned only when the test could not be run
// (unknown connection, rejected credentials, outage).
func (c *Client) TestConnection(ctx context.Context, id string) (TestResult, error) {
	path, err := connectionPath(id)
	if err != nil {
		return TestResult{}, err
	}
	var raw json.RawMessage
	err = c.call(ctx, http.MethodGet, path+"/test", nil, nil, &raw)
	if ae, ok := asAPIError(err); ok && (ae.StatusCode == http.StatusBadRequest || ae.StatusCode == http.StatusUnprocessableEntity) {
		msg := ae.Detail
		if msg == "" {
			msg = ae.Title
		}
		return TestResult{OK: false, Message: msg, Code: ae.Code, RequestID: ae.RequestID}, nil
	}
	if err != nil {
		return TestResult{}, err
	}
	return decodeTestResult(raw)
}

// decodeTestResult reads {"result": true}, tolerating a string "true", a bare
// boolean, and a message, detail or error next to the result.
func decodeTestResult(raw json.RawMessage) (TestResult, error) {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return TestResult{OK: b}, nil
	}
	var body struct {
		Result  json.RawMessage `json:"result"`
		Message json.RawMessage `json:"message"`
		Detail  json.RawMessage `json:"detail"`
		Error   json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return TestResult{}, fmt.Errorf("flowclient: test connection: decode reply: %w", err)
	}
	var res TestResult
	switch strings.ToLower(scalarText(body.Result)) {
	case "true":
		res.OK = true
	case "false":
	default:
		return TestResult{}, fmt.Errorf("flowclient: test connection: reply has no boolean result")
	}
	for _, m := range []json.RawMessage{body.Message, body.Detail, body.Error} {
		if res.Message == "" {
			res.Message = scalarText(m)
		}
	}
	return res, nil
}

// ExploreItem is one object found at the root of a source, for PostgreSQL a
// table (Path is "schema.table").
type ExploreItem struct {
	// Type is the object's kind, "table" for a PostgreSQL table.
	Type string `json:"type"`
	// Name is the object's own name, such as "orders".
	Name string `json:"name"`
	// Path locates it in the source, such as "public.orders".
	Path string `json:"path"`
	// CanPreview and CanFetchSchema say whether Flow Service can preview
	// the object's rows and read its schema.
	CanPreview     bool `json:"canPreview"`
	CanFetchSchema bool `json:"canFetchSchema"`
}

// ExploreRoot lists what Adobe sees at the root of the source:
// GET /connections/{id}/explore?objectType=root. The reply is an array; an
// {"items": […]} envelope is accepted too. Success proves that Adobe's
// network reaches the database.
func (c *Client) ExploreRoot(ctx context.Context, id string) ([]ExploreItem, error) {
	path, err := connectionPath(id)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	q := url.Values{"objectType": {"root"}}
	if err := c.call(ctx, http.MethodGet, path+"/explore", q, nil, &raw); err != nil {
		return nil, err
	}
	var items []ExploreItem
	if err := json.Unmarshal(raw, &items); err == nil {
		return items, nil
	}
	var env itemsReply[ExploreItem]
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("flowclient: explore connection %s: decode reply: %w", id, err)
	}
	return env.Items, nil
}

// secretValues lists the values in params that must never be shown: those
// of keys that name a secret (connstr.IsSecretKey, flowpg's one rule), and
// for a connection string the secrets it quotes too (connstr.SecretSpans),
// each also as JSON would escape it.
func secretValues(params Params) []string {
	var out []string
	add := func(v string) {
		out = append(out, v)
		if b, err := json.Marshal(v); err == nil && string(b[1:len(b)-1]) != v {
			out = append(out, string(b[1:len(b)-1]))
		}
	}
	for k, v := range params {
		if v == "" || !connstr.IsSecretKey(k) {
			continue
		}
		add(v)
		for _, sp := range connstr.SecretSpans(v) {
			part := v[sp.Start:sp.End]
			add(part)
			if t := strings.Trim(part, "{}\"'"); t != part && t != "" {
				add(t)
			}
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// redactError removes secrets from an error's text.
func redactError(err error, secrets []string) error {
	if len(secrets) == 0 {
		return err
	}
	if ae, ok := asAPIError(err); ok {
		ae.redact(secrets)
	}
	msg := err.Error()
	if red := redactAll(msg, secrets); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

// redactedError hides secrets from Error() while keeping errors.Is/As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
