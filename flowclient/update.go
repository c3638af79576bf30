package flowclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// PatchOp is one JSON Patch operation of UpdateConnection, as Adobe's
// "update connections" tutorial writes them: {"op": "replace", "path":
// "/auth/params", "value": {…every param…}}.
type PatchOp struct {
	// Op is "replace" or "add".
	Op string `json:"op"`
	// Path is the JSON Pointer of what changes: "/auth/params", "/name" or
	// "/description".
	Path string `json:"path"`
	// Value is the new value; for "/auth/params" a Params, whose secrets
	// PreviewUpdate masks and errors never show.
	Value any `json:"value,omitempty"`
}

// ReplaceParams is the operation that replaces a connection's auth params.
// Flow Service takes the whole params object: no tutorial patches a single
// param, so every param, the password included, must be given.
func ReplaceParams(p Params) PatchOp {
	return PatchOp{Op: "replace", Path: "/auth/params", Value: p}
}

// Updated is the reply to UpdateConnection.
type Updated struct {
	// ID is the connection's id.
	ID string `json:"id"`
	// Etag is the connection's new etag, quotes kept.
	Etag string `json:"etag"`
}

// UpdateConnection changes a connection: PATCH /connections/{id} with a JSON
// Patch array and If-Match set to etag, exactly as GetConnection or a list
// returned it (quotes included). Flow Service answers 200 with the new etag.
//
// The If-Match makes the call conditional: when the connection changed since
// etag was read, Flow Service refuses it (IsStaleEtag), and nothing is
// overwritten. A retry of a call whose outcome was unknown is safe for the
// same reason: if the first attempt applied, the retry is refused as stale,
// and the caller reads the connection again.
//
// Secret values in ops are redacted from any error returned.
func (c *Client) UpdateConnection(ctx context.Context, id, etag string, ops []PatchOp) (Updated, error) {
	path, err := connectionPath(id)
	if err != nil {
		return Updated{}, err
	}
	if etag == "" {
		return Updated{}, errors.New("flowclient: update connection: empty etag (If-Match is required)")
	}
	if len(ops) == 0 {
		return Updated{}, errors.New("flowclient: update connection: no operations")
	}
	var secrets []string
	for _, op := range ops {
		if p, ok := op.Value.(Params); ok {
			secrets = append(secrets, secretValues(p)...)
		}
	}
	var out Updated
	err = c.withRetry(ctx, func() error {
		return c.once(ctx, http.MethodPatch, path, nil, ops, &out, http.Header{"If-Match": {etag}})
	})
	if err != nil {
		return Updated{}, redactError(err, secrets)
	}
	if out.ID == "" {
		out.ID = id
	}
	return out, nil
}

// IsStaleEtag reports whether err is Flow Service refusing an update because
// the connection changed since its etag was read: HTTP 412, or the documented
// code FLOW-1404-412 ("version mismatch").
func IsStaleEtag(err error) bool {
	ae, ok := asAPIError(err)
	return ok && (ae.StatusCode == http.StatusPreconditionFailed || ae.Code == "FLOW-1404-412")
}

// PreviewUpdate describes the PATCH request UpdateConnection would send, its
// Authorization header and every secret auth param masked.
func (c *Client) PreviewUpdate(id, etag string, ops []PatchOp) (Preview, error) {
	path, err := connectionPath(id)
	if err != nil {
		return Preview{}, err
	}
	masked := make([]PatchOp, len(ops))
	for i, op := range ops {
		masked[i] = op
		if p, ok := op.Value.(Params); ok {
			masked[i].Value = maskParams(p)
		}
	}
	body, err := json.MarshalIndent(masked, "", "  ")
	if err != nil {
		return Preview{}, fmt.Errorf("flowclient: encode the update request: %w", err)
	}
	h := http.Header{}
	c.setHeaders(h, Redacted, true)
	h.Set("If-Match", etag)
	return newPreview(http.MethodPatch, c.baseURL+path, h, body), nil
}

// newPreview assembles a Preview with its headers in a stable order.
func newPreview(method, url string, h http.Header, body []byte) Preview {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	p := Preview{Method: method, URL: url, Body: body}
	for _, k := range names {
		p.Headers = append(p.Headers, Header{Name: k, Value: h.Get(k)})
	}
	return p
}

// Redacted returns a copy of c whose secret auth params are masked, whatever
// Flow Service returned: a defence in depth for printing a connection.
func (c Connection) Redacted() Connection {
	c.Auth.Params = maskParams(c.Auth.Params)
	return c
}
