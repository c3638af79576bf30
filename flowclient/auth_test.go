package flowclient_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/flowclient/flowtest"
)

// imsClient is a client whose tokens come from the emulator's IMS endpoint.
func imsClient(t *testing.T, srv *flowtest.Server, cfg flowclient.IMSConfig) *flowclient.Client {
	t.Helper()
	if cfg.ClientID == "" {
		cfg.ClientID = srv.ClientID()
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = srv.ClientSecret()
	}
	cfg.TokenURL = srv.TokenURL()
	ts, err := flowclient.IMSTokenSource(context.Background(), cfg)
	require.NoError(t, err)
	c, err := flowclient.New(
		flowclient.WithBaseURL(srv.URL()),
		flowclient.WithTokenSource(ts),
		flowclient.WithAPIKey(srv.ClientID()), flowclient.WithOrgID(srv.Org()), flowclient.WithSandbox("prod"),
		flowclient.WithSleep((&sleeps{}).sleep),
	)
	require.NoError(t, err)
	return c
}

func TestIMS_TokenIsCached(t *testing.T) {
	srv := flowtest.NewServer() // tokens live 24 h
	t.Cleanup(srv.Close)
	c := imsClient(t, srv, flowclient.IMSConfig{})
	for range 5 {
		_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
		require.NoError(t, err)
	}
	assert.Equal(t, 1, countRequests(srv, http.MethodPost, flowtest.TokenPath), "one token for five calls")
	assert.Equal(t, 5, countRequests(srv, http.MethodGet, "/connections"))
}

func TestIMS_TokenRenewedBeforeExpiry(t *testing.T) {
	// Tokens that live 4 minutes are inside the 5-minute early-expiry margin
	// from the start, so every call must fetch a fresh one.
	srv := flowtest.NewServer(flowtest.WithTokenLifetime(4 * time.Minute))
	t.Cleanup(srv.Close)
	c := imsClient(t, srv, flowclient.IMSConfig{})
	for range 3 {
		_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
		require.NoError(t, err)
	}
	assert.Equal(t, 3, countRequests(srv, http.MethodPost, flowtest.TokenPath))

	// With a 1-minute margin the same token is reused.
	srv2 := flowtest.NewServer(flowtest.WithTokenLifetime(4 * time.Minute))
	t.Cleanup(srv2.Close)
	c2 := imsClient(t, srv2, flowclient.IMSConfig{EarlyExpiry: time.Minute})
	for range 3 {
		_, err := c2.ListConnections(context.Background(), flowclient.ListOptions{})
		require.NoError(t, err)
	}
	assert.Equal(t, 1, countRequests(srv2, http.MethodPost, flowtest.TokenPath))
}

func TestIMS_RequestForm(t *testing.T) {
	var mu sync.Mutex
	var form map[string][]string
	var authHeader, contentType string
	ims := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		mu.Lock()
		form, authHeader, contentType = r.PostForm, r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"abc","token_type":"bearer","expires_in":86399}`)
	}))
	t.Cleanup(ims.Close)
	ts, err := flowclient.IMSTokenSource(context.Background(), flowclient.IMSConfig{ClientID: "id-1", ClientSecret: "sec-1", TokenURL: ims.URL})
	require.NoError(t, err)
	tok, err := ts.Token()
	require.NoError(t, err)
	assert.Equal(t, "abc", tok.AccessToken)
	assert.WithinDuration(t, time.Now().Add(86399*time.Second), tok.Expiry, time.Minute)

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, "application/x-www-form-urlencoded", contentType)
	assert.Empty(t, authHeader, "credentials go in the form, not in Basic auth")
	assert.Equal(t, []string{"client_credentials"}, form["grant_type"])
	assert.Equal(t, []string{"id-1"}, form["client_id"])
	assert.Equal(t, []string{"sec-1"}, form["client_secret"])
	assert.Equal(t, []string{"openid,session,AdobeID,read_organizations,additional_info.projectedProductContext"}, form["scope"])
}

func TestIMS_ConfigErrors(t *testing.T) {
	ctx := context.Background()
	_, err := flowclient.IMSTokenSource(ctx, flowclient.IMSConfig{ClientSecret: "s"})
	assert.ErrorContains(t, err, "client id")
	_, err = flowclient.IMSTokenSource(ctx, flowclient.IMSConfig{ClientID: "i"})
	assert.ErrorContains(t, err, "client secret")
	_, err = flowclient.IMSTokenSource(ctx, flowclient.IMSConfig{ClientID: "i", ClientSecret: "s", TokenURL: "ims.example"})
	assert.ErrorContains(t, err, "token url")
}

func TestIMS_SecretNeverInErrors(t *testing.T) {
	const secret = "Sup3r/Secr3t+Value=="
	tests := []struct {
		name    string
		handler http.HandlerFunc
		status  int
	}{
		{"wrong secret at the emulator", nil, http.StatusUnauthorized},
		{"endpoint echoing the form", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{
				"error":             "invalid_client " + secret,
				"error_description": "bad request: " + string(body) + " secret=" + secret,
			})
		}, http.StatusBadRequest},
		{"endpoint echoing in plain text", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write(body)
		}, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := flowtest.NewServer()
			t.Cleanup(srv.Close)
			tokenURL := srv.TokenURL()
			if tt.handler != nil {
				ims := httptest.NewServer(tt.handler)
				t.Cleanup(ims.Close)
				tokenURL = ims.URL
			}
			ts, err := flowclient.IMSTokenSource(context.Background(), flowclient.IMSConfig{
				ClientID: srv.ClientID(), ClientSecret: secret, TokenURL: tokenURL,
			})
			require.NoError(t, err)
			c, err := flowclient.New(flowclient.WithBaseURL(srv.URL()), flowclient.WithTokenSource(ts),
				flowclient.WithAPIKey(srv.ClientID()), flowclient.WithOrgID(srv.Org()), flowclient.WithSandbox("prod"),
				flowclient.WithSleep((&sleeps{}).sleep))
			require.NoError(t, err)
			_, err = c.ListConnections(context.Background(), flowclient.ListOptions{})
			require.Error(t, err)
			var te *flowclient.TokenError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.status, te.StatusCode)
			for e := error(err); e != nil; e = unwrapOne(e) {
				assert.NotContains(t, e.Error(), secret)
				assert.NotContains(t, e.Error(), "Sup3r%2FSecr3t")
			}
			assert.NotContains(t, te.Description, secret)
			assert.NotContains(t, te.Code, secret)
			assert.True(t, strings.HasPrefix(err.Error(), "flowclient: getting a token from IMS ("+tokenURL+"): "), err.Error())
			assert.Zero(t, countRequests(srv, http.MethodGet, "/connections"), "no API call without a token")
		})
	}
}

func unwrapOne(err error) error {
	u, ok := err.(interface{ Unwrap() error })
	if !ok {
		return nil
	}
	return u.Unwrap()
}

func TestStaticToken(t *testing.T) {
	var got string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		_, _ = io.WriteString(w, `{"items":[]}`)
	}))
	t.Cleanup(ts.Close)
	c := plainClient(t, ts.URL, flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ready-token"})))
	_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, "Bearer ready-token", got)
}
