package flowclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultBaseURL is Flow Service's production base URL.
const DefaultBaseURL = "https://platform.adobe.io/data/foundation/flowservice"

// DefaultMaxResponseBytes bounds every response body the client reads.
const DefaultMaxResponseBytes = 1 << 20

const userAgent = "flowpg-flowclient"

// Client talks to Adobe Experience Platform's Flow Service API. It is safe for
// concurrent use. Create one with New.
type Client struct {
	baseURL  string // no trailing slash
	http     *http.Client
	tokens   oauth2.TokenSource
	apiKey   string
	orgID    string
	sandbox  string
	retry    RetryPolicy
	sleep    func(ctx context.Context, d time.Duration) error
	maxBytes int64
}

// Option configures a Client.
type Option func(*Client) error

// WithBaseURL sets the Flow Service base URL (default DefaultBaseURL), for
// example a flowtest server's URL. It must be https, or plain http to a
// loopback address (an emulator), and carry no userinfo, query or fragment.
func WithBaseURL(base string) Option {
	return func(c *Client) error {
		u, err := checkEndpoint("base url", base)
		if err != nil {
			return err
		}
		c.baseURL = strings.TrimRight(u.String(), "/")
		return nil
	}
}

// WithHTTPClient sets the HTTP client that carries API calls (default: one
// with a 2-minute timeout). It is copied, and the copy never follows a
// redirect: a 3xx reply is a *RedirectError. It does not carry IMS token
// requests; see IMSConfig.HTTPClient.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("flowclient: nil http client")
		}
		c.http = noRedirects(hc, 0)
		return nil
	}
}

// WithTokenSource sets where access tokens come from: IMSTokenSource for an
// OAuth server-to-server credential, or oauth2.StaticTokenSource for a ready
// bearer token. Required.
//
// A 401 from Flow Service means the token was refused. When ts is a
// RenewableTokenSource (an *IMSSession), the client invalidates the token
// and repeats the call once with a new one; otherwise, or if the new token
// is refused too, the call fails with a *TokenRefusedError.
func WithTokenSource(ts oauth2.TokenSource) Option {
	return func(c *Client) error {
		if ts == nil {
			return errors.New("flowclient: nil token source")
		}
		c.tokens = ts
		return nil
	}
}

// WithAPIKey sets the x-api-key header: the credential's client id. Required.
func WithAPIKey(key string) Option {
	return func(c *Client) error { c.apiKey = key; return nil }
}

// WithOrgID sets the x-gw-ims-org-id header, as "<id>@AdobeOrg". Required.
func WithOrgID(org string) Option {
	return func(c *Client) error { c.orgID = org; return nil }
}

// WithSandbox sets the x-sandbox-name header, such as "prod". Required.
func WithSandbox(name string) Option {
	return func(c *Client) error { c.sandbox = name; return nil }
}

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *Client) error {
		if p.MaxRetries < 0 || p.BaseDelay < 0 || p.MaxDelay < 0 || p.MaxElapsed < 0 {
			return errors.New("flowclient: negative retry policy value")
		}
		c.retry = p
		return nil
	}
}

// WithSleep replaces the function that waits between retries. It must return
// ctx.Err() promptly once ctx is done. Tests use it to skip real waits.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) error {
		if sleep == nil {
			return errors.New("flowclient: nil sleep function")
		}
		c.sleep = sleep
		return nil
	}
}

// WithMaxResponseBytes bounds response bodies (default DefaultMaxResponseBytes).
// A larger success body is an error wrapping ErrResponseTooLarge.
func WithMaxResponseBytes(n int64) Option {
	return func(c *Client) error {
		if n <= 0 {
			return errors.New("flowclient: max response bytes must be positive")
		}
		c.maxBytes = n
		return nil
	}
}

// New returns a Client. The token source, API key, organization and sandbox
// are required: Flow Service rejects any call without them, and it is better
// to learn that before the first request than from it.
func New(opts ...Option) (*Client, error) {
	c := &Client{
		baseURL:  DefaultBaseURL,
		http:     noRedirects(nil, 2*time.Minute),
		retry:    DefaultRetryPolicy(),
		sleep:    sleepContext,
		maxBytes: DefaultMaxResponseBytes,
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, m := range []struct {
		ok   bool
		name string
	}{
		{c.tokens != nil, "token source (WithTokenSource)"},
		{c.apiKey != "", "api key (WithAPIKey)"},
		{c.orgID != "", "organization id (WithOrgID)"},
		{c.sandbox != "", "sandbox name (WithSandbox)"},
	} {
		if !m.ok {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("flowclient: missing %s", strings.Join(missing, ", "))
	}
	// Go's transport would refuse these too, but only at the first request,
	// with an error that looks like a network failure.
	for _, h := range []struct{ v, name string }{{c.apiKey, "api key"}, {c.orgID, "organization id"}, {c.sandbox, "sandbox name"}} {
		if !validHeaderValue(h.v) {
			return nil, fmt.Errorf("flowclient: %s holds a control character (a line break?), which an HTTP header cannot carry", h.name)
		}
	}
	return c, nil
}

// token returns an access token for a call made with ctx.
func (c *Client) token(ctx context.Context) (*oauth2.Token, error) {
	var tok *oauth2.Token
	var err error
	if cs, ok := c.tokens.(contextTokenSource); ok {
		tok, err = cs.TokenContext(ctx)
	} else {
		tok, err = c.tokens.Token()
	}
	if err != nil {
		var te *TokenError
		if errors.As(err, &te) {
			return nil, err // labelled by the token endpoint already
		}
		return nil, fmt.Errorf("flowclient: get access token: %w", err)
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, errors.New("flowclient: get access token: the token source returned no access token")
	}
	return tok, nil
}

// newRequest builds a request to path (below the base URL) with the four
// headers every Flow Service call needs, the access token tok, and body
// encoded as JSON when it is not nil.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body any, tok *oauth2.Token) (*http.Request, error) {
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("flowclient: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("flowclient: %s %s: %w", method, path, err)
	}
	if !validHeaderValue(tok.AccessToken) {
		return nil, &requestError{method: method, url: u, msg: "the access token holds a control character (a line break?), which an HTTP header cannot carry; nothing was sent"}
	}
	c.setHeaders(req.Header, tok.AccessToken, body != nil)
	return req, nil
}

// setHeaders sets the headers every Flow Service call carries.
func (c *Client) setHeaders(h http.Header, token string, hasBody bool) {
	h.Set("Authorization", "Bearer "+token)
	h.Set("x-api-key", c.apiKey)
	h.Set("x-gw-ims-org-id", c.orgID)
	h.Set("x-sandbox-name", c.sandbox)
	h.Set("Accept", "application/json")
	h.Set("User-Agent", userAgent)
	if hasBody {
		h.Set("Content-Type", "application/json")
	}
}

// do sends req once, turns a non-2xx reply into an *APIError (a 3xx into a
// *RedirectError) and decodes a 2xx body into v (unless v is nil or the
// body is empty).
func (c *Client) do(req *http.Request, v any) error {
	if err := req.Context().Err(); err != nil {
		// Known not to have been sent; the transport would say nothing
		// that tells this apart from a request cut off mid-way.
		return &transportError{method: req.Method, url: req.URL.String(), err: err}
	}
	var trace sendTrace
	req = req.WithContext(trace.with(req.Context()))
	resp, err := c.http.Do(req)
	if err != nil {
		var re *RedirectError
		if errors.As(err, &re) {
			return re
		}
		return &transportError{method: req.Method, url: req.URL.String(), err: err, sent: trace.mayHaveSent()}
	}
	defer resp.Body.Close()
	if isRedirect(resp.StatusCode) {
		return redirectError(req, resp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return &transportError{method: req.Method, url: req.URL.String(), err: err, sent: true}
	}
	tooLarge := int64(len(body)) > c.maxBytes
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A huge error body is still an API error: its status is what matters.
		ae := decodeError(resp.StatusCode, resp.Header, body, req.Method, req.URL.String())
		// A proxy or a debugging endpoint may echo the request back,
		// headers and all: the access token must not reach the message.
		ae.redact(credentialForms(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")))
		return ae
	}
	if tooLarge {
		return &ReplyError{StatusCode: resp.StatusCode, Err: fmt.Errorf("flowclient: %s %s: %w (over %d bytes)", req.Method, req.URL, ErrResponseTooLarge, c.maxBytes)}
	}
	if v == nil || len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &ReplyError{StatusCode: resp.StatusCode, Err: fmt.Errorf("flowclient: %s %s: decode %s reply: %w", req.Method, req.URL, statusText(resp.StatusCode), err)}
	}
	return nil
}

// credentialForms returns a credential as it may come back inside a reply:
// as sent, with '/' escaped as JSON encoders may write it, and
// percent-encoded as in a query string.
func credentialForms(cred string) []string {
	if cred == "" {
		return nil
	}
	forms := []string{cred}
	for _, f := range []string{strings.ReplaceAll(cred, "/", `\/`), url.QueryEscape(cred)} {
		if f != cred {
			forms = append(forms, f)
		}
	}
	return forms
}

// ReplyError is a success reply the client could not read (too large, or
// not the JSON expected): the server acted, but its answer is lost.
type ReplyError struct {
	StatusCode int   // the reply's HTTP status, 2xx
	Err        error // what was wrong with the body; wraps ErrResponseTooLarge when it was too large
}

// Error returns Err's message.
func (e *ReplyError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *ReplyError) Unwrap() error { return e.Err }

// call is build, do, check and decode, retried per the client's policy.
// Only idempotent calls use it; CreateConnection has its own loop.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	return c.withRetry(ctx, func() error {
		return c.once(ctx, method, path, query, in, out, nil)
	})
}

// once is call without retries, except that a refused token is renewed
// once when the token source can renew it. Repeating the call is safe even
// for a create: a 401 comes from the gateway, which refused the request.
func (c *Client) once(ctx context.Context, method, path string, query url.Values, in, out any, hdr http.Header) error {
	tok, err := c.token(ctx)
	if err != nil {
		return err
	}
	err = c.send(ctx, method, path, query, in, out, tok, hdr)
	ae, ok := asAPIError(err)
	if !ok || ae.StatusCode != http.StatusUnauthorized {
		return err
	}
	rs, ok := c.tokens.(RenewableTokenSource)
	if !ok {
		return &TokenRefusedError{Static: true, Err: ae}
	}
	rs.Invalidate(tok)
	if tok, err = c.token(ctx); err != nil {
		return err
	}
	err = c.send(ctx, method, path, query, in, out, tok, hdr)
	if ae, ok := asAPIError(err); ok && ae.StatusCode == http.StatusUnauthorized {
		return &TokenRefusedError{Err: ae}
	}
	return err
}

// send builds and does one request with tok, and the extra headers hdr
// (such as If-Match) when not nil.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in, out any, tok *oauth2.Token, hdr http.Header) error {
	req, err := c.newRequest(ctx, method, path, query, in, tok)
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(hdr)) { // the same header is named every time
		for _, v := range hdr[k] {
			if !validHeaderValue(v) {
				return &requestError{method: method, url: req.URL.String(), msg: "header " + k + " holds a control character, which an HTTP header cannot carry; nothing was sent"}
			}
			req.Header.Add(k, v)
		}
	}
	return c.do(req, out)
}
