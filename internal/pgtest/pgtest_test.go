package pgtest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
)

func TestNewTLSMaterial(t *testing.T) {
	now := time.Now()
	tests := []struct {
		kind    CertKind
		wantErr any // nil, or a pointer to the x509 error type Verify returns
	}{
		{CertValid, nil},
		{CertWrongSAN, new(x509.HostnameError)},
		{CertExpired, new(x509.CertificateInvalidError)},
		{CertSelfSigned, new(x509.UnknownAuthorityError)},
		{CertExpiringSoon, nil},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			m, err := newTLSMaterial(tt.kind, now)
			require.NoError(t, err)
			require.True(t, m.ca.IsCA)
			roots := x509.NewCertPool()
			require.True(t, roots.AppendCertsFromPEM(m.caPEM))
			for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
				_, err := m.leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: now})
				if tt.wantErr == nil {
					require.NoError(t, err, host)
				} else {
					require.ErrorAs(t, err, tt.wantErr, host)
				}
			}
		})
	}

	m, err := newTLSMaterial(CertExpiringSoon, now)
	require.NoError(t, err)
	assert.WithinDuration(t, now.Add(10*24*time.Hour), m.leaf.NotAfter, time.Minute)

	_, err = newTLSMaterial(CertKind(99), now)
	require.Error(t, err)
}

func TestHBAConf(t *testing.T) {
	tests := []struct {
		mode TLSMode
		want []string
	}{
		{TLSOff, []string{"local all all trust", "host all aep_md5 all md5", "host all all all scram-sha-256"}},
		{TLSOn, []string{"local all all trust", "host all aep_md5 all md5", "host all all all scram-sha-256"}},
		{TLS13Only, []string{"local all all trust", "host all aep_md5 all md5", "host all all all scram-sha-256"}},
		{TLSRequired, []string{"local all all trust", "hostssl all aep_md5 all md5", "hostssl all all all scram-sha-256", "hostnossl all all all reject"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			var got []string
			for line := range strings.Lines(hbaConf(tt.mode)) {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					got = append(got, line)
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTLSInitScript(t *testing.T) {
	assert.NotContains(t, tlsInitScript(TLSOn), "ssl_min_protocol_version")
	assert.Contains(t, tlsInitScript(TLS13Only), "ssl_min_protocol_version = 'TLSv1.3'")
}

func TestServerArgs_MaxConnections(t *testing.T) {
	assert.NotContains(t, strings.Join(serverArgs(Options{}), " "), "max_connections")
	got := strings.Join(serverArgs(Options{MaxConnections: 1}), " ")
	assert.Contains(t, got, "-c max_connections=2 -c superuser_reserved_connections=1")
}

func TestServerArgs_ECDHCurve(t *testing.T) {
	assert.NotContains(t, strings.Join(serverArgs(Options{}), " "), "ssl_ecdh_curve")
	assert.Contains(t, strings.Join(serverArgs(Options{ECDHCurve: "secp384r1"}), " "), "-c ssl_ecdh_curve=secp384r1")
}

func TestVersions(t *testing.T) {
	t.Run("Default", func(t *testing.T) {
		t.Setenv(ImagesEnv, "")
		assert.Equal(t, []string{"15", "17"}, Versions())
		img, err := ImageFor("")
		require.NoError(t, err)
		assert.Equal(t, "flowpg.local/postgres:15", img)
		img, err = ImageFor("17")
		require.NoError(t, err)
		assert.Equal(t, "flowpg.local/postgres:17", img)
		_, err = ImageFor("9")
		require.Error(t, err)
	})
	t.Run("FromEnv", func(t *testing.T) {
		t.Setenv(ImagesEnv, " postgres:17 , reg.example:5000/pg/postgres:16.4-alpine,,custom/pg ")
		assert.Equal(t, []string{"17", "16", "custom/pg"}, Versions())
		img, err := ImageFor("16")
		require.NoError(t, err)
		assert.Equal(t, "reg.example:5000/pg/postgres:16.4-alpine", img)
		img, err = ImageFor("custom/pg")
		require.NoError(t, err)
		assert.Equal(t, "custom/pg", img)
	})
}

func TestConnString(t *testing.T) {
	s := &Server{Host: "127.0.0.1", Port: 5433, CAFile: "/tmp/x y/ca.pem", Options: Options{TLS: TLSOn}}
	assert.Equal(t,
		`host=127.0.0.1 port=5433 dbname=sample user=aep_scram password=scram-pw-1 sslmode=verify-full sslrootcert='/tmp/x y/ca.pem'`,
		s.DSN(ScramUser, ScramPassword))
	assert.Equal(t,
		`host=127.0.0.1 port=5433 dbname=other user=u password='it\'s \\ me' sslmode=require`,
		s.ConnString("other", "u", `it's \ me`, "require"))
	assert.Equal(t,
		`host=127.0.0.1 port=5433 dbname=sample user=u password='' sslmode=disable`,
		(&Server{Host: "127.0.0.1", Port: 5433}).DSN("u", ""))
}

// TestStart_Close covers the non-testing API that demo programs use.
func TestStart_Close(t *testing.T) {
	RequireDocker(t)
	img, err := ImageFor("")
	require.NoError(t, err)
	requireImage(t, img)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{TLS: TLSOn})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	// A running server must not hold a start turn: tests that keep a server
	// while their parallel subtests wait for go test's -parallel slots would
	// deadlock with tests waiting for a turn.
	assert.Zero(t, len(startTurns()), "start turn still held")
	assert.Equal(t, Versions()[0], s.Version)
	assert.NotZero(t, s.Port)
	assert.FileExists(t, s.CAFile)
	require.NotNil(t, s.Cert)

	// Logins cost the server CPU, and the engine counts it.
	before, err := s.CPUTime(ctx)
	require.NoError(t, err)
	require.Positive(t, before)
	for range 3 {
		_, err := s.ping(ctx)
		require.NoError(t, err)
	}
	after, err := s.CPUTime(ctx)
	require.NoError(t, err)
	assert.Greater(t, after, before)

	require.NoError(t, s.Close(ctx))
	require.NoError(t, s.Close(ctx), "second Close")
	_, err = s.CPUTime(ctx)
	assert.Error(t, err, "CPUTime after Close")
	_, err = os.Stat(s.CAFile)
	assert.True(t, errors.Is(err, os.ErrNotExist), "CA file left behind: %v", err)
	_, err = s.ctr.State(ctx)
	assert.Error(t, err, "container still exists")
}

func TestStart_BadOptions(t *testing.T) {
	ctx := context.Background()
	_, err := Start(ctx, Options{Version: "9"})
	require.ErrorContains(t, err, "pgtest: no image")
	_, err = Start(ctx, Options{TLS: TLSMode(42)})
	require.ErrorContains(t, err, "pgtest: unknown TLSMode(42)")
	_, err = Start(ctx, Options{MaxConnections: -1})
	require.ErrorContains(t, err, "pgtest: negative MaxConnections")
}

// recordingTB records Skipf and Fatalf instead of ending the test.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper()                        {}
func (r *recordingTB) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }
func (r *recordingTB) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }

func TestSkipOrFail(t *testing.T) {
	t.Setenv("CI", "")
	r := &recordingTB{TB: t}
	skipOrFail(r, "no engine")
	assert.Contains(t, r.skipped, "SKIPPING: no engine")
	assert.Empty(t, r.failed)

	t.Setenv("CI", "true")
	r = &recordingTB{TB: t}
	skipOrFail(r, "no engine")
	assert.Contains(t, r.failed, "CI=true, so this is a FAILURE")
	assert.Empty(t, r.skipped)
}

func TestSweepOrphans(t *testing.T) {
	RequireDocker(t)
	img, err := ImageFor("")
	require.NoError(t, err)
	requireImage(t, img)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A pid that surely belongs to no process any more.
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	labels := ownerLabels()
	labels[labelPID] = strconv.Itoa(dead.Process.Pid)
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	require.NoError(t, err)
	defer cli.Close()
	orphan, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: img, Labels: labels},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = cli.ContainerRemove(context.Background(), orphan.ID, client.ContainerRemoveOptions{Force: true})
	})
	labels[labelPID] = strconv.Itoa(os.Getpid())
	mine, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: img, Labels: labels},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = cli.ContainerRemove(context.Background(), mine.ID, client.ContainerRemoveOptions{Force: true})
	})

	sweepOnce = sync.Once{}
	sweepOrphans(ctx)

	_, err = cli.ContainerInspect(ctx, orphan.ID, client.ContainerInspectOptions{})
	assert.True(t, errdefs.IsNotFound(err), "orphan not removed: %v", err)
	_, err = cli.ContainerInspect(ctx, mine.ID, client.ContainerInspectOptions{})
	assert.NoError(t, err, "a live process's container was removed")
}
