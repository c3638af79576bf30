package flowclient_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/flowpg/flowpg/flowclient"
)

func TestPreviewCreate_MasksSecretsAndShowsHeaders(t *testing.T) {
	c, err := flowclient.New(
		flowclient.WithBaseURL("https://example.test/flow"),
		flowclient.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok-SENTINEL"})),
		flowclient.WithAPIKey("key"), flowclient.WithOrgID("org@AdobeOrg"), flowclient.WithSandbox("prod"))
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		params flowclient.Params
		want   flowclient.Params
	}{
		{"basic", flowclient.Params{"server": "db", "port": "5432", "password": "pw-SENTINEL", "sslMode": "Prefer"},
			flowclient.Params{"server": "db", "port": "5432", "password": flowclient.Redacted, "sslMode": "Prefer"}},
		{"connection string", flowclient.Params{"connectionString": "Server=db;UID=u;Password=pw-SENTINEL;EncryptionMethod=1"},
			flowclient.Params{"connectionString": "Server=db;UID=u;Password=********;EncryptionMethod=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.PreviewCreate(flowclient.Connection{Name: "n", Auth: flowclient.Auth{SpecName: "s", Params: tc.params},
				ConnectionSpec: flowclient.SpecRef{ID: flowclient.PostgreSQLSpecID, Version: flowclient.PostgreSQLSpecVersion}})
			require.NoError(t, err)
			assert.Equal(t, "POST", p.Method)
			assert.Equal(t, "https://example.test/flow/connections", p.URL)
			var body struct {
				Auth flowclient.Auth `json:"auth"`
			}
			require.NoError(t, json.Unmarshal(p.Body, &body))
			assert.Equal(t, tc.want, body.Auth.Params)
			headers := map[string]string{}
			for _, h := range p.Headers {
				headers[h.Name] = h.Value
			}
			assert.Equal(t, "Bearer ********", headers["Authorization"])
			assert.Equal(t, "key", headers["X-Api-Key"])
			assert.Equal(t, "org@AdobeOrg", headers["X-Gw-Ims-Org-Id"])
			assert.Equal(t, "prod", headers["X-Sandbox-Name"])
			assert.Equal(t, "application/json", headers["Content-Type"])
			for _, out := range []string{p.String(), p.Curl()} {
				assert.NotContains(t, out, "SENTINEL")
			}
			assert.Contains(t, p.Curl(), "curl -X POST 'https://example.test/flow/connections'")
		})
	}
}
