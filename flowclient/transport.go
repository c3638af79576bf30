package flowclient

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// The transport rules for every call to Adobe, Flow Service and IMS alike:
//
//   - https only; plain http only to a loopback address (127.0.0.0/8, ::1 or
//     the name localhost), which is where an emulator listens. Anything else
//     would carry the client secret, the bearer token and the database
//     password in clear text.
//   - no userinfo in a URL: it would be sent as Basic credentials, and it
//     ends up in every message that names the URL.
//   - no redirects. Adobe's APIs do not use them, and following one re-sends
//     the request (for a 307 or 308 its body: the client secret, the database
//     password) and its headers to wherever the reply points.

// checkEndpoint parses raw, the URL of an Adobe endpoint, and applies the
// transport rules to it. what names the setting in errors, which never echo
// userinfo or a query.
func checkEndpoint(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("flowclient: invalid %s %q: want https://host/path", what, redactURLText(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("flowclient: %s %q has credentials in it (user:password@): Adobe's APIs take none there, and they would show wherever the URL is shown", what, safeURL(u))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, fmt.Errorf("flowclient: %s %q must not have a query or fragment", what, safeURL(u))
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	case u.Scheme == "http":
		return nil, fmt.Errorf("flowclient: %s %q uses plain http to a host that is not loopback: secrets would cross the network in clear text; use https (plain http is for an emulator on 127.0.0.1, ::1 or localhost)", what, safeURL(u))
	default:
		return nil, fmt.Errorf("flowclient: %s %q: scheme must be https", what, safeURL(u))
	}
	return u, nil
}

// isLoopbackHost reports whether host (no port, no brackets) is the name
// localhost or a loopback IP address. Other names are not resolved: what a
// name resolves to can change between this check and the dial.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// safeURL renders u without userinfo, and with a query or fragment replaced
// by Redacted: either may carry a secret.
func safeURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	v := *u
	v.User = nil
	if v.RawQuery != "" || v.ForceQuery {
		v.RawQuery, v.ForceQuery = Redacted, false
	}
	if v.Fragment != "" {
		v.Fragment, v.RawFragment = Redacted, ""
	}
	return v.String()
}

// redactURLText hides the userinfo of a URL that did not parse, so that the
// error quoting it does not quote a password: everything before the last @
// of the authority, which runs from after "//" (or from the start when there
// is none) to the first /, ? or #.
func redactURLText(raw string) string {
	start := 0
	if i := strings.Index(raw, "//"); i >= 0 {
		start = i + 2
	}
	end := len(raw)
	if i := strings.IndexAny(raw[start:], "/?#"); i >= 0 {
		end = start + i
	}
	if at := strings.LastIndex(raw[start:end], "@"); at >= 0 {
		raw = raw[:start] + Redacted + raw[start+at:]
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i+1] + Redacted
	}
	return raw
}

// noRedirects returns a copy of hc (or of a default client when hc is nil)
// that never follows a redirect. The caller's client is not changed.
//
// Its transport turns every 3xx reply into a *RedirectError, so that
// http.Client's redirect logic never sees one: it would parse the Location
// header before asking CheckRedirect, and fail on a bad one with an untyped
// error that quotes it. CheckRedirect refuses as well, in case a transport
// hands a redirect on anyway.
func noRedirects(hc *http.Client, defaultTimeout time.Duration) *http.Client {
	var c http.Client
	if hc != nil {
		c = *hc
	} else {
		c.Timeout = defaultTimeout
	}
	c.Transport = redirectRefuser{c.Transport}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// redirectRefuser is a RoundTripper that answers a 3xx reply with a
// *RedirectError, the reply closed.
type redirectRefuser struct{ rt http.RoundTripper }

// RoundTrip sends req with the wrapped transport.
func (r redirectRefuser) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := r.rt
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil || !isRedirect(resp.StatusCode) {
		return resp, err
	}
	re := redirectError(req, resp)
	_ = resp.Body.Close()
	return nil, re
}

// CloseIdleConnections passes http.Client.CloseIdleConnections on.
func (r redirectRefuser) CloseIdleConnections() {
	type closeIdler interface{ CloseIdleConnections() }
	if c, ok := r.rt.(closeIdler); ok {
		c.CloseIdleConnections()
	} else if r.rt == nil {
		http.DefaultTransport.(closeIdler).CloseIdleConnections()
	}
}

// RedirectError is a 3xx reply, from Flow Service or from IMS. Adobe's APIs
// do not redirect, and the client never follows a redirect: nothing was sent
// to Location, neither the request's body (the client secret, the database
// password) nor its headers (the bearer token).
type RedirectError struct {
	// Method and URL identify the request that was answered with a redirect.
	Method, URL string
	// StatusCode is the reply's status, such as 307.
	StatusCode int
	// Location is where the reply pointed, resolved against URL, without
	// userinfo and with any query replaced by Redacted, since a query may
	// carry a secret. It is empty when the reply had no Location header.
	Location string
}

// Error names the request, the status and the target.
func (e *RedirectError) Error() string {
	return fmt.Sprintf("flowclient: %s %s: %s", e.Method, e.URL, e.text())
}

// text is the part of the message after the request: status, target, and
// what was done about it.
func (e *RedirectError) text() string {
	target := oneLine(e.Location, maxErrorText) // the server's header
	if target == "" {
		target = "no location"
	}
	return fmt.Sprintf("%s to %s: redirect not followed (Adobe's APIs do not redirect; nothing was sent there)", statusText(e.StatusCode), target)
}

// redirectError describes a 3xx reply to req.
func redirectError(req *http.Request, resp *http.Response) *RedirectError {
	e := &RedirectError{Method: req.Method, URL: req.URL.String(), StatusCode: resp.StatusCode}
	if loc, err := resp.Location(); err == nil {
		e.Location = safeURL(loc)
	} else if raw := resp.Header.Get("Location"); raw != "" {
		e.Location = redactURLText(raw)
	}
	return e
}

// isRedirect reports whether status is a 3xx.
func isRedirect(status int) bool { return status >= 300 && status <= 399 }

// validHeaderValue reports whether v may be sent as an HTTP header value:
// no control characters other than tab (RFC 9110 §5.5). Go's transport
// refuses such a value too, but with an error no type tells apart from a
// network failure, so the client checks first and fails at once.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// sendTrace records whether a request may have left the machine: it did
// not if the transport asked for a connection (GetConn) and never got one
// (GotConn), because the dial, DNS or TLS handshake failed or the context
// ended first. A transport that reports neither is assumed to have sent.
type sendTrace struct {
	asked, got atomic.Bool
}

// with returns ctx carrying the trace, in addition to any trace ctx has.
func (t *sendTrace) with(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn: func(string) { t.asked.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { t.got.Store(true) },
	})
}

// mayHaveSent reports whether any of the request may have been written.
func (t *sendTrace) mayHaveSent() bool { return t.got.Load() || !t.asked.Load() }
