package flowclient_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/flowclient/flowtest"
)

func TestRetry_StatusCodes(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter time.Duration
		failures   int
		wantOK     bool
		wantCalls  int
	}{
		{"429 with Retry-After", 429, 3 * time.Second, 2, true, 3},
		{"500", 500, 0, 1, true, 2},
		{"502", 502, 0, 1, true, 2},
		{"503", 503, 0, 4, true, 5},
		{"504", 504, 0, 1, true, 2},
		{"503 beyond max retries", 503, 0, 5, false, 5},
		{"501 not retried", 501, 0, 1, false, 1},
		{"403 not retried", 403, 0, 1, false, 1},
		{"400 not retried", 400, 0, 1, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv, sl := setup(t)
			srv.FailNext(tt.failures, tt.status, tt.retryAfter)
			_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
			assert.Equal(t, tt.wantCalls, countRequests(srv, http.MethodGet, "/connections"))
			assert.Len(t, sl.waits(), tt.wantCalls-1)
			if tt.wantOK {
				require.NoError(t, err)
			} else {
				var ae *flowclient.APIError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tt.status, ae.StatusCode)
			}
			for _, w := range sl.waits() {
				assert.GreaterOrEqual(t, w, tt.retryAfter, "Retry-After is a floor")
				assert.Positive(t, w)
			}
		})
	}
}

func TestRetry_BackoffGrowsAndIsCapped(t *testing.T) {
	c, srv, sl := setup(t)
	srv.FailNext(4, 503, 0)
	_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
	require.NoError(t, err)
	w := sl.waits()
	require.Len(t, w, 4)
	p := flowclient.DefaultRetryPolicy()
	for i, d := range w {
		full := p.BaseDelay << i
		assert.GreaterOrEqual(t, d, full/2, "retry %d", i)
		assert.LessOrEqual(t, d, full, "retry %d", i)
	}
}

func TestRetry_RetryAfterBeyondBudgetGivesUp(t *testing.T) {
	c, srv, sl := setup(t)
	srv.FailNext(1, 429, time.Hour)
	_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
	var ae *flowclient.APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, 429, ae.StatusCode)
	assert.Equal(t, time.Hour, ae.RetryAfter)
	assert.Empty(t, sl.waits(), "no wait that would overrun MaxElapsed")
}

func TestRetry_RetryAfterHTTPDate(t *testing.T) {
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", time.Now().Add(20*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"items":[]}`))
	}))
	t.Cleanup(ts.Close)
	sl := &sleeps{}
	c := plainClient(t, ts.URL, flowclient.WithSleep(sl.sleep))
	_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
	require.NoError(t, err)
	require.Len(t, sl.waits(), 1)
	assert.Greater(t, sl.waits()[0], 15*time.Second)
	assert.LessOrEqual(t, sl.waits()[0], 20*time.Second)
}

func TestRetry_TransportError(t *testing.T) {
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			require.NoError(t, err)
			_ = conn.Close()
			return
		}
		_, _ = w.Write([]byte(`{"items":[{"id":"c1","name":"n"}]}`))
	}))
	t.Cleanup(ts.Close)
	sl := &sleeps{}
	c := plainClient(t, ts.URL, flowclient.WithSleep(sl.sleep))
	got, err := c.GetConnection(context.Background(), "c1")
	require.NoError(t, err)
	assert.Equal(t, "c1", got.ID)
	assert.EqualValues(t, 2, calls.Load())
	assert.Len(t, sl.waits(), 1)
}

func TestRetry_TransportErrorIsRetryable(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := ts.URL
	ts.Close() // nothing listens any more
	c := plainClient(t, url, flowclient.WithRetryPolicy(flowclient.RetryPolicy{MaxRetries: 2}), flowclient.WithSleep((&sleeps{}).sleep))
	_, err := c.ListConnections(context.Background(), flowclient.ListOptions{})
	require.Error(t, err)
	assert.True(t, flowclient.IsRetryable(err))
	assert.Contains(t, err.Error(), "flowclient: GET "+url+"/connections")
}

func TestRetry_ContextCancelledDuringBackoff(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	srv.FailNext(1, 503, time.Minute)
	waiting := make(chan time.Duration, 1)
	// A real wait that says when it starts: cancellation must end it at once.
	sleep := func(ctx context.Context, d time.Duration) error {
		waiting <- d
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	c, err := flowclient.New(
		flowclient.WithBaseURL(srv.URL()),
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.Token()})),
		flowclient.WithAPIKey(srv.APIKey()), flowclient.WithOrgID(srv.Org()), flowclient.WithSandbox("prod"),
		flowclient.WithSleep(sleep),
	)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.ListConnections(ctx, flowclient.ListOptions{})
		done <- err
	}()
	assert.GreaterOrEqual(t, <-waiting, time.Minute)
	cancel()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		var ae *flowclient.APIError
		require.ErrorAs(t, err, &ae, "the last reply is kept")
		assert.Equal(t, 503, ae.StatusCode)
		assert.False(t, flowclient.IsRetryable(err))
	case <-time.After(10 * time.Second):
		t.Fatal("cancellation did not stop the backoff wait")
	}
	assert.Len(t, srv.Requests(), 1)
}

func TestRetry_Disabled(t *testing.T) {
	srv := flowtest.NewServer()
	t.Cleanup(srv.Close)
	c, err := flowclient.New(
		flowclient.WithBaseURL(srv.URL()),
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: srv.Token()})),
		flowclient.WithAPIKey(srv.APIKey()), flowclient.WithOrgID(srv.Org()), flowclient.WithSandbox("prod"),
		flowclient.WithRetryPolicy(flowclient.RetryPolicy{}),
	)
	require.NoError(t, err)
	srv.FailNext(1, 503, 0)
	_, err = c.ListConnections(context.Background(), flowclient.ListOptions{})
	assert.True(t, flowclient.IsRetryable(err))
	assert.Len(t, srv.Requests(), 1)
}

func TestCreate_DroppedReplyMakesNoDuplicate(t *testing.T) {
	c, srv, _ := setup(t)
	srv.DropAfterCreate(1)
	created, err := c.CreateConnection(context.Background(), basicConn("orders"))
	require.NoError(t, err)
	assert.True(t, created.Recovered)

	stored := srv.Connections()
	require.Len(t, stored, 1, "exactly one connection")
	assert.Equal(t, stored[0].ID, created.ID)
	assert.Equal(t, stored[0].Etag, created.Etag, "the recovered etag is the stored one, quotes included")
	assert.Equal(t, 1, countRequests(srv, http.MethodPost, "/connections"), "exactly one create")
	assert.Equal(t, 1, countRequests(srv, http.MethodGet, "/connections"), "one lookup by name")
}

func TestCreate_5xxLooksUpThenCreates(t *testing.T) {
	c, srv, _ := setup(t)
	srv.FailNext(1, 503, 0) // rejected before storing: the lookup finds nothing
	created, err := c.CreateConnection(context.Background(), basicConn("orders"))
	require.NoError(t, err)
	assert.False(t, created.Recovered)
	assert.Len(t, srv.Connections(), 1)
	var seq []string
	for _, r := range srv.Requests() {
		seq = append(seq, r.Method+" "+r.RawQuery)
	}
	require.Len(t, seq, 3)
	assert.Equal(t, "POST ", seq[0])
	assert.Contains(t, seq[1], "GET property=name%3D%3Dorders&property=connectionSpec.id%3D%3D"+flowclient.PostgreSQLSpecID)
	assert.Equal(t, "POST ", seq[2])
}

func TestCreate_429RetriesWithoutLookup(t *testing.T) {
	c, srv, sl := setup(t)
	srv.FailNext(1, 429, 2*time.Second)
	_, err := c.CreateConnection(context.Background(), basicConn("orders"))
	require.NoError(t, err)
	assert.Equal(t, 2, countRequests(srv, http.MethodPost, "/connections"))
	assert.Equal(t, 0, countRequests(srv, http.MethodGet, "/connections"), "a 429 was refused: no lookup")
	require.Len(t, sl.waits(), 1)
	assert.GreaterOrEqual(t, sl.waits()[0], 2*time.Second)
	assert.Len(t, srv.Connections(), 1)
}

// failingGETs serves h, answering the first n GETs with 503 (n < 0: all).
func failingGETs(t *testing.T, h http.Handler, n int32) *httptest.Server {
	var left atomic.Int32
	left.Store(n)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && (n < 0 || left.Add(-1) >= 0) {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func emulatorClient(t *testing.T, h *flowtest.Handler, base string, sl *sleeps) *flowclient.Client {
	t.Helper()
	c, err := flowclient.New(
		flowclient.WithBaseURL(base+flowtest.BasePath),
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: h.Token()})),
		flowclient.WithAPIKey(h.APIKey()), flowclient.WithOrgID(h.Org()), flowclient.WithSandbox(sandbox),
		flowclient.WithSleep(sl.sleep),
	)
	require.NoError(t, err)
	return c
}

func TestCreate_LookupFailureIsRetried(t *testing.T) {
	h := flowtest.NewHandler()
	ts := failingGETs(t, h, 1)
	sl := &sleeps{}
	c := emulatorClient(t, h, ts.URL, sl)
	h.DropAfterCreate(1)
	created, err := c.CreateConnection(context.Background(), basicConn("orders"))
	require.NoError(t, err)
	assert.True(t, created.Recovered)
	assert.Len(t, h.Connections(), 1)
	assert.Len(t, sl.waits(), 2, "after the lost reply, and after the failed lookup")
	posts := 0
	for _, r := range h.Requests() {
		if r.Method == http.MethodPost {
			posts++
		}
	}
	assert.Equal(t, 1, posts)
}

func TestCreate_OutcomeNeverKnownMakesNoDuplicate(t *testing.T) {
	h := flowtest.NewHandler()
	ts := failingGETs(t, h, -1) // every lookup fails
	sl := &sleeps{}
	c := emulatorClient(t, h, ts.URL, sl)
	h.DropAfterCreate(1)
	_, err := c.CreateConnection(context.Background(), basicConn("orders"))
	var ae *flowclient.APIError
	require.ErrorAs(t, err, &ae, "the last lookup's failure")
	assert.Equal(t, http.StatusServiceUnavailable, ae.StatusCode)
	assert.Len(t, h.Connections(), 1, "created once, never again while the outcome is unknown")
	assert.Len(t, h.Requests(), 1, "the lookups never reached the emulator; the create did, once")
	assert.Len(t, sl.waits(), flowclient.DefaultRetryPolicy().MaxRetries)
}

func TestMalformedAndOversizedReplies(t *testing.T) {
	c, srv, sl := setup(t)
	ctx := context.Background()

	srv.MalformedNext(1)
	_, err := c.ListConnections(ctx, flowclient.ListOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decode")
	assert.False(t, flowclient.IsRetryable(err))

	srv.OversizeNext(1)
	_, err = c.ListConnections(ctx, flowclient.ListOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, flowclient.ErrResponseTooLarge)
	assert.Empty(t, sl.waits())
}

// plainClient is a client for an arbitrary test server.
func plainClient(t *testing.T, base string, extra ...flowclient.Option) *flowclient.Client {
	t.Helper()
	opts := append([]flowclient.Option{
		flowclient.WithBaseURL(base),
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok-123"})),
		flowclient.WithAPIKey("key"), flowclient.WithOrgID("ORG@AdobeOrg"), flowclient.WithSandbox("prod"),
	}, extra...)
	c, err := flowclient.New(opts...)
	require.NoError(t, err)
	return c
}

func TestCreate_UnreadableReplyRecoversByName(t *testing.T) {
	h := flowtest.NewHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r) // the emulator creates it...
		w.WriteHeader(rec.Code)
		_, _ = io.WriteString(w, `{"id": "cut sh`) // ...and the reply is garbled
	}))
	t.Cleanup(ts.Close)
	sl := &sleeps{}
	c := emulatorClient(t, h, ts.URL, sl)
	created, err := c.CreateConnection(context.Background(), basicConn("orders"))
	require.NoError(t, err)
	assert.True(t, created.Recovered)
	require.Len(t, h.Connections(), 1)
	assert.Equal(t, h.Connections()[0].ID, created.ID)
	assert.Empty(t, sl.waits(), "not retried: it was created")
}

func TestCreate_UnreadableReplyNotFoundIsAnError(t *testing.T) {
	c, srv, _ := setup(t)
	srv.MalformedNext(1) // answered before anything is stored
	_, err := c.CreateConnection(context.Background(), basicConn("orders"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "decode")
	assert.Empty(t, srv.Connections())
}

func TestDelete_LostReplyThen404IsSuccess(t *testing.T) {
	h := flowtest.NewHandler()
	var first atomic.Bool
	first.Store(true)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && first.CompareAndSwap(true, false) {
			h.ServeHTTP(httptest.NewRecorder(), r) // deleted...
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close() // ...but the reply is lost
			}
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c := emulatorClient(t, h, ts.URL, &sleeps{})
	created, err := c.CreateConnection(context.Background(), basicConn("orders"))
	require.NoError(t, err)
	require.NoError(t, c.DeleteConnection(context.Background(), created.ID))
	assert.Empty(t, h.Connections())

	// Without an unknown outcome first, a 404 is still an error.
	err = c.DeleteConnection(context.Background(), created.ID)
	assert.True(t, flowclient.IsNotFound(err))
}
