package flowclient_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
)

func TestAPIError_Shapes(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		header    map[string]string
		body      string
		code      string
		title     string
		detail    string
		requestID string
		inError   string
	}{
		{
			name: "gateway", status: 403,
			body: `{"error_code": "403010", "message": "Oauth token is missing."}`,
			code: "403010", detail: "Oauth token is missing.",
			inError: "403 Forbidden: 403010: Oauth token is missing.",
		},
		{
			name: "gateway numeric code", status: 401,
			body: `{"error_code": 401013, "message": "Oauth token is not valid"}`,
			code: "401013", detail: "Oauth token is not valid",
		},
		{
			name: "flow service", status: 400, header: map[string]string{"x-request-id": "hdr-id"},
			body: `{"type": "https://ns.adobe.com/aep/errors/FLOW-1415-400", "title": "Bad Request", "status": 400,
				"report": {"tenantInfo": {"sandboxName": "prod"}, "detailed-message": "Invalid auth spec name", "request-id": "body-id"},
				"error-chain": [{"serviceId": "x"}]}`,
			code: "FLOW-1415-400", title: "Bad Request", detail: "Invalid auth spec name", requestID: "body-id",
			inError: "400 Bad Request: FLOW-1415-400: Bad Request: Invalid auth spec name (request id body-id)",
		},
		{
			name: "plain", status: 400, header: map[string]string{"x-request-id": "hdr-id"},
			body:  `{"type": "/placeholder/type/uri", "status": 400, "title": "BadRequestError", "detail": "A valid content-type must be specified"}`,
			title: "BadRequestError", detail: "A valid content-type must be specified", requestID: "hdr-id",
		},
		{
			name: "status as string", status: 500,
			body:  `{"title": "Internal", "status": "500", "detail": "boom"}`,
			title: "Internal", detail: "boom",
		},
		{
			name: "etag mismatch", status: 412,
			body:   `{"errorMessage":"Supplied version does not match"}`,
			detail: "Supplied version does not match",
		},
		{
			name: "array of errors", status: 401,
			body: `[{"error_code":"UNAUTHORIZED","message":"Permission denied."}]`,
			code: "UNAUTHORIZED", detail: "Permission denied.",
		},
		{
			name: "html", status: 502, body: "<html><body><h1>502 Bad Gateway</h1></body></html>",
			inError: "502 Bad Gateway: unexpected body: <html><body><h1>502 Bad Gateway</h1></body></html>",
		},
		{name: "empty", status: 503, body: "", inError: "503 Service Unavailable"},
		{name: "truncated json", status: 500, body: `{"title": "Inter`},
		{name: "wrong types", status: 400, body: `{"title": {"a":1}, "report": "x", "detail": ["y"]}`},
		{name: "unknown status", status: 599, body: "", inError: "status 599"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(ts.Close)
			c := plainClient(t, ts.URL, flowclient.WithRetryPolicy(flowclient.RetryPolicy{}))
			_, err := c.GetConnection(context.Background(), "abc")
			var ae *flowclient.APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tt.status, ae.StatusCode)
			assert.Equal(t, tt.code, ae.Code)
			assert.Equal(t, tt.title, ae.Title)
			assert.Equal(t, tt.detail, ae.Detail)
			assert.Equal(t, tt.requestID, ae.RequestID)
			assert.Equal(t, http.MethodGet, ae.Method)
			assert.Equal(t, ts.URL+"/connections/abc", ae.URL)
			assert.LessOrEqual(t, len(ae.Body), 512)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "flowclient: GET "+ts.URL+"/connections/abc: "), msg)
			assert.NotContains(t, msg, "\n")
			if tt.inError != "" {
				assert.Contains(t, msg, tt.inError)
			}
		})
	}
}

func TestAPIError_LargeBodyIsBounded(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, strings.Repeat("é", 3<<20))
	}))
	t.Cleanup(ts.Close)
	c := plainClient(t, ts.URL, flowclient.WithRetryPolicy(flowclient.RetryPolicy{}))
	_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
	var ae *flowclient.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusBadGateway, ae.StatusCode)
	assert.LessOrEqual(t, len(ae.Body), 512)
	assert.Less(t, len(err.Error()), 400)
}

func TestPredicates(t *testing.T) {
	assert.False(t, flowclient.IsNotFound(nil))
	assert.False(t, flowclient.IsRetryable(nil))
	assert.False(t, flowclient.IsUnauthorized(io.EOF))
	assert.True(t, flowclient.IsNotFound(&flowclient.APIError{StatusCode: 404}))
	assert.True(t, flowclient.IsUnauthorized(&flowclient.APIError{StatusCode: 401}))
	assert.True(t, flowclient.IsUnauthorized(&flowclient.APIError{StatusCode: 403}))
	for _, s := range []int{429, 500, 502, 503, 504} {
		assert.True(t, flowclient.IsRetryable(&flowclient.APIError{StatusCode: s}), s)
	}
	for _, s := range []int{400, 401, 403, 404, 409, 412, 501} {
		assert.False(t, flowclient.IsRetryable(&flowclient.APIError{StatusCode: s}), s)
	}
	assert.False(t, flowclient.IsRetryable(context.Canceled))
	assert.False(t, flowclient.IsRetryable(io.EOF), "a bare error is not known to be a transport failure")
}

// A server that echoes the request payload in its error must not make the
// password appear in the error.
func TestCreate_SecretNeverInErrors(t *testing.T) {
	for _, status := range []int{400, 500} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				_, _ = io.WriteString(w, `{"items":[]}`)
				return
			}
			body, _ := io.ReadAll(r.Body)
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"title":"Bad payload `+strings.ReplaceAll(string(body), `"`, `'`)+`","detail":"`+strings.ReplaceAll(string(body), `"`, `'`)+`"}`)
		}))
		conns := []flowclient.Connection{basicConn("x"), {
			Name: "cs",
			Auth: flowclient.Auth{SpecName: connstr.ConnectionStringSpecName, Params: flowclient.Params{
				"connectionString": "Server=db;UID=u;Password={s3cret-Pa55;x};Port=5432",
			}},
			ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: "1.0"},
		}}
		for _, conn := range conns {
			c := plainClient(t, ts.URL, flowclient.WithSleep((&sleeps{}).sleep))
			_, err := c.CreateConnection(context.Background(), conn)
			require.Error(t, err)
			for e := error(err); e != nil; e = unwrapOne(e) {
				assert.NotContains(t, e.Error(), "s3cret-Pa55")
			}
			var ae *flowclient.APIError
			require.ErrorAs(t, err, &ae)
			assert.NotContains(t, ae.Body, "s3cret-Pa55")
			assert.NotContains(t, ae.Title, "s3cret-Pa55")
			assert.NotContains(t, ae.Detail, "s3cret-Pa55")
			assert.Contains(t, ae.Detail, flowclient.Redacted)
		}
		ts.Close()
	}
}

// A proxy or a debugging endpoint that echoes the request back, headers
// included, must not make the access token appear in the error: not in its
// message, not in any of its fields, in whatever form the echo takes.
func TestAPIError_AccessTokenEchoRedacted(t *testing.T) {
	const token = "eyJ.tok/en+value=="
	tests := []struct {
		name  string
		reply func(w http.ResponseWriter, auth string)
	}{
		{"in a JSON detail", func(w http.ResponseWriter, auth string) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"title":"echo %s","report":{"detailed-message":"got %s","request-id":"%s"}}`, auth, auth, auth)
		}},
		{"with / escaped as JSON may write it", func(w http.ResponseWriter, auth string) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"detail":"got %s"}`, strings.ReplaceAll(auth, "/", `\/`))
		}},
		{"percent-encoded", func(w http.ResponseWriter, auth string) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"error_code":"%s","message":"got %s"}`, url.QueryEscape(auth), url.QueryEscape(auth))
		}},
		{"in an HTML page", func(w http.ResponseWriter, auth string) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = fmt.Fprintf(w, "<html><body>Authorization: %s</body></html>", auth)
		}},
		{"in the request id header", func(w http.ResponseWriter, auth string) {
			w.Header().Set("X-Request-Id", auth)
			w.WriteHeader(http.StatusForbidden)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.reply(w, r.Header.Get("Authorization"))
			}))
			t.Cleanup(ts.Close)
			c := plainClient(t, ts.URL, flowclient.WithRetryPolicy(flowclient.RetryPolicy{}),
				flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})))
			_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
			require.Error(t, err)
			for e := error(err); e != nil; e = unwrapOne(e) {
				for _, form := range []string{token, strings.ReplaceAll(token, "/", `\/`), url.QueryEscape(token), "tok/en"} {
					assert.NotContains(t, e.Error(), form)
				}
			}
			var ae *flowclient.APIError
			require.ErrorAs(t, err, &ae)
			for _, f := range []string{ae.Title, ae.Detail, ae.Body, ae.Code, ae.RequestID, ae.Type} {
				assert.NotContains(t, f, "tok/en")
				assert.NotContains(t, f, "tok%2Fen")
			}
		})
	}
}

// Whatever a reply holds, the error is one printable line: escape
// sequences, carriage returns and bidirectional overrides from the server
// are shown, not acted on by the terminal that prints the error.
func TestAPIError_OnePrintableLine(t *testing.T) {
	const hostile = "\x1b[2J\x1b]0;pwned\x07\r\n  ✓ fake line\u202e"
	esc := strings.NewReplacer("\x1b", `\u001b`, "\x07", `\u0007`, "\r", `\r`, "\n", `\n`).Replace(hostile)
	replies := map[string]func(w http.ResponseWriter){
		"JSON fields": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"type":"x/FLOW-1308-400","title":"t%s","report":{"detailed-message":"d%s","request-id":"r%s"}}`, esc, esc, esc)
		},
		"gateway code": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusForbidden)
			_, _ = fmt.Fprintf(w, `{"error_code":"c%s","message":"m%s"}`, esc, esc)
		},
		"not JSON": func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>"+hostile+"</html>")
		},
		"redirect": func(w http.ResponseWriter) {
			w.Header().Set("Location", "/x\x1b[2J")
			w.WriteHeader(http.StatusTemporaryRedirect)
		},
	}
	for name, reply := range replies {
		t.Run(name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reply(w) }))
			t.Cleanup(ts.Close)
			c := plainClient(t, ts.URL, flowclient.WithRetryPolicy(flowclient.RetryPolicy{}))
			_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
			require.Error(t, err)
			msg := err.Error()
			for _, r := range msg {
				assert.True(t, unicode.IsPrint(r), "%q in %q", r, msg)
			}
		})
	}
}

// A title or detail of megabytes makes no message of megabytes.
func TestAPIError_LongDetailIsBounded(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"title":"%s","detail":"%s"}`, strings.Repeat("t", 200<<10), strings.Repeat("d", 200<<10))
	}))
	t.Cleanup(ts.Close)
	c := plainClient(t, ts.URL, flowclient.WithRetryPolicy(flowclient.RetryPolicy{}))
	_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 10<<10)
}
