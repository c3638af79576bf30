package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowpg/flowpg/connstr"
	"github.com/flowpg/flowpg/internal/faultproxy"
	"github.com/flowpg/flowpg/internal/netguard"
	"github.com/flowpg/flowpg/preflight"
)

// syncBuffer is a bytes.Buffer that a test may read while a check writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTextReport_Streams: the report prints as the check runs, and on a
// terminal the stage being waited on shows, so a hang shows where it hangs
// instead of a blank screen.
func TestTextReport_Streams(t *testing.T) {
	upstream, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	px, err := faultproxy.New(upstream, faultproxy.Options{BlackHole: true})
	require.NoError(t, err)
	t.Cleanup(func() { px.Close() })
	host, port, _ := net.SplitHostPort(px.Addr)
	p, _ := strconv.Atoi(port)
	conn := connstr.Conn{Server: host, Port: p, Database: "d", User: "u", Password: "stream-Pa55-sentinel"}
	conn.SetSSLMode(connstr.SSLVerifyFull)

	var out syncBuffer
	stream := newTextReport(&out, style{}, true)
	done := make(chan *preflight.Report)
	go func() {
		done <- preflight.Run(context.Background(), conn, preflight.Options{
			Timeout: 3 * time.Second, Progress: stream.progress,
			Dialer: netguard.Dialer(t, nil), Resolver: netguard.Resolver(t, nil),
		})
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "… tls         waiting") }, 2*time.Second, 10*time.Millisecond,
		"while the TLS handshake hangs, the stream shows it: %q", out.String())
	so := out.String()
	assert.Contains(t, so, "Checking u@"+px.Addr+"/d\n")
	assert.Contains(t, so, "  ✓ input ")
	assert.Contains(t, so, "  ✓ dns ")
	assert.NotContains(t, so, "Result:", "not finished yet")

	rep := <-done
	require.NoError(t, stream.finish(rep))
	// Once done, the streamed text is the report's, the waiting line erased.
	var whole bytes.Buffer
	require.NoError(t, renderText(&whole, rep, style{}))
	assert.Equal(t, whole.String(), strings.ReplaceAll(eraseTransient(out.String()), "\r\x1b[K", ""))
	assert.NotContains(t, out.String(), "stream-Pa55-sentinel")
}

// eraseTransient removes what a terminal would have erased: each transient
// line up to the "\r\x1b[K" that clears it.
func eraseTransient(s string) string {
	for {
		i := strings.Index(s, "\r\x1b[K")
		if i < 0 {
			return s
		}
		start := strings.LastIndexByte(s[:i], '\n') + 1
		s = s[:start] + s[i+len("\r\x1b[K"):]
	}
}

// TestCheck_TerminalSeenThroughMain: on a terminal, check colours its
// report, as the style promises, and honours --no-color and NO_COLOR; Main
// wraps stdout, and the terminal must still be seen through that.
func TestCheck_TerminalSeenThroughMain(t *testing.T) {
	addr, err := faultproxy.ClosedPort()
	require.NoError(t, err)
	in := fmt.Sprintf("Server=127.0.0.1;Port=%s;Database=d;UID=u;PWD=pw-sentinel-93", addr[strings.LastIndexByte(addr, ':')+1:])
	for _, tt := range []struct {
		name    string
		args    []string
		noColor string
		color   bool
	}{
		{"a terminal", nil, "", true},
		{"--no-color", []string{"--no-color"}, "", false},
		{"NO_COLOR", nil, "1", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tt.noColor)
			t.Setenv("FLOWPG_CONNECTION_STRING", "")
			tty, err := os.Create(filepath.Join(t.TempDir(), "tty"))
			require.NoError(t, err)
			defer tty.Close()
			real := termIsTerminal
			termIsTerminal = func(f *os.File) bool { return f == tty }
			defer func() { termIsTerminal = real }()
			var errOut bytes.Buffer
			streams := &IO{Stdin: strings.NewReader(in), Stdout: tty, Stderr: &errOut, dialer: netguard.Dialer(t, nil), resolver: netguard.Resolver(t, nil)}
			run(context.Background(), append([]string{"check", "-", "--timeout", "5s"}, tt.args...), streams, &Session{Cleanup: context.Background()})
			out, err := os.ReadFile(tty.Name())
			require.NoError(t, err)
			assert.Equal(t, tt.color, strings.Contains(string(out), "\x1b[3"), "colour codes in:\n%q", out)
			assert.Contains(t, string(out), "FAIL")
		})
	}
}
