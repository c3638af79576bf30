// Package flowtest is an in-memory Adobe Flow Service for tests, in the
// manner of net/http/httptest: NewServer starts one on a loopback port, and
// NewHandler gives the bare http.Handler for a standalone program
// (cmd/flowtest).
//
// It follows the contract of SPEC.md §5 for the PostgreSQL source: the
// gateway's header checks, POST/GET/DELETE /connections with property
// filters and continuation paging, /test and /explore, and
// GET /connectionSpecs/{id}. It is also an Adobe IMS token endpoint
// (POST /ims/token/v3), so a client can run the whole OAuth server-to-server
// flow against one server.
//
// The /test and /explore endpoints reach the stored database through a
// Prober that the caller plugs in (WithProber); flowtest itself dials
// nothing. Fault knobs and a request log (Requests) let tests prove retry,
// no-duplicate and transport behaviour:
//
//   - Flow Service calls: FailNext (4xx/5xx, Retry-After), MalformedNext,
//     OversizeNext, RedirectNext (a 3xx to anywhere), UnauthorizedNext (a
//     401 that revokes the IMS token it refused).
//   - creates: DropAfterCreate (stored, then the connection closed),
//     HoldCreate (stored, then the reply held while the client times out or
//     is interrupted).
//   - IMS token requests: RedirectTokenNext, TokenFaultNext (replies IMS
//     does not send: no access_token, HTML, cut short, a malformed token),
//     RevokeTokens.
//
// Where Adobe documents a reply, the emulator copies it; where it does not,
// the emulator's choice is marked "emulator's choice" below.
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
	"sync"
	"time"
)

// Paths the handler serves.
const (
	// BasePath is where the Flow Service API lives, as on platform.adobe.io.
	BasePath = "/data/foundation/flowservice"
	// TokenPath is the IMS token endpoint, as on ims-na1.adobelogin.com.
	TokenPath = "/ims/token/v3"
)

// Default credentials the handler accepts.
const (
	DefaultToken        = "flowtest-token"
	DefaultClientID     = "flowtest-client"
	DefaultClientSecret = "flowtest-secret"
	DefaultOrg          = "FL0WTE5T0000000000000000@AdobeOrg"
	DefaultPageSize     = 100
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

// Option configures a Handler.
type Option func(*Handler)

// WithToken adds a bearer token the gateway accepts, besides tokens issued
// by the IMS endpoint. Without it, DefaultToken is accepted.
func WithToken(tok string) Option {
	return func(h *Handler) { h.staticTokens = append(h.staticTokens, tok) }
}

// WithAPIKey sets the accepted x-api-key (default DefaultClientID).
func WithAPIKey(key string) Option { return func(h *Handler) { h.apiKey = key } }

// WithOrg sets the accepted x-gw-ims-org-id (default DefaultOrg).
func WithOrg(org string) Option { return func(h *Handler) { h.org = org } }

// WithClientCredentials sets the client id and secret the IMS endpoint
// accepts (default DefaultClientID, DefaultClientSecret).
func WithClientCredentials(id, secret string) Option {
	return func(h *Handler) { h.clientID, h.clientSecret = id, secret }
}

// WithTokenLifetime sets expires_in of issued tokens (default 24 h). Issued
// tokens are rejected once expired.
func WithTokenLifetime(d time.Duration) Option { return func(h *Handler) { h.tokenLifetime = d } }

// WithProber plugs in what /test and /explore use to reach the database.
// Without one, both answer 501.
func WithProber(p Prober) Option { return func(h *Handler) { h.prober = p } }

// WithTrustStore replaces the trust store the prober verifies certificates
// with (default: the system roots, which is what Adobe is assumed to trust).
// A test that plays "Adobe trusts this private CA" sets it.
func WithTrustStore(roots *x509.CertPool) Option { return func(h *Handler) { h.roots = roots } }

// WithTestFailureStyle chooses how /test reports a failed probe.
func WithTestFailureStyle(s TestFailureStyle) Option { return func(h *Handler) { h.testStyle = s } }

// WithSSLModes replaces the sslMode enum of the Basic Authentication spec
// (default TutorialSSLModes), for example with the connector overview's.
func WithSSLModes(modes ...string) Option {
	return func(h *Handler) { h.spec = postgresSpec("string", slices.Clone(modes)) }
}

// WithSSLModeBoolean makes the Basic Authentication spec type sslMode as a
// boolean, as AEP on AWS documents it, with values sent as the strings
// "true" and "false" (as its example sends "false").
func WithSSLModeBoolean() Option {
	return func(h *Handler) { h.spec = postgresSpec("boolean", nil) }
}

// WithPageSize sets the page size of lists without a limit parameter.
func WithPageSize(n int) Option { return func(h *Handler) { h.pageSize = n } }

// Request is one request the handler received. Authorization keeps only its
// scheme ("Bearer ********"); bodies are not kept, as they carry secrets.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
}

// StoredConnection is a connection as the emulator holds it, secrets in
// clear: what a test may inspect, never what the API returns.
type StoredConnection struct {
	ID, Name, Description string
	Sandbox               string
	SpecID, SpecVersion   string
	SpecName              string
	Params                map[string]string
	Etag                  string
	CreatedAt             time.Time
	UpdatedAt             time.Time
	// InUse marks a connection that dataflows use (MarkInUse): it cannot be
	// deleted.
	InUse bool
}

// Handler is the emulator as an http.Handler. It is safe for concurrent use.
type Handler struct {
	mu            sync.Mutex
	staticTokens  []string
	apiKey, org   string
	clientID      string
	clientSecret  string
	tokenLifetime time.Duration
	prober        Prober
	roots         *x509.CertPool
	testStyle     TestFailureStyle
	spec          specDef
	pageSize      int
	mux           *http.ServeMux

	issued map[string]time.Time // IMS-issued token -> expiry
	conns  []*StoredConnection
	log    []Request
	seq    int

	failN          int
	failStatus     int
	failRetryAfter time.Duration
	dropCreates    int
	malformedN     int
	oversizeN      int
	unauthorizedN  int
	redirect       redirectKnob // Flow Service calls
	tokenRedirect  redirectKnob // IMS token requests
	tokenFaultN    int
	tokenFault     TokenFault
	hold           *holdKnob
	stop           chan struct{} // closed by Server.Close: held replies go
	stopOnce       sync.Once
}

// redirectKnob is a pending RedirectNext or RedirectTokenNext.
type redirectKnob struct {
	n, status int
	location  string
}

// take answers the request with the redirect if one is due.
func (k *redirectKnob) take(w http.ResponseWriter) bool {
	if k.n <= 0 {
		return false
	}
	k.n--
	w.Header().Set("Location", k.location)
	w.WriteHeader(k.status)
	return true
}

// holdKnob is a pending HoldCreate.
type holdKnob struct {
	release <-chan struct{}
	held    chan struct{}
}

// NewHandler returns an emulator with no connections.
func NewHandler(opts ...Option) *Handler {
	h := &Handler{
		apiKey:        DefaultClientID,
		org:           DefaultOrg,
		clientID:      DefaultClientID,
		clientSecret:  DefaultClientSecret,
		tokenLifetime: 24 * time.Hour,
		spec:          postgresSpec("string", slices.Clone(TutorialSSLModes)),
		pageSize:      DefaultPageSize,
		issued:        map[string]time.Time{},
		stop:          make(chan struct{}),
	}
	for _, o := range opts {
		o(h)
	}
	if len(h.staticTokens) == 0 {
		h.staticTokens = []string{DefaultToken}
	}
	m := http.NewServeMux()
	m.HandleFunc("GET /connections", h.listConnections)
	m.HandleFunc("POST /connections", h.createConnection)
	m.HandleFunc("GET /connections/{id}", h.getConnection)
	m.HandleFunc("PATCH /connections/{id}", h.patchConnection)
	m.HandleFunc("DELETE /connections/{id}", h.deleteConnection)
	m.HandleFunc("DELETE /connections/{id}/", h.deleteConnection)
	m.HandleFunc("GET /connections/{id}/test", h.testConnection)
	m.HandleFunc("GET /connections/{id}/explore", h.exploreConnection)
	m.HandleFunc("GET /connectionSpecs/{id}", h.getConnectionSpec)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		flowError(w, r, http.StatusNotFound, "FLOW-1404-404", "Not Found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	h.mux = m
	return h
}

// Token returns the first bearer token the gateway accepts.
func (h *Handler) Token() string { return h.staticTokens[0] }

// APIKey returns the accepted x-api-key.
func (h *Handler) APIKey() string { return h.apiKey }

// Org returns the accepted x-gw-ims-org-id.
func (h *Handler) Org() string { return h.org }

// ClientID returns the client id the IMS endpoint accepts.
func (h *Handler) ClientID() string { return h.clientID }

// ClientSecret returns the client secret the IMS endpoint accepts.
func (h *Handler) ClientSecret() string { return h.clientSecret }

// FailNext makes the next n Flow Service calls (not IMS token requests)
// answer status, with a Retry-After header of retryAfter rounded up to whole
// seconds when it is positive. A 429 comes in the gateway's shape, any other
// status in Flow Service's.
func (h *Handler) FailNext(n, status int, retryAfter time.Duration) {
	if status < 400 || status > 599 {
		panic(fmt.Sprintf("flowtest: FailNext status %d is not a 4xx or 5xx", status))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failN, h.failStatus, h.failRetryAfter = n, status, retryAfter
}

// DropAfterCreate makes the next n creates store the connection and then
// close the connection without replying, so the client cannot know it
// succeeded.
func (h *Handler) DropAfterCreate(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropCreates = n
}

// MalformedNext makes the next n Flow Service calls answer 200 with a body
// that is not valid JSON.
func (h *Handler) MalformedNext(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.malformedN = n
}

// OversizeNext makes the next n Flow Service calls answer 200 with a 2 MiB
// JSON body.
func (h *Handler) OversizeNext(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.oversizeN = n
}

// RedirectNext makes the next n Flow Service calls answer status (a 3xx)
// with a Location header of location, without acting on them. Flow Service
// does not redirect: this plays a proxy or a portal in front of it, for
// tests that prove a client follows no redirect and re-sends nothing.
func (h *Handler) RedirectNext(n, status int, location string) {
	checkRedirect(status)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.redirect = redirectKnob{n, status, location}
}

// RedirectTokenNext does as RedirectNext for the next n IMS token requests,
// whose form carries the client secret.
func (h *Handler) RedirectTokenNext(n, status int, location string) {
	checkRedirect(status)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokenRedirect = redirectKnob{n, status, location}
}

func checkRedirect(status int) {
	if status < 300 || status > 399 {
		panic(fmt.Sprintf("flowtest: redirect status %d is not a 3xx", status))
	}
}

// UnauthorizedNext makes the next n Flow Service calls answer 401 in the
// gateway's shape (401013 "Oauth token is not valid"), whatever token they
// carry, as when a token expires or is revoked between two calls. A token
// the IMS endpoint issued is revoked when it is so refused, so that a client
// must fetch a new one to go on; a static token (WithToken) stays valid.
func (h *Handler) UnauthorizedNext(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unauthorizedN = n
}

// RevokeTokens makes every token the IMS endpoint has issued so far invalid,
// as if they had expired: calls carrying one answer 401 (401013).
func (h *Handler) RevokeTokens() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.issued)
}

// TokenFault is a malformed reply of the IMS token endpoint, for
// TokenFaultNext. Each is a 200 that IMS does not send: a client that
// retries it gets the same again.
type TokenFault int

const (
	// TokenNoAccessToken is a JSON object without access_token.
	TokenNoAccessToken TokenFault = iota + 1
	// TokenHTML is an HTML page, as a proxy's or a login portal's.
	TokenHTML
	// TokenNotJSON is application/json whose body is cut short.
	TokenNotJSON
	// TokenMalformed is a JSON reply whose access_token is not a bearer
	// token: it holds a space and a line break, which no header can carry.
	TokenMalformed
)

// TokenFaultNext makes the next n IMS token requests answer with fault,
// whatever their credentials.
func (h *Handler) TokenFaultNext(n int, fault TokenFault) {
	if fault < TokenNoAccessToken || fault > TokenMalformed {
		panic(fmt.Sprintf("flowtest: unknown token fault %d", fault))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokenFaultN, h.tokenFault = n, fault
}

// HoldCreate makes the next create store the connection, then hold its
// reply until release is closed or the client goes away (its request ends,
// as when it times out, is interrupted or is killed). The channel returned
// is closed once the connection is stored and the reply held: a test waits
// for it, then interrupts the client. This is the create whose outcome the
// client cannot know: it reached Flow Service, and the reply did not reach
// the client. Server.Close releases a held reply.
func (h *Handler) HoldCreate(release <-chan struct{}) <-chan struct{} {
	if release == nil {
		panic("flowtest: HoldCreate needs a release channel")
	}
	held := make(chan struct{})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hold = &holdKnob{release: release, held: held}
	return held
}

// shutdown releases held replies, for Server.Close.
func (h *Handler) shutdown() { h.stopOnce.Do(func() { close(h.stop) }) }

// Requests returns every request received so far, in order.
func (h *Handler) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Request, len(h.log))
	for i, r := range h.log {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// Connections returns the stored connections of every sandbox, oldest first.
func (h *Handler) Connections() []StoredConnection {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]StoredConnection, len(h.conns))
	for i, c := range h.conns {
		out[i] = *c
		out[i].Params = clone(c.Params)
	}
	return out
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type ctxKey struct{}

// ServeHTTP logs the request, applies the IMS endpoint, the fault knobs and
// the gateway's checks in that order, then routes to the API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.seq++
	reqID := fmt.Sprintf("flowtest-%06d", h.seq)
	hdr := r.Header.Clone()
	if a := hdr.Get("Authorization"); a != "" {
		scheme, _, _ := strings.Cut(a, " ")
		hdr.Set("Authorization", scheme+" "+Masked)
	}
	h.log = append(h.log, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: hdr})
	h.mu.Unlock()
	w.Header().Set("x-request-id", reqID)
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, reqID))

	if r.URL.Path == TokenPath {
		if !h.tokenKnobs(w) {
			h.token(w, r)
		}
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, BasePath)
	if !ok || (rest != "" && rest[0] != '/') {
		plainError(w, http.StatusNotFound, "NotFound", "no such path: "+r.URL.Path)
		return
	}
	if h.fault(w, r) || !h.gateway(w, r) {
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = rest
	r2.URL.RawPath = ""
	h.mux.ServeHTTP(w, r2)
}

// tokenKnobs answers a token request with an injected fault, if one is due.
func (h *Handler) tokenKnobs(w http.ResponseWriter) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tokenRedirect.take(w) {
		return true
	}
	if h.tokenFaultN <= 0 {
		return false
	}
	h.tokenFaultN--
	switch h.tokenFault {
	case TokenNoAccessToken:
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "bearer", "expires_in": 86399})
	case TokenHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>…</form></body></html>\n"))
	case TokenNotJSON:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"access_token": "flowtest-ims-trunc`))
	case TokenMalformed:
		writeJSON(w, http.StatusOK, map[string]any{"access_token": "flowtest ims\r\nX-Injected: 1", "token_type": "bearer", "expires_in": 86399})
	}
	return true
}

// fault answers with an injected failure, if one is due.
func (h *Handler) fault(w http.ResponseWriter, r *http.Request) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.redirect.take(w):
		return true
	case h.unauthorizedN > 0:
		h.unauthorizedN--
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			delete(h.issued, tok)
		}
		gatewayError(w, http.StatusUnauthorized, "401013", "Oauth token is not valid")
		return true
	case h.failN > 0:
		h.failN--
		if h.failRetryAfter > 0 {
			secs := int((h.failRetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		if h.failStatus == http.StatusTooManyRequests {
			// Emulator's choice: Adobe documents no rate-limit reply; this
			// uses the gateway's shape with a made-up code.
			gatewayError(w, h.failStatus, "429050", "Too many requests")
		} else {
			flowError(w, r, h.failStatus, fmt.Sprintf("FLOW-1500-%d", h.failStatus), http.StatusText(h.failStatus), "injected failure (flowtest FailNext)")
		}
		return true
	case h.malformedN > 0:
		h.malformedN--
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"items": [{"id": "truncated`))
		return true
	case h.oversizeN > 0:
		h.oversizeN--
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"items": [], "padding": "`))
		_, _ = w.Write([]byte(strings.Repeat("x", 2<<20)))
		_, _ = w.Write([]byte(`"}`))
		return true
	}
	return false
}

// gateway checks the headers the way Adobe I/O's gateway does, with the
// codes and messages of AEP's troubleshooting guide ("Request header
// errors"): 403010 Oauth token is missing, 401013 Oauth token is not valid,
// 403000 Api Key is required, 403003 Api Key is invalid, 400003 Missing
// header (organization), 403025 Profile is not valid (wrong organization).
// Then Flow Service's own checks: x-sandbox-name, and Content-Type on calls
// with a body, whose reply uses the guide's plain shape.
func (h *Handler) gateway(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	tok, isBearer := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "":
		gatewayError(w, http.StatusForbidden, "403010", "Oauth token is missing.")
	case r.Header.Get("x-api-key") == "":
		gatewayError(w, http.StatusForbidden, "403000", "Api Key is required")
	case !isBearer || !h.validToken(strings.TrimSpace(tok)):
		gatewayError(w, http.StatusUnauthorized, "401013", "Oauth token is not valid")
	case r.Header.Get("x-api-key") != h.apiKey:
		gatewayError(w, http.StatusForbidden, "403003", "Api Key is invalid")
	case r.Header.Get("x-gw-ims-org-id") == "":
		gatewayError(w, http.StatusBadRequest, "400003", "Missing header")
	case r.Header.Get("x-gw-ims-org-id") != h.org:
		gatewayError(w, http.StatusForbidden, "403025", "Profile is not valid")
	case strings.TrimSpace(r.Header.Get("x-sandbox-name")) == "":
		flowError(w, r, http.StatusBadRequest, "FLOW-1400-400", "Bad Request", "Missing required header: x-sandbox-name")
	case hasBody(r) && !isJSON(r.Header.Get("Content-Type")):
		plainError(w, http.StatusBadRequest, "BadRequestError", "A valid content-type must be specified")
	default:
		return true
	}
	return false
}

func hasBody(r *http.Request) bool {
	return r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch
}

func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

func (h *Handler) validToken(tok string) bool {
	if tok == "" {
		return false
	}
	if slices.Contains(h.staticTokens, tok) {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.issued[tok]
	return ok && time.Now().Before(exp)
}

// token is the IMS client credentials endpoint. Error replies use the OAuth
// shape {"error", "error_description"}; the statuses are the emulator's choice.
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
		return
	}
	if !strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]), "application/x-www-form-urlencoded") {
		oauthError(w, http.StatusBadRequest, "invalid_request", "body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "cannot parse form")
		return
	}
	switch {
	case r.Form.Get("grant_type") != "client_credentials":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
	case r.Form.Get("client_id") == "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "missing client_id parameter")
	case r.Form.Get("client_id") != h.clientID:
		oauthError(w, http.StatusBadRequest, "invalid_client", "invalid client_id parameter")
	case r.Form.Get("client_secret") != h.clientSecret:
		oauthError(w, http.StatusUnauthorized, "invalid_client", "invalid client_secret parameter")
	case r.Form.Get("scope") == "":
		oauthError(w, http.StatusBadRequest, "invalid_scope", "missing scope parameter")
	default:
		tok := "flowtest-ims-" + randomHex(16)
		h.mu.Lock()
		h.issued[tok] = time.Now().Add(h.tokenLifetime)
		h.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": tok,
			"token_type":   "bearer",
			"expires_in":   int64(h.tokenLifetime / time.Second),
		})
	}
}

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

func (h *Handler) getConnectionSpec(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id != h.spec.id {
		flowError(w, r, http.StatusNotFound, "FLOW-1404-404", "Not Found", fmt.Sprintf("Connection spec with id %s not found", id))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": []any{h.spec.item()}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// gatewayError answers in the Adobe I/O gateway's shape.
func gatewayError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error_code": code, "message": msg})
}

// flowError answers in Flow Service's shape. The FLOW-nnnn numbers are the
// emulator's choice; the shape is Adobe's.
func flowError(w http.ResponseWriter, r *http.Request, status int, code, title, detail string) {
	reqID, _ := r.Context().Value(ctxKey{}).(string)
	writeJSON(w, status, map[string]any{
		"type":   "https://ns.adobe.com/aep/errors/" + code,
		"title":  title,
		"status": status,
		"report": map[string]any{
			"tenantInfo": map[string]string{
				"sandboxName": r.Header.Get("x-sandbox-name"),
				"imsOrgId":    r.Header.Get("x-gw-ims-org-id"),
			},
			"additionalContext": nil,
			"detailed-message":  detail,
			"request-id":        reqID,
		},
	})
}

func badRequest(w http.ResponseWriter, r *http.Request, detail string) {
	flowError(w, r, http.StatusBadRequest, "FLOW-1415-400", "Bad Request", detail)
}

// plainError answers in the plain shape of the troubleshooting guide.
func plainError(w http.ResponseWriter, status int, title, detail string) {
	writeJSON(w, status, map[string]any{"type": "/placeholder/type/uri", "status": status, "title": title, "detail": detail})
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// sandboxID derives a stable UUID-shaped id from a sandbox name.
func sandboxID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return uuidString(sum[:16])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
