package flowtest_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient/flowtest"
)

// call sends one raw request, with the good headers unless overridden
// (an empty value deletes the header), and decodes the JSON reply.
func call(t *testing.T, srv *flowtest.Server, method, path, body string, hdr map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL()+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	req.Header.Set("x-api-key", srv.APIKey())
	req.Header.Set("x-gw-ims-org-id", srv.Org())
	req.Header.Set("x-sandbox-name", "prod")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := srv.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	}
	return resp.StatusCode, resp.Header, out
}

const basicBody = `{"name":"orders","auth":{"specName":"Basic Authentication","params":{
	"server":"db.example.com","port":"5432","database":"sales","username":"u","password":"pw-secret","sslMode":"Verify Full"}},
	"connectionSpec":{"id":"74a1c565-4e59-48d7-9d67-7c03b8a13137","version":"1.0"}}`

func TestGateway(t *testing.T) {
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
		code   string
		msg    string
	}{
		{"missing token", map[string]string{"Authorization": ""}, 403, "403010", "Oauth token is missing."},
		{"invalid token", map[string]string{"Authorization": "Bearer nope"}, 401, "401013", "Oauth token is not valid"},
		{"not bearer", map[string]string{"Authorization": "Basic abc"}, 401, "401013", "Oauth token is not valid"},
		{"missing api key", map[string]string{"x-api-key": ""}, 403, "403000", "Api Key is required"},
		{"invalid api key", map[string]string{"x-api-key": "x"}, 403, "403003", "Api Key is invalid"},
		{"missing org", map[string]string{"x-gw-ims-org-id": ""}, 400, "400003", "Missing header"},
		{"wrong org", map[string]string{"x-gw-ims-org-id": "X@AdobeOrg"}, 403, "403025", "Profile is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := flowtest.NewServer()
			t.Cleanup(srv.Close)
			status, hdr, body := call(t, srv, http.MethodGet, "/connections", "", tt.hdr)
			assert.Equal(t, tt.status, status)
			assert.Equal(t, map[string]any{"error_code": tt.code, "message": tt.msg}, body)
			assert.NotEmpty(t, hdr.Get("x-request-id"))
		})
	}
}

func TestFlowServiceHeaderChecks(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)

	status, hdr, body := call(t, srv, http.MethodGet, "/connections", "", map[string]string{"x-sandbox-name": ""})
	assert.Equal(t, 400, status)
	assert.Equal(t, "https://ns.adobe.com/aep/errors/FLOW-1400-400", body["type"])
	report := body["report"].(map[string]any)
	assert.Contains(t, report["detailed-message"], "x-sandbox-name")
	assert.Equal(t, hdr.Get("x-request-id"), report["request-id"])

	status, _, body = call(t, srv, http.MethodPost, "/connections", basicBody, map[string]string{"Content-Type": ""})
	assert.Equal(t, 400, status)
	assert.Equal(t, "A valid content-type must be specified", body["detail"])
	assert.Equal(t, "BadRequestError", body["title"])
	assert.Empty(t, srv.Connections())

	status, _, _ = call(t, srv, http.MethodPost, "/connections", basicBody, map[string]string{"Content-Type": "application/json; charset=utf-8"})
	assert.Equal(t, 201, status)
}

func TestCreate_Validation(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		detail string
	}{
		{"not json", `{`, "not valid JSON"},
		{"no name", strings.Replace(basicBody, `"name":"orders"`, `"name":""`, 1), "name is required"},
		{"no spec", `{"name":"x","auth":{"specName":"Basic Authentication"}}`, "connectionSpec.id is required"},
		{"unknown spec", strings.Replace(basicBody, "74a1c565", "00000000", 1), "not found"},
		{"no version", strings.Replace(basicBody, `,"version":"1.0"`, ``, 1), "version is required"},
		{"wrong version", strings.Replace(basicBody, `"version":"1.0"`, `"version":"2.0"`, 1), "version"},
		{"no auth", `{"name":"x","connectionSpec":{"id":"74a1c565-4e59-48d7-9d67-7c03b8a13137","version":"1.0"}}`, "auth.specName is required"},
		{"spec name case", strings.Replace(basicBody, "Basic Authentication", "basic authentication", 1), "Invalid auth spec name"},
		{"port as number", strings.Replace(basicBody, `"port":"5432"`, `"port":5432`, 1), "auth.params.port must be a JSON string"},
		{"bad sslMode", strings.Replace(basicBody, `"Verify Full"`, `"verify-full"`, 1), "sslMode"},
		{"sslMode boolean", strings.Replace(basicBody, `"Verify Full"`, `false`, 1), "sslMode must be a JSON string"},
		{"missing password", strings.Replace(basicBody, `"password":"pw-secret",`, ``, 1), "password is required"},
		{"unknown param", strings.Replace(basicBody, `"username":"u"`, `"user":"u"`, 1), "auth.params.user"},
		{"connection string spec with basic params", strings.Replace(basicBody, "Basic Authentication", "Connection String Based Authentication", 1), "auth.params.database is not a parameter"}, // the first unknown name, sorted: the same every time
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := flowtest.NewServer()
			t.Cleanup(srv.Close)
			status, _, body := call(t, srv, http.MethodPost, "/connections", tt.body, nil)
			require.Equal(t, 400, status, body)
			assert.Equal(t, "https://ns.adobe.com/aep/errors/FLOW-1415-400", body["type"])
			assert.EqualValues(t, 400, body["status"])
			assert.Contains(t, body["report"].(map[string]any)["detailed-message"], tt.detail)
			assert.Empty(t, srv.Connections())
		})
	}
}

func TestCreateGetMasksSecrets(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	status, hdr, created := call(t, srv, http.MethodPost, "/connections", basicBody, nil)
	require.Equal(t, 201, status)
	id := created["id"].(string)
	etag := created["etag"].(string)
	assert.Len(t, id, 36)
	assert.True(t, strings.HasPrefix(etag, `"`) && strings.HasSuffix(etag, `"`))
	assert.Equal(t, flowtest.BasePath+"/connections/"+id, hdr.Get("Location"))

	status, _, got := call(t, srv, http.MethodGet, "/connections/"+id, "", nil)
	require.Equal(t, 200, status)
	items := got["items"].([]any)
	require.Len(t, items, 1)
	item := items[0].(map[string]any)
	params := item["auth"].(map[string]any)["params"].(map[string]any)
	assert.Equal(t, flowtest.Masked, params["password"])
	assert.Equal(t, "5432", params["port"])
	assert.Equal(t, etag, item["etag"])
	assert.Equal(t, "prod", item["sandboxName"])

	// Sandboxes are isolated.
	status, _, _ = call(t, srv, http.MethodGet, "/connections/"+id, "", map[string]string{"x-sandbox-name": "dev"})
	assert.Equal(t, 404, status)

	status, _, _ = call(t, srv, http.MethodDelete, "/connections/"+id+"/", "", nil)
	assert.Equal(t, 204, status)
	status, _, body := call(t, srv, http.MethodGet, "/connections/"+id, "", nil)
	assert.Equal(t, 404, status)
	assert.Equal(t, "https://ns.adobe.com/aep/errors/FLOW-1404-404", body["type"])
}

func TestListPaging(t *testing.T) {
	srv := flowtest.NewServer(flowtest.WithPageSize(2))
	t.Cleanup(srv.Close)
	for range 5 {
		status, _, _ := call(t, srv, http.MethodPost, "/connections", basicBody, nil)
		require.Equal(t, 201, status)
	}
	var ids []string
	path := "/connections?property=" + url.QueryEscape("name==orders")
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 5)
		status, _, body := call(t, srv, http.MethodGet, path, "", nil)
		require.Equal(t, 200, status, body)
		for _, it := range body["items"].([]any) {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		path = ""
		if links, ok := body["_links"].(map[string]any); ok {
			href := links["next"].(map[string]any)["href"].(string)
			require.True(t, strings.HasPrefix(href, "/connections?"), href)
			assert.Contains(t, href, "property=name%3D%3Dorders")
			path = href
		}
	}
	assert.Len(t, ids, 5)

	for _, bad := range []string{"limit=0", "limit=x", "continuationToken=%25%25", "property=name~x", "property=secret==x"} {
		status, _, _ := call(t, srv, http.MethodGet, "/connections?"+bad, "", nil)
		assert.Equal(t, 400, status, bad)
	}
	status, _, body := call(t, srv, http.MethodGet, "/connections?property="+url.QueryEscape("name!=orders"), "", nil)
	assert.Equal(t, 200, status)
	assert.Empty(t, body["items"])
}

func TestConnectionSpec(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	status, _, body := call(t, srv, http.MethodGet, "/connectionSpecs/"+flowtest.PostgreSQLSpecID, "", nil)
	require.Equal(t, 200, status)
	spec := body["items"].([]any)[0].(map[string]any)
	assert.Equal(t, flowtest.PostgreSQLSpecID, spec["id"])
	auth := spec["authSpec"].([]any)
	require.Len(t, auth, 2)
	basic := auth[1].(map[string]any)
	assert.Equal(t, connstr.BasicAuthSpecName, basic["name"])
	sslMode := basic["spec"].(map[string]any)["properties"].(map[string]any)["sslMode"].(map[string]any)
	assert.Equal(t, []any{"Disable", "Allow", "Prefer", "Verify Ca", "Verify Full"}, sslMode["enum"])

	status, _, _ = call(t, srv, http.MethodGet, "/connectionSpecs/unknown", "", nil)
	assert.Equal(t, 404, status)
	status, _, _ = call(t, srv, http.MethodGet, "/flows", "", nil)
	assert.Equal(t, 404, status)
}

func TestProber(t *testing.T) {
	roots := x509.NewCertPool()
	prober := func(ctx context.Context, req flowtest.ProbeRequest) ([]flowtest.ExploreItem, error) {
		if req.Params["database"] == "down" {
			return nil, errors.New("auth failed for " + req.Params["username"] + " with password " + req.Params["password"])
		}
		if req.Roots != roots {
			return nil, errors.New("the prober did not get the emulator's trust store")
		}
		return nil, nil
	}
	srv := flowtest.NewServer(flowtest.WithProber(prober), flowtest.WithTrustStore(roots))
	t.Cleanup(srv.Close)
	_, _, up := call(t, srv, http.MethodPost, "/connections", basicBody, nil)
	_, _, down := call(t, srv, http.MethodPost, "/connections", strings.Replace(basicBody, `"sales"`, `"down"`, 1), nil)

	status, _, body := call(t, srv, http.MethodGet, "/connections/"+up["id"].(string)+"/test", "", nil)
	assert.Equal(t, 200, status)
	assert.Equal(t, map[string]any{"result": true}, body)

	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/connections/"+up["id"].(string)+"/explore?objectType=root", nil)
	req.Header = http.Header{"Authorization": {"Bearer " + srv.Token()}, "X-Api-Key": {srv.APIKey()}, "X-Gw-Ims-Org-Id": {srv.Org()}, "X-Sandbox-Name": {"prod"}}
	resp, err := srv.HTTPClient().Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "[]\n", string(raw), "an empty array, never null")

	status, _, body = call(t, srv, http.MethodGet, "/connections/"+down["id"].(string)+"/test", "", nil)
	assert.Equal(t, 400, status)
	msg := body["report"].(map[string]any)["detailed-message"].(string)
	assert.Contains(t, msg, "auth failed for u")
	assert.NotContains(t, msg, "pw-secret", "secrets are scrubbed from the prober's error")

	status, _, _ = call(t, srv, http.MethodGet, "/connections/"+up["id"].(string)+"/explore?objectType=table", "", nil)
	assert.Equal(t, 400, status)
}

func TestIMSEndpoint(t *testing.T) {
	srv := flowtest.NewServer(flowtest.WithTokenLifetime(time.Hour))
	t.Cleanup(srv.Close)
	post := func(form url.Values) (int, map[string]any) {
		resp, err := srv.HTTPClient().PostForm(srv.TokenURL(), form)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()}, "scope": {"openid,AdobeID"}}
	status, body := post(good)
	require.Equal(t, 200, status)
	assert.EqualValues(t, 3600, body["expires_in"])
	assert.Equal(t, "bearer", body["token_type"])
	tok := body["access_token"].(string)

	status, _, _ = call(t, srv, http.MethodGet, "/connections", "", map[string]string{"Authorization": "Bearer " + tok})
	assert.Equal(t, 200, status, "an issued token is accepted")

	for name, mutate := range map[string]func(url.Values){
		"grant":  func(v url.Values) { v.Set("grant_type", "password") },
		"id":     func(v url.Values) { v.Set("client_id", "x") },
		"secret": func(v url.Values) { v.Set("client_secret", "x") },
		"scope":  func(v url.Values) { v.Del("scope") },
	} {
		v := url.Values{}
		for k, vals := range good {
			v[k] = vals
		}
		mutate(v)
		status, body := post(v)
		assert.GreaterOrEqual(t, status, 400, name)
		assert.NotEmpty(t, body["error"], name)
		assert.NotContains(t, body["error_description"], srv.ClientSecret(), name)
	}
}

func TestIMSExpiredTokenRejected(t *testing.T) {
	srv := flowtest.NewServer(flowtest.WithTokenLifetime(-time.Second))
	t.Cleanup(srv.Close)
	resp, err := srv.HTTPClient().PostForm(srv.TokenURL(), url.Values{"grant_type": {"client_credentials"},
		"client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()}, "scope": {"openid"}})
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	status, _, _ := call(t, srv, http.MethodGet, "/connections", "", map[string]string{"Authorization": "Bearer " + body["access_token"].(string)})
	assert.Equal(t, 401, status)
}

func TestFaultsAndLog(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)

	srv.FailNext(2, 429, 1500*time.Millisecond)
	for range 2 {
		status, hdr, body := call(t, srv, http.MethodGet, "/connections", "", nil)
		assert.Equal(t, 429, status)
		assert.Equal(t, "2", hdr.Get("Retry-After"), "rounded up to whole seconds")
		assert.NotEmpty(t, body["error_code"])
	}
	srv.FailNext(1, 503, 0)
	status, hdr, body := call(t, srv, http.MethodGet, "/connections", "", nil)
	assert.Equal(t, 503, status)
	assert.Empty(t, hdr.Get("Retry-After"))
	assert.Contains(t, body["type"], "FLOW-")
	status, _, _ = call(t, srv, http.MethodGet, "/connections", "", nil)
	assert.Equal(t, 200, status)

	srv.MalformedNext(1)
	resp, err := srv.HTTPClient().Get(srv.URL() + "/connections")
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.False(t, json.Valid(raw))

	srv.OversizeNext(1)
	resp, err = srv.HTTPClient().Get(srv.URL() + "/connections")
	require.NoError(t, err)
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Greater(t, len(raw), 2<<20)

	srv.DropAfterCreate(1)
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/connections", strings.NewReader(basicBody))
	req.Header = http.Header{"Authorization": {"Bearer " + srv.Token()}, "X-Api-Key": {srv.APIKey()},
		"X-Gw-Ims-Org-Id": {srv.Org()}, "X-Sandbox-Name": {"prod"}, "Content-Type": {"application/json"}}
	_, err = srv.HTTPClient().Do(req)
	require.Error(t, err, "the reply is dropped")
	assert.Len(t, srv.Connections(), 1, "but the connection is stored")

	for _, r := range srv.Requests() {
		if r.Header.Get("Authorization") != "" {
			assert.Equal(t, "Bearer "+flowtest.Masked, r.Header.Get("Authorization"))
		}
	}
	assert.Len(t, srv.Requests(), 7)
}

// TestSSLModeBoolean: AEP on AWS types sslMode as a boolean, sent as the
// string "true" or "false".
func TestSSLModeBoolean(t *testing.T) {
	srv := flowtest.NewServer(flowtest.WithSSLModeBoolean())
	t.Cleanup(srv.Close)
	status, _, body := call(t, srv, http.MethodGet, "/connectionSpecs/"+flowtest.PostgreSQLSpecID, "", nil)
	require.Equal(t, 200, status)
	spec := body["items"].([]any)[0].(map[string]any)
	var sslMode map[string]any
	for _, a := range spec["authSpec"].([]any) {
		if a.(map[string]any)["name"] == connstr.BasicAuthSpecName {
			sslMode = a.(map[string]any)["spec"].(map[string]any)["properties"].(map[string]any)["sslMode"].(map[string]any)
		}
	}
	assert.Equal(t, "boolean", sslMode["type"])
	assert.NotContains(t, sslMode, "enum")

	status, _, _ = call(t, srv, http.MethodPost, "/connections", strings.Replace(basicBody, `"Verify Full"`, `"true"`, 1), nil)
	assert.Equal(t, 201, status)
	status, _, body = call(t, srv, http.MethodPost, "/connections", basicBody, nil)
	assert.Equal(t, 400, status)
	assert.Contains(t, body["report"].(map[string]any)["detailed-message"], `"true" or "false"`)
}

// TestPatch follows the "update connections" tutorial: If-Match with the
// etag as received, JSON Patch operations in either case, a new etag.
func TestPatch(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	_, _, created := call(t, srv, http.MethodPost, "/connections", basicBody, nil)
	id, etag := created["id"].(string), created["etag"].(string)
	path := "/connections/" + id
	params := `{"server":"db2.example.com","port":"5433","database":"sales","username":"u","password":"n3w-secret","sslMode":"Verify Ca"}`

	status, _, body := call(t, srv, http.MethodPatch, path, `[{"op":"replace","path":"/auth/params","value":`+params+`}]`, nil)
	require.Equal(t, 400, status, "no If-Match")
	assert.Equal(t, "https://ns.adobe.com/aep/errors/FLOW-1403-400", body["type"])

	status, _, body = call(t, srv, http.MethodPatch, path, `[{"op":"replace","path":"/auth/params","value":`+params+`}]`, map[string]string{"If-Match": `"not-it"`})
	require.Equal(t, 412, status, "stale etag")
	assert.Equal(t, "https://ns.adobe.com/aep/errors/FLOW-1404-412", body["type"])

	// The OpenAPI file's shape: one object, op in upper case.
	status, _, body = call(t, srv, http.MethodPatch, path, `{"op":"REPLACE","path":"/auth/params","value":`+params+`}`, map[string]string{"If-Match": etag})
	require.Equal(t, 200, status, "%v", body)
	assert.Equal(t, id, body["id"])
	next := body["etag"].(string)
	assert.NotEqual(t, etag, next)
	stored := srv.Connections()[0]
	assert.Equal(t, "db2.example.com", stored.Params["server"])
	assert.Equal(t, "n3w-secret", stored.Params["password"])
	assert.Equal(t, next, stored.Etag)
	assert.False(t, stored.UpdatedAt.Before(stored.CreatedAt))

	// Name and description; the old etag no longer applies.
	status, _, _ = call(t, srv, http.MethodPatch, path, `[{"op":"replace","path":"/name","value":"renamed"}]`, map[string]string{"If-Match": etag})
	assert.Equal(t, 412, status)
	status, _, body = call(t, srv, http.MethodPatch, path, `[{"op":"replace","path":"/name","value":"renamed"},{"op":"add","path":"/description","value":"rotated"}]`, map[string]string{"If-Match": next})
	require.Equal(t, 200, status, "%v", body)
	assert.Equal(t, "renamed", srv.Connections()[0].Name)
	assert.Equal(t, "rotated", srv.Connections()[0].Description)

	// What the auth spec does not allow is refused, naming it.
	status, _, body = call(t, srv, http.MethodPatch, path, `[{"op":"replace","path":"/auth/params","value":{"server":"h"}}]`, map[string]string{"If-Match": body["etag"].(string)})
	assert.Equal(t, 400, status)
	assert.Contains(t, body["report"].(map[string]any)["detailed-message"], "required")
	status, _, _ = call(t, srv, http.MethodPatch, path, `[{"op":"remove","path":"/auth"}]`, map[string]string{"If-Match": srv.Connections()[0].Etag})
	assert.Equal(t, 400, status)
}

// TestDelete_InUse: a connection that dataflows use cannot be deleted.
func TestDelete_InUse(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	_, _, created := call(t, srv, http.MethodPost, "/connections", basicBody, nil)
	srv.MarkInUse(created["id"].(string))
	status, _, body := call(t, srv, http.MethodDelete, "/connections/"+created["id"].(string), "", nil)
	assert.Equal(t, 400, status)
	assert.Equal(t, "https://ns.adobe.com/aep/errors/FLOW-1418-400", body["type"])
	assert.Len(t, srv.Connections(), 1)
}

func TestRedirectKnobs(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	srv.RedirectNext(2, http.StatusTemporaryRedirect, "http://127.0.0.2:9/elsewhere")
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/connections", strings.NewReader(basicBody))
		req.Header.Set("Content-Type", "application/json")
		resp, err := noFollow.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
		assert.Equal(t, "http://127.0.0.2:9/elsewhere", resp.Header.Get("Location"))
	}
	assert.Empty(t, srv.Connections(), "a redirected create is not acted on")
	status, _, _ := call(t, srv, http.MethodGet, "/connections", "", nil)
	assert.Equal(t, 200, status, "the knob is spent")

	srv.RedirectTokenNext(1, http.StatusPermanentRedirect, "https://127.0.0.2:9/ims/token/v3")
	resp, err := noFollow.PostForm(srv.TokenURL(), url.Values{"grant_type": {"client_credentials"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusPermanentRedirect, resp.StatusCode)
	assert.Equal(t, "https://127.0.0.2:9/ims/token/v3", resp.Header.Get("Location"))

	assert.Panics(t, func() { srv.RedirectNext(1, 200, "x") })
}

// imsToken gets a token from srv's IMS endpoint.
func imsToken(t *testing.T, srv *flowtest.Server) (int, map[string]any, string) {
	t.Helper()
	resp, err := srv.HTTPClient().PostForm(srv.TokenURL(), url.Values{"grant_type": {"client_credentials"},
		"client_id": {srv.ClientID()}, "client_secret": {srv.ClientSecret()}, "scope": {"openid"}})
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body, resp.Header.Get("Content-Type")
}

func TestUnauthorizedNextRevokesIMSTokens(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	_, body, _ := imsToken(t, srv)
	tok := "Bearer " + body["access_token"].(string)

	srv.UnauthorizedNext(1)
	status, _, reply := call(t, srv, http.MethodGet, "/connections", "", map[string]string{"Authorization": tok})
	assert.Equal(t, 401, status)
	assert.Equal(t, "401013", reply["error_code"])
	status, _, _ = call(t, srv, http.MethodGet, "/connections", "", map[string]string{"Authorization": tok})
	assert.Equal(t, 401, status, "the refused IMS token stays refused")

	srv.UnauthorizedNext(1)
	status, _, _ = call(t, srv, http.MethodGet, "/connections", "", nil)
	assert.Equal(t, 401, status)
	status, _, _ = call(t, srv, http.MethodGet, "/connections", "", nil)
	assert.Equal(t, 200, status, "a static token stays valid")

	_, body, _ = imsToken(t, srv)
	tok = "Bearer " + body["access_token"].(string)
	srv.RevokeTokens()
	status, _, _ = call(t, srv, http.MethodGet, "/connections", "", map[string]string{"Authorization": tok})
	assert.Equal(t, 401, status)
}

func TestTokenFaults(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	tests := []struct {
		fault flowtest.TokenFault
		check func(t *testing.T, body map[string]any, ctype string)
	}{
		{flowtest.TokenNoAccessToken, func(t *testing.T, body map[string]any, ctype string) {
			assert.NotContains(t, body, "access_token")
			assert.Contains(t, body, "expires_in")
		}},
		{flowtest.TokenHTML, func(t *testing.T, body map[string]any, ctype string) {
			assert.Nil(t, body)
			assert.Contains(t, ctype, "text/html")
		}},
		{flowtest.TokenNotJSON, func(t *testing.T, body map[string]any, ctype string) {
			assert.Nil(t, body)
			assert.Equal(t, "application/json", ctype)
		}},
		{flowtest.TokenMalformed, func(t *testing.T, body map[string]any, ctype string) {
			assert.Contains(t, body["access_token"], "\r\n")
		}},
	}
	for _, tt := range tests {
		srv.TokenFaultNext(1, tt.fault)
		status, body, ctype := imsToken(t, srv)
		assert.Equal(t, 200, status)
		tt.check(t, body, ctype)
	}
	_, body, _ := imsToken(t, srv)
	assert.NotEmpty(t, body["access_token"], "the knob is spent")
	assert.Panics(t, func() { srv.TokenFaultNext(1, 0) })
}

func TestHoldCreate(t *testing.T) {
	post := func(ctx context.Context, srv *flowtest.Server) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/connections", strings.NewReader(basicBody))
		req.Header = http.Header{"Authorization": {"Bearer " + srv.Token()}, "X-Api-Key": {srv.APIKey()},
			"X-Gw-Ims-Org-Id": {srv.Org()}, "X-Sandbox-Name": {"prod"}, "Content-Type": {"application/json"}}
		return srv.HTTPClient().Do(req)
	}
	t.Run("released", func(t *testing.T) {
		srv := flowtest.NewServer()
		t.Cleanup(srv.Close)
		release := make(chan struct{})
		held := srv.HoldCreate(release)
		done := make(chan int, 1)
		go func() {
			resp, err := post(context.Background(), srv)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		<-held
		assert.Len(t, srv.Connections(), 1, "stored before the hold")
		select {
		case <-done:
			t.Fatal("the reply was not held")
		default:
		}
		close(release)
		assert.Equal(t, http.StatusCreated, <-done)
	})
	t.Run("client goes away", func(t *testing.T) {
		srv := flowtest.NewServer()
		t.Cleanup(srv.Close)
		held := srv.HoldCreate(make(chan struct{})) // never released
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-held; cancel() }()
		_, err := post(ctx, srv)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Len(t, srv.Connections(), 1)
		// Close returns: the handler saw the client go.
	})
	t.Run("close releases", func(t *testing.T) {
		srv := flowtest.NewServer()
		held := srv.HoldCreate(make(chan struct{})) // never released
		errs := make(chan error, 1)
		go func() {
			resp, err := post(context.Background(), srv)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
		<-held
		srv.Close() // would wait forever for the held request otherwise
		<-errs
	})
	assert.Panics(t, func() { flowtest.NewHandler().HoldCreate(nil) })
}
