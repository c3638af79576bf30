package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/flowclient/flowtest"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/internal/pgprobe"
	"github.com/flowpg/flowpg/internal/pgtest"
)

// seed creates a basic-auth connection in fs directly, as another tool
// would have, and returns its id.
func seed(t *testing.T, fs *flowtest.Server, name, server, password string) string {
	t.Helper()
	return seedParams(t, fs, name, flowclient.Params{
		"server": server, "port": "5432", "database": "sales", "username": "aep", "password": password, "sslMode": "Verify Full"})
}

// seedParams creates a basic-auth connection with params in fs.
func seedParams(t *testing.T, fs *flowtest.Server, name string, params flowclient.Params) string {
	t.Helper()
	tok := fs.Token()
	c, err := flowclient.New(flowclient.WithBaseURL(fs.URL()), flowclient.WithHTTPClient(fs.HTTPClient()),
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: tok})),
		flowclient.WithAPIKey(fs.APIKey()), flowclient.WithOrgID(fs.Org()), flowclient.WithSandbox("prod"))
	require.NoError(t, err)
	created, err := c.CreateConnection(context.Background(), flowclient.Connection{
		Name: name, Auth: flowclient.Auth{SpecName: connstr.BasicAuthSpecName, Params: params},
		ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: flowclient.PostgreSQLSpecVersion},
	})
	require.NoError(t, err)
	return created.ID
}

// TestConnections_ListShowDelete needs no database: the emulator holds
// what another tool registered.
func TestConnections_ListShowDelete(t *testing.T) {
	fs := flowtest.NewServer(flowtest.WithPageSize(2))
	defer fs.Close()
	connectEnv(t, fs)
	const secret = "S3NT1NEL-conn-pw"
	ids := map[string]string{}
	for _, n := range []string{"orders", "billing", "crm"} {
		ids[n] = seed(t, fs, n, n+".db.example.com", secret)
	}

	t.Run("list follows the pages, sorted by name", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, "", "connections", "list")
		require.Equal(t, ExitOK, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 4, out)
		assert.Regexp(t, `^NAME +ID +SERVER +PORT +DATABASE +USERNAME +SSLMODE +STATE +UPDATED$`, lines[0])
		assert.Regexp(t, `^billing +`+ids["billing"]+` +billing.db.example.com +5432 +sales +aep +Verify Full +enabled +20\d\d-`, lines[1])
		assert.True(t, strings.HasPrefix(lines[3], "orders "))
		assert.Positive(t, strings.Count(strings.Join(pathsOf(fs), " "), "continuationToken"), "paged: %v", pathsOf(fs))

		code, out, _ = runFlowpg(t, "", "connections", "list", "-o", "json")
		require.Equal(t, ExitOK, code)
		var doc struct{ Connections []connectionSummary }
		require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
		require.Len(t, doc.Connections, 3)
		assert.Equal(t, "crm", doc.Connections[1].Name)
		assert.NotContains(t, out, secret)
	})

	t.Run("show by name and by id, secrets masked", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, "", "connections", "show", "orders")
		require.Equal(t, ExitOK, code, errOut)
		assert.Contains(t, out, ids["orders"])
		assert.Regexp(t, `password: +\*{8}`, out)
		assert.Regexp(t, `server: +orders\.db\.example\.com`, out)
		assert.NotContains(t, out, secret)

		code, out, _ = runFlowpg(t, "", "connections", "show", ids["crm"], "-o", "json")
		require.Equal(t, ExitOK, code)
		var doc struct{ Connection flowclient.Connection }
		require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
		assert.Equal(t, "crm", doc.Connection.Name)
		assert.Equal(t, "********", doc.Connection.Auth.Params["password"])
	})

	t.Run("a name no connection has is exit 1", func(t *testing.T) {
		code, _, errOut := runFlowpg(t, "", "connections", "show", "nope")
		assert.Equal(t, ExitFailed, code)
		assert.Contains(t, errOut, `no PostgreSQL base connection named "nope"`)
		code, out, _ := runFlowpg(t, "", "connections", "show", "nope", "-o", "json")
		assert.Equal(t, ExitFailed, code)
		var doc errorDoc
		require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
		assert.Equal(t, "not-found", doc.Error.Code)
	})

	t.Run("delete needs --yes off a terminal", func(t *testing.T) {
		code, _, errOut := runFlowpg(t, "y\n", "connections", "delete", "billing")
		assert.Equal(t, ExitInvalid, code)
		assert.Contains(t, errOut, "--yes")
		assert.Len(t, fs.Connections(), 3, "nothing deleted")

		code, out, errOut := runFlowpg(t, "", "connections", "delete", "billing", "--yes")
		require.Equal(t, ExitOK, code, errOut)
		assert.Contains(t, out, `deleted connection "billing"`)
		assert.Len(t, fs.Connections(), 2)

		code, _, _ = runFlowpg(t, "", "connections", "delete", "billing", "--yes")
		assert.Equal(t, ExitFailed, code, "gone")
	})

	t.Run("a connection dataflows use cannot be deleted, and says why", func(t *testing.T) {
		fs.MarkInUse(ids["crm"])
		code, _, errOut := runFlowpg(t, "", "connections", "delete", "crm", "--yes")
		assert.Equal(t, ExitFailed, code)
		assert.Contains(t, errOut, "FLOW-1418-400")
		assert.Contains(t, errOut, "used by dataflows")
	})

	t.Run("Adobe settings from aepp's config file; the variables win", func(t *testing.T) {
		for _, k := range []string{"AEP_ACCESS_TOKEN", "AEP_CLIENT_ID", "AEP_CLIENT_SECRET", "AEP_ORG_ID", "AEP_SANDBOX_NAME"} {
			t.Setenv(k, "")
		}
		cfg := writeConfig(t, fmt.Sprintf(`{"org_id":%q,"client_id":%q,"secret":%q,"sandbox-name":"prod","scopes":["openid","AdobeID"]}`,
			fs.Org(), fs.ClientID(), fs.ClientSecret()), 0o600)
		code, out, errOut := runFlowpg(t, "", "connections", "list", "--config", cfg)
		require.Equal(t, ExitOK, code, errOut)
		assert.Contains(t, out, "orders")
		assert.NotContains(t, out+errOut, fs.ClientSecret())

		t.Setenv("AEP_CONFIG", cfg)
		t.Setenv("AEP_SANDBOX_NAME", "other") // the variable wins: an empty sandbox
		code, out, _ = runFlowpg(t, "", "connections", "list")
		require.Equal(t, ExitOK, code)
		assert.Contains(t, out, "no PostgreSQL base connections")
	})
}

// pathsOf lists the paths and queries fs received.
func pathsOf(fs *flowtest.Server) []string {
	var out []string
	for _, r := range fs.Requests() {
		out = append(out, r.Path+"?"+r.RawQuery)
	}
	return out
}

// TestConnections_Rotation rotates a real password: ALTER ROLE on a real
// PostgreSQL, then connections test, a wrong new password (nothing sent),
// the right one (patched and verified), and the lifecycle around it.
func TestConnections_Rotation(t *testing.T) {
	pg := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn})
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pg.DSN(pgtest.SuperUser, pgtest.SuperPassword))
	require.NoError(t, err)
	defer admin.Close(ctx)
	const role, oldPW, newPW = "aep_rotating", "0ld-Pa55-S3NT1NEL", "n3w-Pa55-S3NT1NEL"
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN PASSWORD '" + oldPW + "'",
		"GRANT CONNECT ON DATABASE " + pgtest.Database + " TO " + role,
		"GRANT USAGE ON SCHEMA public, sales TO " + role,
		"GRANT SELECT ON ALL TABLES IN SCHEMA public, sales TO " + role,
	} {
		_, err := admin.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	str := func(pw string) string {
		return fmt.Sprintf("Server=%s;Database=%s;Port=%d;UID=%s;Password=%s;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#",
			pg.Host, pgtest.Database, pg.Port, role, pw)
	}
	// The emulator plays an Adobe that trusts the test CA.
	h := flowtest.NewHandler(flowtest.WithProber(pgprobe.Prober(pgprobe.Options{Dialer: netguard.Dialer(t, nil)})), flowtest.WithTrustStore(pg.CAPool()))
	var mu sync.Mutex
	var beforePatch func() // runs once, before the next PATCH reaches the emulator
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hook := beforePatch
		if r.Method == http.MethodPatch {
			beforePatch = nil
		}
		mu.Unlock()
		if r.Method == http.MethodPatch && hook != nil {
			hook()
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	for k, v := range map[string]string{
		"AEP_FLOW_URL": srv.URL + flowtest.BasePath, "AEP_IMS_TOKEN_URL": srv.URL + flowtest.TokenPath,
		"AEP_CLIENT_ID": flowtest.DefaultClientID, "AEP_CLIENT_SECRET": flowtest.DefaultClientSecret,
		"AEP_ACCESS_TOKEN": "", "AEP_API_KEY": "", "AEP_ORG_ID": flowtest.DefaultOrg, "AEP_SANDBOX_NAME": "prod",
	} {
		t.Setenv(k, v)
	}
	gate := []string{"--ca-file", pg.CAFile, "--assume-adobe-trusts-ca", "--allow-private-address", "--timeout", "20s"}
	patches := func() int {
		n := 0
		for _, r := range h.Requests() {
			if r.Method == http.MethodPatch {
				n++
			}
		}
		return n
	}

	code, out, errOut := runFlowpg(t, str(oldPW), append([]string{"connect", "-", "--name", "rotating"}, gate...)...)
	require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
	code, out, _ = runFlowpg(t, "", "connections", "test", "rotating")
	require.Equal(t, ExitOK, code, out)
	assert.Contains(t, out, "verified by Flow Service")

	// The DBA rotates the password: Adobe's stored one stops working.
	_, err = admin.Exec(ctx, "ALTER ROLE "+role+" PASSWORD '"+newPW+"'")
	require.NoError(t, err)
	code, out, _ = runFlowpg(t, "", "connections", "test", "rotating", "--region", "nld2")
	require.Equal(t, ExitFailed, code, out)
	assert.Contains(t, out, "verification failed")
	assert.Contains(t, out, "13.69.67.192/28", "the hint names --region's ranges")
	assert.Contains(t, out, "flowpg connections update rotating", "and, first, the credentials")

	t.Run("a wrong new password is stopped by the gate: nothing is sent", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, "Wr0ng-Pa55-S3NT1NEL", append([]string{"connections", "update", "rotating", "--password-stdin"}, gate...)...)
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, "✗ auth")
		assert.Contains(t, out, "nothing was sent to Adobe")
		assert.Zero(t, patches())
		assert.Equal(t, oldPW, h.Connections()[0].Params["password"])
		assert.NotContains(t, out+errOut, "Wr0ng-Pa55-S3NT1NEL")
	})

	t.Run("a dry run prints the PATCH, masked", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, newPW, append([]string{"connections", "update", "rotating", "--password-stdin", "--dry-run", "--curl"}, gate...)...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, "curl -X PATCH '"+srv.URL+flowtest.BasePath+"/connections/"+h.Connections()[0].ID+"'")
		assert.Contains(t, out, "-H 'If-Match: "+h.Connections()[0].Etag+"'")
		assert.Contains(t, out, `"path": "/auth/params"`)
		assert.NotContains(t, out+errOut, newPW)
		assert.Zero(t, patches())
	})

	t.Run("the right one is patched, then verified", func(t *testing.T) {
		before := h.Connections()[0].Etag
		code, out, errOut := runFlowpg(t, newPW, append([]string{"connections", "update", "rotating", "--password-stdin"}, gate...)...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		assert.Regexp(t, `password +\*{8} +changed`, out)
		assert.Contains(t, out, `connection "rotating" (updated)`)
		assert.Contains(t, out, "verified by Flow Service")
		assert.NotContains(t, out+errOut, newPW)
		stored := h.Connections()[0]
		assert.Equal(t, newPW, stored.Params["password"])
		assert.NotEqual(t, before, stored.Etag)
		assert.Equal(t, 1, patches())
		var ifMatch string
		for _, r := range h.Requests() {
			if r.Method == http.MethodPatch {
				ifMatch = r.Header.Get("If-Match")
			}
		}
		assert.Equal(t, before, ifMatch, "If-Match carries the etag as GET returned it")
	})

	// Someone else changes the connection between our read and our PATCH.
	otherPatch := func(body string) func() {
		return func() {
			c := h.Connections()[0]
			req := httptest.NewRequest(http.MethodPatch, flowtest.BasePath+"/connections/"+c.ID, strings.NewReader(body))
			req.Header = http.Header{"Authorization": {"Bearer " + h.Token()}, "X-Api-Key": {h.APIKey()}, "X-Gw-Ims-Org-Id": {h.Org()},
				"X-Sandbox-Name": {"prod"}, "Content-Type": {"application/json"}, "If-Match": {c.Etag}}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, 200, rec.Code, rec.Body.String())
		}
	}

	t.Run("a stale etag whose connection registers the same: retried once", func(t *testing.T) {
		mu.Lock()
		beforePatch = otherPatch(`[{"op":"add","path":"/description","value":"renamed by someone else"}]`)
		mu.Unlock()
		n := patches()
		code, out, errOut := runFlowpg(t, newPW, append([]string{"connections", "update", "rotating", "--password-stdin", "-o", "json"}, gate...)...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		var res struct{ Status, Message string }
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		assert.Equal(t, "updated", res.Status)
		assert.Contains(t, res.Message, "sent once more")
		assert.Equal(t, n+3, patches(), "someone else's, our stale one, our retry")
	})

	t.Run("a stale etag whose connection moved: nothing overwritten", func(t *testing.T) {
		mu.Lock()
		beforePatch = otherPatch(fmt.Sprintf(`[{"op":"replace","path":"/auth/params","value":{"server":"db-moved.example.com","port":"%d","database":"sample","username":"%s","password":"x","sslMode":"Verify Full"}}]`, pg.Port, role))
		mu.Unlock()
		code, out, errOut := runFlowpg(t, newPW, append([]string{"connections", "update", "rotating", "--password-stdin"}, gate...)...)
		require.Equal(t, ExitFailed, code, "%s\n%s", out, errOut)
		assert.Contains(t, out, "(conflict)")
		assert.Regexp(t, `server +db-moved\.example\.com +127\.0\.0\.1`, out)
		assert.Contains(t, out, "nothing was overwritten")
		assert.Equal(t, "db-moved.example.com", h.Connections()[0].Params["server"], "the other change stands")
	})

	t.Run("connect --if-exists update takes the update path", func(t *testing.T) {
		code, out, errOut := runFlowpg(t, str(newPW), append([]string{"connect", "-", "--name", "rotating", "--if-exists", "update", "-o", "json"}, gate...)...)
		require.Equal(t, ExitOK, code, "%s\n%s", out, errOut)
		var res struct {
			Status       string
			Differences  []fieldDiff
			Verification struct{ Test struct{ OK bool } }
		}
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		assert.Equal(t, "updated", res.Status)
		assert.Contains(t, res.Differences, fieldDiff{Field: "server", Stored: "db-moved.example.com", ThisRun: pg.Host})
		assert.True(t, res.Verification.Test.OK)
		assert.Equal(t, pg.Host, h.Connections()[0].Params["server"])
		assert.Len(t, h.Connections(), 1, "nothing created")
	})
}

// TestConnections_InterruptedIsNotAnAPIError: a run stopped while Flow
// Service had not answered (Ctrl-C, a CI job's cancel) says it was
// interrupted, as the README's codes promise, not that Adobe failed.
func TestConnections_InterruptedIsNotAnAPIError(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == flowtest.TokenPath {
			_, _ = io.WriteString(w, `{"access_token":"tok-hang","token_type":"bearer","expires_in":86399}`)
			return
		}
		<-r.Context().Done()
	}))
	defer hang.Close()
	for k, v := range map[string]string{"AEP_FLOW_URL": hang.URL + flowtest.BasePath, "AEP_IMS_TOKEN_URL": hang.URL + flowtest.TokenPath,
		"AEP_CLIENT_ID": "id", "AEP_CLIENT_SECRET": "secret", "AEP_ORG_ID": flowtest.DefaultOrg, "AEP_SANDBOX_NAME": "prod", "AEP_ACCESS_TOKEN": "", "AEP_API_KEY": ""} {
		t.Setenv(k, v)
	}
	for _, args := range [][]string{
		{"connections", "list"},
		{"connections", "show", "sales-pg"},
		{"connections", "test", "sales-pg"},
		{"connections", "delete", "sales-pg", "--yes"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, out, errOut := runInterrupted(t, 300*time.Millisecond, append(args, "-o", "json")...)
			var doc errorDoc
			require.NoError(t, json.Unmarshal([]byte(out), &doc), "%s\n%s", out, errOut)
			assert.Equal(t, "interrupted", doc.Error.Code, doc.Error.Message)
		})
	}
}

// TestConnections_APITimeoutIsNamed: a call Flow Service does not answer in
// time says which limit ended it, in text and JSON, not only Go's "context
// deadline exceeded".
func TestConnections_APITimeoutIsNamed(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == flowtest.TokenPath {
			_, _ = io.WriteString(w, `{"access_token":"tok-hang","token_type":"bearer","expires_in":86399}`)
			return
		}
		<-r.Context().Done()
	}))
	defer hang.Close()
	for k, v := range map[string]string{"AEP_FLOW_URL": hang.URL + flowtest.BasePath, "AEP_IMS_TOKEN_URL": hang.URL + flowtest.TokenPath,
		"AEP_CLIENT_ID": "id", "AEP_CLIENT_SECRET": "secret", "AEP_ORG_ID": flowtest.DefaultOrg, "AEP_SANDBOX_NAME": "prod", "AEP_ACCESS_TOKEN": "", "AEP_API_KEY": ""} {
		t.Setenv(k, v)
	}
	code, out, errOut := runFlowpg(t, "", "connections", "list", "--api-timeout", "100ms")
	require.Equal(t, ExitFailed, code, out)
	assert.Contains(t, errOut, "--api-timeout")

	code, out, _ = runFlowpg(t, "", "connections", "show", "x", "--api-timeout", "100ms", "-o", "json")
	require.Equal(t, ExitFailed, code)
	var doc errorDoc
	require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
	assert.Equal(t, "api-error", doc.Error.Code)
	assert.Contains(t, doc.Error.Meaning, "--api-timeout")
}
