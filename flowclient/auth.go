package flowclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// DefaultIMSTokenURL is Adobe IMS's OAuth server-to-server token endpoint.
const DefaultIMSTokenURL = "https://ims-na1.adobelogin.com/ims/token/v3"

// DefaultIMSScopes are the scopes Adobe Developer Console lists for an
// Experience Platform OAuth server-to-server credential.
var DefaultIMSScopes = []string{"openid", "session", "AdobeID", "read_organizations", "additional_info.projectedProductContext"}

// DefaultEarlyExpiry is how long before its stated expiry a cached IMS token
// is replaced, so that no request leaves with a token about to lapse.
const DefaultEarlyExpiry = 5 * time.Minute

// maxTokenReply bounds an IMS reply: a token reply is a few kilobytes.
const maxTokenReply = 64 << 10

// IMSConfig describes an Adobe IMS OAuth server-to-server credential.
type IMSConfig struct {
	// ClientID is the credential's client id (also sent as x-api-key).
	ClientID string
	// ClientSecret is the credential's secret. It is sent only to TokenURL, in
	// the form body, and never appears in an error.
	ClientSecret string
	// Scopes default to DefaultIMSScopes. IMS expects them comma-separated in
	// one scope parameter, and that is how they are sent.
	Scopes []string
	// TokenURL defaults to DefaultIMSTokenURL. It must be https, or plain
	// http to a loopback address (an emulator), and carry no userinfo,
	// query or fragment.
	TokenURL string
	// HTTPClient carries the token requests (default: a client with a
	// one-minute timeout). It is copied, and the copy never follows a
	// redirect, so the form and its client secret go to TokenURL only.
	HTTPClient *http.Client
	// EarlyExpiry defaults to DefaultEarlyExpiry.
	EarlyExpiry time.Duration
}

// RenewableTokenSource is a token source that can forget a token Flow
// Service refused, so that its next Token call fetches a new one. A Client
// renews a token only with such a source: on a 401 it calls Invalidate with
// the refused token and repeats the call once with a new token. *IMSSession
// is one; oauth2.StaticTokenSource is not.
type RenewableTokenSource interface {
	oauth2.TokenSource
	// Invalidate forgets tok if it is the token in the cache. A token
	// already replaced is left alone, so that calls refused together fetch
	// one new token between them.
	Invalidate(tok *oauth2.Token)
}

// contextTokenSource is a token source whose fetch follows the caller's
// context. The Client uses TokenContext when the source has it, so that a
// cancelled call does not wait for a token.
type contextTokenSource interface {
	TokenContext(ctx context.Context) (*oauth2.Token, error)
}

// IMSSession is a client credentials session at Adobe IMS: it fetches an
// access token with a form-encoded POST of grant_type=client_credentials,
// client_id, client_secret and scope, caches it, and fetches a new one
// EarlyExpiry before it expires (IMS tokens live about 24 h and come with no
// refresh token) or after Invalidate. It is safe for concurrent use, and
// concurrent callers share one fetch. Create one with IMSTokenSource.
//
// Failures are *TokenError values, which name the token endpoint and never
// hold the client secret.
type IMSSession struct {
	tokenURL string
	clientID string
	secret   string
	scope    string
	hc       *http.Client
	early    time.Duration
	ctx      context.Context
	secrets  []string

	fetching chan struct{} // a one-slot semaphore held while fetching
	mu       sync.Mutex
	tok      *oauth2.Token
}

// IMSTokenSource returns a client credentials session at Adobe IMS for cfg.
// Nothing is sent until the first token is needed. A TokenURL that breaks
// the transport rules (plain http to a host other than loopback, userinfo)
// is an error here, before any request.
//
// ctx is used by Token, which has no context of its own, so it should live
// as long as the session. A Client calls TokenContext with the context of
// the call instead.
func IMSTokenSource(ctx context.Context, cfg IMSConfig) (*IMSSession, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("flowclient: ims: client id is empty")
	}
	if cfg.ClientSecret == "" {
		return nil, errors.New("flowclient: ims: client secret is empty")
	}
	if !validHeaderValue(cfg.ClientID) {
		return nil, errors.New("flowclient: ims: client id holds a control character")
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = DefaultIMSTokenURL
	}
	u, err := checkEndpoint("ims token url", tokenURL)
	if err != nil {
		return nil, err
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = DefaultIMSScopes
	}
	early := cfg.EarlyExpiry
	if early <= 0 {
		early = DefaultEarlyExpiry
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return &IMSSession{
		tokenURL: u.String(),
		clientID: cfg.ClientID,
		secret:   cfg.ClientSecret,
		scope:    strings.Join(scopes, ","),
		hc:       noRedirects(cfg.HTTPClient, time.Minute),
		early:    early,
		ctx:      ctx,
		secrets:  secretForms(cfg.ClientSecret),
		fetching: make(chan struct{}, 1),
	}, nil
}

// URL is the token endpoint, as errors name it.
func (s *IMSSession) URL() string { return s.tokenURL }

// Token returns the cached token, or fetches one with the context given to
// IMSTokenSource.
func (s *IMSSession) Token() (*oauth2.Token, error) { return s.TokenContext(s.ctx) }

// TokenContext returns the cached token, or fetches one with ctx.
func (s *IMSSession) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	select {
	case s.fetching <- struct{}{}:
	case <-ctx.Done():
		return nil, s.failure(0, ctx.Err(), "%v", ctx.Err())
	}
	defer func() { <-s.fetching }()
	s.mu.Lock()
	tok := s.tok
	s.mu.Unlock()
	if tok != nil && (tok.Expiry.IsZero() || time.Now().Add(s.early).Before(tok.Expiry)) {
		cp := *tok
		return &cp, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.tok = tok
	s.mu.Unlock()
	cp := *tok
	return &cp, nil
}

// Invalidate forgets tok if it is the cached token: the next TokenContext
// fetches a new one.
func (s *IMSSession) Invalidate(tok *oauth2.Token) {
	if tok == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken == tok.AccessToken {
		s.tok = nil
	}
}

// fetch asks IMS for a token: build, do, check, decode, as for Flow
// Service calls. It makes exactly one request; retries are the Client's.
func (s *IMSSession) fetch(ctx context.Context) (*oauth2.Token, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {s.clientID},
		"client_secret": {s.secret},
		"scope":         {s.scope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, s.failure(0, nil, "cannot build the request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.hc.Do(req)
	if err != nil {
		var re *RedirectError
		if errors.As(err, &re) {
			return nil, s.failure(re.StatusCode, re, "%s", re.text())
		}
		return nil, s.failure(0, err, "%v", unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenReply+1))
	if err != nil {
		return nil, s.failure(0, err, "reading the reply: %v", err)
	}
	status := resp.StatusCode
	switch {
	case isRedirect(status):
		re := redirectError(req, resp)
		return nil, s.failure(status, re, "%s", re.text())
	case status < 200 || status > 299:
		ae := decodeError(status, resp.Header, body, req.Method, s.tokenURL)
		te := s.failure(status, nil, "%s", statusText(status))
		te.Code, te.Description = redactAll(ae.Code, s.secrets), redactAll(ae.Detail, s.secrets)
		te.RetryAfter = ae.RetryAfter
		te.appendDetail()
		return nil, te
	case len(body) > maxTokenReply:
		return nil, s.failure(status, ErrResponseTooLarge, "the reply is larger than %d bytes", maxTokenReply)
	}
	return s.decode(status, resp.Header, body)
}

// tokenReply is IMS's reply: {access_token, token_type, expires_in}, or an
// OAuth error. Fields are raw so that a wrong type is a clear error rather
// than a decode failure.
type tokenReply struct {
	AccessToken      json.RawMessage `json:"access_token"`
	TokenType        json.RawMessage `json:"token_type"`
	ExpiresIn        json.RawMessage `json:"expires_in"`
	Error            json.RawMessage `json:"error"`
	ErrorDescription json.RawMessage `json:"error_description"`
}

// decode reads a 2xx reply. Anything but a JSON object with a bearer token
// is an error at once: a reply that is not what IMS documents will not
// become so by asking again.
func (s *IMSSession) decode(status int, h http.Header, body []byte) (*oauth2.Token, error) {
	var r tokenReply
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &r) != nil {
		ct := "none"
		if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil && mt != "" {
			ct = mt
		}
		return nil, s.failure(status, nil, "the reply is not a JSON object (content type %s)", oneLine(ct, 60))
	}
	if code := scalarText(r.Error); code != "" {
		te := s.failure(status, nil, "the reply is an error")
		te.Code, te.Description = redactAll(code, s.secrets), redactAll(scalarText(r.ErrorDescription), s.secrets)
		te.appendDetail()
		return nil, te
	}
	tok := strings.TrimSpace(string(r.AccessToken))
	if tok == "" || tok == "null" || tok[0] != '"' {
		return nil, s.failure(status, nil, "the reply has no access_token")
	}
	access := scalarText(r.AccessToken)
	if !isBearerToken(access) {
		return nil, s.failure(status, nil, "the reply's access_token is not a bearer token (RFC 6750: letters, digits and -._~+/, then any =)")
	}
	if tt := scalarText(r.TokenType); tt != "" && !strings.EqualFold(tt, "bearer") {
		return nil, s.failure(status, nil, "the reply's token_type is not bearer")
	}
	out := &oauth2.Token{AccessToken: access, TokenType: "Bearer"}
	// expires_in is a number of seconds; a string of digits is accepted too.
	// Without one the token is kept until Flow Service refuses it.
	if secs, err := strconv.ParseInt(scalarText(r.ExpiresIn), 10, 64); err == nil && secs > 0 {
		out.ExpiresIn = secs
		out.Expiry = time.Now().Add(time.Duration(secs) * time.Second)
	}
	return out, nil
}

// isBearerToken reports whether tok has RFC 6750's b64token syntax:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isBearerToken(tok string) bool {
	body := strings.TrimRight(tok, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		switch b := body[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("-._~+/", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// failure builds a *TokenError for this endpoint, its text redacted.
func (s *IMSSession) failure(status int, cause error, format string, args ...any) *TokenError {
	return &TokenError{
		StatusCode: status,
		URL:        s.tokenURL,
		msg:        fmt.Sprintf("flowclient: getting a token from IMS (%s): ", s.tokenURL) + redactAll(fmt.Sprintf(format, args...), s.secrets),
		cause:      cause,
	}
}

// secretForms lists the ways a secret might be echoed back: as is, and
// form- or path-encoded.
func secretForms(secret string) []string {
	forms := []string{secret}
	for _, f := range []string{url.QueryEscape(secret), url.PathEscape(secret)} {
		if f != secret {
			forms = append(forms, f)
		}
	}
	return forms
}

// TokenError is a failure to obtain an access token from IMS. Its message
// names the token endpoint, so that it is labelled by the call that failed
// and not by the Flow Service call that needed the token.
type TokenError struct {
	// StatusCode is the token endpoint's HTTP status; zero when no complete
	// reply came (a transport failure).
	StatusCode int
	// URL is the token endpoint.
	URL string
	// Code and Description are the OAuth error and error_description, if any.
	Code        string
	Description string
	// RetryAfter is the endpoint's Retry-After advice, zero when absent.
	RetryAfter time.Duration
	msg        string
	cause      error // a transport failure or a *RedirectError; never the reply body
}

// Error describes the failure, without the client secret.
func (e *TokenError) Error() string { return e.msg }

// Unwrap returns the transport failure or the *RedirectError, if that is
// what happened. The endpoint's reply body is deliberately not kept.
func (e *TokenError) Unwrap() error { return e.cause }

// appendDetail adds the OAuth code and description to the message.
func (e *TokenError) appendDetail() {
	if e.Code != "" {
		e.msg += ": " + oneLine(e.Code, 80)
	}
	if e.Description != "" {
		e.msg += ": " + oneLine(e.Description, 200)
	}
}

// TokenRefusedError is a 401 reply from Flow Service: the gateway refused
// the access token (expired, revoked or not valid). With a token source
// that can renew (a RenewableTokenSource such as *IMSSession) the client has
// already fetched a new token and repeated the call once, and the new token
// was refused too. With any other source (oauth2.StaticTokenSource, a token
// given ready-made) Static is true and the call was not repeated, since
// only whoever issued the token can issue another.
type TokenRefusedError struct {
	// Static is true when the token source cannot renew its token.
	Static bool
	// Err is the 401 reply.
	Err *APIError
}

// Error describes the reply and what was tried.
func (e *TokenRefusedError) Error() string {
	if e.Static {
		return e.Err.Error() + ": the access token was refused, and a ready-made token cannot be renewed"
	}
	return e.Err.Error() + ": the access token was refused, also after a new one was fetched"
}

// Unwrap returns the 401 reply, so that errors.As finds the *APIError.
func (e *TokenRefusedError) Unwrap() error { return e.Err }
