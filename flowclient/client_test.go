package flowclient_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/flowclient/flowtest"
)

const sandbox = "dev-sandbox"

// sleeps records the waits a client asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// setup starts an emulator and a client for it with a static token and a
// sleep that returns at once.
func setup(t *testing.T, opts ...flowtest.Option) (*flowclient.Client, *flowtest.Server, *sleeps) {
	t.Helper()
	srv := flowtest.NewServer(opts...)
	t.Cleanup(srv.Close)
	sl := &sleeps{}
	c, err := flowclient.New(
		flowclient.WithBaseURL(srv.URL()),
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.Token()})),
		flowclient.WithAPIKey(srv.APIKey()),
		flowclient.WithOrgID(srv.Org()),
		flowclient.WithSandbox(sandbox),
		flowclient.WithSleep(sl.sleep),
	)
	require.NoError(t, err)
	return c, srv, sl
}

func basicConn(name string) flowclient.Connection {
	return flowclient.Connection{
		Name:        name,
		Description: "orders database",
		Auth: flowclient.Auth{SpecName: connstr.BasicAuthSpecName, Params: flowclient.Params{
			"server": "db.example.com", "port": "5432", "database": "sales",
			"username": "aep_reader", "password": "s3cret-Pa55", "sslMode": "Verify Full",
		}},
		ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: flowclient.PostgreSQLSpecVersion},
	}
}

// countRequests counts the emulator's requests with method and a path
// ending in suffix.
func countRequests(srv *flowtest.Server, method, suffix string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

func TestNew_RequiresSettings(t *testing.T) {
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "t"})
	all := []flowclient.Option{flowclient.WithTokenSource(ts), flowclient.WithAPIKey("k"), flowclient.WithOrgID("o@AdobeOrg"), flowclient.WithSandbox("prod")}
	tests := []struct {
		name    string
		drop    int
		wantErr string
	}{
		{"no token source", 0, "token source"},
		{"no api key", 1, "api key"},
		{"no org", 2, "organization id"},
		{"no sandbox", 3, "sandbox name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []flowclient.Option
			for i, o := range all {
				if i != tt.drop {
					opts = append(opts, o)
				}
			}
			_, err := flowclient.New(opts...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.True(t, strings.HasPrefix(err.Error(), "flowclient: "), err.Error())
		})
	}
	_, err := flowclient.New(all...)
	require.NoError(t, err)

	for _, bad := range []string{"", "ftp://x", "platform.adobe.io", "https://x/?q=1", "http://%zz"} {
		_, err := flowclient.New(append(all, flowclient.WithBaseURL(bad))...)
		assert.Error(t, err, bad)
	}
	_, err = flowclient.New(append(all, flowclient.WithRetryPolicy(flowclient.RetryPolicy{MaxRetries: -1}))...)
	assert.Error(t, err)
}

func TestConnection_Lifecycle(t *testing.T) {
	c, srv, _ := setup(t)
	ctx := context.Background()

	created, err := c.CreateConnection(ctx, basicConn("orders"))
	require.NoError(t, err)
	assert.NotEmpty(t, created.ID)
	assert.False(t, created.Recovered)
	assert.True(t, strings.HasPrefix(created.Etag, `"`) && strings.HasSuffix(created.Etag, `"`), "etag keeps its quotes: %s", created.Etag)

	got, err := c.GetConnection(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, created.ID, got.ID)
	assert.Equal(t, "orders", got.Name)
	assert.Equal(t, "orders database", got.Description)
	assert.Equal(t, created.Etag, got.Etag)
	assert.Equal(t, "enabled", got.State)
	assert.Equal(t, sandbox, got.SandboxName)
	assert.Equal(t, flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: "1.0"}, got.ConnectionSpec)
	assert.Equal(t, connstr.BasicAuthSpecName, got.Auth.SpecName)
	assert.Equal(t, "5432", got.Auth.Params["port"])
	assert.Equal(t, "Verify Full", got.Auth.Params["sslMode"])
	assert.Equal(t, flowtest.Masked, got.Auth.Params["password"], "secrets come back masked")
	assert.NotZero(t, got.CreatedAt)

	stored := srv.Connections()
	require.Len(t, stored, 1)
	assert.Equal(t, "s3cret-Pa55", stored[0].Params["password"], "the emulator keeps the real secret")

	list, err := c.ListConnections(ctx, flowclient.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, created.ID, list[0].ID)

	require.NoError(t, c.DeleteConnection(ctx, created.ID))
	_, err = c.GetConnection(ctx, created.ID)
	require.Error(t, err)
	assert.True(t, flowclient.IsNotFound(err), err.Error())
	err = c.DeleteConnection(ctx, created.ID)
	assert.True(t, flowclient.IsNotFound(err))
	assert.Empty(t, srv.Connections())
}

func TestConnection_EmptyIDs(t *testing.T) {
	c, srv, _ := setup(t)
	ctx := context.Background()
	_, err := c.GetConnection(ctx, " ")
	assert.Error(t, err)
	assert.Error(t, c.DeleteConnection(ctx, ""))
	_, err = c.TestConnection(ctx, "")
	assert.Error(t, err)
	_, err = c.ExploreRoot(ctx, "")
	assert.Error(t, err)
	_, err = c.GetConnectionSpec(ctx, "")
	assert.Error(t, err)
	_, err = c.CreateConnection(ctx, flowclient.Connection{ConnectionSpec: flowclient.SpecRef{ID: "x"}})
	assert.ErrorContains(t, err, "name is empty")
	_, err = c.CreateConnection(ctx, flowclient.Connection{Name: "x"})
	assert.ErrorContains(t, err, "connection spec id is empty")
	_, err = c.FindConnectionByName(ctx, "", "")
	assert.Error(t, err)
	assert.Empty(t, srv.Requests(), "invalid input never reaches the server")
}

func TestConnection_ConnectionStringAuth(t *testing.T) {
	c, _, _ := setup(t)
	ctx := context.Background()
	conn := flowclient.Connection{
		Name: "cs",
		Auth: flowclient.Auth{SpecName: connstr.ConnectionStringSpecName, Params: flowclient.Params{
			"connectionString": "Server=db;Database=d;Port=5432;UID=u;Password=pw12345;EncryptionMethod=1",
		}},
		ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: "1.0"},
	}
	created, err := c.CreateConnection(ctx, conn)
	require.NoError(t, err)
	got, err := c.GetConnection(ctx, created.ID)
	require.NoError(t, err)
	assert.Equal(t, flowtest.Masked, got.Auth.Params["connectionString"])
}

func TestCreateConnection_Rejected(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*flowclient.Connection)
		detail string
	}{
		{"unknown spec name", func(c *flowclient.Connection) { c.Auth.SpecName = "basic authentication" }, "Invalid auth spec name"},
		{"bad sslMode", func(c *flowclient.Connection) { c.Auth.Params["sslMode"] = "require" }, "sslMode"},
		{"missing password", func(c *flowclient.Connection) { delete(c.Auth.Params, "password") }, "password is required"},
		{"unknown param", func(c *flowclient.Connection) { c.Auth.Params["user"] = "x" }, "auth.params.user"},
		{"no version", func(c *flowclient.Connection) { c.ConnectionSpec.Version = "" }, "version is required"},
		{"unknown spec", func(c *flowclient.Connection) { c.ConnectionSpec.ID = "00000000-0000-0000-0000-000000000000" }, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv, sl := setup(t)
			conn := basicConn("bad")
			tt.mutate(&conn)
			_, err := c.CreateConnection(context.Background(), conn)
			var ae *flowclient.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusBadRequest, ae.StatusCode)
			assert.Equal(t, "FLOW-1415-400", ae.Code)
			assert.Contains(t, ae.Detail, tt.detail)
			assert.NotEmpty(t, ae.RequestID)
			assert.Equal(t, http.MethodPost, ae.Method)
			assert.False(t, flowclient.IsRetryable(err))
			assert.Empty(t, sl.waits(), "a 400 is not retried")
			assert.Equal(t, 1, countRequests(srv, http.MethodPost, "/connections"))
			assert.NotContains(t, err.Error(), "s3cret-Pa55")
			assert.Empty(t, srv.Connections())
		})
	}
}

func TestHeaders_OnEveryCall(t *testing.T) {
	c, srv, _ := setup(t, flowtest.WithProber(func(context.Context, flowtest.ProbeRequest) ([]flowtest.ExploreItem, error) {
		return nil, nil
	}))
	ctx := context.Background()
	created, err := c.CreateConnection(ctx, basicConn("h"))
	require.NoError(t, err)
	_, err = c.GetConnection(ctx, created.ID)
	require.NoError(t, err)
	_, err = c.ListConnections(ctx, flowclient.ListOptions{Property: []string{"name==h"}})
	require.NoError(t, err)
	_, err = c.FindConnectionByName(ctx, "h", flowclient.PostgreSQLSpecID)
	require.NoError(t, err)
	_, err = c.TestConnection(ctx, created.ID)
	require.NoError(t, err)
	_, err = c.ExploreRoot(ctx, created.ID)
	require.NoError(t, err)
	_, err = c.GetConnectionSpec(ctx, flowclient.PostgreSQLSpecID)
	require.NoError(t, err)
	require.NoError(t, c.DeleteConnection(ctx, created.ID))

	reqs := srv.Requests()
	require.Len(t, reqs, 8)
	for _, r := range reqs {
		assert.Equal(t, "Bearer "+flowtest.Masked, r.Header.Get("Authorization"), r.Path)
		assert.Equal(t, srv.APIKey(), r.Header.Get("x-api-key"), r.Path)
		assert.Equal(t, srv.Org(), r.Header.Get("x-gw-ims-org-id"), r.Path)
		assert.Equal(t, sandbox, r.Header.Get("x-sandbox-name"), r.Path)
		if r.Method == http.MethodPost {
			assert.Equal(t, "application/json", r.Header.Get("Content-Type"), r.Path)
		} else {
			assert.Empty(t, r.Header.Get("Content-Type"), r.Path)
		}
	}
}

func TestListConnections_PagingAndFilters(t *testing.T) {
	c, srv, _ := setup(t)
	ctx := context.Background()
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		_, err := c.CreateConnection(ctx, basicConn(name))
		require.NoError(t, err)
	}
	_, err := c.CreateConnection(ctx, basicConn("a")) // a second "a"
	require.NoError(t, err)

	before := len(srv.Requests())
	all, err := c.ListConnections(ctx, flowclient.ListOptions{Limit: 3})
	require.NoError(t, err)
	assert.Len(t, all, 8)
	assert.Equal(t, 3, len(srv.Requests())-before, "8 items in pages of 3")
	seen := map[string]bool{}
	for _, x := range all {
		assert.False(t, seen[x.ID], "no item twice")
		seen[x.ID] = true
	}

	as, err := c.ListConnections(ctx, flowclient.ListOptions{Limit: 1, Property: []string{"name==a", "connectionSpec.id==" + flowclient.PostgreSQLSpecID}})
	require.NoError(t, err)
	assert.Len(t, as, 2)
	last := srv.Requests()[len(srv.Requests())-1]
	assert.Contains(t, last.RawQuery, "continuationToken=")
	assert.Contains(t, last.RawQuery, "property=name%3D%3Da")

	none, err := c.ListConnections(ctx, flowclient.ListOptions{Property: []string{"connectionSpec.id==other"}})
	require.NoError(t, err)
	assert.Empty(t, none)

	_, err = c.ListConnections(ctx, flowclient.ListOptions{Property: []string{"name~a"}})
	var ae *flowclient.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusBadRequest, ae.StatusCode)
}

func TestFindConnectionByName(t *testing.T) {
	c, _, _ := setup(t)
	ctx := context.Background()
	found, err := c.FindConnectionByName(ctx, "orders", flowclient.PostgreSQLSpecID)
	require.NoError(t, err)
	assert.Nil(t, found)

	created, err := c.CreateConnection(ctx, basicConn("orders"))
	require.NoError(t, err)
	_, err = c.CreateConnection(ctx, basicConn("orders-2"))
	require.NoError(t, err)
	found, err = c.FindConnectionByName(ctx, "orders", flowclient.PostgreSQLSpecID)
	require.NoError(t, err)
	require.NotNil(t, found)
	assert.Equal(t, created.ID, found.ID)
	assert.Equal(t, created.Etag, found.Etag)

	found, err = c.FindConnectionByName(ctx, "orders", "another-spec")
	require.NoError(t, err)
	assert.Nil(t, found)
}

func TestGatewayErrors(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	ok := []flowclient.Option{
		flowclient.WithBaseURL(srv.URL()),
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.Token()})),
		flowclient.WithAPIKey(srv.APIKey()), flowclient.WithOrgID(srv.Org()), flowclient.WithSandbox("prod"),
	}
	tests := []struct {
		name   string
		opt    flowclient.Option
		status int
		code   string
	}{
		{"invalid token", flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "nope"})), 401, "401013"},
		{"invalid api key", flowclient.WithAPIKey("other"), 403, "403003"},
		{"wrong org", flowclient.WithOrgID("OTHER@AdobeOrg"), 403, "403025"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := flowclient.New(append(ok, tt.opt)...)
			require.NoError(t, err)
			_, err = c.ListConnections(context.Background(), flowclient.ListOptions{})
			var ae *flowclient.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.code, ae.Code)
			assert.NotEmpty(t, ae.Detail)
			assert.NotEmpty(t, ae.RequestID, "from the x-request-id header")
			assert.True(t, flowclient.IsUnauthorized(err))
			assert.False(t, flowclient.IsRetryable(err))
			assert.True(t, strings.HasPrefix(err.Error(), "flowclient: GET "+srv.URL()+"/connections"), err.Error())
		})
	}
}

func TestConnectionSpec(t *testing.T) {
	c, _, _ := setup(t)
	ctx := context.Background()
	spec, err := c.GetConnectionSpec(ctx, flowclient.PostgreSQLSpecID)
	require.NoError(t, err)
	assert.Equal(t, flowclient.PostgreSQLSpecID, spec.ID)
	assert.Equal(t, "1.0", spec.Version)
	assert.NotEmpty(t, spec.Raw)
	assert.Equal(t, []string{"Disable", "Allow", "Prefer", "Verify Ca", "Verify Full"}, spec.ParamEnum(connstr.BasicAuthSpecName, "sslMode"))
	basic, ok := spec.FindAuthSpec(connstr.BasicAuthSpecName)
	require.True(t, ok)
	assert.Equal(t, "password", basic.Spec.Properties["password"].Format)
	assert.Equal(t, "string", basic.Spec.Properties["port"].Type)
	assert.Contains(t, basic.Spec.Required, "server")
	_, ok = spec.FindAuthSpec(connstr.ConnectionStringSpecName)
	assert.True(t, ok)
	assert.Nil(t, spec.ParamEnum("nope", "sslMode"))

	_, err = c.GetConnectionSpec(ctx, "00000000-0000-0000-0000-000000000000")
	assert.True(t, flowclient.IsNotFound(err))
}

func TestConnectionSpec_LiveEnum(t *testing.T) {
	c, _, _ := setup(t, flowtest.WithSSLModes("Disable", "Allow", "Prefer", "Require", "Verify-Ca", "Verify-Full"))
	spec, err := c.GetConnectionSpec(context.Background(), flowclient.PostgreSQLSpecID)
	require.NoError(t, err)
	assert.Contains(t, spec.ParamEnum(connstr.BasicAuthSpecName, "sslMode"), "Require")
}

func TestTestConnection_AndExplore(t *testing.T) {
	var gotParams map[string]string
	var mu sync.Mutex
	prober := func(_ context.Context, req flowtest.ProbeRequest) ([]flowtest.ExploreItem, error) {
		params := req.Params
		mu.Lock()
		gotParams = params
		mu.Unlock()
		if params["database"] == "down" {
			return nil, errors.New("dial tcp db.example.com:5432: connection refused (password s3cret-Pa55)")
		}
		return []flowtest.ExploreItem{{Type: "table", Name: "orders", Path: "public.orders", CanPreview: true, CanFetchSchema: true}}, nil
	}
	for _, style := range []flowtest.TestFailureStyle{flowtest.TestFailureError, flowtest.TestFailureResult} {
		c, _, _ := setup(t, flowtest.WithProber(prober), flowtest.WithTestFailureStyle(style))
		ctx := context.Background()

		up, err := c.CreateConnection(ctx, basicConn("up"))
		require.NoError(t, err)
		res, err := c.TestConnection(ctx, up.ID)
		require.NoError(t, err)
		assert.True(t, res.OK)
		mu.Lock()
		assert.Equal(t, "s3cret-Pa55", gotParams["password"], "the prober gets the stored secret")
		mu.Unlock()
		items, err := c.ExploreRoot(ctx, up.ID)
		require.NoError(t, err)
		assert.Equal(t, []flowclient.ExploreItem{{Type: "table", Name: "orders", Path: "public.orders", CanPreview: true, CanFetchSchema: true}}, items)

		downConn := basicConn("down")
		downConn.Auth.Params["database"] = "down"
		down, err := c.CreateConnection(ctx, downConn)
		require.NoError(t, err)
		res, err = c.TestConnection(ctx, down.ID)
		require.NoError(t, err, "a failed test is a result, not an error")
		assert.False(t, res.OK)
		if style == flowtest.TestFailureError {
			assert.Contains(t, res.Message, "connection refused")
			assert.Equal(t, "FLOW-1415-400", res.Code)
			assert.NotEmpty(t, res.RequestID)
			assert.NotContains(t, res.Message, "s3cret-Pa55")
		}
		_, err = c.ExploreRoot(ctx, down.ID)
		var ae *flowclient.APIError
		require.ErrorAs(t, err, &ae)
		assert.NotContains(t, err.Error(), "s3cret-Pa55")

		_, err = c.TestConnection(ctx, "00000000-0000-0000-0000-000000000000")
		assert.True(t, flowclient.IsNotFound(err))
	}
}

func TestTestConnection_NoProber(t *testing.T) {
	c, _, _ := setup(t)
	ctx := context.Background()
	created, err := c.CreateConnection(ctx, basicConn("x"))
	require.NoError(t, err)
	_, err = c.TestConnection(ctx, created.ID)
	var ae *flowclient.APIError
	require.ErrorAs(t, err, &ae, "no canned success")
	assert.Equal(t, http.StatusNotImplemented, ae.StatusCode)
	assert.Contains(t, ae.Detail, "no prober")
	_, err = c.ExploreRoot(ctx, created.ID)
	require.ErrorAs(t, err, &ae)
}
