package integration_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/internal/pgtest"
)

// The container image, as `make image` builds it (scripts/release.sh image).
const (
	flowpgImage   = "flowpg.local/flowpg"
	imageBinary   = "/usr/local/bin/flowpg"
	imageCABundle = "/etc/ssl/certs/ca-certificates.crt"
	imageUser     = "65532:65532"
)

// requireFlowpgImage returns the docker command, and skips the test loudly
// when the engine or the image is missing, or fails it under CI=true, as
// pgtest does for its images.
func requireFlowpgImage(t *testing.T) string {
	t.Helper()
	pgtest.RequireDocker(t)
	skipOrFail := func(msg string) {
		t.Helper()
		banner := strings.Repeat("*", 72)
		if os.Getenv("CI") == "true" {
			t.Fatalf("\n%s\n%s\nCI=true, so this is a FAILURE, not a skip\n%s", banner, msg, banner)
		}
		t.Skipf("\n%s\nSKIPPING: %s\n%s", banner, msg, banner)
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		skipOrFail("no docker command")
	}
	if out, err := exec.Command(docker, "image", "inspect", "--format", "{{.Id}}", flowpgImage).CombinedOutput(); err != nil {
		skipOrFail(fmt.Sprintf("image %s is missing (%s); run make image", flowpgImage, bytes.TrimSpace(out)))
	}
	return docker
}

// dockerRun runs the image once with args after `docker run --rm -i`, feeding
// stdin, and returns the exit code and the two streams apart.
func dockerRun(t *testing.T, docker, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, docker, append([]string{"run", "--rm", "-i"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("docker run: %v\n%s", err, errb.String())
	}
	// docker run's own failures (no such image, bad mount) exit 125-127.
	require.Less(t, code, 125, "docker run failed: %s", errb.String())
	return code, out.String(), errb.String()
}

// imageFile reads one file out of the image, through a container that is
// created but never started.
func imageFile(t *testing.T, docker, path string) []byte {
	t.Helper()
	id, err := exec.Command(docker, "create", flowpgImage).Output()
	require.NoError(t, err)
	ctr := strings.TrimSpace(string(id))
	defer func() { _ = exec.Command(docker, "rm", ctr).Run() }()
	archive, err := exec.Command(docker, "cp", ctr+":"+path, "-").Output()
	require.NoError(t, err, "docker cp %s", path)
	tr := tar.NewReader(bytes.NewReader(archive))
	hdr, err := tr.Next()
	require.NoError(t, err)
	require.Equal(t, filepath.Base(path), hdr.Name)
	b, err := io.ReadAll(tr)
	require.NoError(t, err)
	return b
}

func TestImage_Contents(t *testing.T) {
	docker := requireFlowpgImage(t)

	var cfg struct {
		User       string
		Entrypoint []string
		Env        []string
		Labels     map[string]string
	}
	out, err := exec.Command(docker, "image", "inspect", "--format", "{{json .Config}}", flowpgImage).Output()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(out, &cfg))
	assert.Equal(t, imageUser, cfg.User, "runs as a non-root user")
	assert.Equal(t, []string{imageBinary}, cfg.Entrypoint)

	// One layer per COPY and nothing below them: FROM scratch, no base image.
	out, err = exec.Command(docker, "image", "inspect", "--format", "{{len .RootFS.Layers}}", flowpgImage).Output()
	require.NoError(t, err)
	assert.Equal(t, "3", strings.TrimSpace(string(out)), "passwd+group, CA bundle, binary")

	passwd := string(imageFile(t, docker, "/etc/passwd"))
	assert.Contains(t, passwd, "flowpg:x:65532:65532:")

	// The roots are the public ones Debian ships, as many as on the host.
	bundle := imageFile(t, docker, imageCABundle)
	host, err := os.ReadFile(imageCABundle)
	if err == nil {
		assert.Equal(t, host, bundle, "the image's CA bundle is the host's")
	}
	roots := 0
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		require.NoError(t, err)
		require.True(t, c.IsCA, "%s is not a CA", c.Subject)
		roots++
	}
	assert.Greater(t, roots, 100, "a public root bundle has well over 100 roots")

	out, err = exec.Command(docker, "image", "inspect", "--format", "{{.Size}}", flowpgImage).Output()
	require.NoError(t, err)
	t.Logf("%s: %s bytes, %d roots", flowpgImage, strings.TrimSpace(string(out)), roots)
}

func TestImage_Version(t *testing.T) {
	docker := requireFlowpgImage(t)

	code, text, errOut := dockerRun(t, docker, "", flowpgImage, "version")
	require.Equal(t, 0, code, errOut)
	require.True(t, strings.HasPrefix(text, "flowpg "), text)

	code, out, errOut := dockerRun(t, docker, "", flowpgImage, "version", "-o", "json")
	require.Equal(t, 0, code, errOut)
	var v struct {
		Version, Revision, GoVersion, OS, Arch string
		Modified                               bool
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	assert.Equal(t, "linux", v.OS)
	assert.Equal(t, runtime.GOARCH, v.Arch, "built for the engine's architecture, which is this machine's")
	assert.True(t, strings.HasPrefix(v.GoVersion, "go1."), v.GoVersion)
	assert.Contains(t, text, v.Version)

	// Go stamps the commit when the tree is a git checkout whose .git is a
	// directory (not in a git worktree). Then the image must name HEAD.
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	if fi, err := os.Stat(filepath.Join(root, ".git")); err != nil || !fi.IsDir() {
		t.Logf("%s/.git is not a directory, so Go records no revision: version says %q", root, v.Version)
		return
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(head)), v.Revision, "the image was built from another commit; run make image")
	assert.Contains(t, text, "revision  "+v.Revision)
}

// TestImage_CheckTLS runs check inside the container against a TLS
// PostgreSQL, to prove that the network, TLS and the image's roots work
// there. The container shares the host's network namespace and dials the
// server's port on 127.0.0.1, so no packet leaves this machine.
func TestImage_CheckTLS(t *testing.T) {
	docker := requireFlowpgImage(t)
	srv := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn})
	if ip := net.ParseIP(srv.Host); ip == nil || !ip.IsLoopback() {
		t.Skipf("the Docker engine is remote (server at %s): a host-network container would not reach it", srv.Host)
	}
	in := fmt.Sprintf("Server=%s;Port=%d;Database=%s;UID=%s;PWD=%s;EncryptionMethod=1;ValidateServerCertificate=1;HostNameInCertificate=#SERVERNAME#",
		srv.Host, srv.Port, pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword)

	// Mounted files must be readable by the image's user, 65532.
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, srv.CAPEM, 0o644))
	run := func(t *testing.T, mounts []string, args ...string) (int, report) {
		t.Helper()
		dargs := []string{"--network", "host"}
		for _, m := range mounts {
			dargs = append(dargs, "-v", m+":ro")
		}
		dargs = append(append(dargs, flowpgImage, "check", "-", "-o", "json", "--timeout", "30s"), args...)
		code, out, errOut := dockerRun(t, docker, in, dargs...)
		require.NotContains(t, out+errOut, pgtest.ScramPassword)
		var rep report
		require.NoError(t, json.Unmarshal([]byte(out), &rep), "stdout: %s\nstderr: %s", out, errOut)
		return code, rep
	}

	t.Run("ca-file", func(t *testing.T) {
		code, rep := run(t, []string{caFile + ":/ca.pem"}, "--ca-file", "/ca.pem", "--table", "sales.regions")
		require.Equal(t, 0, code, "%+v", rep)
		require.Equal(t, "warn", rep.Verdict, "loopback is a warning")
		for _, stage := range []string{"dns", "tcp", "tls", "sslmode", "auth", "server", "privileges"} {
			assert.Equal(t, "pass", rep.status(stage), "%s: %s", stage, rep.message(stage))
		}
		// The chain verifies, but only through a CA that Adobe will never
		// have (basic authentication carries none): a warning, not a pass.
		assert.Equal(t, "warn", rep.status("certificate"), rep.message("certificate"))
		assert.Contains(t, rep.message("certificate"), "trusted only through the ca-file roots")
		assert.Equal(t, "ca-file", rep.certificate(t).TrustedBy)
		assert.Contains(t, rep.message("auth"), "SCRAM-SHA-256")
	})

	// The server's CA is private, so the public roots the image ships do not
	// trust it: as from Adobe, Verify Full fails.
	t.Run("public roots reject a private CA", func(t *testing.T) {
		code, rep := run(t, nil)
		require.Equal(t, 1, code, "%+v", rep)
		assert.Equal(t, "pass", rep.status("tls"))
		assert.Equal(t, "fail", rep.status("certificate"))
		assert.Contains(t, rep.message("certificate"), "unknown certificate authority")
		cert := rep.certificate(t)
		assert.Equal(t, "system", cert.TrustedBy)
		assert.False(t, cert.ChainValid)
	})

	// With the server's CA added to the image's bundle, at the path the
	// image ships it, the same check passes on the system roots: the binary
	// in the container reads its roots from the bundle the image carries.
	t.Run("roots come from the image's bundle", func(t *testing.T) {
		bundle := filepath.Join(dir, "bundle.pem")
		require.NoError(t, os.WriteFile(bundle, append(imageFile(t, docker, imageCABundle), srv.CAPEM...), 0o644))
		code, rep := run(t, []string{bundle + ":" + imageCABundle})
		require.Equal(t, 0, code, "%+v", rep)
		assert.Equal(t, "pass", rep.status("certificate"), rep.message("certificate"))
		assert.Contains(t, rep.message("certificate"), "trusted by the system roots")
		cert := rep.certificate(t)
		assert.Equal(t, "system", cert.TrustedBy)
		assert.True(t, cert.ChainValid)
		assert.Equal(t, "pass", rep.status("sslmode"), rep.message("sslmode"))
	})

	t.Run("junit", func(t *testing.T) {
		code, out, errOut := dockerRun(t, docker, in, "--network", "host", "-v", caFile+":/ca.pem:ro",
			flowpgImage, "check", "-", "--ca-file", "/ca.pem", "-o", "junit")
		require.Equal(t, 0, code, errOut)
		require.NotContains(t, out, pgtest.ScramPassword)
		assert.Contains(t, out, `<testsuite name="flowpg check" tests="1" failures="0" errors="0" skipped="0">`)
	})
}

// report is the part of check's JSON report these tests read.
type report struct {
	Verdict string `json:"verdict"`
	Checks  []struct {
		ID      string          `json:"id"`
		Status  string          `json:"status"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	} `json:"checks"`
}

// certificate returns the roots the certificate stage verified against, and
// whether the chain verified.
func (r report) certificate(t *testing.T) (d struct {
	TrustedBy  string `json:"trustedBy"`
	ChainValid bool   `json:"chainValid"`
}) {
	t.Helper()
	for _, c := range r.Checks {
		if c.ID == "certificate" {
			require.NoError(t, json.Unmarshal(c.Details, &d), string(c.Details))
			return d
		}
	}
	t.Fatal("no certificate stage")
	return d
}

func (r report) status(stage string) string {
	for _, c := range r.Checks {
		if c.ID == stage {
			return c.Status
		}
	}
	return ""
}

func (r report) message(stage string) string {
	for _, c := range r.Checks {
		if c.ID == stage {
			return c.Message
		}
	}
	return ""
}
