package flowclient_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
)

// replying serves body with status 200 for every request.
func replying(t *testing.T, body string) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestTestConnection_ReplyShapes(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    flowclient.TestResult
		wantErr bool
	}{
		{"documented true", `{"result": true}`, flowclient.TestResult{OK: true}, false},
		{"documented false", `{"result": false}`, flowclient.TestResult{}, false},
		{"string result", `{"result": "TRUE"}`, flowclient.TestResult{OK: true}, false},
		{"bare boolean", `false`, flowclient.TestResult{}, false},
		{"false with message", `{"result": false, "message": "timeout"}`, flowclient.TestResult{Message: "timeout"}, false},
		{"no result", `{"status": "ok"}`, flowclient.TestResult{}, true},
		{"not json", `ok`, flowclient.TestResult{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := plainClient(t, replying(t, tt.body).URL)
			got, err := c.TestConnection(context.Background(), "id")
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestExploreRoot_ReplyShapes(t *testing.T) {
	for _, body := range []string{
		`[{"type":"table","name":"t","path":"public.t","canPreview":true,"canFetchSchema":true}]`,
		`{"items":[{"type":"table","name":"t","path":"public.t","canPreview":true,"canFetchSchema":true}]}`,
	} {
		c := plainClient(t, replying(t, body).URL)
		items, err := c.ExploreRoot(context.Background(), "id")
		require.NoError(t, err)
		assert.Equal(t, []flowclient.ExploreItem{{Type: "table", Name: "t", Path: "public.t", CanPreview: true, CanFetchSchema: true}}, items)
	}
	c := plainClient(t, replying(t, `"nope"`).URL)
	_, err := c.ExploreRoot(context.Background(), "id")
	assert.ErrorContains(t, err, "decode")
}

func TestParams_LenientDecode(t *testing.T) {
	c := plainClient(t, replying(t, `{"items":[{"id":"x","auth":{"specName":"Basic Authentication",
		"params":{"port":5432,"ssl":false,"password":null,"server":"db","extra":{"a":1}}}}]}`).URL)
	got, err := c.GetConnection(context.Background(), "x")
	require.NoError(t, err)
	assert.Equal(t, flowclient.Params{"port": "5432", "ssl": "false", "password": "", "server": "db", "extra": `{"a":1}`}, got.Auth.Params)

	c = plainClient(t, replying(t, `{"items":[{"id":"x","auth":{"specName":"s","params":null}}]}`).URL)
	got, err = c.GetConnection(context.Background(), "x")
	require.NoError(t, err)
	assert.Nil(t, got.Auth.Params)

	c = plainClient(t, replying(t, `{"items":[{"id":"x","auth":{"params":[1]}}]}`).URL)
	_, err = c.GetConnection(context.Background(), "x")
	assert.Error(t, err)

	c = plainClient(t, replying(t, `{"items":[]}`).URL)
	_, err = c.GetConnection(context.Background(), "x")
	assert.ErrorContains(t, err, "no items")
}

func TestConnectionSpec_LenientEnum(t *testing.T) {
	c := plainClient(t, replying(t, `{"items":[{"id":"s","authSpec":[{"name":"Basic Authentication","spec":{
		"properties":{"sslMode":{"type":"string","enum":["Disable",false,1],"default":false}}}}]}]}`).URL)
	spec, err := c.GetConnectionSpec(context.Background(), "s")
	require.NoError(t, err)
	assert.Equal(t, []string{"Disable", "false", "1"}, spec.ParamEnum(connstr.BasicAuthSpecName, "sslMode"))
	basic, _ := spec.FindAuthSpec(connstr.BasicAuthSpecName)
	assert.Equal(t, "false", basic.Spec.Properties["sslMode"].Default)

	c = plainClient(t, replying(t, `{"items":[]}`).URL)
	_, err = c.GetConnectionSpec(context.Background(), "s")
	assert.ErrorContains(t, err, "no items")
}

func TestWithHTTPClientAndMaxResponseBytes(t *testing.T) {
	ts := replying(t, `{"items":[{"id":"x","name":"a name longer than the limit"}]}`)
	var used bool
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := plainClient(t, ts.URL, flowclient.WithHTTPClient(hc), flowclient.WithMaxResponseBytes(20))
	_, err := c.GetConnection(context.Background(), "x")
	assert.ErrorIs(t, err, flowclient.ErrResponseTooLarge)
	assert.True(t, used)

	_, err = flowclient.New(flowclient.WithHTTPClient(nil))
	assert.Error(t, err)
	_, err = flowclient.New(flowclient.WithMaxResponseBytes(0))
	assert.Error(t, err)
	_, err = flowclient.New(flowclient.WithSleep(nil))
	assert.Error(t, err)
	_, err = flowclient.New(flowclient.WithTokenSource(nil))
	assert.Error(t, err)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestListConnections_TokenPlaces(t *testing.T) {
	// Page 1 puts the token at the top level, page 2 in _links.next.href,
	// page 3 ends the list.
	var queries []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		switch r.URL.Query().Get("continuationToken") {
		case "":
			_, _ = io.WriteString(w, `{"items":[{"id":"1"}],"continuationToken":"t1"}`)
		case "t1":
			_, _ = io.WriteString(w, `{"items":[{"id":"2"}],"_links":{"next":{"href":"/connections?continuationToken=t2&limit=1"}}}`)
		default:
			_, _ = io.WriteString(w, `{"items":[{"id":"3"}]}`)
		}
	}))
	t.Cleanup(ts.Close)
	c := plainClient(t, ts.URL)
	list, err := c.ListConnections(context.Background(), flowclient.ListOptions{Limit: 1, OrderBy: "-createdAt"})
	require.NoError(t, err)
	require.Len(t, list, 3)
	assert.Equal(t, []string{
		"limit=1&orderby=-createdAt",
		"continuationToken=t1&limit=1&orderby=-createdAt",
		"continuationToken=t2&limit=1&orderby=-createdAt",
	}, queries)
}

func TestListConnections_RepeatedTokenStops(t *testing.T) {
	c := plainClient(t, replying(t, `{"items":[{"id":"1"}],"_links":{"next":{"href":"/connections?continuationToken=same"}}}`).URL)
	_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
	assert.ErrorContains(t, err, "continuation token repeated")
}
