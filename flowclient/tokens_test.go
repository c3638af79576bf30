package flowclient_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/flowclient/flowtest"
)

// okProber lets /test succeed.
func okProber(context.Context, flowtest.ProbeRequest) ([]flowtest.ExploreItem, error) {
	return []flowtest.ExploreItem{{Type: "table", Name: "orders", Path: "public.orders"}}, nil
}

// sessionClient is a client of srv whose tokens come from srv's IMS
// endpoint (session true) or are srv's static token.
func sessionClient(t *testing.T, srv *flowtest.Server, session bool, sl *sleeps) *flowclient.Client {
	t.Helper()
	var ts oauth2.TokenSource = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.Token()})
	if session {
		s, err := flowclient.IMSTokenSource(context.Background(), flowclient.IMSConfig{
			ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(), TokenURL: srv.TokenURL(),
		})
		require.NoError(t, err)
		ts = s
	}
	c, err := flowclient.New(flowclient.WithBaseURL(srv.URL()), flowclient.WithTokenSource(ts),
		flowclient.WithAPIKey(srv.ClientID()), flowclient.WithOrgID(srv.Org()), flowclient.WithSandbox(sandbox),
		flowclient.WithSleep(sl.sleep))
	require.NoError(t, err)
	return c
}

// TestUnauthorizedOnce: a 401 on create, look-up or test. A client
// credentials session fetches a new token and repeats the call once; a
// static token is not repeated, and the error says the token was refused.
func TestUnauthorizedOnce(t *testing.T) {
	calls := []struct {
		name         string
		method, path string // the call's request, as the emulator logs it
		run          func(ctx context.Context, c *flowclient.Client, id string) error
	}{
		{"create", http.MethodPost, "/connections", func(ctx context.Context, c *flowclient.Client, _ string) error {
			_, err := c.CreateConnection(ctx, basicConn("orders"))
			return err
		}},
		{"look-up", http.MethodGet, "/connections", func(ctx context.Context, c *flowclient.Client, _ string) error {
			_, err := c.FindConnectionByName(ctx, "orders", flowclient.PostgreSQLSpecID)
			return err
		}},
		{"test", http.MethodGet, "/test", func(ctx context.Context, c *flowclient.Client, id string) error {
			res, err := c.TestConnection(ctx, id)
			if err == nil && !res.OK {
				t.Errorf("test failed: %s", res.Message)
			}
			return err
		}},
	}
	for _, session := range []bool{true, false} {
		kind := map[bool]string{true: "ims session", false: "static token"}[session]
		for _, call := range calls {
			t.Run(kind+"/"+call.name, func(t *testing.T) {
				srv := flowtest.NewServer(flowtest.WithProber(okProber))
				t.Cleanup(srv.Close)
				sl := &sleeps{}
				c := sessionClient(t, srv, session, sl)
				ctx := context.Background()
				id := ""
				if call.name == "test" {
					created, err := c.CreateConnection(ctx, basicConn("existing"))
					require.NoError(t, err)
					id = created.ID
				}
				before := countRequests(srv, call.method, call.path)
				tokensBefore := countRequests(srv, http.MethodPost, flowtest.TokenPath)
				srv.UnauthorizedNext(1)

				err := call.run(ctx, c, id)
				calls := countRequests(srv, call.method, call.path) - before
				tokens := countRequests(srv, http.MethodPost, flowtest.TokenPath) - tokensBefore
				assert.Empty(t, sl.waits(), "a 401 is not a backoff retry")
				if session {
					require.NoError(t, err)
					assert.Equal(t, 2, calls, "the call, then once more")
					if call.name == "test" {
						assert.Equal(t, 1, tokens, "one new token")
					} else {
						assert.Equal(t, 2, tokens, "the first token, then a new one")
					}
					if call.name == "create" {
						assert.Len(t, srv.Connections(), 1, "created once")
					}
					return
				}
				var tre *flowclient.TokenRefusedError
				require.ErrorAs(t, err, &tre)
				assert.True(t, tre.Static)
				assert.Equal(t, http.StatusUnauthorized, tre.Err.StatusCode)
				assert.Equal(t, "401013", tre.Err.Code)
				assert.Contains(t, err.Error(), "the access token was refused, and a ready-made token cannot be renewed")
				assert.True(t, flowclient.IsUnauthorized(err))
				assert.False(t, flowclient.IsRetryable(err))
				assert.False(t, flowclient.OutcomeUnknown(err), "a 401 was refused")
				assert.Equal(t, 1, calls, "a static token is not tried again")
				assert.Zero(t, tokens)
				if call.name == "create" {
					assert.Empty(t, srv.Connections())
				}
			})
		}
	}
}

// TestUnauthorized_NewTokenRefusedToo: the renewal happens once, never in a
// loop, and the error says a new token was refused too.
func TestUnauthorized_NewTokenRefusedToo(t *testing.T) {
	for _, n := range []int{2, 3, 100} {
		srv := flowtest.NewServer()
		t.Cleanup(srv.Close)
		sl := &sleeps{}
		c := sessionClient(t, srv, true, sl)
		srv.UnauthorizedNext(n)
		_, err := c.CreateConnection(context.Background(), basicConn("orders"))
		var tre *flowclient.TokenRefusedError
		require.ErrorAs(t, err, &tre)
		assert.False(t, tre.Static)
		assert.Contains(t, err.Error(), "also after a new one was fetched")
		assert.False(t, flowclient.OutcomeUnknown(err))
		assert.Equal(t, 2, countRequests(srv, http.MethodPost, "/connections"), "n=%d", n)
		assert.Equal(t, 2, countRequests(srv, http.MethodPost, flowtest.TokenPath), "n=%d", n)
		assert.Empty(t, sl.waits())
		assert.Empty(t, srv.Connections())
	}
}

// TestUnauthorized_ConcurrentCallsRenewOnce: calls refused together with
// the same token fetch one new token between them.
func TestUnauthorized_ConcurrentCallsRenewOnce(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	c := sessionClient(t, srv, true, &sleeps{})
	ctx := context.Background()
	_, err := c.ListConnections(ctx, flowclient.ListOptions{})
	require.NoError(t, err)
	srv.RevokeTokens()

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = c.ListConnections(ctx, flowclient.ListOptions{})
		})
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
	assert.Equal(t, 2, countRequests(srv, http.MethodPost, flowtest.TokenPath), "the first token and one renewal")
}

// TestIMSSession_Invalidate: only the cached token is forgotten.
func TestIMSSession_Invalidate(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	s, err := flowclient.IMSTokenSource(context.Background(), flowclient.IMSConfig{
		ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(), TokenURL: srv.TokenURL(),
	})
	require.NoError(t, err)
	var _ flowclient.RenewableTokenSource = s
	t1, err := s.Token()
	require.NoError(t, err)
	s.Invalidate(&oauth2.Token{AccessToken: "another"})
	s.Invalidate(nil)
	again, err := s.Token()
	require.NoError(t, err)
	assert.Equal(t, t1.AccessToken, again.AccessToken, "an unknown token changes nothing")
	s.Invalidate(t1)
	t2, err := s.Token()
	require.NoError(t, err)
	assert.NotEqual(t, t1.AccessToken, t2.AccessToken)
	s.Invalidate(t1) // late: t1 is already replaced
	t3, err := s.Token()
	require.NoError(t, err)
	assert.Equal(t, t2.AccessToken, t3.AccessToken)
	assert.Equal(t, 2, countRequests(srv, http.MethodPost, flowtest.TokenPath))
	assert.Equal(t, srv.TokenURL(), s.URL())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Invalidate(t3)
	_, err = s.TokenContext(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, flowclient.IsRetryable(err))
}

// TestIMS_MalformedReplies: a 200 from IMS that is not a token will not
// become one by asking again. It fails after exactly one token request, and
// the message names the token endpoint, not the Flow Service call.
func TestIMS_MalformedReplies(t *testing.T) {
	tests := []struct {
		name    string
		fault   flowtest.TokenFault // from the emulator
		ctype   string              // else from a server replying ctype and body
		body    string
		wantErr string
	}{
		{name: "200 without access_token", fault: flowtest.TokenNoAccessToken, wantErr: "the reply has no access_token"},
		{name: "200 html page", fault: flowtest.TokenHTML, wantErr: "the reply is not a JSON object (content type text/html)"},
		{name: "200 json cut short", fault: flowtest.TokenNotJSON, wantErr: "the reply is not a JSON object (content type application/json)"},
		{name: "200 malformed token", fault: flowtest.TokenMalformed, wantErr: "the reply's access_token is not a bearer token"},
		{name: "200 form-encoded", ctype: "text/plain", body: "access_token=abc&token_type=bearer", wantErr: "not a JSON object (content type text/plain)"},
		{name: "200 empty", ctype: "application/json", body: "", wantErr: "not a JSON object"},
		{name: "200 json array", ctype: "application/json", body: `[{"access_token":"abc"}]`, wantErr: "not a JSON object"},
		{name: "200 access_token a number", ctype: "application/json", body: `{"access_token":12345}`, wantErr: "no access_token"},
		{name: "200 access_token null", ctype: "application/json", body: `{"access_token":null}`, wantErr: "no access_token"},
		{name: "200 oauth error", ctype: "application/json", body: `{"error":"invalid_client","error_description":"bad ` + sentinel + `"}`, wantErr: "the reply is an error: invalid_client: bad ********"},
		{name: "200 token_type mac", ctype: "application/json", body: `{"access_token":"abc","token_type":"mac"}`, wantErr: "token_type is not bearer"},
		{name: "200 too large", ctype: "application/json", body: `{"access_token":"abc","pad":"` + strings.Repeat("x", 70<<10) + `"}`, wantErr: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := flowtest.NewServer(flowtest.WithClientCredentials(flowtest.DefaultClientID, sentinel))
			t.Cleanup(srv.Close)
			tokenURL := srv.TokenURL()
			var hits int
			var mu sync.Mutex
			if tt.fault != 0 {
				srv.TokenFaultNext(1, tt.fault)
			} else {
				ims := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					hits++
					mu.Unlock()
					w.Header().Set("Content-Type", tt.ctype)
					_, _ = io.WriteString(w, tt.body)
				}))
				t.Cleanup(ims.Close)
				tokenURL = ims.URL + flowtest.TokenPath
			}
			ts, err := flowclient.IMSTokenSource(context.Background(), flowclient.IMSConfig{
				ClientID: flowtest.DefaultClientID, ClientSecret: sentinel, TokenURL: tokenURL,
			})
			require.NoError(t, err)
			sl := &sleeps{}
			c, err := flowclient.New(flowclient.WithBaseURL(srv.URL()), flowclient.WithTokenSource(ts),
				flowclient.WithAPIKey(srv.ClientID()), flowclient.WithOrgID(srv.Org()), flowclient.WithSandbox("prod"),
				flowclient.WithSleep(sl.sleep))
			require.NoError(t, err)

			_, err = c.CreateConnection(context.Background(), basicConn("orders"))
			var te *flowclient.TokenError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, http.StatusOK, te.StatusCode)
			assert.Equal(t, tokenURL, te.URL)
			assert.True(t, strings.HasPrefix(err.Error(), "flowclient: getting a token from IMS ("+tokenURL+"): "), err.Error())
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), sentinel)
			assert.NotContains(t, err.Error(), "X-Injected")
			assert.False(t, flowclient.IsRetryable(err))
			assert.False(t, flowclient.OutcomeUnknown(err), "the create was never sent")
			assert.Empty(t, sl.waits(), "failed at once")
			if tt.fault != 0 {
				assert.Equal(t, 1, countRequests(srv, http.MethodPost, flowtest.TokenPath), "one token request")
			} else {
				mu.Lock()
				assert.Equal(t, 1, hits, "one token request")
				mu.Unlock()
			}
			assert.Zero(t, countRequests(srv, http.MethodPost, "/connections"), "no create without a token")
		})
	}
}

// TestIMS_TransientFailureRetried: what can change is still retried: a 503
// from IMS, then a token.
func TestIMS_TransientFailureRetried(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	var mu sync.Mutex
	calls := 0
	ims := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "<html>maintenance</html>")
			return
		}
		srv.ServeHTTP(w, r) // the emulator's IMS endpoint, through the handler
	}))
	t.Cleanup(ims.Close)
	ts, err := flowclient.IMSTokenSource(context.Background(), flowclient.IMSConfig{
		ClientID: srv.ClientID(), ClientSecret: srv.ClientSecret(), TokenURL: ims.URL + flowtest.TokenPath,
	})
	require.NoError(t, err)
	sl := &sleeps{}
	c, err := flowclient.New(flowclient.WithBaseURL(srv.URL()), flowclient.WithTokenSource(ts),
		flowclient.WithAPIKey(srv.ClientID()), flowclient.WithOrgID(srv.Org()), flowclient.WithSandbox("prod"),
		flowclient.WithSleep(sl.sleep))
	require.NoError(t, err)
	_, err = c.ListConnections(context.Background(), flowclient.ListOptions{})
	require.NoError(t, err)
	mu.Lock()
	assert.Equal(t, 2, calls)
	mu.Unlock()
	require.Len(t, sl.waits(), 1)
	assert.GreaterOrEqual(t, sl.waits()[0].Seconds(), 7.0, "IMS's Retry-After is honoured")
}
