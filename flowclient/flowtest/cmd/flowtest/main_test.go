package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun_ServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-token", "tok-1"}, pw)
		pw.Close()
	}()

	lines := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			lines[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		if strings.HasPrefix(sc.Text(), "client secret") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	base := lines["base url"]
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), lines)
	assert.Equal(t, "tok-1", lines["token"])

	req, err := http.NewRequest(http.MethodGet, base+"/connectionSpecs/74a1c565-4e59-48d7-9d67-7c03b8a13137", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok-1")
	req.Header.Set("x-api-key", lines["api key"])
	req.Header.Set("x-gw-ims-org-id", lines["org id"])
	req.Header.Set("x-sandbox-name", "prod")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}

func TestRun_RefusesNonLoopback(t *testing.T) {
	err := run(context.Background(), []string{"-addr", "0.0.0.0:0"}, io.Discard)
	assert.ErrorContains(t, err, "loopback")
	err = run(context.Background(), []string{"-addr", "nonsense"}, io.Discard)
	assert.Error(t, err)
}
