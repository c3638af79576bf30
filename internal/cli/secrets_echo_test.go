package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/netguard"
)

// echoSecret is the password the echo tests hide; no output may show any
// part of it six bytes long.
const echoSecret = "Zq7x-S3ntinel-Q9"

// requireNoSecretPart fails when text shows six bytes of echoSecret in a row.
func requireNoSecretPart(t testing.TB, where, text string) {
	t.Helper()
	for i := 0; i+6 <= len(echoSecret); i++ {
		if strings.Contains(text, echoSecret[i:i+6]) {
			t.Fatalf("%s shows %q of the password:\n%s", where, echoSecret[i:i+6], text)
		}
	}
}

// runOffline runs flowpg in-process with no network at all: every dial is
// refused and every name is unknown, so check and connect reach only their
// offline paths.
func runOffline(t testing.TB, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	streams := &IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, LookupEnv: noEnv,
		dialer: &netguard.Refuser{}, resolver: netguard.Hosts{}}
	code := run(ctx, args, streams, &Session{Cleanup: context.WithoutCancel(ctx)})
	return code, out.String(), errb.String()
}

// offlineCommands are the commands an input reaches: parse, check (text,
// JSON, and as a --file line), and connect's dry run without credentials.
func offlineCommands(t testing.TB, in string) [][]string {
	dir := t.TempDir()
	file := filepath.Join(dir, "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte("# one line\n"+strings.ReplaceAll(in, "\n", " ")+"\n"), 0o600))
	return [][]string{
		{"parse", "-"}, {"parse", "-", "-o", "json"},
		{"check", "-", "--timeout", "2s"}, {"check", "-", "-o", "json", "--timeout", "2s"},
		{"check", "--file", file, "--timeout", "2s"}, {"check", "--file", file, "-o", "json", "--timeout", "2s"},
		{"check", "--file", file, "-o", "junit", "--timeout", "2s"},
		{"connect", "-", "--name", "x", "--dry-run", "--timeout", "2s"},
		{"connect", "-", "--name", "x", "--dry-run", "-o", "json", "--timeout", "2s"},
	}
}

// TestSecretEchoes: inputs that used to be echoed with their password:
// other schemes, JDBC, basic-auth JSON, and the command-line parser's own
// errors.
func TestSecretEchoes(t *testing.T) {
	for _, k := range []string{"AEP_ACCESS_TOKEN", "AEP_CLIENT_ID", "AEP_CLIENT_SECRET", "AEP_CONFIG", "FLOWPG_CONNECTION_STRING"} {
		t.Setenv(k, "")
	}
	inputs := []string{
		"mysql://u:" + echoSecret + "@db/d",
		"http://u:" + echoSecret + "@db.example.com/x",
		"jdbc:postgresql://db.example.com/d?user=u&password=" + url.QueryEscape(echoSecret),
		"jdbc:mysql://db/d?user=u&password=" + echoSecret,
		`{"server":"db.example.com","database":"d","username":"u","password":"` + echoSecret + `","sslMode":"Verify Full"}`,
		`{"specName":"Basic Authentication","params":{"server":"db:5433","password":"` + echoSecret + `"}}`,
		`{"server":"db","password":"` + echoSecret,
		"Server=db;UID=u;Password=" + echoSecret[:7] + ";" + echoSecret[7:] + ";Database=d",
		"Server=db;UID=u;Password={" + echoSecret,
		"host=db user=u password='" + echoSecret,
	}
	for _, in := range inputs {
		for _, args := range offlineCommands(t, in) {
			t.Run(in+" "+strings.Join(args[:2], " "), func(t *testing.T) {
				_, out, errOut := runOffline(t, in, args...)
				requireNoSecretPart(t, "stdout", out)
				requireNoSecretPart(t, "stderr", errOut)
			})
		}
	}
	conn := "Server=db;UID=u;Password=" + echoSecret
	for _, args := range [][]string{
		{conn},                              // the command name forgotten
		{"check", "--timeout", conn},        // where a flag's value belongs
		{"check", "--concurrency", conn},    // the same, an int
		{"check", "-o", conn},               // an enum
		{"parse", conn, "--reveal=" + conn}, // a bool
	} {
		t.Run(fmt.Sprintf("parser error %q", args[:min(2, len(args))]), func(t *testing.T) {
			code, out, errOut := runOffline(t, "", args...)
			assert.Equal(t, ExitInvalid, code)
			requireNoSecretPart(t, "stdout", out)
			requireNoSecretPart(t, "stderr", errOut)
		})
	}
}

// durations and ports vary from run to run; they are not what is compared.
var (
	durations     = regexp.MustCompile(` *\d+(\.\d+)? ms`)
	bars          = regexp.MustCompile(`│[ █▏]*`)
	jsonDurations = regexp.MustCompile(`("[A-Za-z]*Ms"):\s*[0-9.eE+-]+`)
	// The waterfall's Other row shows only when time outside the phases
	// fills a column, which varies from run to run.
	otherRow = regexp.MustCompile(`(?m)^ *Other[ :].*\n`)
)

func normalize(s string) string {
	s = otherRow.ReplaceAllString(s, "")
	s = jsonDurations.ReplaceAllString(s, `$1: 0`)
	return bars.ReplaceAllString(durations.ReplaceAllString(s, " N ms"), "│")
}

// TestMasking_NeitherBetraysNorGarbles: with a password equal to the user
// name, one digit, one letter, a common word, or a part of the host, the
// version or the prose, check says exactly what it says with a long random
// password: nothing of flowpg's own text is masked (which would garble it,
// and point at the password), and the password shows nowhere it did not.
func TestMasking_NeitherBetraysNorGarbles(t *testing.T) {
	closed, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	port := strings.Split(closed, ":")[1]
	in := func(pw string) string {
		return "Server=127.0.0.1;Port=" + port + ";Database=sales;UID=aep;Password={" + strings.ReplaceAll(pw, "}", "}}") + "};EncryptionMethod=1"
	}
	run := func(pw string, args ...string) string {
		_, out, errOut := runFlowpg(t, in(pw), append([]string{"check", "-", "--timeout", "3s"}, args...)...)
		return normalize(out + errOut)
	}
	baseline := run(echoSecret)
	baselineJSON := run(echoSecret, "-o", "json")
	require.Contains(t, baseline, "Checking aep@127.0.0.1:"+port+"/sales")
	for _, pw := range []string{"aep", "1", "a", "wrong", "port", "host", "127", "0.0.1", "sales", "TLS", "loopback", "refused", "fix", "sslMode", "verify"} {
		t.Run(pw, func(t *testing.T) {
			assert.Equal(t, baseline, run(pw))
			got := run(pw, "-o", "json")
			var a, b any
			require.NoError(t, json.Unmarshal([]byte(got), &a))
			require.NoError(t, json.Unmarshal([]byte(baselineJSON), &b))
			assert.Equal(t, b, a)
		})
	}
}

// FuzzNoSecretEcho: for inputs that carry the password in any form flowpg
// reads, mangled or cut anywhere, no output of parse, check's offline paths
// or connect's dry run shows any part of it.
func FuzzNoSecretEcho(f *testing.F) {
	for form := range uint8(8) {
		f.Add(form, "db.example.com", "aep", "sales", uint16(0))
		f.Add(form, "db", "u", "d", uint16(30))
	}
	f.Add(uint8(0), "h;PWD", "u}", "{d", uint16(17))
	f.Fuzz(func(t *testing.T, form uint8, server, user, db string, cut uint16) {
		in := secretInput(form, server, user, db)
		if int(cut) > 0 && int(cut) < len(in) {
			in = in[:cut]
		}
		if !strings.Contains(in, echoSecret[:6]) {
			return // cut before the password: nothing to hide
		}
		for _, args := range [][]string{{"parse", "-"}, {"parse", "-", "-o", "json"}, {"check", "-", "--timeout", "1s"},
			{"check", "-", "-o", "json", "--timeout", "1s"}, {"connect", "-", "--name", "x", "--dry-run", "--timeout", "1s"}} {
			_, out, errOut := runOffline(t, in, args...)
			requireNoSecretPart(t, strings.Join(args, " ")+" stdout", out)
			requireNoSecretPart(t, strings.Join(args, " ")+" stderr", errOut)
		}
	})
}

// secretInput writes a connection with echoSecret as its password in one of
// the forms flowpg reads; the other fields are whatever the fuzzer gives,
// quoted or escaped as the form needs, so that the password stays the
// password.
func secretInput(form uint8, server, user, db string) string {
	braced := func(v string) string { return "{" + strings.ReplaceAll(v, "}", "}}") + "}" }
	quoted := func(v string) string { return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'" }
	js := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	switch form % 8 {
	case 0:
		return "Server=" + braced(server) + ";UID=" + braced(user) + ";Database=" + braced(db) + ";Password=" + echoSecret
	case 1:
		return "Server=" + braced(server) + ";UID=" + braced(user) + ";Password=" + braced(echoSecret+";}x") + ";Database=" + braced(db)
	case 2:
		return "host=" + quoted(server) + " user=" + quoted(user) + " password=" + quoted(echoSecret+" x'") + " dbname=" + quoted(db)
	case 3:
		return "postgres://" + url.PathEscape(user) + ":" + echoSecret + "@" + url.PathEscape(server) + "/" + url.PathEscape(db)
	case 4:
		return "postgresql://" + url.PathEscape(server) + "/" + url.PathEscape(db) + "?user=" + url.QueryEscape(user) + "&password=" + echoSecret
	case 5:
		return `{"server":` + js(server) + `,"username":` + js(user) + `,"database":` + js(db) + `,"password":"` + echoSecret + `"}`
	case 6:
		return `Host="` + strings.ReplaceAll(server, `"`, `""`) + `";Username="` + strings.ReplaceAll(user, `"`, `""`) + `";Password="` + echoSecret + `";Database="` + strings.ReplaceAll(db, `"`, `""`) + `"`
	default:
		return "jdbc:postgresql://" + url.PathEscape(server) + "/" + url.PathEscape(db) + "?user=" + url.QueryEscape(user) + "&password=" + echoSecret
	}
}
