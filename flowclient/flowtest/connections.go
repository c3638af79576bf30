package flowtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ExploreItem is one object the prober found, as /explore returns it.
type ExploreItem struct {
	Type           string `json:"type"`
	Name           string `json:"name"`
	Path           string `json:"path"`
	CanPreview     bool   `json:"canPreview"`
	CanFetchSchema bool   `json:"canFetchSchema"`
}

// Prober connects to the source a connection describes, as Adobe would,
// and lists its tables. It backs /test and /explore. The error it returns is
// shown to the client, with secret params removed.
type Prober func(ctx context.Context, req ProbeRequest) ([]ExploreItem, error)

// ProbeRequest is what a Prober is asked to reach.
type ProbeRequest struct {
	// SpecName is the connection's auth spec.
	SpecName string
	// Params are the stored auth params, secrets unmasked.
	Params map[string]string
	// Roots is the emulator's trust store (WithTrustStore): the CAs that
	// verify the source's certificate when the connection's sslMode asks for
	// verification. Nil means the system roots, as Adobe trusts public roots
	// only.
	Roots *x509.CertPool
}

// TestFailureStyle chooses how /test reports a prober failure. Adobe's API
// reference documents only 200 {"result": false}; Flow Service has also been
// seen to answer a failed test with a 400 error. Clients must handle both.
type TestFailureStyle int

const (
	// TestFailureError answers 400 with a Flow Service error whose
	// report.detailed-message holds the prober's error. The default, because
	// it carries the cause.
	TestFailureError TestFailureStyle = iota
	// TestFailureResult answers 200 {"result": false}, as the API reference.
	TestFailureResult
)

func (h *Handler) createConnection(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Auth        *struct {
			SpecName string                     `json:"specName"`
			Params   map[string]json.RawMessage `json:"params"`
		} `json:"auth"`
		ConnectionSpec *struct {
			ID      string `json:"id"`
			Version string `json:"version"`
		} `json:"connectionSpec"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		badRequest(w, r, "Request body is not valid JSON: "+err.Error())
		return
	}
	switch {
	case strings.TrimSpace(body.Name) == "":
		badRequest(w, r, "name is required")
		return
	case body.ConnectionSpec == nil || body.ConnectionSpec.ID == "":
		badRequest(w, r, "connectionSpec.id is required")
		return
	case body.ConnectionSpec.ID != h.spec.id:
		// Emulator's choice: 400, since the payload is what is wrong.
		badRequest(w, r, fmt.Sprintf("Connection spec %s not found", body.ConnectionSpec.ID))
		return
	case body.ConnectionSpec.Version == "":
		badRequest(w, r, "connectionSpec.version is required")
		return
	case body.ConnectionSpec.Version != h.spec.version:
		badRequest(w, r, fmt.Sprintf("connectionSpec.version %q not found; available: %s", body.ConnectionSpec.Version, h.spec.version))
		return
	case body.Auth == nil || body.Auth.SpecName == "":
		badRequest(w, r, "auth.specName is required")
		return
	}
	a, ok := h.spec.findAuth(body.Auth.SpecName)
	if !ok {
		badRequest(w, r, fmt.Sprintf("Invalid auth spec name %q; expected one of: %s", body.Auth.SpecName, strings.Join(h.spec.authNames(), ", ")))
		return
	}
	params, err := validateParams(a, body.Auth.Params)
	if err != nil {
		badRequest(w, r, err.Error())
		return
	}
	c := &StoredConnection{
		ID:          newUUID(),
		Name:        body.Name,
		Description: body.Description,
		Sandbox:     r.Header.Get("x-sandbox-name"),
		SpecID:      h.spec.id,
		SpecVersion: h.spec.version,
		SpecName:    a.name,
		Params:      params,
		Etag:        `"` + newUUID() + `"`,
		CreatedAt:   time.Now(),
	}
	h.mu.Lock()
	h.conns = append(h.conns, c)
	drop := h.dropCreates > 0
	if drop {
		h.dropCreates--
	}
	hold := h.hold
	h.hold = nil
	h.mu.Unlock()
	if hold != nil {
		close(hold.held)
		select {
		case <-hold.release:
		case <-h.stop:
		case <-r.Context().Done():
			return // the client went away: nobody to answer
		}
	}
	if drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // no hijacking (HTTP/2): abort the stream instead
	}
	w.Header().Set("Location", BasePath+"/connections/"+c.ID)
	writeJSON(w, http.StatusCreated, map[string]string{"id": c.ID, "etag": c.Etag})
}

// find returns the connection id in the request's sandbox, or answers 404.
func (h *Handler) find(w http.ResponseWriter, r *http.Request) (*StoredConnection, bool) {
	id := r.PathValue("id")
	sandbox := r.Header.Get("x-sandbox-name")
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		if c.ID == id && c.Sandbox == sandbox {
			cp := *c
			cp.Params = clone(c.Params)
			return &cp, true
		}
	}
	flowError(w, r, http.StatusNotFound, "FLOW-1404-404", "Not Found", fmt.Sprintf("Connection with id %s not found", id))
	return nil, false
}

func (h *Handler) getConnection(w http.ResponseWriter, r *http.Request) {
	if c, ok := h.find(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]any{"items": []any{h.view(c)}})
	}
}

// view renders a stored connection as Flow Service returns it, secrets masked.
func (h *Handler) view(c *StoredConnection) map[string]any {
	a, _ := h.spec.findAuth(c.SpecName)
	updated := c.UpdatedAt
	if updated.IsZero() {
		updated = c.CreatedAt
	}
	return map[string]any{
		"id":             c.ID,
		"createdAt":      c.CreatedAt.UnixMilli(),
		"updatedAt":      updated.UnixMilli(),
		"createdBy":      h.apiKey + "@AdobeID",
		"updatedBy":      h.apiKey + "@AdobeID",
		"createdClient":  h.apiKey,
		"updatedClient":  h.apiKey,
		"sandboxId":      sandboxID(c.Sandbox),
		"sandboxName":    c.Sandbox,
		"imsOrgId":       h.org,
		"name":           c.Name,
		"description":    c.Description,
		"connectionSpec": map[string]string{"id": c.SpecID, "version": c.SpecVersion},
		"state":          "enabled",
		"auth":           map[string]any{"specName": c.SpecName, "params": masked(a, c.Params)},
		"version":        c.Etag,
		"etag":           c.Etag,
	}
}

func (h *Handler) deleteConnection(w http.ResponseWriter, r *http.Request) {
	c, ok := h.find(w, r)
	if !ok {
		return
	}
	if c.InUse {
		flowError(w, r, http.StatusBadRequest, "FLOW-1418-400", "Bad Request",
			fmt.Sprintf("Connection %s is used by dataflows and cannot be deleted", c.ID))
		return
	}
	h.mu.Lock()
	h.conns = slices.DeleteFunc(h.conns, func(s *StoredConnection) bool { return s.ID == c.ID })
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// MarkInUse makes the connection id one that dataflows use, so that
// deleting it fails as Flow Service's does (FLOW-1418-400).
func (h *Handler) MarkInUse(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		if c.ID == id {
			c.InUse = true
		}
	}
}

// patchConnection applies a JSON Patch to a connection, as Adobe's "update
// connections" tutorial describes: If-Match must carry the current etag
// (FLOW-1403-400 without it, 412 FLOW-1404-412 when stale); the operations
// are replace /auth/params (the whole object, validated against the auth
// spec), replace /name and add or replace /description, with op in either
// case (the OpenAPI file writes it in upper case). The body may be an array
// of operations (the tutorial) or one operation (the OpenAPI file). The reply
// is 200 {id, etag} with a new etag.
func (h *Handler) patchConnection(w http.ResponseWriter, r *http.Request) {
	c, ok := h.find(w, r)
	if !ok {
		return
	}
	match := r.Header.Get("If-Match")
	if match == "" {
		flowError(w, r, http.StatusBadRequest, "FLOW-1403-400", "Bad Request", "If-Match header is missing")
		return
	}
	if match != c.Etag {
		flowError(w, r, http.StatusPreconditionFailed, "FLOW-1404-412", "Precondition Failed",
			fmt.Sprintf("Version mismatch: If-Match %s does not match the current version of connection %s", match, c.ID))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	var raw json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		badRequest(w, r, "Request body is not valid JSON: "+err.Error())
		return
	}
	type op struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	var ops []op
	if err := json.Unmarshal(raw, &ops); err != nil {
		var one op
		if err := json.Unmarshal(raw, &one); err != nil {
			badRequest(w, r, "the body must be a JSON Patch operation or an array of them")
			return
		}
		ops = []op{one}
	}
	if len(ops) == 0 {
		badRequest(w, r, "no patch operations")
		return
	}
	next := *c
	next.Params = clone(c.Params)
	a, _ := h.spec.findAuth(c.SpecName)
	for _, o := range ops {
		verb := strings.ToLower(o.Op)
		switch {
		case verb == "replace" && o.Path == "/auth/params":
			var params map[string]json.RawMessage
			if err := json.Unmarshal(o.Value, &params); err != nil {
				badRequest(w, r, "the value of /auth/params must be an object")
				return
			}
			p, err := validateParams(a, params)
			if err != nil {
				badRequest(w, r, err.Error())
				return
			}
			next.Params = p
		case verb == "replace" && o.Path == "/name":
			if err := json.Unmarshal(o.Value, &next.Name); err != nil || strings.TrimSpace(next.Name) == "" {
				badRequest(w, r, "the value of /name must be a non-empty string")
				return
			}
		case (verb == "add" || verb == "replace") && o.Path == "/description":
			if err := json.Unmarshal(o.Value, &next.Description); err != nil {
				badRequest(w, r, "the value of /description must be a string")
				return
			}
		default:
			// Emulator's choice: only the operations the tutorial documents.
			badRequest(w, r, fmt.Sprintf("unsupported patch operation %q on %q", o.Op, o.Path))
			return
		}
	}
	next.Etag = `"` + newUUID() + `"`
	next.UpdatedAt = time.Now()
	h.mu.Lock()
	for i, s := range h.conns {
		if s.ID == c.ID {
			if s.Etag != match { // changed while this request was read
				h.mu.Unlock()
				flowError(w, r, http.StatusPreconditionFailed, "FLOW-1404-412", "Precondition Failed", "Version mismatch")
				return
			}
			h.conns[i] = &next
		}
	}
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"id": next.ID, "etag": next.Etag})
}

// filter is one property expression: field==value or field!=value.
type filter struct {
	field, value string
	negate       bool
}

func parseFilter(expr string) (filter, error) {
	for _, op := range []string{"==", "!="} {
		if field, value, ok := strings.Cut(expr, op); ok {
			switch field {
			case "id", "name", "state", "connectionSpec.id", "auth.specName":
				return filter{field: field, value: value, negate: op == "!="}, nil
			}
			return filter{}, fmt.Errorf("unsupported property %q", field)
		}
	}
	return filter{}, fmt.Errorf("unsupported property expression %q (use field==value or field!=value)", expr)
}

func (f filter) match(c *StoredConnection) bool {
	var v string
	switch f.field {
	case "id":
		v = c.ID
	case "name":
		v = c.Name
	case "state":
		v = "enabled"
	case "connectionSpec.id":
		v = c.SpecID
	case "auth.specName":
		v = c.SpecName
	}
	return (v == f.value) != f.negate
}

// listConnections filters by property (each parameter one expression, all
// must hold), then pages with limit and an opaque continuationToken that
// _links.next.href carries, as in the API reference's PageLink example.
func (h *Handler) listConnections(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var filters []filter
	for _, expr := range q["property"] {
		f, err := parseFilter(expr)
		if err != nil {
			badRequest(w, r, err.Error())
			return
		}
		filters = append(filters, f)
	}
	limit := h.pageSize
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			badRequest(w, r, "limit must be an integer from 1 to 1000")
			return
		}
		limit = n
	}
	offset := 0
	if t := q.Get("continuationToken"); t != "" {
		n, err := decodeToken(t)
		if err != nil {
			badRequest(w, r, "Invalid continuationToken")
			return
		}
		offset = n
	}
	sandbox := r.Header.Get("x-sandbox-name")
	h.mu.Lock()
	var matched []*StoredConnection
	for _, c := range h.conns {
		if c.Sandbox != sandbox {
			continue
		}
		ok := true
		for _, f := range filters {
			ok = ok && f.match(c)
		}
		if ok {
			cp := *c
			matched = append(matched, &cp)
		}
	}
	h.mu.Unlock()

	items := []any{}
	end := min(offset+limit, len(matched))
	for i := min(offset, len(matched)); i < end; i++ {
		items = append(items, h.view(matched[i]))
	}
	reply := map[string]any{"items": items}
	if end < len(matched) {
		next := url.Values{}
		next["property"] = q["property"]
		next.Set("limit", strconv.Itoa(limit))
		next.Set("continuationToken", encodeToken(end))
		reply["_links"] = map[string]any{"next": map[string]string{"href": "/connections?" + next.Encode()}}
	}
	writeJSON(w, http.StatusOK, reply)
}

func encodeToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(offset)))
}

func decodeToken(t string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return 0, err
	}
	s, ok := strings.CutPrefix(string(b), "offset:")
	if !ok {
		return 0, errors.New("bad token")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errors.New("bad token")
	}
	return n, nil
}

// probe runs the prober for c and returns its items, or its failure with
// secrets removed. ok is false when it has answered 501: there is no prober.
func (h *Handler) probe(w http.ResponseWriter, r *http.Request, c *StoredConnection) (items []ExploreItem, failure string, ok bool) {
	if h.prober == nil {
		// Emulator's choice: a missing prober is a test setup error, never
		// a canned success.
		flowError(w, r, http.StatusNotImplemented, "FLOW-1501-501", "Not Implemented",
			"flowtest: no prober configured (flowtest.WithProber), so the source cannot be reached")
		return nil, "", false
	}
	items, err := h.prober(r.Context(), ProbeRequest{SpecName: c.SpecName, Params: clone(c.Params), Roots: h.roots})
	if err != nil {
		a, _ := h.spec.findAuth(c.SpecName)
		failure = err.Error()
		if failure == "" {
			failure = "probe failed"
		}
		for _, s := range secrets(a, c.Params) {
			failure = strings.ReplaceAll(failure, s, Masked)
		}
		return nil, failure, true
	}
	return items, "", true
}

func (h *Handler) testConnection(w http.ResponseWriter, r *http.Request) {
	c, ok := h.find(w, r)
	if !ok {
		return
	}
	_, failure, ok := h.probe(w, r, c)
	switch {
	case !ok:
	case failure == "":
		writeJSON(w, http.StatusOK, map[string]bool{"result": true})
	case h.testStyle == TestFailureResult:
		writeJSON(w, http.StatusOK, map[string]bool{"result": false})
	default:
		flowError(w, r, http.StatusBadRequest, "FLOW-1415-400", "Connection test failed", failure)
	}
}

func (h *Handler) exploreConnection(w http.ResponseWriter, r *http.Request) {
	c, ok := h.find(w, r)
	if !ok {
		return
	}
	if t := r.URL.Query().Get("objectType"); !strings.EqualFold(t, "root") {
		badRequest(w, r, fmt.Sprintf("flowtest supports only objectType=root, not %q", t))
		return
	}
	items, failure, ok := h.probe(w, r, c)
	switch {
	case !ok:
	case failure != "":
		flowError(w, r, http.StatusBadRequest, "FLOW-1415-400", "Explore failed", failure)
	default:
		if items == nil {
			items = []ExploreItem{}
		}
		writeJSON(w, http.StatusOK, items)
	}
}

// sandboxID derives a stable UUID-shaped id from a sandbox name.
func sandboxID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return uuidString(sum[:16])
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuidString(b)
}

func uuidString(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
