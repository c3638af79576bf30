package flowtest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// redirectKnob is a pending RedirectNext or RedirectTokenNext.
type redirectKnob struct {
	n, status int
	location  string
}

// take answers the request with the redirect if one is due.
func (k *redirectKnob) take(w http.ResponseWriter) bool {
	if k.n <= 0 {
		return false
	}
	k.n--
	w.Header().Set("Location", k.location)
	w.WriteHeader(k.status)
	return true
}

// holdKnob is a pending HoldCreate.
type holdKnob struct {
	release <-chan struct{}
	held    chan struct{}
}

// FailNext makes the next n Flow Service calls (not IMS token requests)
// answer status, with a Retry-After header of retryAfter rounded up to whole
// seconds when it is positive. A 429 comes in the gateway's shape, any other
// status in Flow Service's.
func (h *Handler) FailNext(n, status int, retryAfter time.Duration) {
	if status < 400 || status > 599 {
		panic(fmt.Sprintf("flowtest: FailNext status %d is not a 4xx or 5xx", status))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failN, h.failStatus, h.failRetryAfter = n, status, retryAfter
}

// DropAfterCreate makes the next n creates store the connection and then
// close the connection without replying, so the client cannot know it
// succeeded.
func (h *Handler) DropAfterCreate(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropCreates = n
}

// MalformedNext makes the next n Flow Service calls answer 200 with a body
// that is not valid JSON.
func (h *Handler) MalformedNext(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.malformedN = n
}

// OversizeNext makes the next n Flow Service calls answer 200 with a 2 MiB
// JSON body.
func (h *Handler) OversizeNext(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.oversizeN = n
}

// RedirectNext makes the next n Flow Service calls answer status (a 3xx)
// with a Location header of location, without acting on them. Flow Service
// does not redirect: this plays a proxy or a portal in front of it, for
// tests that prove a client follows no redirect and re-sends nothing.
func (h *Handler) RedirectNext(n, status int, location string) {
	checkRedirect(status)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.redirect = redirectKnob{n, status, location}
}

// RedirectTokenNext does as RedirectNext for the next n IMS token requests,
// whose form carries the client secret.
func (h *Handler) RedirectTokenNext(n, status int, location string) {
	checkRedirect(status)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokenRedirect = redirectKnob{n, status, location}
}

func checkRedirect(status int) {
	if status < 300 || status > 399 {
		panic(fmt.Sprintf("flowtest: redirect status %d is not a 3xx", status))
	}
}

// UnauthorizedNext makes the next n Flow Service calls answer 401 in the
// gateway's shape (401013 "Oauth token is not valid"), whatever token they
// carry, as when a token expires or is revoked between two calls. A token
// the IMS endpoint issued is revoked when it is so refused, so that a client
// must fetch a new one to go on; a static token (WithToken) stays valid.
func (h *Handler) UnauthorizedNext(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unauthorizedN = n
}

// RevokeTokens makes every token the IMS endpoint has issued so far invalid,
// as if they had expired: calls carrying one answer 401 (401013).
func (h *Handler) RevokeTokens() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.issued)
}

// TokenFault is a malformed reply of the IMS token endpoint, for
// TokenFaultNext. Each is a 200 that IMS does not send: a client that
// retries it gets the same again.
type TokenFault int

const (
	// TokenNoAccessToken is a JSON object without access_token.
	TokenNoAccessToken TokenFault = iota + 1
	// TokenHTML is an HTML page, as a proxy's or a login portal's.
	TokenHTML
	// TokenNotJSON is application/json whose body is cut short.
	TokenNotJSON
	// TokenMalformed is a JSON reply whose access_token is not a bearer
	// token: it holds a space and a line break, which no header can carry.
	TokenMalformed
)

// TokenFaultNext makes the next n IMS token requests answer with fault,
// whatever their credentials.
func (h *Handler) TokenFaultNext(n int, fault TokenFault) {
	if fault < TokenNoAccessToken || fault > TokenMalformed {
		panic(fmt.Sprintf("flowtest: unknown token fault %d", fault))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokenFaultN, h.tokenFault = n, fault
}

// HoldCreate makes the next create store the connection, then hold its
// reply until release is closed or the client goes away (its request ends,
// as when it times out, is interrupted or is killed). The channel returned
// is closed once the connection is stored and the reply held: a test waits
// for it, then interrupts the client. This is the create whose outcome the
// client cannot know: it reached Flow Service, and the reply did not reach
// the client. Server.Close releases a held reply.
func (h *Handler) HoldCreate(release <-chan struct{}) <-chan struct{} {
	if release == nil {
		panic("flowtest: HoldCreate needs a release channel")
	}
	held := make(chan struct{})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hold = &holdKnob{release: release, held: held}
	return held
}

// shutdown releases held replies, for Server.Close.
func (h *Handler) shutdown() { h.stopOnce.Do(func() { close(h.stop) }) }

// tokenKnobs answers a token request with an injected fault, if one is due.
func (h *Handler) tokenKnobs(w http.ResponseWriter) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tokenRedirect.take(w) {
		return true
	}
	if h.tokenFaultN <= 0 {
		return false
	}
	h.tokenFaultN--
	switch h.tokenFault {
	case TokenNoAccessToken:
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "bearer", "expires_in": 86399})
	case TokenHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>…</form></body></html>\n"))
	case TokenNotJSON:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"access_token": "flowtest-ims-trunc`))
	case TokenMalformed:
		writeJSON(w, http.StatusOK, map[string]any{"access_token": "flowtest ims\r\nX-Injected: 1", "token_type": "bearer", "expires_in": 86399})
	}
	return true
}

// fault answers with an injected failure, if one is due.
func (h *Handler) fault(w http.ResponseWriter, r *http.Request) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.redirect.take(w):
		return true
	case h.unauthorizedN > 0:
		h.unauthorizedN--
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			delete(h.issued, tok)
		}
		gatewayError(w, http.StatusUnauthorized, "401013", "Oauth token is not valid")
		return true
	case h.failN > 0:
		h.failN--
		if h.failRetryAfter > 0 {
			secs := int((h.failRetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		if h.failStatus == http.StatusTooManyRequests {
			// Emulator's choice: Adobe documents no rate-limit reply; this
			// uses the gateway's shape with a made-up code.
			gatewayError(w, h.failStatus, "429050", "Too many requests")
		} else {
			flowError(w, r, h.failStatus, fmt.Sprintf("FLOW-1500-%d", h.failStatus), http.StatusText(h.failStatus), "injected failure (flowtest FailNext)")
		}
		return true
	case h.malformedN > 0:
		h.malformedN--
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"items": [{"id": "truncated`))
		return true
	case h.oversizeN > 0:
		h.oversizeN--
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"items": [], "padding": "`))
		_, _ = w.Write([]byte(strings.Repeat("x", 2<<20)))
		_, _ = w.Write([]byte(`"}`))
		return true
	}
	return false
}

// createFaults are the create knobs due for one create: DropAfterCreate and
// HoldCreate.
type createFaults struct {
	drop bool
	hold *holdKnob
}

// takeCreateFaults takes the create faults that are due. h.mu is held.
func (h *Handler) takeCreateFaults() createFaults {
	f := createFaults{drop: h.dropCreates > 0, hold: h.hold}
	if f.drop {
		h.dropCreates--
	}
	h.hold = nil
	return f
}

// interruptCreate plays f once the connection is stored: a held reply waits
// for its release, Server.Close or the client going away, and a dropped
// one closes the connection unanswered. It reports whether the reply is
// settled, with nothing left to write.
func (h *Handler) interruptCreate(w http.ResponseWriter, r *http.Request, f createFaults) bool {
	if f.hold != nil {
		close(f.hold.held)
		select {
		case <-f.hold.release:
		case <-h.stop:
		case <-r.Context().Done():
			return true // the client went away: nobody to answer
		}
	}
	if !f.drop {
		return false
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return true
		}
	}
	panic(http.ErrAbortHandler) // no hijacking (HTTP/2): abort the stream instead
}
