package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

const (
	// startTDeadline bounds StartT's start, including its wait for a turn.
	startTDeadline = 3 * time.Minute
)

// StartT starts a server like Start, with a deadline, for the test tb. The
// container is removed when tb ends. With no Docker engine or no image it skips
// tb with a loud message, or fails it when CI=true (see RequireDocker); any
// other error fails tb.
func StartT(tb testing.TB, opts Options) *Server {
	tb.Helper()
	RequireDocker(tb)

	img := opts.Image
	if img == "" {
		var err error
		if img, err = ImageFor(opts.Version); err != nil {
			tb.Fatal(err)
		}
	}
	requireImage(tb, img)

	ctx, cancel := context.WithTimeout(context.Background(), startTDeadline)
	defer cancel()
	s, err := start(ctx, opts, tclog.TestLogger(tb))
	if s != nil {
		// Registered before the error check, so a half-started container goes too.
		testcontainers.CleanupContainer(tb, s.ctr, testcontainers.StopTimeout(0))
		tb.Cleanup(func() {
			if err := s.Close(context.Background()); err != nil {
				tb.Errorf("pgtest: %v", err)
			}
		})
	}
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

var dockerOnce struct {
	sync.Once
	err error
}

// CheckDocker reports whether a Docker engine answers. The answer is computed
// once per process.
func CheckDocker(ctx context.Context) error {
	dockerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		dockerOnce.err = func() (err error) {
			// The provider panics on some broken setups (no socket, bad DOCKER_HOST).
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("pgtest: docker provider panicked: %v", r)
				}
			}()
			p, err := testcontainers.ProviderDocker.GetProvider()
			if err != nil {
				return fmt.Errorf("pgtest: docker provider: %w", err)
			}
			defer p.Close()
			if err := p.Health(ctx); err != nil {
				return fmt.Errorf("pgtest: docker engine: %w", err)
			}
			return nil
		}()
	})
	return dockerOnce.err
}

// RequireDocker skips tb under -short, which means "no Docker" (the fast
// loop), and skips it loudly when no Docker engine answers, or fails it
// instead when CI=true: a CI run must not pass by skipping its integration
// tests.
func RequireDocker(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("pgtest: -short: no Docker")
	}
	if err := CheckDocker(context.Background()); err != nil {
		skipOrFail(tb, fmt.Sprintf("no Docker engine (%v); run integration/docker-up.sh", err))
	}
}

// requireImage applies RequireDocker's rule to a missing flowpg.local image,
// which build-images.sh makes. Other images may be pulled, so they are not
// checked.
func requireImage(tb testing.TB, img string) {
	tb.Helper()
	if !strings.HasPrefix(img, "flowpg.local/") {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		skipOrFail(tb, fmt.Sprintf("docker client: %v", err))
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, img); err != nil {
		if errdefs.IsNotFound(err) || errors.Is(err, errdefs.ErrNotFound) {
			skipOrFail(tb, fmt.Sprintf("image %s is missing; run integration/build-images.sh (or set %s)", img, ImagesEnv))
		}
		tb.Fatalf("pgtest: inspect image %s: %v", img, err)
	}
}

func skipOrFail(tb testing.TB, msg string) {
	tb.Helper()
	banner := strings.Repeat("*", 72)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("\n%s\npgtest: %s\npgtest: CI=true, so this is a FAILURE, not a skip\n%s", banner, msg, banner)
		return
	}
	tb.Skipf("\n%s\npgtest: SKIPPING: %s\n%s", banner, msg, banner)
}
