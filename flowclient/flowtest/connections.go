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
	// Type is the object's kind, "table" for a PostgreSQL table.
	Type string `json:"type"`
	// Name is the object's own name, such as "orders".
	Name string `json:"name"`
	// Path locates it in the source, such as "public.orders".
	Path string `json:"path"`
	// CanPreview and CanFetchSchema say whether Flow Service could preview
	// the object's rows and read its schema.
	CanPreview     bool `json:"canPreview"`
	CanFetchSchema bool `json:"canFetchSchema"`
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

// createBody is the payload of POST /connections. The nested objects are
// pointers so that a missing one is told apart from an empty one.
type createBody struct {
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

// createConnection is POST /connections: the payload is validated against
// the connection spec, the connection stored, and the reply is 201 {id,
// etag} with a Location header. The API reference documents no reply for a
// name already in use, so a second connection of the same name is stored
// too; a client that wants names unique looks them up first, as
// flowclient.FindConnectionByName does.
func (h *Handler) createConnection(w http.ResponseWriter, r *http.Request) {
	var body createBody
	if !readJSON(w, r, &body) {
		return
	}
	c, problem := h.newConnection(body, r.Header.Get("x-sandbox-name"))
	if problem != "" {
		badRequest(w, r, problem)
		return
	}
	faults := h.store(c)
	if h.interruptCreate(w, r, faults) {
		return
	}
	w.Header().Set("Location", BasePath+"/connections/"+c.ID)
	writeJSON(w, http.StatusCreated, map[string]string{"id": c.ID, "etag": c.Etag})
}

// readJSON decodes a request body of at most 1 MiB into v, or answers 400
// and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		badRequest(w, r, "Request body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

// newConnection checks a create payload in Flow Service's order (name,
// connection spec id and version, auth spec name, then the params against
// that auth spec's schema) and returns the connection to store in sandbox.
// When the payload is wrong, problem is the 400's detail.
func (h *Handler) newConnection(body createBody, sandbox string) (c *StoredConnection, problem string) {
	switch {
	case strings.TrimSpace(body.Name) == "":
		return nil, "name is required"
	case body.ConnectionSpec == nil || body.ConnectionSpec.ID == "":
		return nil, "connectionSpec.id is required"
	case body.ConnectionSpec.ID != h.spec.id:
		// Emulator's choice: 400, since the payload is what is wrong.
		return nil, fmt.Sprintf("Connection spec %s not found", body.ConnectionSpec.ID)
	case body.ConnectionSpec.Version == "":
		return nil, "connectionSpec.version is required"
	case body.ConnectionSpec.Version != h.spec.version:
		return nil, fmt.Sprintf("connectionSpec.version %q not found; available: %s", body.ConnectionSpec.Version, h.spec.version)
	case body.Auth == nil || body.Auth.SpecName == "":
		return nil, "auth.specName is required"
	}
	a, ok := h.spec.findAuth(body.Auth.SpecName)
	if !ok {
		return nil, fmt.Sprintf("Invalid auth spec name %q; expected one of: %s", body.Auth.SpecName, strings.Join(h.spec.authNames(), ", "))
	}
	params, err := validateParams(a, body.Auth.Params)
	if err != nil {
		return nil, err.Error()
	}
	return &StoredConnection{
		ID:          newUUID(),
		Name:        body.Name,
		Description: body.Description,
		Sandbox:     sandbox,
		SpecID:      h.spec.id,
		SpecVersion: h.spec.version,
		SpecName:    a.name,
		Params:      params,
		Etag:        `"` + newUUID() + `"`,
		CreatedAt:   time.Now(),
	}, ""
}

// store adds c and takes the create faults that are due, under one lock,
// so that each fault applies to exactly one create.
func (h *Handler) store(c *StoredConnection) createFaults {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conns = append(h.conns, c)
	return h.takeCreateFaults()
}

// find returns a copy of the connection whose id is in the path, if it is
// in the request's sandbox, or answers 404.
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
	if !checkIfMatch(w, r, c, match) {
		return
	}
	ops, ok := readPatch(w, r)
	if !ok {
		return
	}
	next, problem := h.applyPatch(c, ops)
	if problem != "" {
		badRequest(w, r, problem)
		return
	}
	if !h.replace(next, match) {
		flowError(w, r, http.StatusPreconditionFailed, "FLOW-1404-412", "Precondition Failed", "Version mismatch")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": next.ID, "etag": next.Etag})
}

// checkIfMatch answers as Flow Service does when the If-Match header, match,
// is missing (FLOW-1403-400) or is not c's etag (412 FLOW-1404-412), and
// reports whether the update may go on.
func checkIfMatch(w http.ResponseWriter, r *http.Request, c *StoredConnection, match string) bool {
	switch match {
	case "":
		flowError(w, r, http.StatusBadRequest, "FLOW-1403-400", "Bad Request", "If-Match header is missing")
		return false
	case c.Etag:
		return true
	}
	flowError(w, r, http.StatusPreconditionFailed, "FLOW-1404-412", "Precondition Failed",
		fmt.Sprintf("Version mismatch: If-Match %s does not match the current version of connection %s", match, c.ID))
	return false
}

// patchOp is one JSON Patch operation. Op is matched case-insensitively.
type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

// readPatch reads a PATCH body: an array of operations (the tutorial) or a
// single one (the OpenAPI file). It answers 400 and returns false for
// anything else, an empty array included.
func readPatch(w http.ResponseWriter, r *http.Request) ([]patchOp, bool) {
	var raw json.RawMessage
	if !readJSON(w, r, &raw) {
		return nil, false
	}
	var ops []patchOp
	if err := json.Unmarshal(raw, &ops); err != nil {
		var one patchOp
		if err := json.Unmarshal(raw, &one); err != nil {
			badRequest(w, r, "the body must be a JSON Patch operation or an array of them")
			return nil, false
		}
		ops = []patchOp{one}
	}
	if len(ops) == 0 {
		badRequest(w, r, "no patch operations")
		return nil, false
	}
	return ops, true
}

// applyPatch applies ops, in order, to a copy of c and gives the copy a new
// etag. All apply or none: problem is the 400's detail of the first that
// cannot.
func (h *Handler) applyPatch(c *StoredConnection, ops []patchOp) (next *StoredConnection, problem string) {
	cp := *c
	cp.Params = clone(c.Params)
	a, _ := h.spec.findAuth(c.SpecName)
	for _, o := range ops {
		if problem := applyOp(&cp, a, o); problem != "" {
			return nil, problem
		}
	}
	cp.Etag = `"` + newUUID() + `"`
	cp.UpdatedAt = time.Now()
	return &cp, ""
}

// applyOp applies one operation to c, whose auth spec is a: new params are
// validated as on create, a new name must not be blank.
func applyOp(c *StoredConnection, a authDef, o patchOp) (problem string) {
	verb := strings.ToLower(o.Op)
	switch {
	case verb == "replace" && o.Path == "/auth/params":
		var params map[string]json.RawMessage
		if err := json.Unmarshal(o.Value, &params); err != nil {
			return "the value of /auth/params must be an object"
		}
		p, err := validateParams(a, params)
		if err != nil {
			return err.Error()
		}
		c.Params = p
	case verb == "replace" && o.Path == "/name":
		if err := json.Unmarshal(o.Value, &c.Name); err != nil || strings.TrimSpace(c.Name) == "" {
			return "the value of /name must be a non-empty string"
		}
	case (verb == "add" || verb == "replace") && o.Path == "/description":
		if err := json.Unmarshal(o.Value, &c.Description); err != nil {
			return "the value of /description must be a string"
		}
	default:
		// Emulator's choice: only the operations the tutorial documents.
		return fmt.Sprintf("unsupported patch operation %q on %q", o.Op, o.Path)
	}
	return ""
}

// replace stores next in place of the connection of the same id, unless
// that connection changed (its etag is no longer match) while the request
// was read.
func (h *Handler) replace(next *StoredConnection, match string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, s := range h.conns {
		if s.ID == next.ID {
			if s.Etag != match {
				return false
			}
			h.conns[i] = next
		}
	}
	return true
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

// listQuery is what a GET /connections asks for.
type listQuery struct {
	filters       []filter
	limit, offset int
}

// listConnections filters by property (each parameter one expression, all
// must hold), then pages with limit and an opaque continuationToken that
// _links.next.href carries, as in the API reference's PageLink example.
func (h *Handler) listConnections(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lq, problem := h.parseListQuery(q)
	if problem != "" {
		badRequest(w, r, problem)
		return
	}
	matched := h.matching(r.Header.Get("x-sandbox-name"), lq.filters)
	items := []any{}
	end := min(lq.offset+lq.limit, len(matched))
	for i := min(lq.offset, len(matched)); i < end; i++ {
		items = append(items, h.view(matched[i]))
	}
	reply := map[string]any{"items": items}
	if end < len(matched) {
		next := url.Values{}
		next["property"] = q["property"]
		next.Set("limit", strconv.Itoa(lq.limit))
		next.Set("continuationToken", encodeToken(end))
		reply["_links"] = map[string]any{"next": map[string]string{"href": "/connections?" + next.Encode()}}
	}
	writeJSON(w, http.StatusOK, reply)
}

// parseListQuery reads the property filters, the limit (1 to 1000, default
// the page size) and the continuation token. When one is wrong, problem is
// the 400's detail.
func (h *Handler) parseListQuery(q url.Values) (lq listQuery, problem string) {
	for _, expr := range q["property"] {
		f, err := parseFilter(expr)
		if err != nil {
			return listQuery{}, err.Error()
		}
		lq.filters = append(lq.filters, f)
	}
	lq.limit = h.pageSize
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return listQuery{}, "limit must be an integer from 1 to 1000"
		}
		lq.limit = n
	}
	if t := q.Get("continuationToken"); t != "" {
		n, err := decodeToken(t)
		if err != nil {
			return listQuery{}, "Invalid continuationToken"
		}
		lq.offset = n
	}
	return lq, ""
}

// matching returns copies of the connections of sandbox that pass every
// filter, oldest first.
func (h *Handler) matching(sandbox string, filters []filter) []*StoredConnection {
	h.mu.Lock()
	defer h.mu.Unlock()
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
	return matched
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
