package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/flowclient"
	"github.com/flowpg/flowpg/flowclient/flowtest"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/internal/pgprobe"
	"github.com/flowpg/flowpg/internal/pgtest"
)

// Sentinels: secrets that must never be printed. The database password
// carries characters that need quoting in every form (braces, ;, =, quotes,
// a backslash, spaces), so a redaction that only handles simple values shows.
const (
	sweepDBPassword   = `S3NT1NEL-db {pw};=it's "x" \ end`
	sweepToken        = "S3NT1NEL-access-token"
	sweepClientSecret = "S3NT1NEL-client-secret"
	sweepUser         = "aep_sweep"
)

// sweepDB creates a user whose password is the sentinel, able to read the
// sample tables.
func sweepDB(t *testing.T, pg *pgtest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, pg.DSN(pgtest.SuperUser, pgtest.SuperPassword))
	require.NoError(t, err)
	defer admin.Close(ctx)
	quoted := "'" + strings.ReplaceAll(sweepDBPassword, "'", "''") + "'"
	for _, q := range []string{
		"CREATE ROLE " + sweepUser + " LOGIN PASSWORD " + quoted,
		"GRANT CONNECT ON DATABASE " + pgtest.Database + " TO " + sweepUser,
		"GRANT USAGE ON SCHEMA public, sales TO " + sweepUser,
		"GRANT SELECT ON ALL TABLES IN SCHEMA public, sales TO " + sweepUser,
	} {
		_, err := admin.Exec(ctx, q)
		require.NoError(t, err, q)
	}
}

// seedSweep registers good in fs as "ok", as connect would, unless it is
// there already.
func seedSweep(t *testing.T, fs *flowtest.Server, good string) {
	t.Helper()
	for _, c := range fs.Connections() {
		if c.Name == "ok" {
			return
		}
	}
	p, err := connstr.Parse(good)
	require.NoError(t, err)
	b, _ := p.Conn.BasicAuth(connstr.StyleTutorial)
	seedParams(t, fs, "ok", flowclient.Params{"server": b.Server, "port": b.Port, "database": b.Database,
		"username": b.Username, "password": b.Password, "sslMode": b.SSLMode})
}

// braced quotes a value for the DataDirect grammar.
func braced(v string) string { return "{" + strings.ReplaceAll(v, "}", "}}") + "}" }

// assertNoSecret fails when any sentinel appears in text, whole or in a
// recognisable part.
func assertNoSecret(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range []string{sweepDBPassword, "S3NT1NEL-db", sweepToken, sweepClientSecret, "S3NT1NEL"} {
		require.NotContains(t, text, s, "%s shows a secret", where)
	}
}

// TestSecretSweep runs every command and output mode that is not meant to
// print a credential, with sentinel secrets, through passing, failing and
// error paths, and asserts no sentinel reaches stdout, stderr or a file.
// convert and build are the exceptions: printing the credential is their
// purpose (TestConvert_PrintsCredentialInFull covers that they do).
func TestSecretSweep(t *testing.T) {
	pg := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn})
	sweepDB(t, pg)
	dir := t.TempDir()
	conn := func(host string, port int, password string) string {
		return fmt.Sprintf("Server=%s;Database=%s;Port=%d;UID=%s;Password=%s;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#",
			host, pgtest.Database, port, sweepUser, braced(password))
	}
	good := conn(pg.Host, pg.Port, sweepDBPassword)
	wrongPW := conn(pg.Host, pg.Port, sweepDBPassword+"-wrong")
	closed := conn("127.0.0.1", 1, sweepDBPassword)
	noDB := strings.Replace(good, "Database="+pgtest.Database, "Database=nope", 1)
	plainOnTLS := strings.Replace(good, "EncryptionMethod=1", "EncryptionMethod=0", 1)
	libpq := fmt.Sprintf("host=%s port=%d dbname=%s user=%s password='%s' sslmode=verify-full", pg.Host, pg.Port, pgtest.Database, sweepUser,
		strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(sweepDBPassword))
	badSyntax := "Server=db;Password=" + braced(sweepDBPassword) + ";Port=abc"
	unterminated := "Server=db;Password={" + sweepDBPassword

	targets := filepath.Join(dir, "targets.txt")
	require.NoError(t, os.WriteFile(targets, []byte(strings.Join([]string{"# sweep", good, wrongPW, closed, noDB, badSyntax}, "\n")), 0o600))
	ca := []string{"--ca-file", pg.CAFile}

	type run struct {
		name  string
		stdin string
		args  []string
		want  int // exit code: proves the path under test was taken
	}
	runs := []run{
		{"parse text", good, []string{"parse", "-"}, 0},
		{"parse json", good, []string{"parse", "-", "-o", "json"}, 0},
		{"parse libpq", libpq, []string{"parse", "-", "-o", "json"}, 0},
		{"parse syntax error", badSyntax, []string{"parse", "-"}, 2},
		{"parse syntax error json", badSyntax, []string{"parse", "-", "-o", "json"}, 2},
		{"parse unterminated brace", unterminated, []string{"parse", "-"}, 2},
		{"parse as argument", "", []string{"parse", good}, 0},
		{"check pass", good, append([]string{"check", "-"}, ca...), 0},
		{"check pass json audit", good, append([]string{"check", "-", "-o", "json", "--audit"}, ca...), 0},
		{"check audit text", good, append([]string{"check", "-", "--audit"}, ca...), 0},
		{"check wrong password", wrongPW, append([]string{"check", "-"}, ca...), 1},
		{"check wrong password json", wrongPW, append([]string{"check", "-", "-o", "json", "--audit"}, ca...), 1},
		{"check unknown CA", good, []string{"check", "-", "-o", "json"}, 1},
		{"check closed port", closed, []string{"check", "-", "--timeout", "3s"}, 1},
		{"check missing database", noDB, append([]string{"check", "-", "-o", "json"}, ca...), 1},
		{"check plaintext on TLS server", plainOnTLS, []string{"check", "-", "--audit"}, 0},
		{"check libpq form", libpq, append([]string{"check", "-", "-o", "json"}, ca...), 0},
		{"check syntax error", badSyntax, []string{"check", "-"}, 2},
		{"check batch text", "", append([]string{"check", "--file", targets, "--timeout", "5s"}, ca...), 2},
		{"check batch json", "", append([]string{"check", "--file", targets, "-o", "json", "--timeout", "5s"}, ca...), 2},
		{"check pass junit", good, append([]string{"check", "-", "-o", "junit", "--audit"}, ca...), 0},
		{"check wrong password junit", wrongPW, append([]string{"check", "-", "-o", "junit"}, ca...), 1},
		{"check syntax error junit", badSyntax, []string{"check", "-", "-o", "junit"}, 2},
		{"check batch junit", "", append([]string{"check", "--file", targets, "-o", "junit", "--timeout", "5s"}, ca...), 2},
	}

	fs := flowtest.NewServer(
		flowtest.WithToken(sweepToken),
		flowtest.WithClientCredentials("sweep-client", sweepClientSecret), flowtest.WithAPIKey("sweep-client"),
		flowtest.WithProber(pgprobe.Prober(pgprobe.Options{Dialer: netguard.Dialer(t, nil)})), flowtest.WithTrustStore(pg.CAPool()),
	)
	defer fs.Close()
	noCAProbe := flowtest.NewServer(flowtest.WithToken(sweepToken), flowtest.WithClientCredentials("sweep-client", sweepClientSecret), flowtest.WithAPIKey("sweep-client"),
		flowtest.WithProber(pgprobe.Prober(pgprobe.Options{Dialer: netguard.Dialer(t, nil)})))
	defer noCAProbe.Close()

	connect := func(name string, extra ...string) []string {
		return append(append([]string{"connect", "-", "--name", name, "--allow-private-address", "--assume-adobe-trusts-ca"}, ca...), extra...)
	}
	update := func(name string, extra ...string) []string {
		return append(append([]string{"connections", "update", name, "--allow-private-address", "--assume-adobe-trusts-ca"}, ca...), extra...)
	}
	type connectRun struct {
		run
		fs     *flowtest.Server
		creds  string // "token", "client", "bad-client"
		before func()
	}
	connectRuns := []connectRun{
		{run: run{"connect dry run", good, connect("dry", "--dry-run"), 0}, fs: fs, creds: "token"},
		{run: run{"connect dry run curl", good, connect("dry", "--dry-run", "--curl"), 0}, fs: fs, creds: "client"},
		{run: run{"connect dry run json", good, connect("dry", "--dry-run", "-o", "json"), 0}, fs: fs, creds: "token"},
		{run: run{"connect dry run connection string", good, connect("dry", "--dry-run", "--auth", "connection-string", "--curl"), 0}, fs: fs, creds: "token"},
		{run: run{"connect success", good, connect("ok"), 0}, fs: fs, creds: "client"},
		{run: run{"connect success json", good, connect("ok-json", "-o", "json", "--auth", "connection-string"), 0}, fs: fs, creds: "token"},
		{run: run{"connect exists", good, connect("ok"), 1}, fs: fs, creds: "token"},
		{run: run{"connect pre-flight failure", wrongPW, connect("bad"), 1}, fs: fs, creds: "token"},
		{run: run{"connect pre-flight failure json", wrongPW, connect("bad", "-o", "json"), 1}, fs: fs, creds: "token"},
		{run: run{"connect bad client secret", good, connect("x"), 1}, fs: fs, creds: "bad-client"},
		{run: run{"connect api error", good, connect("api-err"), 1}, fs: fs, creds: "token", before: func() { fs.FailNext(1, 403, 0) }},
		{run: run{"connect api error json", good, connect("api-err", "-o", "json"), 1}, fs: fs, creds: "token", before: func() { fs.FailNext(1, 400, 0) }},
		{run: run{"connect malformed reply", good, connect("malformed", "-o", "json"), 1}, fs: fs, creds: "token", before: func() { fs.MalformedNext(1) }},
		{run: run{"connect verify failure", good, connect("verify-fails"), 1}, fs: noCAProbe, creds: "client"},
		{run: run{"connect verify failure json", good, connect("verify-fails", "-o", "json", "--auth", "connection-string"), 1}, fs: noCAProbe, creds: "token"},
		{run: run{"connect if-exists update", good, connect("ok", "--if-exists", "update"), 0}, fs: fs, creds: "client"},
		{run: run{"connections list", "", []string{"connections", "list"}, 0}, fs: fs, creds: "token"},
		{run: run{"connections list json", "", []string{"connections", "list", "-o", "json"}, 0}, fs: fs, creds: "client"},
		{run: run{"connections show", "", []string{"connections", "show", "ok"}, 0}, fs: fs, creds: "token"},
		{run: run{"connections show json", "", []string{"connections", "show", "ok-json", "-o", "json"}, 0}, fs: fs, creds: "token"},
		{run: run{"connections test", "", []string{"connections", "test", "ok"}, 0}, fs: fs, creds: "client"},
		{run: run{"connections test refused", "", []string{"connections", "test", "ok", "-o", "json"}, 1}, fs: noCAProbe, creds: "token",
			before: func() { seedSweep(t, noCAProbe, good) }},
		{run: run{"connections update", sweepDBPassword, update("ok", "--password-stdin"), 0}, fs: fs, creds: "client"},
		{run: run{"connections update json", good, update("ok", "-", "-o", "json"), 0}, fs: fs, creds: "token"},
		{run: run{"connections update dry run curl", sweepDBPassword, update("ok", "--password-stdin", "--dry-run", "--curl"), 0}, fs: fs, creds: "token"},
		{run: run{"connections update gate failure", sweepDBPassword + "-wrong", update("ok", "--password-stdin"), 1}, fs: fs, creds: "token"},
		{run: run{"connections update connection string", good, update("ok-json", "-", "-o", "json"), 0}, fs: fs, creds: "token"},
		{run: run{"connections update fields need the password", "", update("ok", "--server", pg.Host), 2}, fs: fs, creds: "token"},
		{run: run{"connections delete", "", []string{"connections", "delete", "ok-json", "--yes"}, 0}, fs: fs, creds: "token"},
	}

	check := func(t *testing.T, r run) {
		code, out, errOut := runFlowpg(t, r.stdin, r.args...)
		require.Equal(t, r.want, code, "%s\n%s", out, errOut)
		assertNoSecret(t, "stdout", out)
		assertNoSecret(t, "stderr", errOut)
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) { check(t, r) })
	}
	for _, r := range connectRuns {
		t.Run(r.name, func(t *testing.T) {
			connectEnv(t, r.fs)
			t.Setenv("AEP_CLIENT_ID", "sweep-client")
			switch r.creds {
			case "token":
				t.Setenv("AEP_ACCESS_TOKEN", sweepToken)
				t.Setenv("AEP_CLIENT_SECRET", "")
			case "client":
				t.Setenv("AEP_CLIENT_SECRET", sweepClientSecret)
			case "bad-client":
				t.Setenv("AEP_CLIENT_SECRET", sweepClientSecret+"-wrong")
			}
			if r.before != nil {
				r.before()
			}
			check(t, r.run)
		})
	}
	t.Run("control: convert prints the credential, so the sentinel is detectable", func(t *testing.T) {
		_, out, _ := runFlowpg(t, good, "convert", "--to", "basic", "-")
		require.Contains(t, out, "S3NT1NEL-db")
	})
	t.Run("no file written holds a secret", func(t *testing.T) {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || path == targets {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			assertNoSecret(t, path, string(b))
			return nil
		})
		require.NoError(t, err)
	})
}
