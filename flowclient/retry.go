package flowclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds how the client repeats a request that failed with a
// 429, 500, 502, 503 or 504 reply or a transport error. Adobe's Flow Service
// API reference documents no rate limit, so these numbers are flowpg's own
// decision.
type RetryPolicy struct {
	// MaxRetries is how many times a request is repeated after its first
	// attempt. Zero disables retries.
	MaxRetries int
	// BaseDelay is the wait before the first retry; each later wait doubles,
	// up to MaxDelay, and is jittered down by up to half.
	BaseDelay time.Duration
	// MaxDelay caps one backoff wait. A longer Retry-After from the server is
	// still honoured, within MaxElapsed.
	MaxDelay time.Duration
	// MaxElapsed bounds the whole call, waits included: a retry whose wait
	// would end after it is not made, and the last error is returned at once.
	// Zero means no bound beyond MaxRetries and the context.
	MaxElapsed time.Duration
}

// DefaultRetryPolicy returns the policy New uses: 4 retries, 500 ms doubling
// to at most 30 s, and at most 2 minutes in all.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxRetries: 4, BaseDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second, MaxElapsed: 2 * time.Minute}
}

// backoff returns the wait before retry number n (0-based) after err.
func (p RetryPolicy) backoff(n int, err error) time.Duration {
	d := p.BaseDelay
	for i := 0; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	if p.MaxDelay > 0 && d > p.MaxDelay {
		d = p.MaxDelay
	}
	if d > 1 {
		// Jitter keeps many clients that failed together from retrying together.
		d = d/2 + rand.N(d/2+1)
	}
	if ra := retryAfterOf(err); ra > d {
		d = ra
	}
	return d
}

func retryAfterOf(err error) time.Duration {
	if ae, ok := asAPIError(err); ok {
		return ae.RetryAfter
	}
	var te *TokenError
	if errors.As(err, &te) {
		return te.RetryAfter
	}
	return 0
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		const maxSecs = int64(24 * time.Hour / time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleepContext waits for d or until ctx is done, whichever is first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// withRetry runs attempt until it succeeds, fails for good, or the policy or
// ctx says stop. The error returned is the last attempt's, untouched, so that
// callers can still inspect it with errors.As; an interrupted wait wraps both.
func (c *Client) withRetry(ctx context.Context, attempt func() error) error {
	start := time.Now()
	for n := 0; ; n++ {
		err := attempt()
		if err == nil || !IsRetryable(err) || n >= c.retry.MaxRetries {
			return err
		}
		wait := c.retry.backoff(n, err)
		if c.retry.MaxElapsed > 0 && time.Since(start)+wait > c.retry.MaxElapsed {
			return err
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("flowclient: stopped waiting to retry (%w) after: %w", serr, err)
		}
	}
}
