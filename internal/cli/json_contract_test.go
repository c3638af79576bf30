package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/flowclient/flowtest"
)

var camelCase = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// assertJSONContract checks what every -o json run writes to stdout: JSON
// documents only (one, or one per line for check --file), with camelCase
// field names, no null anywhere (an empty list is [], an absent object is
// left out), an error in the one shape of errorDoc, and apiError only
// beside an API failure.
func assertJSONContract(t testing.TB, args []string, stdout string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(stdout)))
	docs := 0
	for {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "%v: stdout is not JSON:\n%s", args, stdout)
		docs++
		walkJSON(t, args, "$", doc)
	}
	require.NotZero(t, docs, "%v: -o json wrote no JSON document", args)
}

func walkJSON(t testing.TB, args []string, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case nil:
		assert.Failf(t, "null in JSON output", "%v: %s is null", args, path)
	case []any:
		for i, e := range v {
			walkJSON(t, args, path+"["+string(rune('0'+i%10))+"]", e)
		}
	case map[string]any:
		for k, e := range v {
			assert.Regexp(t, camelCase, k, "%v: %s.%s is not camelCase", args, path, k)
			walkJSON(t, args, path+"."+k, e)
		}
		if e, ok := v["error"].(map[string]any); ok && path == "$" {
			assert.Contains(t, e, "code", "%v: error without a code", args)
			assert.Contains(t, e, "message", "%v: error without a message", args)
		}
		if api, ok := v["apiError"].(map[string]any); ok {
			assert.NotEmpty(t, api, "%v: %s.apiError is empty", args, path)
			// Only beside a failed call to Adobe: an error coded, or a
			// result whose status is, api-error.
			assert.True(t, v["code"] == "api-error" || v["status"] == "api-error",
				"%v: %s.apiError beside code %v, status %v", args, path, v["code"], v["status"])
		}
	}
}

// TestJSON_EveryFailureIsOneDocument: each -o json path that fails before
// the command has a document of its own (usage, syntax, missing input or
// settings, an unreachable Flow Service) writes one errorDoc.
func TestJSON_EveryFailureIsOneDocument(t *testing.T) {
	fs := flowtest.NewServer()
	t.Cleanup(fs.Close) // after the parallel subtests, not when this function returns
	dir := t.TempDir()
	file := filepath.Join(dir, "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte("Server=db.example.com;UID=u;Database=d;Password=p\n"), 0o600))
	conn := "Server=db.example.com;UID=u;Database=d;Password=p"
	adobe := map[string]string{"AEP_FLOW_URL": fs.URL(), "AEP_IMS_TOKEN_URL": fs.TokenURL(), "AEP_CLIENT_ID": flowtest.DefaultClientID,
		"AEP_CLIENT_SECRET": flowtest.DefaultClientSecret, "AEP_ORG_ID": flowtest.DefaultOrg, "AEP_SANDBOX_NAME": "prod"}
	tests := []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		code  string
	}{
		{"unknown flag", nil, "", []string{"check", "--bogus", "-o", "json"}, "usage"},
		{"unknown command", nil, "", []string{"chek", "-o", "json"}, "usage"},
		{"bad enum", nil, "", []string{"connect", "-", "--name", "x", "--cloud", "gcp", "-o", "json"}, "usage"},
		{"empty name", nil, conn, []string{"connect", "-", "--name", "", "-o", "json"}, "usage"},
		{"curl without dry-run", nil, conn, []string{"connect", "-", "--name", "x", "--curl", "-o", "json"}, "usage"},
		{"negative concurrency", nil, "", []string{"check", "--file", file, "--concurrency", "-1", "-o", "json"}, "usage"},
		{"no input", nil, "", []string{"check", "-o", "json"}, "invalid-input"},
		{"no input, parse", nil, "", []string{"parse", "-ojson"}, "invalid-input"},
		{"syntax", nil, "Server=h;Password={p", []string{"check", "-", "--output", "json"}, "syntax"},
		{"syntax, connect", nil, "Server=h;Password={p", []string{"connect", "-", "--name", "x", "--output=json"}, "syntax"},
		{"missing fields, connect", nil, "Server=h", []string{"connect", "-", "--name", "x", "-ojson"}, "invalid-input"},
		{"no credentials", nil, conn, []string{"connect", "-", "--name", "x", "-o", "json"}, "invalid-input"},
		{"half credentials", map[string]string{"AEP_CLIENT_ID": "id"}, "", []string{"connections", "list", "-o", "json"}, "invalid-input"},
		{"missing file", nil, "", []string{"check", "--file", filepath.Join(dir, "none"), "-o", "json"}, "invalid-input"},
		{"not found", adobe, "", []string{"connections", "show", "nope", "-o", "json"}, "not-found"},
		{"refused secret", map[string]string{"AEP_FLOW_URL": fs.URL(), "AEP_IMS_TOKEN_URL": fs.TokenURL(), "AEP_CLIENT_ID": flowtest.DefaultClientID,
			"AEP_CLIENT_SECRET": "wrong", "AEP_ORG_ID": flowtest.DefaultOrg, "AEP_SANDBOX_NAME": "prod"}, "", []string{"connections", "list", "-o", "json"}, "api-error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each run has its own environment, through IO
			code, out, errOut := runEnv(t, tt.env, tt.stdin, tt.args...)
			assert.NotZero(t, code, errOut)
			var doc errorDoc
			require.NoError(t, json.Unmarshal([]byte(out), &doc), "stdout: %s\nstderr: %s", out, errOut)
			assert.Equal(t, tt.code, doc.Error.Code, doc.Error.Message)
			assert.NotEmpty(t, doc.Error.Message)
			assert.NotContains(t, out, "Usage:", "the usage text goes nowhere near the document")
		})
	}
}

// TestUsageErrors_StdoutStaysClean: a command line the parser rejects (or
// a command refuses before any work) ends with exit 2 and the usage on
// stderr, beside the error. stdout, which may
// be redirected to the file a pipeline keeps (a converted string, a JUnit
// report), gets nothing, or with -o junit the one document that says it.
func TestUsageErrors_StdoutStaysClean(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"chek", "-"},
		{"parse", "--bogus", "-"},
		{"convert", "--to", "yaml", "-"},
		{"check", "--file", "targets.txt", "-o", "junit", "--concurency", "4"},
		{"check", "-", "--timeout", "10"},
		{"connections", "delete"},
		// An unset shell variable: nothing is asked of Flow Service.
		{"connections", "show", ""},
		{"connections", "test", " "},
		{"connections", "delete", "", "--yes"},
		{"connections", "update", "", "--password-file", "pw"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runOffline(t, "", args...)
			assert.Equal(t, ExitInvalid, code, errOut)
			if wantsJUnit(args) {
				require.Len(t, parseJUnit(t, out), 1)
			} else {
				assert.Empty(t, out)
			}
			assert.Contains(t, errOut, "Usage:")
			assert.True(t, strings.HasPrefix(errOut, "flowpg: "), "the error comes first:\n%s", errOut)
		})
	}
}

// TestUsage_NamesWhatIsWrong: a bad --concurrency, a name on two lines and
// half a credential are named in the message, not only coded.
func TestUsage_NamesWhatIsWrong(t *testing.T) {
	file := filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte("Server=127.0.0.1;Port=1;Database=d;UID=u;PWD=pw\n"), 0o600))
	code, _, errOut := runFlowpg(t, "", "check", "--file", file, "--concurrency", "-1")
	require.Equal(t, ExitInvalid, code)
	assert.Contains(t, errOut, "--concurrency must be at least 1, not -1")

	code, _, errOut = runFlowpg(t, "Server=127.0.0.1;Port=1;Database=d;UID=u;PWD=pw", "connect", "-", "--name", "sales\npg", "--dry-run")
	require.Equal(t, ExitInvalid, code)
	assert.Contains(t, errOut, "--name holds a control character at byte 5")

	for _, tt := range []struct {
		set, missing string
	}{{"AEP_CLIENT_ID", "AEP_CLIENT_SECRET"}, {"AEP_CLIENT_SECRET", "AEP_CLIENT_ID"}} {
		code, _, errOut := runEnv(t, map[string]string{tt.set: "S3NT1NEL-value"}, "", "connections", "list")
		require.Equal(t, ExitInvalid, code, errOut)
		assert.Contains(t, errOut, tt.set+" is set but "+tt.missing+" is not")
		assert.NotContains(t, errOut, "S3NT1NEL-value")
	}
}
