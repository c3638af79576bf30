package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/flowclient/flowtest"
	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/internal/pgprobe"
	"github.com/flowpg/flowpg/internal/pgtest"
)

// buildFlowpg builds the flowpg command once per test run, for the tests
// that need a real process: signals are process-wide.
var buildFlowpg = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "flowpg-signals-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "flowpg")
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/flowpg")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// process is a flowpg process under test.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
}

// startFlowpg starts flowpg with args, conn on standard input, and the
// Adobe settings of the emulator at base.
func startFlowpg(t *testing.T, base, conn string, args ...string) *process {
	t.Helper()
	bin, err := buildFlowpg()
	require.NoError(t, err)
	p := &process{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdin = strings.NewReader(conn)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.Env = append(os.Environ(),
		"AEP_FLOW_URL="+base+flowtest.BasePath, "AEP_IMS_TOKEN_URL="+base+flowtest.TokenPath,
		"AEP_CLIENT_ID="+flowtest.DefaultClientID, "AEP_CLIENT_SECRET="+flowtest.DefaultClientSecret,
		"AEP_ACCESS_TOKEN=", "AEP_API_KEY=", "AEP_ORG_ID="+flowtest.DefaultOrg, "AEP_SANDBOX_NAME=prod",
		"AEP_CONFIG=", "FLOWPG_CONNECTION_STRING=", "NO_COLOR=1")
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// signal sends s and waits for the process to end, within a bound that
// only guards against hangs.
func (p *process) signal(t *testing.T, s os.Signal) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(s))
	return p.wait(t)
}

func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("flowpg did not end\nstdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// TestSignals sends SIGINT and SIGTERM to a real flowpg process at each
// phase: it stops new work, settles what is in flight at Adobe, says what
// was done, and exits 130 or 143. An interrupt is never reported as a
// database failure.
func TestSignals(t *testing.T) {
	pg := pgtest.StartT(t, pgtest.Options{TLS: pgtest.TLSOn})
	conn := fmt.Sprintf("Server=%s;Port=%d;Database=%s;UID=%s;Password=%s;EncryptionMethod=1;ValidateServerCertificate=1",
		pg.Host, pg.Port, pgtest.Database, pgtest.ScramUser, pgtest.ScramPassword)
	gate := []string{"--ca-file", pg.CAFile, "--assume-adobe-trusts-ca", "--allow-private-address", "--timeout", "30s"}
	sigs := []struct {
		name string
		sig  os.Signal
		code int
	}{{"SIGINT", os.Interrupt, 130}, {"SIGTERM", syscall.SIGTERM, 143}}

	t.Run("during the pre-flight", func(t *testing.T) {
		px, err := faultproxy.New(net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)), faultproxy.Options{BlackHole: true})
		require.NoError(t, err)
		t.Cleanup(func() { px.Close() })
		host, port, _ := net.SplitHostPort(px.Addr)
		holed := strings.Replace(strings.Replace(conn, "Server="+pg.Host, "Server="+host, 1), "Port="+strconv.Itoa(pg.Port), "Port="+port, 1)
		for _, s := range sigs {
			t.Run(s.name, func(t *testing.T) {
				p := startFlowpg(t, "http://127.0.0.1:1", holed, "check", "-", "--ca-file", pg.CAFile, "--timeout", "30s")
				time.Sleep(time.Second) // into the TLS handshake the black hole never answers
				code := p.signal(t, s.sig)
				out := p.stdout.String()
				assert.Equal(t, s.code, code, "stdout:\n%s\nstderr:\n%s", out, p.stderr.String())
				assert.Contains(t, out, "Result: INTERRUPTED")
				assert.Contains(t, out, "not finished: the check was interrupted")
				assert.NotContains(t, out, "✗", "no stage fails")
				assert.Contains(t, out, "- tls         not finished: the check was interrupted\n  - certificate", "and no fix for it")
				assert.Contains(t, p.stderr.String(), s.name+": stopping")
			})
		}
	})

	t.Run("during check --file", func(t *testing.T) {
		px, err := faultproxy.New(net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)), faultproxy.Options{BlackHole: true})
		require.NoError(t, err)
		t.Cleanup(func() { px.Close() })
		_, port, _ := net.SplitHostPort(px.Addr)
		var lines []string
		for _, db := range []string{"one", "two", "three"} {
			lines = append(lines, fmt.Sprintf("Server=127.0.0.1;Port=%s;Database=%s;UID=u;Password=sig-Pa55;EncryptionMethod=1", port, db))
		}
		file := filepath.Join(t.TempDir(), "targets.txt")
		require.NoError(t, os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600))
		p := startFlowpg(t, "http://127.0.0.1:1", "", "check", "--file", file, "--concurrency", "1", "--timeout", "30s")
		time.Sleep(time.Second)
		code := p.signal(t, syscall.SIGTERM)
		out := p.stdout.String()
		assert.Equal(t, 143, code, "stdout:\n%s\nstderr:\n%s", out, p.stderr.String())
		assert.Contains(t, out, "1 interrupted, 2 not checked")
		assert.Contains(t, out, "The run was interrupted")
		assert.NotContains(t, out, "✗")
	})

	t.Run("during the create", func(t *testing.T) {
		for _, s := range sigs {
			t.Run(s.name, func(t *testing.T) {
				fs := flowtest.NewServer(flowtest.WithProber(pgprobe.Prober(pgprobe.Options{Dialer: netguard.Dialer(t, nil)})), flowtest.WithTrustStore(pg.CAPool()))
				defer fs.Close()
				release := make(chan struct{})
				defer close(release)
				held := fs.HoldCreate(release)
				name := "held-" + strings.ToLower(s.name)
				p := startFlowpg(t, strings.TrimSuffix(fs.URL(), flowtest.BasePath), conn, append([]string{"connect", "-", "--name", name}, gate...)...)
				select {
				case <-held:
				case <-time.After(60 * time.Second):
					t.Fatalf("the create never arrived\nstdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
				}
				code := p.signal(t, s.sig)
				out := p.stdout.String()
				assert.Equal(t, s.code, code, "stdout:\n%s\nstderr:\n%s", out, p.stderr.String())
				require.Len(t, fs.Connections(), 1, "the create reached Flow Service before the interrupt")
				id := fs.Connections()[0].ID
				assert.Contains(t, out, "(interrupted)")
				assert.Contains(t, out, id, "the look-up found it, and the id is said")
				assert.Contains(t, out, "the create's reply was lost")
				assert.Contains(t, out, "flowpg connections delete "+name+" --yes")
			})
		}
	})

	t.Run("during Adobe's verification", func(t *testing.T) {
		testing := make(chan struct{}, 1)
		stall := func(ctx context.Context, _ flowtest.ProbeRequest) ([]flowtest.ExploreItem, error) {
			testing <- struct{}{}
			<-ctx.Done() // the client went away
			return nil, ctx.Err()
		}
		fs := flowtest.NewServer(flowtest.WithProber(stall))
		defer fs.Close()
		p := startFlowpg(t, strings.TrimSuffix(fs.URL(), flowtest.BasePath), conn, append([]string{"connect", "-", "--name", "verifying"}, gate...)...)
		select {
		case <-testing:
		case <-time.After(60 * time.Second):
			t.Fatalf("Adobe's test never started\nstdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
		}
		code := p.signal(t, os.Interrupt)
		out := p.stdout.String()
		assert.Equal(t, 130, code, "stdout:\n%s\nstderr:\n%s", out, p.stderr.String())
		require.Len(t, fs.Connections(), 1, "created, and not rolled back: the user stopped, nothing failed")
		assert.Contains(t, out, "was created but not verified")
		assert.Contains(t, out, "flowpg connections test verifying")
	})

	t.Run("during the roll-back", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			signals int
			want    string
			left    int
		}{
			{"one interrupt: the roll-back finishes", 1, "the new connection was deleted", 0},
			{"a second interrupt: the roll-back is abandoned", 2, "the roll-back was abandoned", 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// The emulator does not trust the test CA, so Adobe's test
				// fails and connect rolls back; the delete is held.
				h := flowtest.NewHandler(flowtest.WithProber(pgprobe.Prober(pgprobe.Options{Dialer: netguard.Dialer(t, nil)})))
				deleting := make(chan struct{}, 1)
				release := make(chan struct{})
				var once sync.Once
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodDelete {
						deleting <- struct{}{}
						select {
						case <-release:
						case <-r.Context().Done():
							return
						}
					}
					h.ServeHTTP(w, r)
				}))
				defer srv.Close()
				defer once.Do(func() { close(release) })
				p := startFlowpg(t, srv.URL, conn, append([]string{"connect", "-", "--name", "rolling-back"}, gate...)...)
				select {
				case <-deleting:
				case <-time.After(60 * time.Second):
					t.Fatalf("the roll-back never started\nstdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
				}
				require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
				if tc.signals == 2 {
					time.Sleep(300 * time.Millisecond)
					require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
				} else {
					time.Sleep(300 * time.Millisecond)
					once.Do(func() { close(release) })
				}
				code := p.wait(t)
				out := p.stdout.String()
				assert.Equal(t, 130, code, "stdout:\n%s\nstderr:\n%s", out, p.stderr.String())
				assert.Contains(t, out, tc.want)
				assert.Len(t, h.Connections(), tc.left)
				if tc.left == 1 {
					assert.Contains(t, out, "flowpg connections delete rolling-back --yes")
					assert.Contains(t, p.stderr.String(), "abandoning the clean-up")
				}
			})
		}
	})
}

// TestSignals_SecondEndsAStuckCommand: a command held by a read that
// watches no context (here --ca-file, a named pipe whose writer never
// writes) ends on the second signal, with the first signal's exit code.
func TestSignals_SecondEndsAStuckCommand(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	w, err := os.OpenFile(fifo, os.O_RDWR, 0) // a writer that never writes
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })

	p := startFlowpg(t, "http://127.0.0.1:1", "Server=127.0.0.1;Port=1;Database=d;UID=u;Password=pw", "check", "-", "--ca-file", fifo)
	time.Sleep(time.Second) // into the read
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	time.Sleep(200 * time.Millisecond) // the second is a second signal, not one of two at once
	code := p.signal(t, os.Interrupt)
	require.Equal(t, 130, code, p.stderr.String())
	require.Contains(t, p.stderr.String(), "exiting now")
}
