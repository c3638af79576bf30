package flowclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// DefaultIMSTokenURL is Adobe IMS's OAuth server-to-server token endpoint.
const DefaultIMSTokenURL = "https://ims-na1.adobelogin.com/ims/token/v3"

// DefaultIMSScopes are the scopes Adobe Developer Console lists for an
// Experience Platform OAuth server-to-server credential.
var DefaultIMSScopes = []string{"openid", "session", "AdobeID", "read_organizations", "additional_info.projectedProductContext"}

// DefaultEarlyExpiry is how long before its stated expiry a cached IMS token
// is replaced, so that no request leaves with a token about to lapse.
const DefaultEarlyExpiry = 5 * time.Minute

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
	// TokenURL defaults to DefaultIMSTokenURL.
	TokenURL string
	// HTTPClient, if set, carries the token requests.
	HTTPClient *http.Client
	// EarlyExpiry defaults to DefaultEarlyExpiry.
	EarlyExpiry time.Duration
}

// IMSTokenSource returns a token source for the client credentials grant at
// Adobe IMS: a form-encoded POST of grant_type=client_credentials, client_id,
// client_secret and scope. Tokens (valid about 24 h, with no refresh token)
// are cached and fetched again EarlyExpiry before they expire. It is safe for
// concurrent use.
//
// ctx is used for every later token request, so it should live as long as
// the token source (not a per-request context).
//
// Failures are *TokenError values, from which the client secret is removed.
func IMSTokenSource(ctx context.Context, cfg IMSConfig) (oauth2.TokenSource, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("flowclient: ims: client id is empty")
	}
	if cfg.ClientSecret == "" {
		return nil, errors.New("flowclient: ims: client secret is empty")
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = DefaultIMSTokenURL
	}
	if u, err := url.Parse(tokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("flowclient: ims: invalid token url %q", tokenURL)
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = DefaultIMSScopes
	}
	early := cfg.EarlyExpiry
	if early <= 0 {
		early = DefaultEarlyExpiry
	}
	if cfg.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, cfg.HTTPClient)
	}
	cc := &clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     tokenURL,
		// IMS reads the scope list comma-separated; clientcredentials would
		// join several entries with spaces, so hand it one entry.
		Scopes:    []string{strings.Join(scopes, ",")},
		AuthStyle: oauth2.AuthStyleInParams,
	}
	src := &scrubbingSource{src: cc.TokenSource(ctx), secrets: secretForms(cfg.ClientSecret)}
	return oauth2.ReuseTokenSourceWithExpiry(nil, src, early), nil
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

// TokenError is a failure to obtain an access token from IMS.
type TokenError struct {
	// StatusCode is the token endpoint's HTTP status; zero when no reply came.
	StatusCode int
	// Code and Description are the OAuth error and error_description, if any.
	Code        string
	Description string
	msg         string
	cause       error // a transport failure; never the endpoint's reply body
}

// Error describes the failure, without the client secret.
func (e *TokenError) Error() string { return e.msg }

// Unwrap returns the transport failure, if that is what happened. The token
// endpoint's reply (oauth2.RetrieveError, which holds the raw body) is
// deliberately not kept.
func (e *TokenError) Unwrap() error { return e.cause }

// scrubbingSource turns token errors into *TokenError with secrets removed.
type scrubbingSource struct {
	src     oauth2.TokenSource
	secrets []string
}

func (s *scrubbingSource) Token() (*oauth2.Token, error) {
	tok, err := s.src.Token()
	if err == nil {
		if tok.AccessToken == "" {
			return nil, &TokenError{StatusCode: http.StatusOK, msg: "flowclient: ims token request: reply has no access_token"}
		}
		return tok, nil
	}
	te := &TokenError{}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil {
			te.StatusCode = re.Response.StatusCode
		}
		te.Code = redactAll(re.ErrorCode, s.secrets)
		te.Description = redactAll(re.ErrorDescription, s.secrets)
		te.msg = "flowclient: ims token request: " + statusText(te.StatusCode)
		if te.Code != "" {
			te.msg += ": " + te.Code
		}
		if te.Description != "" {
			te.msg += ": " + te.Description
		}
		return nil, te
	}
	te.cause = err
	te.msg = "flowclient: ims token request: " + redactAll(err.Error(), s.secrets)
	return nil, te
}
