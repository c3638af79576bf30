package flowclient

import (
	"context"
	"net/http"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 3 ", 3 * time.Second, true},
		{"120", 2 * time.Minute, true},
		{"-1", 0, false},
		{"99999999999", 24 * time.Hour, true},
		{"Sun, 29 Nov 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Sun, 29 Nov 2026 09:00:00 GMT", 0, true},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.in, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSecretValues(t *testing.T) {
	got := secretValues(Params{
		"server":           "db.example.com",
		"password":         `p"w\d`,
		"connectionString": "Server=db;PWD={a;b};Port=1",
	})
	assert.Contains(t, got, `p"w\d`)
	assert.Contains(t, got, `p\"w\\d`, "as JSON escapes it")
	assert.Contains(t, got, "{a;b}", "the brace-quoted password whole")
	assert.Contains(t, got, "a;b")
	assert.NotContains(t, got, "db.example.com")
	for i := 1; i < len(got); i++ {
		assert.GreaterOrEqual(t, len(got[i-1]), len(got[i]), "longest first")
	}
}

// FuzzDecodeError: any status and body give an *APIError with that status,
// a bounded valid-UTF-8 body snippet and a one-line message, without panic.
func FuzzDecodeError(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{403, `{"error_code":"403010","message":"Oauth token is missing."}`},
		{400, `{"type":"https://ns.adobe.com/aep/errors/FLOW-1415-400","title":"Bad Request","status":400,"report":{"detailed-message":"x","request-id":"r"}}`},
		{400, `{"type":"/placeholder/type/uri","status":400,"title":"BadRequestError","detail":"A valid content-type must be specified"}`},
		{502, "<html>bad gateway</html>"},
		{500, ""},
		{401, `[{"error_code":1,"message":null}]`},
		{400, "{\"detail\":\"\xff\xfe\"}"},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		h := http.Header{"X-Request-Id": {"hdr"}, "Retry-After": {string(body)}}
		e := decodeError(status, h, body, http.MethodGet, "https://example.test/x")
		require.NotNil(t, e)
		require.Equal(t, status, e.StatusCode)
		require.LessOrEqual(t, len(e.Body), maxErrorSnippet)
		require.True(t, utf8.ValidString(e.Body))
		msg := e.Error()
		require.Contains(t, msg, "flowclient: GET https://example.test/x: ")
		require.GreaterOrEqual(t, e.RetryAfter, time.Duration(0))
	})
}

func TestSleepContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- sleepContext(ctx, time.Hour) }()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("sleepContext ignored a cancelled context")
	}
	assert.NoError(t, sleepContext(context.Background(), time.Millisecond))
	assert.NoError(t, sleepContext(context.Background(), 0))
}
