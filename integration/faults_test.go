package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/flowclient/flowtest"
	"github.com/flowpg/flowpg/internal/cli"
	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/internal/pgprobe"
	"github.com/flowpg/flowpg/internal/pgtest"
	"github.com/flowpg/flowpg/preflight"
)

// hangMargin is added to every row's deadline before its elapsed time is
// compared with it: the comparison guards against hangs, on a loaded
// two-core machine, and says nothing about speed.
const hangMargin = 10 * time.Second

// faultRow is one fault of the matrix: how to inject it, and what flowpg
// must make of it.
type faultRow struct {
	name string
	// timeout is the command's --timeout.
	timeout time.Duration
	// deadline bounds the whole run through its context.
	deadline time.Duration

	// Network and server rows run check through a faultproxy in front of the
	// shared server (proxy), or against a closed port (closed).
	closed bool
	proxy  faultproxy.Options
	// user logs in instead of pgtest.ScramUser.
	user, password string
	// during runs while the command does; its error fails the row.
	during func(ctx context.Context, pg *pgtest.Server) error
	// wantStage and wantField locate the failure (preflight.Result.ID and
	// Field); wantTLSOffered, when set, is the tls stage's serverOffersTls.
	wantStage      preflight.Stage
	wantField      preflight.Field
	wantTLSOffered *bool
	// wantKinds are the acceptable classifications (Result.Kind) of the
	// failing stage.
	wantKinds []preflight.Kind

	// Flow Service rows run connect against an emulator; onCreate arms its
	// knobs just before the first create reaches it, so that the fault hits
	// the one call that is not idempotent.
	onCreate func(h *flowtest.Handler)
	// apiTimeout is connect's --api-timeout; zero means a minute.
	apiTimeout time.Duration
	// wantConnStatus is connect's JSON status; wantHTTP, when set, the HTTP
	// status of the failed call; wantErr, when set, text of the sentinel
	// error the failure wraps; wantConns how many connections Flow Service
	// holds at the end, and maxPosts a bound on its create requests.
	wantConnStatus string
	wantHTTP       int
	wantErr        error
	wantConns      int
	maxPosts       int

	wantExit int
}

func (r faultRow) flow() bool { return r.onCreate != nil }

// TestFaultMatrix walks the faults a check or a connect can meet, on the
// network, on the server and at Flow Service, and asserts for each how flowpg
// classifies it, its exit code, that it ends within its deadline, and that no
// connection is ever created twice.
func TestFaultMatrix(t *testing.T) {
	pgtest.RequireDocker(t)
	// connect reads Adobe's secrets from the environment only. They are the
	// same for every emulator, so they are set once here and the rows, which
	// pass each emulator's URLs as flags, can run in parallel.
	for k, v := range map[string]string{
		"FLOWPG_CONNECTION_STRING": "",
		"AEP_ACCESS_TOKEN":         "",
		"AEP_CLIENT_SECRET":        flowtest.DefaultClientSecret,
		"AEP_CLIENT_ID":            flowtest.DefaultClientID,
		"AEP_API_KEY":              "",
		"AEP_SCOPES":               "",
		"AEP_ORG_ID":               flowtest.DefaultOrg,
		"AEP_SANDBOX_NAME":         "prod",
	} {
		t.Setenv(k, v)
	}
	pg := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn})

	offered := true
	rows := []faultRow{
		{
			name: "network/connection refused", closed: true,
			timeout: 5 * time.Second, deadline: 10 * time.Second,
			wantStage: preflight.StageTCP, wantField: preflight.FieldPort, wantKinds: []preflight.Kind{preflight.KindRefused}, wantExit: cli.ExitFailed,
		},
		{
			name: "network/black hole", proxy: faultproxy.Options{BlackHole: true},
			timeout: 2 * time.Second, deadline: 10 * time.Second,
			wantStage: preflight.StageTLS, wantField: preflight.FieldServer, wantKinds: []preflight.Kind{preflight.KindTimeout}, wantExit: cli.ExitFailed,
		},
		{
			// The 8 bytes of SSLRequest pass and the server's 'S' comes
			// back; the ClientHello trips the reset.
			name: "network/reset in the TLS handshake", proxy: faultproxy.Options{ResetAfterClientBytes: 8},
			timeout: 5 * time.Second, deadline: 10 * time.Second,
			wantStage: preflight.StageTLS, wantField: preflight.FieldServer, wantTLSOffered: &offered, wantKinds: []preflight.Kind{preflight.KindReset}, wantExit: cli.ExitFailed,
		},
		{
			name: "network/server slower than the timeout", proxy: faultproxy.Options{Latency: 3 * time.Second},
			timeout: 2 * time.Second, deadline: 10 * time.Second,
			wantStage: preflight.StageTLS, wantField: preflight.FieldServer, wantKinds: []preflight.Kind{preflight.KindTimeout}, wantExit: cli.ExitFailed,
		},
		{
			// What a client sees of a restart: the postmaster's shutdown
			// SIGTERMs every backend, which answers FATAL 57P01 and closes,
			// exactly as pg_terminate_backend makes it do. The latency keeps
			// the check in flight between its login and its queries.
			name: "server/restart mid-check", proxy: faultproxy.Options{Latency: 300 * time.Millisecond},
			user: pgtest.MD5User, password: pgtest.MD5Password, during: terminateWhenIdle(pgtest.MD5User),
			timeout: 15 * time.Second, deadline: 20 * time.Second,
			wantStage: preflight.StageServer, wantField: preflight.FieldServer, wantExit: cli.ExitFailed,
			wantKinds: []preflight.Kind{preflight.KindServer, preflight.KindReset},
		},
		{
			name:     "flow/429 storm beyond the retry budget",
			onCreate: func(h *flowtest.Handler) { h.FailNext(1000, http.StatusTooManyRequests, 0) },
			timeout:  10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "api-error", wantHTTP: http.StatusTooManyRequests, wantConns: 0, maxPosts: budget(), wantExit: cli.ExitFailed,
		},
		{
			name:     "flow/429 burst within the retry budget",
			onCreate: func(h *flowtest.Handler) { h.FailNext(budget()-1, http.StatusTooManyRequests, time.Second) },
			timeout:  10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "created", wantConns: 1, maxPosts: budget(), wantExit: cli.ExitOK,
		},
		{
			name:     "flow/503 storm beyond the retry budget",
			onCreate: func(h *flowtest.Handler) { h.FailNext(1000, http.StatusServiceUnavailable, 0) },
			timeout:  10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "api-error", wantHTTP: http.StatusServiceUnavailable, wantConns: 0, maxPosts: budget(), wantExit: cli.ExitFailed,
		},
		{
			// A 5xx may hide a create that happened: the client looks the
			// name up before it posts again.
			name:     "flow/503 once",
			onCreate: func(h *flowtest.Handler) { h.FailNext(1, http.StatusServiceUnavailable, 0) },
			timeout:  10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "created", wantConns: 1, maxPosts: 2, wantExit: cli.ExitOK,
		},
		{
			name:     "flow/reply dropped after create",
			onCreate: func(h *flowtest.Handler) { h.DropAfterCreate(1) },
			timeout:  10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "created", wantConns: 1, maxPosts: 1, wantExit: cli.ExitOK,
		},
		{
			name:     "flow/malformed JSON reply to create",
			onCreate: func(h *flowtest.Handler) { h.MalformedNext(1) },
			timeout:  10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "api-error", wantHTTP: http.StatusOK, wantConns: 0, maxPosts: 1, wantExit: cli.ExitFailed,
		},
		{
			// A 401 from the gateway refused the request: a new IMS token,
			// the same create once more.
			name:     "flow/401 once on create",
			onCreate: func(h *flowtest.Handler) { h.UnauthorizedNext(1) },
			timeout:  10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "created", wantConns: 1, maxPosts: 2, wantExit: cli.ExitOK,
		},
		{
			name:     "flow/every token revoked",
			onCreate: func(h *flowtest.Handler) { h.RevokeTokens() },
			timeout:  10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "created", wantConns: 1, maxPosts: 2, wantExit: cli.ExitOK,
		},
		{
			name:     "flow/401 on every try",
			onCreate: func(h *flowtest.Handler) { h.UnauthorizedNext(100) },
			timeout:  10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "api-error", wantHTTP: http.StatusUnauthorized, wantConns: 0, maxPosts: 2, wantExit: cli.ExitFailed,
		},
		{
			// Adobe's APIs do not redirect: nothing is followed, nothing
			// re-sent, and a 302 is no GET that "has no id".
			name:     "flow/302 on create",
			onCreate: func(h *flowtest.Handler) { h.RedirectNext(1, http.StatusFound, "http://127.0.0.2:9/elsewhere") },
			timeout:  10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "api-error", wantHTTP: http.StatusFound, wantConns: 0, maxPosts: 1, wantExit: cli.ExitFailed,
		},
		{
			name: "flow/307 to a Location with userinfo and a query",
			onCreate: func(h *flowtest.Handler) {
				h.RedirectNext(1, http.StatusTemporaryRedirect, "https://u:S3NT1NEL-location@127.0.0.2:9/x?token=S3NT1NEL-query")
			},
			timeout: 10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "api-error", wantHTTP: http.StatusTemporaryRedirect, wantConns: 0, maxPosts: 1, wantExit: cli.ExitFailed,
		},
		{
			// The create's reply comes after --api-timeout: the name is
			// looked up with a fresh deadline, found, and verified.
			name:       "flow/create reply held past the API timeout",
			onCreate:   func(h *flowtest.Handler) { h.HoldCreate(make(chan struct{})) },
			apiTimeout: 2 * time.Second,
			timeout:    10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "created", wantConns: 1, maxPosts: 1, wantExit: cli.ExitOK,
		},
		{
			name:     "flow/reply to create too large",
			onCreate: func(h *flowtest.Handler) { h.OversizeNext(1) },
			timeout:  10 * time.Second, deadline: 40 * time.Second,
			wantConnStatus: "api-error", wantHTTP: http.StatusOK, wantErr: flowclient.ErrResponseTooLarge, wantConns: 0, maxPosts: 1, wantExit: cli.ExitFailed,
		},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), row.deadline)
			defer cancel()
			if row.flow() {
				runFlowRow(ctx, t, pg, row)
			} else {
				runNetworkRow(ctx, t, pg, row)
			}
		})
	}
}

// runFlowpg runs the CLI in-process and measures it.
func runFlowpg(ctx context.Context, stdin string, args ...string) (code int, stdout, stderr string, elapsed time.Duration) {
	var out, errb bytes.Buffer
	start := time.Now()
	code = cli.Main(ctx, args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String(), time.Since(start)
}

// checkJSON is the part of check -o json (a preflight.Report) asserted here.
type checkJSON struct {
	Verdict preflight.Status
	Checks  []struct {
		ID      preflight.Stage
		Status  preflight.Status
		Field   preflight.Field
		Kind    preflight.Kind
		Details json.RawMessage
	}
}

func runNetworkRow(ctx context.Context, t *testing.T, pg *pgtest.Server, row faultRow) {
	addr := net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port))
	if row.closed {
		var err error
		addr, err = faultproxy.ClosedPort()
		require.NoError(t, err)
	} else {
		p, err := faultproxy.New(addr, row.proxy)
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Close() })
		addr = p.Addr
	}
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	user, password := pgtest.ScramUser, pgtest.ScramPassword
	if row.user != "" {
		user, password = row.user, row.password
	}
	conn := fmt.Sprintf("Server=%s;Port=%s;Database=%s;UID=%s;Password=%s;EncryptionMethod=1;ValidateServerCertificate=1",
		host, port, pgtest.Database, user, password)

	// The injector is stopped when the check returns: a fault not injected
	// by then is a failure of the row, not a reason to wait for the deadline.
	var wg sync.WaitGroup
	var duringErr error
	dctx, stop := context.WithCancel(ctx)
	defer stop()
	if row.during != nil {
		wg.Go(func() { duringErr = row.during(dctx, pg) })
	}
	code, out, errOut, elapsed := runFlowpg(ctx, conn, "check", "-", "-o", "json",
		"--ca-file", pg.CAFile, "--timeout", row.timeout.String())
	stop()
	wg.Wait()
	require.NoError(t, duringErr, "the fault was not injected")

	assert.Less(t, elapsed, row.deadline+hangMargin, "the check outlived its deadline")
	assert.NotContains(t, out+errOut, password)
	var rep checkJSON
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	assert.Equal(t, row.wantExit, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Equal(t, preflight.Fail, rep.Verdict)
	var failed *int
	for i, c := range rep.Checks {
		if c.Status == preflight.Fail {
			failed = &i
			break
		}
	}
	require.NotNil(t, failed, "no stage failed:\n%s", out)
	got := rep.Checks[*failed]
	assert.Equal(t, row.wantStage, got.ID, out)
	assert.Equal(t, row.wantField, got.Field, out)
	assert.Contains(t, row.wantKinds, got.Kind, "classification:\n%s", out)
	for _, c := range rep.Checks[*failed+1:] {
		if c.ID != preflight.StagePrivileges || row.wantStage != preflight.StageServer {
			assert.Equal(t, preflight.Skip, c.Status, "stage %s after the failure", c.ID)
		}
	}
	if row.wantTLSOffered != nil {
		var d preflight.TLSDetails
		require.NoError(t, json.Unmarshal(got.Details, &d))
		require.NotNil(t, d.ServerOffersTLS, "serverOffersTls unknown")
		assert.Equal(t, *row.wantTLSOffered, *d.ServerOffersTLS)
	}
	if row.wantStage == preflight.StageTCP {
		var d preflight.TCPDetails
		require.NoError(t, json.Unmarshal(got.Details, &d))
		require.NotEmpty(t, d.Attempts)
		assert.Equal(t, addr, d.Attempts[0].Address)
	}
}

// terminateWhenIdle ends, from a superuser session, the check's backend (the
// only session of user) once it has logged in and waits for its queries.
func terminateWhenIdle(user string) func(ctx context.Context, pg *pgtest.Server) error {
	return func(ctx context.Context, pg *pgtest.Server) error {
		su, err := pgx.Connect(ctx, pg.DSN(pgtest.SuperUser, pgtest.SuperPassword))
		if err != nil {
			return err
		}
		defer su.Close(context.Background())
		for {
			var n int
			err := su.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE usename = $1 AND state = 'idle' AND pid <> pg_backend_pid()`, user).Scan(&n)
			if err != nil || n > 0 {
				return err
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("no idle session of %s to terminate: %w", user, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// connectJSON is the part of connect -o json asserted here.
type connectJSON struct {
	Status   string
	ID       string
	Message  string
	APIError *struct {
		Status int
		Code   string
	}
}

func runFlowRow(ctx context.Context, t *testing.T, pg *pgtest.Server, row faultRow) {
	h := flowtest.NewHandler(flowtest.WithProber(pgprobe.Prober(pgprobe.Options{Dialer: netguard.Dialer(t, nil)})), flowtest.WithTrustStore(pg.CAPool()))
	var armOnce sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isCreate(r.Method, r.URL.Path) {
			armOnce.Do(func() { row.onCreate(h) })
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	conn := fmt.Sprintf("Server=%s;Port=%d;Database=%s;UID=%s;Password=%s;EncryptionMethod=1;ValidateServerCertificate=1",
		pg.Host, pg.Port, pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword)
	name := "fault-" + strings.NewReplacer(" ", "-", "/", "-").Replace(row.name)
	apiTimeout := row.apiTimeout
	if apiTimeout == 0 {
		apiTimeout = time.Minute
	}
	code, out, errOut, elapsed := runFlowpg(ctx, conn, "connect", "-", "--name", name, "-o", "json",
		"--allow-private-address", "--ca-file", pg.CAFile, "--assume-adobe-trusts-ca", "--timeout", row.timeout.String(),
		"--flow-url", srv.URL+flowtest.BasePath, "--ims-token-url", srv.URL+flowtest.TokenPath, "--api-timeout", apiTimeout.String())

	assert.Less(t, elapsed, row.deadline+hangMargin, "connect outlived its deadline")
	assert.Equal(t, row.wantExit, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.NotContains(t, out+errOut, pgtest.ScramPassword)
	assert.NotContains(t, out+errOut, flowtest.DefaultClientSecret)
	assert.NotContains(t, out+errOut, "S3NT1NEL")

	// Never a duplicate, whatever the fault.
	stored := h.Connections()
	assert.LessOrEqual(t, len(stored), 1, "duplicate connections")
	assert.Len(t, stored, row.wantConns)
	posts := 0
	for _, r := range h.Requests() {
		if isCreate(r.Method, r.Path) {
			posts++
		}
	}
	assert.GreaterOrEqual(t, posts, 1, "the fault was never armed")
	assert.LessOrEqual(t, posts, row.maxPosts, "create requests")

	var res connectJSON
	require.NoError(t, json.Unmarshal([]byte(out), &res), "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Equal(t, row.wantConnStatus, res.Status, res.Message)
	if row.wantConns == 1 {
		assert.Equal(t, stored[0].ID, res.ID)
		assert.Equal(t, name, stored[0].Name)
	}
	if res.Status == "api-error" {
		assert.True(t, strings.HasPrefix(res.Message, "creating the connection: "), "the fault hit another call: %s", res.Message)
	}
	if res.Status == "api-error" {
		require.NotNil(t, res.APIError, "an api-error carries apiError")
	}
	if row.wantHTTP != 0 {
		assert.Equal(t, row.wantHTTP, res.APIError.Status)
	}
	if row.wantErr != nil {
		assert.Contains(t, res.Message, strings.TrimPrefix(row.wantErr.Error(), "flowclient: "))
	}
	if row.wantHTTP == http.StatusTooManyRequests {
		assert.Equal(t, budget(), posts, "a 429 storm costs the retry budget, no more")
	}
}

// budget is how many attempts the CLI's client makes of one call.
func budget() int { return flowclient.DefaultRetryPolicy().MaxRetries + 1 }

func isCreate(method, path string) bool {
	return method == http.MethodPost && path == flowtest.BasePath+"/connections"
}
