// Package flowtest is an in-memory Adobe Flow Service for tests, in the
// manner of net/http/httptest: NewServer starts one on a loopback port, and
// NewHandler gives the bare http.Handler for a standalone program
// (cmd/flowtest).
//
// It follows Adobe's Flow Service API reference, its "update connections"
// tutorial and AEP's troubleshooting guide, for the PostgreSQL source only:
// the gateway's header checks (Authorization: Bearer, x-api-key,
// x-gw-ims-org-id, x-sandbox-name, and Content-Type: application/json on a
// body); POST, GET and DELETE /connections, with property filters and
// continuation paging; PATCH /connections/{id} with If-Match; /test and
// /explore; and GET /connectionSpecs/{id}. It is also an Adobe IMS token
// endpoint (POST /ims/token/v3), so a client can run the whole OAuth
// server-to-server flow against one server.
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
// the source marks the emulator's choice with the words "emulator's choice".
package flowtest

import (
	"crypto/x509"
	"net/http"
	"slices"
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

// Defaults of a Handler built without options: the credentials it accepts
// and the page size of its lists. They are fixed, public values, for tests
// and for trying flowpg by hand, never secrets.
const (
	// DefaultToken is the bearer token the gateway accepts unless
	// WithToken names others.
	DefaultToken = "flowtest-token"
	// DefaultClientID is the client id the IMS endpoint accepts and the
	// x-api-key the gateway accepts (WithClientCredentials, WithAPIKey).
	DefaultClientID = "flowtest-client"
	// DefaultClientSecret is the client secret the IMS endpoint accepts.
	DefaultClientSecret = "flowtest-secret"
	// DefaultOrg is the x-gw-ims-org-id the gateway accepts (WithOrg).
	DefaultOrg = "FL0WTE5T0000000000000000@AdobeOrg"
	// DefaultPageSize is the page size of a list without a limit
	// parameter (WithPageSize).
	DefaultPageSize = 100
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
	// Method is the HTTP method.
	Method string
	// Path is the URL path as received, BasePath or TokenPath included.
	Path string
	// RawQuery is the query string, without the '?'.
	RawQuery string
	// Header is the request's header, Authorization masked.
	Header http.Header
}

// StoredConnection is a connection as the emulator holds it, secrets in
// clear: what a test may inspect, never what the API returns.
type StoredConnection struct {
	// ID is the connection's id, a random UUID.
	ID string
	// Name and Description are as created or last patched.
	Name, Description string
	// Sandbox is the x-sandbox-name of the create. Every call sees only the
	// connections of its own sandbox.
	Sandbox string
	// SpecID and SpecVersion name the connection spec, PostgreSQLSpecID
	// and "1.0".
	SpecID, SpecVersion string
	// SpecName is the auth spec, connstr.BasicAuthSpecName or
	// connstr.ConnectionStringSpecName.
	SpecName string
	// Params are the auth params as sent, secrets in clear.
	Params map[string]string
	// Etag is the current etag, quotes included; each update replaces it.
	Etag string
	// CreatedAt is when the connection was stored.
	CreatedAt time.Time
	// UpdatedAt is when it was last patched, zero if never.
	UpdatedAt time.Time
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
	h.mux = h.routes()
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
