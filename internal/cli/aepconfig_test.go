package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeConfig(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "aepp.json")
	require.NoError(t, os.WriteFile(p, []byte(body), mode))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

func TestLoadAEPConfig(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    aepConfig
		wantErr string
	}{
		{"createConfigFile's keys, scopes as a string",
			`{"org_id":"O@AdobeOrg","client_id":"cid","secret":"s3","sandbox-name":"dev","environment":"prod","scopes":"openid,AdobeID"}`,
			aepConfig{OrgID: "O@AdobeOrg", ClientID: "cid", Secret: "s3", Sandbox: "dev", Environment: "prod", Scopes: "openid,AdobeID"}, ""},
		{"keys in any case, api_key, client_secret, scopes as a list, defaults",
			`{"ORG_ID":"O@AdobeOrg","Api_Key":"cid","Client_Secret":"s3","scopes":["openid","session"]}`,
			aepConfig{OrgID: "O@AdobeOrg", ClientID: "cid", Secret: "s3", Sandbox: "prod", Environment: "prod", Scopes: "openid,session"}, ""},
		{"the first of client_secrets",
			`{"org_id":"O","client_id":"c","client_secrets":["first","second"],"scopes":"openid"}`,
			aepConfig{OrgID: "O", ClientID: "c", Secret: "first", Sandbox: "prod", Environment: "prod", Scopes: "openid"}, ""},
		{"a byte-order mark first, as Windows editors write",
			"\uFEFF" + `{"org_id":"O","client_id":"c","secret":"s3","scopes":"openid"}`,
			aepConfig{OrgID: "O", ClientID: "c", Secret: "s3", Sandbox: "prod", Environment: "prod", Scopes: "openid"}, ""},
		{"OAuth v1 is refused", `{"org_id":"O","client_id":"c","secret":"s","auth_code":"x"}`, aepConfig{}, "OAuth v1"},
		{"a JWT service account is refused", `{"org_id":"O","client_id":"c","secret":"s","tech_id":"t@techacct.adobe.com","pathToKey":"k.key"}`, aepConfig{}, "JWT"},
		{"not JSON", `org_id=O`, aepConfig{}, "not a JSON object"},
		{"a number where a string belongs", `{"org_id":42}`, aepConfig{}, `"org_id" is not a string`},
		{"an environment that is not a name", `{"org_id":"O","environment":"x.evil.example/"}`, aepConfig{}, "environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := loadAEPConfig(writeConfig(t, tt.body, 0o600))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), `"s"`)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	t.Run("readable by others draws a warning", func(t *testing.T) {
		_, warns, err := loadAEPConfig(writeConfig(t, `{"org_id":"O"}`, 0o644))
		require.NoError(t, err)
		require.Len(t, warns, 1)
		assert.Contains(t, warns[0], "chmod 600")
		_, warns, _ = loadAEPConfig(writeConfig(t, `{"org_id":"O"}`, 0o600))
		assert.Empty(t, warns)
	})
	t.Run("stage environments map as aepp maps them", func(t *testing.T) {
		flow, ims := aepConfig{Environment: "stage"}.endpoints()
		assert.Equal(t, "https://platform-stage.adobe.io/data/foundation/flowservice", flow)
		assert.Equal(t, "https://ims-na1-stg1.adobelogin.com/ims/token/v3", ims)
		flow, ims = aepConfig{Environment: "prod"}.endpoints()
		assert.Empty(t, flow+ims, "prod keeps flowpg's defaults")
	})
	t.Run("a huge file is refused", func(t *testing.T) {
		big := `{"org_id":"` + string(make([]byte, maxConfigSize)) + `"}`
		_, _, err := loadAEPConfig(writeConfig(t, big, 0o600))
		assert.ErrorContains(t, err, "over")
	})
}
