package flowclient_test

import (
	"context"
	"errors"
	"net"
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

// outcomeRow is one way a create can fail, and whether the caller must
// then look the name up: OutcomeUnknown.
type outcomeRow struct {
	name string
	// arm prepares the emulator h and returns the context of the create;
	// it may return a function to run once the create is held.
	arm func(t *testing.T, h *flowtest.Handler) (ctx context.Context, onHeld func())
	// client options besides the emulator's URL and credentials.
	opts []flowclient.Option
	// h2 serves the emulator over TLS with HTTP/2.
	h2 bool
	// closed points the client at a port where nothing listens.
	closed bool

	wantUnknown bool
	wantIs      error  // errors.Is target, if any
	wantMsg     string // text of the error, if any
	wantStored  int    // connections the emulator holds afterwards
	wantPosts   int
	wantGETs    int // look-ups made by the client itself
}

// holdThen holds the next create and runs act once it is stored.
func holdThen(act func()) func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
	return func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		held := h.HoldCreate(release)
		return context.Background(), func() { <-held; act() }
	}
}

func TestCreate_OutcomeUnknown(t *testing.T) {
	noRetry := flowclient.WithRetryPolicy(flowclient.RetryPolicy{})
	var cancelHeld context.CancelFunc
	rows := []outcomeRow{
		{
			name: "cancelled while the reply is held (HTTP/1.1)",
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				_, onHeld := holdThen(cancel)(t, h)
				return ctx, onHeld
			},
			wantUnknown: true, wantIs: context.Canceled, wantStored: 1, wantPosts: 1, wantGETs: 0,
		},
		{
			name: "cancelled while the reply is held (HTTP/2)", h2: true,
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				_, onHeld := holdThen(cancel)(t, h)
				return ctx, onHeld
			},
			wantUnknown: true, wantIs: context.Canceled, wantStored: 1, wantPosts: 1, wantGETs: 0,
		},
		{
			// The deadline is short so that the test does not wait; nothing
			// is asserted about time.
			name: "context deadline while the reply is held",
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				t.Cleanup(cancel)
				_, onHeld := holdThen(func() {})(t, h)
				return ctx, onHeld
			},
			wantUnknown: true, wantIs: context.DeadlineExceeded, wantStored: 1, wantPosts: 1, wantGETs: 0,
		},
		{
			name: "http client timeout while the reply is held",
			arm:  holdThen(func() {}),
			opts: []flowclient.Option{flowclient.WithHTTPClient(&http.Client{Timeout: 300 * time.Millisecond})},
			// The http client's own timeout is a deadline too: not retried,
			// left for the caller to resolve with a fresh context.
			wantUnknown: true, wantIs: context.DeadlineExceeded, wantStored: 1, wantPosts: 1, wantGETs: 0,
		},
		{
			name: "reset after sending, no retries left",
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				h.DropAfterCreate(1)
				return context.Background(), nil
			},
			opts:        []flowclient.Option{noRetry},
			wantUnknown: true, wantStored: 1, wantPosts: 1, wantGETs: 0,
		},
		{
			name: "cancelled during the backoff after a reset",
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				h.DropAfterCreate(1)
				ctx, cancel := context.WithCancel(context.Background())
				cancelHeld = cancel
				t.Cleanup(cancel)
				return ctx, nil
			},
			opts: []flowclient.Option{flowclient.WithSleep(func(ctx context.Context, d time.Duration) error {
				cancelHeld()
				return ctx.Err()
			})},
			wantUnknown: true, wantIs: context.Canceled, wantStored: 1, wantPosts: 1, wantGETs: 0,
		},
		{
			// The wait ends normally, and the context just after: the
			// look-up must not be made with the dead context.
			name: "cancelled between the backoff and the look-up",
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				h.DropAfterCreate(1)
				ctx, cancel := context.WithCancel(context.Background())
				cancelHeld = cancel
				t.Cleanup(cancel)
				return ctx, nil
			},
			opts: []flowclient.Option{flowclient.WithSleep(func(ctx context.Context, d time.Duration) error {
				cancelHeld()
				return nil
			})},
			wantUnknown: true, wantIs: context.Canceled, wantMsg: "the outcome is unknown, and context canceled before the name could be looked up",
			wantStored: 1, wantPosts: 1, wantGETs: 0,
		},
		{
			name: "5xx and no retries left",
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				h.FailNext(1, http.StatusBadGateway, 0)
				return context.Background(), nil
			},
			opts:        []flowclient.Option{noRetry},
			wantUnknown: true, wantStored: 0, wantPosts: 1, wantGETs: 0,
		},
		{
			name: "2xx reply unreadable, and the look-up finds nothing",
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				h.MalformedNext(1)
				return context.Background(), nil
			},
			wantUnknown: true, wantStored: 0, wantPosts: 1, wantGETs: 1,
		},
		{
			name: "cancelled before the call",
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, nil
			},
			wantUnknown: false, wantIs: context.Canceled, wantStored: 0, wantPosts: 0,
		},
		{
			name: "connection refused", closed: true,
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				return context.Background(), nil
			},
			opts:        []flowclient.Option{noRetry},
			wantUnknown: false, wantStored: 0, wantPosts: 0,
		},
		{
			name: "rejected (400)",
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				h.FailNext(1, http.StatusBadRequest, 0)
				return context.Background(), nil
			},
			wantUnknown: false, wantStored: 0, wantPosts: 1,
		},
		{
			name: "redirected",
			arm: func(t *testing.T, h *flowtest.Handler) (context.Context, func()) {
				h.RedirectNext(1, http.StatusFound, "https://127.0.0.2:1/connections")
				return context.Background(), nil
			},
			wantUnknown: false, wantStored: 0, wantPosts: 1,
		},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			h := flowtest.NewHandler()
			var protos atomic.Int32
			handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				protos.Store(int32(r.ProtoMajor))
				h.ServeHTTP(w, r)
			})
			var ts *httptest.Server
			if row.h2 {
				ts = httptest.NewUnstartedServer(handler)
				ts.EnableHTTP2 = true
				ts.StartTLS()
			} else {
				ts = httptest.NewServer(handler)
			}
			t.Cleanup(ts.Close)
			base := ts.URL
			if row.closed {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				base = "http://" + ln.Addr().String()
				require.NoError(t, ln.Close())
			}
			ctx, onHeld := row.arm(t, h)
			opts := append([]flowclient.Option{
				flowclient.WithBaseURL(base + flowtest.BasePath),
				flowclient.WithHTTPClient(ts.Client()),
				flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: h.Token()})),
				flowclient.WithAPIKey(h.APIKey()), flowclient.WithOrgID(h.Org()), flowclient.WithSandbox(sandbox),
				flowclient.WithSleep((&sleeps{}).sleep),
			}, row.opts...)
			c, err := flowclient.New(opts...)
			require.NoError(t, err)
			if onHeld != nil {
				go onHeld()
			}

			_, err = c.CreateConnection(ctx, basicConn("orders"))
			require.Error(t, err)
			assert.Equal(t, row.wantUnknown, flowclient.OutcomeUnknown(err), err.Error())
			if row.wantIs != nil {
				assert.ErrorIs(t, err, row.wantIs)
			}
			if row.wantMsg != "" {
				assert.Contains(t, err.Error(), row.wantMsg)
			}
			assert.NotContains(t, err.Error(), "s3cret-Pa55")
			assert.Len(t, h.Connections(), row.wantStored)
			assert.Equal(t, row.wantPosts, countHandler(h, http.MethodPost), "creates")
			assert.Equal(t, row.wantGETs, countHandler(h, http.MethodGet), "look-ups")
			if row.h2 {
				assert.EqualValues(t, 2, protos.Load(), "served over HTTP/2")
			}
		})
	}
}

// TestCreate_OutcomeResolvedWithFreshContext is what the CLI does with an
// unknown outcome: look the name up with a new context, and find the
// connection the lost reply was about.
func TestCreate_OutcomeResolvedWithFreshContext(t *testing.T) {
	c, srv, _ := setup(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	held := srv.HoldCreate(release)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-held; cancel() }()
	_, err := c.CreateConnection(ctx, basicConn("orders"))
	require.True(t, flowclient.OutcomeUnknown(err), "%v", err)

	fresh, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	found, err := c.FindConnectionByName(fresh, "orders", flowclient.PostgreSQLSpecID)
	require.NoError(t, err)
	require.NotNil(t, found)
	assert.Equal(t, srv.Connections()[0].ID, found.ID)
}

func TestOutcomeUnknown_Predicate(t *testing.T) {
	assert.False(t, flowclient.OutcomeUnknown(nil))
	assert.False(t, flowclient.OutcomeUnknown(errors.New("x")))
	assert.False(t, flowclient.OutcomeUnknown(context.Canceled), "a bare context error says nothing was sent")
	assert.True(t, flowclient.OutcomeUnknown(&flowclient.APIError{StatusCode: 503}))
	assert.False(t, flowclient.OutcomeUnknown(&flowclient.APIError{StatusCode: 429}))
	assert.False(t, flowclient.OutcomeUnknown(&flowclient.RedirectError{StatusCode: 307}))
	assert.False(t, flowclient.OutcomeUnknown(&flowclient.TokenRefusedError{Err: &flowclient.APIError{StatusCode: 401}}))
}

// countHandler counts the emulator's Flow Service requests with method.
func countHandler(h *flowtest.Handler, method string) int {
	n := 0
	for _, r := range h.Requests() {
		if r.Method == method && r.Path != flowtest.TokenPath {
			n++
		}
	}
	return n
}
