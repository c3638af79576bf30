package flowclient_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
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

// sentinel stands for a secret in URLs: it must never show in an error.
const sentinel = "S3ntinel-Pa55"

// noDial is an HTTP client whose every dial fails the test.
func noDial(t *testing.T) *http.Client {
	fail := func(_ context.Context, network, addr string) (net.Conn, error) {
		t.Errorf("dialed %s %s", network, addr)
		return nil, errors.New("test: no dial allowed")
	}
	return &http.Client{Transport: &http.Transport{DialContext: fail, DialTLSContext: fail, Proxy: nil}}
}

// endpointOpts are the options New needs besides a base URL.
func endpointOpts(t *testing.T) []flowclient.Option {
	return []flowclient.Option{
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"})),
		flowclient.WithAPIKey("key"), flowclient.WithOrgID("ORG@AdobeOrg"), flowclient.WithSandbox("prod"),
		flowclient.WithHTTPClient(noDial(t)),
	}
}

// TestEndpoint_PlainHTTPOnlyToLoopback: the Flow Service base URL and the
// IMS token URL must be https, or plain http to a loopback address. The
// rule is applied when the client or session is built, before any request.
func TestEndpoint_PlainHTTPOnlyToLoopback(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string // "" means accepted
	}{
		{"https://platform.adobe.io/data/foundation/flowservice", ""},
		{"https://198.18.0.1:8443/x", ""},
		{"http://127.0.0.1:8080/x", ""},
		{"http://127.1.2.3:8080", ""},
		{"http://[::1]:8080/x", ""},
		{"http://[::ffff:127.0.0.1]:8080/x", ""},
		{"http://localhost:8080/x", ""},
		{"http://LOCALHOST./x", ""},
		{"http://platform.adobe.io/data/foundation/flowservice", "plain http to a host that is not loopback"},
		{"http://ims-na1.adobelogin.com/ims/token/v3", "plain http to a host that is not loopback"},
		{"http://198.18.0.1:8080/x", "plain http"},
		{"http://10.1.2.3/x", "plain http"},
		{"http://[::2]:80/x", "plain http"},
		{"http://0.0.0.0:80/x", "plain http"},
		{"http://localhost.example.com/x", "plain http"},
		{"http://127.0.0.1.nip.io/x", "plain http"},
		{"http://2130706433/x", "plain http"},
		{"ftp://127.0.0.1/x", "scheme must be https"},
		{"https:///x", "invalid"},
		{"platform.adobe.io", "invalid"},
		{"https://platform.adobe.io/x?q=1", "query or fragment"},
		{"https://platform.adobe.io/x#f", "query or fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := flowclient.New(append(endpointOpts(t), flowclient.WithBaseURL(tt.url))...)
			_, ierr := flowclient.IMSTokenSource(context.Background(), flowclient.IMSConfig{
				ClientID: "id", ClientSecret: "secret", TokenURL: tt.url, HTTPClient: noDial(t),
			})
			if tt.wantErr == "" {
				assert.NoError(t, err)
				assert.NoError(t, ierr)
				return
			}
			require.Error(t, err)
			require.Error(t, ierr)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, ierr.Error(), tt.wantErr)
			assert.True(t, strings.HasPrefix(err.Error(), "flowclient: "), err.Error())
			assert.Contains(t, err.Error(), "base url")
			assert.Contains(t, ierr.Error(), "ims token url")
		})
	}
}

// TestEndpoint_UserinfoRefusedWithoutEcho: credentials in a URL are
// refused, and the error, which names the URL, does not repeat them; nor a
// query, which may carry a secret too.
func TestEndpoint_UserinfoRefusedWithoutEcho(t *testing.T) {
	tests := []struct {
		name, url, wantErr string
	}{
		{"user and password", "https://user:" + sentinel + "@platform.adobe.io/data/foundation/flowservice", "credentials"},
		{"password only on loopback", "http://:" + sentinel + "@127.0.0.1:8080/x", "credentials"},
		{"user only", "https://" + sentinel + "@platform.adobe.io/x", "credentials"},
		{"plain http with userinfo", "http://user:" + sentinel + "@platform.adobe.io/x", "credentials"},
		{"unparsable, bad port", "https://user:" + sentinel + "@platform.adobe.io:port/x", "invalid"},
		{"unparsable, bad escape", "https://user:" + sentinel + "@platform.adobe.io/%zz", "invalid"},
		{"unparsable, no scheme", "user:" + sentinel + "@platform.adobe.io", "invalid"},
		{"secret in the query", "https://platform.adobe.io/x?token=" + sentinel, "query"},
		{"secret in the fragment", "https://platform.adobe.io/x#" + sentinel, "query or fragment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := flowclient.New(append(endpointOpts(t), flowclient.WithBaseURL(tt.url))...)
			_, ierr := flowclient.IMSTokenSource(context.Background(), flowclient.IMSConfig{
				ClientID: "id", ClientSecret: "secret", TokenURL: tt.url, HTTPClient: noDial(t),
			})
			for _, e := range []error{err, ierr} {
				require.Error(t, e)
				assert.Contains(t, e.Error(), tt.wantErr)
				assert.NotContains(t, e.Error(), sentinel)
				assert.Contains(t, e.Error(), hostOf(tt.url), "the URL is still named")
			}
		})
	}
}

// hostOf is the host part of a test URL, for checking that an error names it.
func hostOf(raw string) string {
	if strings.Contains(raw, "127.0.0.1") {
		return "127.0.0.1"
	}
	return "platform.adobe.io"
}

// recorder is an HTTP server that records what reaches it: the target of a
// redirect, which must receive nothing.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.String()+" auth="+req.Header.Get("Authorization")+" body="+string(body))
	r.mu.Unlock()
	_, _ = io.WriteString(w, `{"items":[],"id":"stolen","access_token":"stolen","expires_in":3600}`)
}

func (r *recorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// startOn starts a plain or TLS server for h on the loopback address ip.
func startOn(t *testing.T, ip string, tls bool, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err, "listen on %s (a loopback address)", ip)
	ts := httptest.NewUnstartedServer(h)
	require.NoError(t, ts.Listener.Close())
	ts.Listener = ln
	if tls {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts
}

// redirectTopology places the server that redirects and the redirect's
// target. Every one is on loopback: 127.0.0.2 is a loopback address too.
type redirectTopology struct {
	name      string
	sourceTLS bool
	targetIP  string
}

var topologies = []redirectTopology{
	{"cross-host", false, "127.0.0.2"},
	{"cross-port", false, "127.0.0.1"},
	{"https to http", true, "127.0.0.1"},
}

var redirectStatuses = []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect}

// TestRedirects_FlowCalls: a redirect from Flow Service (a proxy in front
// of it) is an error naming the target, and nothing reaches the target: no
// body (the database password), no Authorization, no x-api-key.
func TestRedirects_FlowCalls(t *testing.T) {
	calls := []struct {
		name   string
		method string
		run    func(ctx context.Context, c *flowclient.Client) error
	}{
		{"create", http.MethodPost, func(ctx context.Context, c *flowclient.Client) error {
			_, err := c.CreateConnection(ctx, basicConn("orders"))
			return err
		}},
		{"look-up", http.MethodGet, func(ctx context.Context, c *flowclient.Client) error {
			_, err := c.FindConnectionByName(ctx, "orders", flowclient.PostgreSQLSpecID)
			return err
		}},
		{"test", http.MethodGet, func(ctx context.Context, c *flowclient.Client) error {
			_, err := c.TestConnection(ctx, "0f1e2d3c-0000-4000-8000-000000000000")
			return err
		}},
	}
	for _, topo := range topologies {
		for _, status := range redirectStatuses {
			for _, call := range calls {
				t.Run(topo.name+"/"+http.StatusText(status)+"/"+call.name, func(t *testing.T) {
					target := &recorder{}
					target.Server = startOn(t, topo.targetIP, false, target)
					h := flowtest.NewHandler()
					source := startOn(t, "127.0.0.1", topo.sourceTLS, h)
					loc := target.URL + flowtest.BasePath + "/connections"
					h.RedirectNext(1, status, loc)

					sl := &sleeps{}
					c, err := flowclient.New(
						flowclient.WithBaseURL(source.URL+flowtest.BasePath),
						flowclient.WithHTTPClient(source.Client()), // trusts the TLS source; follows redirects as given
						flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: h.Token()})),
						flowclient.WithAPIKey(h.APIKey()), flowclient.WithOrgID(h.Org()), flowclient.WithSandbox(sandbox),
						flowclient.WithSleep(sl.sleep),
					)
					require.NoError(t, err)
					err = call.run(context.Background(), c)

					assert.Empty(t, target.received(), "the redirect target received something")
					var re *flowclient.RedirectError
					require.ErrorAs(t, err, &re)
					assert.Equal(t, status, re.StatusCode)
					assert.Equal(t, loc, re.Location)
					assert.Equal(t, call.method, re.Method)
					assert.Contains(t, err.Error(), loc, "the error names the target")
					assert.Contains(t, err.Error(), "not followed")
					assert.NotContains(t, err.Error(), "reply has no id")
					assert.NotContains(t, err.Error(), "s3cret-Pa55")
					assert.NotContains(t, err.Error(), h.Token())
					assert.False(t, flowclient.IsRetryable(err))
					assert.False(t, flowclient.OutcomeUnknown(err), "a redirect was not acted on")
					assert.Empty(t, sl.waits(), "not retried")
					assert.Len(t, h.Requests(), 1, "one request, to the source")
					assert.Empty(t, h.Connections())
				})
			}
		}
	}
}

// TestRedirects_HarnessDetectsReplay shows that the assertion above can
// fail: a client that follows redirects, as Go's default does, re-sends a
// 307's body and headers to the target.
func TestRedirects_HarnessDetectsReplay(t *testing.T) {
	target := &recorder{}
	target.Server = startOn(t, "127.0.0.2", false, target)
	source := startOn(t, "127.0.0.1", false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/x", http.StatusTemporaryRedirect)
	}))
	req, err := http.NewRequest(http.MethodPost, source.URL, strings.NewReader(`{"password":"`+sentinel+`"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := source.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	got := target.received()
	require.Len(t, got, 1)
	assert.Contains(t, got[0], sentinel, "Go's default policy replays the body")
}

// TestRedirects_TokenRequest: a redirect from the IMS token endpoint is a
// *TokenError wrapping a *RedirectError, and the form with the client
// secret reaches nobody else.
func TestRedirects_TokenRequest(t *testing.T) {
	for _, topo := range topologies {
		for _, status := range redirectStatuses {
			t.Run(topo.name+"/"+http.StatusText(status), func(t *testing.T) {
				target := &recorder{}
				target.Server = startOn(t, topo.targetIP, false, target)
				ims := flowtest.NewHandler(flowtest.WithClientCredentials("client-1", sentinel))
				imsSrv := startOn(t, "127.0.0.1", topo.sourceTLS, ims)
				loc := target.URL + flowtest.TokenPath
				ims.RedirectTokenNext(1, status, loc)
				flow := flowtest.NewServer()
				t.Cleanup(flow.Close)

				ts, err := flowclient.IMSTokenSource(context.Background(), flowclient.IMSConfig{
					ClientID: "client-1", ClientSecret: sentinel,
					TokenURL: imsSrv.URL + flowtest.TokenPath, HTTPClient: imsSrv.Client(),
				})
				require.NoError(t, err)
				sl := &sleeps{}
				c, err := flowclient.New(flowclient.WithBaseURL(flow.URL()), flowclient.WithTokenSource(ts),
					flowclient.WithAPIKey("client-1"), flowclient.WithOrgID(flow.Org()), flowclient.WithSandbox("prod"),
					flowclient.WithSleep(sl.sleep))
				require.NoError(t, err)
				_, err = c.ListConnections(context.Background(), flowclient.ListOptions{})

				assert.Empty(t, target.received(), "the redirect target received the token form")
				var te *flowclient.TokenError
				require.ErrorAs(t, err, &te)
				assert.Equal(t, status, te.StatusCode)
				var re *flowclient.RedirectError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, loc, re.Location)
				assert.True(t, strings.HasPrefix(err.Error(), "flowclient: getting a token from IMS ("+imsSrv.URL+flowtest.TokenPath+"): "), err.Error())
				assert.Contains(t, err.Error(), loc)
				assert.NotContains(t, err.Error(), sentinel)
				assert.False(t, flowclient.IsRetryable(err))
				assert.Empty(t, sl.waits())
				assert.Len(t, ims.Requests(), 1, "one token request")
				assert.Empty(t, flow.Requests(), "no Flow Service call without a token")
			})
		}
	}
}

// TestRedirect_LocationShownWithoutSecrets: the target is named without its
// userinfo, query or fragment, which may carry secrets.
func TestRedirect_LocationShownWithoutSecrets(t *testing.T) {
	tests := []struct {
		name     string
		location string // "" sends none; BASE is replaced by the server's URL
		want     string
	}{
		{"userinfo and query", "http://user:" + sentinel + "@127.0.0.2:9/x?client_secret=" + sentinel + "#" + sentinel, "http://127.0.0.2:9/x?********#********"},
		{"relative, with a token", "/elsewhere?access_token=" + sentinel, "BASE/elsewhere?********"},
		{"unparsable", "http://u:" + sentinel + "@[::1/x", "http://********@[::1/x"},
		{"none", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.location != "" {
					w.Header()["Location"] = []string{tt.location}
				}
				w.WriteHeader(http.StatusFound)
			}))
			t.Cleanup(ts.Close)
			c := plainClient(t, ts.URL)
			_, err := c.CreateConnection(context.Background(), basicConn("orders"))
			var re *flowclient.RedirectError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, strings.ReplaceAll(tt.want, "BASE", ts.URL), re.Location)
			assert.NotContains(t, err.Error(), sentinel)
			if tt.location == "" {
				assert.Contains(t, err.Error(), "302 Found to no location")
			}
		})
	}
}

// TestRedirect_CallerClientUnchanged: the client passed in is copied, not
// changed, and the copy refuses redirects.
func TestRedirect_CallerClientUnchanged(t *testing.T) {
	hc := &http.Client{}
	_, err := flowclient.New(append(endpointOpts(t), flowclient.WithHTTPClient(hc))...)
	require.NoError(t, err)
	_, err = flowclient.IMSTokenSource(context.Background(), flowclient.IMSConfig{ClientID: "i", ClientSecret: "s", HTTPClient: hc})
	require.NoError(t, err)
	assert.Nil(t, hc.CheckRedirect)
}

// TestLocalHeaderError: a value no HTTP header can carry fails at once,
// naming the call, without being echoed, and is not retried: Go's transport
// would refuse it with an error that reads like a network failure.
func TestLocalHeaderError(t *testing.T) {
	for _, call := range []string{"list", "create"} {
		t.Run("token/"+call, func(t *testing.T) {
			_, srv, sl := setup(t)
			bad, err := flowclient.New(flowclient.WithBaseURL(srv.URL()),
				flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok\r\nX-Injected: " + sentinel})),
				flowclient.WithAPIKey(srv.APIKey()), flowclient.WithOrgID(srv.Org()), flowclient.WithSandbox(sandbox),
				flowclient.WithSleep(sl.sleep))
			require.NoError(t, err)
			if call == "list" {
				_, err = bad.ListConnections(context.Background(), flowclient.ListOptions{})
				require.Error(t, err)
				assert.True(t, strings.HasPrefix(err.Error(), "flowclient: GET "+srv.URL()+"/connections: "), err.Error())
			} else {
				_, err = bad.CreateConnection(context.Background(), basicConn("orders"))
				require.Error(t, err)
				assert.True(t, strings.HasPrefix(err.Error(), "flowclient: POST "+srv.URL()+"/connections: "), err.Error())
			}
			assert.Contains(t, err.Error(), "access token holds a control character")
			assert.NotContains(t, err.Error(), sentinel)
			assert.False(t, flowclient.IsRetryable(err))
			assert.False(t, flowclient.OutcomeUnknown(err), "nothing was sent")
			assert.Empty(t, sl.waits(), "failed at once")
			assert.Empty(t, srv.Requests())
		})
	}
	for name, opt := range map[string]flowclient.Option{
		"api key":         flowclient.WithAPIKey("key\n" + sentinel),
		"organization id": flowclient.WithOrgID("ORG@AdobeOrg\r\n" + sentinel),
		"sandbox name":    flowclient.WithSandbox("prod\x00" + sentinel),
	} {
		t.Run("setting/"+name, func(t *testing.T) {
			_, err := flowclient.New(append(endpointOpts(t), opt)...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), name+" holds a control character")
			assert.NotContains(t, err.Error(), sentinel)
		})
	}
	_, err := flowclient.IMSTokenSource(context.Background(), flowclient.IMSConfig{ClientID: "id\n" + sentinel, ClientSecret: "s"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), sentinel)
}

// TestCertificateErrorNotRetried: a server certificate that does not verify
// will not verify on a second try; nothing was sent either.
func TestCertificateErrorNotRetried(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the handshake should have failed")
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the point
	ts.StartTLS()
	t.Cleanup(ts.Close)
	sl := &sleeps{}
	c := plainClient(t, ts.URL, flowclient.WithSleep(sl.sleep)) // does not trust the test CA
	_, err := c.CreateConnection(context.Background(), basicConn("orders"))
	require.Error(t, err)
	assert.False(t, flowclient.IsRetryable(err))
	assert.False(t, flowclient.OutcomeUnknown(err), "the handshake failed before anything was sent")
	assert.Empty(t, sl.waits())
}
