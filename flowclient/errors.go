package flowclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowpg/flowpg/internal/printable"
)

// maxErrorSnippet bounds APIError.Body, so that a proxy's HTML page or a huge
// error document cannot flood a log line.
const maxErrorSnippet = 512

// ErrResponseTooLarge is wrapped by the error returned when a response body is
// larger than the client's limit (WithMaxResponseBytes).
var ErrResponseTooLarge = errors.New("flowclient: response body too large")

// APIError is a non-2xx reply from Flow Service or the Adobe I/O gateway in
// front of it. Every error response becomes an *APIError, whatever its body:
// a body that is not JSON, is empty or is cut short still yields the status.
//
// Adobe answers in three shapes, all decoded here:
//
//	gateway:      {"error_code": "403010", "message": "Oauth token is missing."}
//	Flow Service: {"type": "https://ns.adobe.com/aep/errors/FLOW-1415-400", "title": "…",
//	               "status": 400, "report": {"detailed-message": "…", "request-id": "…"}}
//	plain:        {"type": "/placeholder/type/uri", "title": "BadRequestError",
//	               "status": 400, "detail": "A valid content-type must be specified"}
type APIError struct {
	// StatusCode is the HTTP status of the reply.
	StatusCode int
	// Code is Adobe's error code: the gateway's error_code ("403010") or the
	// last segment of a Flow Service type URI ("FLOW-1415-400"). It may be empty.
	Code string
	// Type is the type URI of Flow Service and plain errors, verbatim.
	Type string
	// Title is the short summary ("Bad Request", "BadRequestError").
	Title string
	// Detail is the human explanation: report.detailed-message, detail or message.
	Detail string
	// RequestID is report.request-id, or else the x-request-id response header.
	// Quote it when asking Adobe support about a failure.
	RequestID string
	// Method and URL identify the request that failed.
	Method string
	URL    string
	// Body is the start of the response body (at most 512 bytes, valid UTF-8),
	// kept for diagnosis. Known secrets of the request are redacted from it.
	Body string
	// RetryAfter is the server's Retry-After advice, zero when absent.
	RetryAfter time.Duration
}

// Error formats the reply on one line, without the body unless the body was
// not a JSON error document (then its start is the only clue there is).
//
// The server's words are made one line and printable (see oneLine): they
// end up on terminals and in logs, and a reply can hold anything.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flowclient: %s %s: %s", e.Method, e.URL, statusText(e.StatusCode))
	if e.Code != "" {
		b.WriteString(": " + oneLine(e.Code, maxErrorSnippet))
	}
	title, detail := oneLine(e.Title, maxErrorText), oneLine(e.Detail, maxErrorText)
	switch {
	case title != "" && detail != "" && title != detail:
		b.WriteString(": " + title + ": " + detail)
	case detail != "":
		b.WriteString(": " + detail)
	case title != "":
		b.WriteString(": " + title)
	case e.Body != "":
		b.WriteString(": unexpected body: " + oneLine(e.Body, 120))
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + oneLine(e.RequestID, maxErrorSnippet) + ")")
	}
	return b.String()
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprintf("status %d", code)
}

// maxErrorText bounds the title and the detail of a reply in an error
// message: a server that answers with megabytes makes no longer message.
const maxErrorText = 4 << 10

// oneLine is s from outside (a reply, a header) fit for a one-line
// message: its spaces and line breaks collapsed, cut at max bytes, and
// whatever a terminal would act on escaped (printable.Line).
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = truncateUTF8(s, max) + "…"
	}
	return printable.Line(s)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// errorBody holds every field of the three error shapes, plus the IMS OAuth
// shape ({"error", "error_description"}) and the etag mismatch shape
// ({"errorMessage"}). Scalars are raw so that a number where a string was
// expected never makes the decode fail.
type errorBody struct {
	ErrorCode        json.RawMessage `json:"error_code"`
	Message          json.RawMessage `json:"message"`
	Type             json.RawMessage `json:"type"`
	Title            json.RawMessage `json:"title"`
	Detail           json.RawMessage `json:"detail"`
	ErrorMessage     json.RawMessage `json:"errorMessage"`
	OAuthError       json.RawMessage `json:"error"`
	ErrorDescription json.RawMessage `json:"error_description"`
	Report           *struct {
		DetailedMessage json.RawMessage `json:"detailed-message"`
		RequestID       json.RawMessage `json:"request-id"`
	} `json:"report"`
}

// codeInType finds the code at the end of a type URI such as
// https://ns.adobe.com/aep/errors/FLOW-1415-400.
var codeInType = regexp.MustCompile(`([A-Za-z]+-[0-9]+(?:-[0-9]+)?)$`)

// decodeError turns an error reply into an *APIError. It never fails: what it
// cannot decode it keeps, bounded, in Body.
func decodeError(status int, header http.Header, body []byte, method, url string) *APIError {
	e := &APIError{StatusCode: status, Method: method, URL: url}
	if header != nil {
		e.RequestID = strings.TrimSpace(header.Get("x-request-id"))
		e.RetryAfter, _ = parseRetryAfter(header.Get("Retry-After"), time.Now())
	}
	// Replace invalid bytes first (U+FFFD is longer than one byte), then cut.
	snippet := body[:min(len(body), 4*maxErrorSnippet)]
	e.Body = truncateUTF8(strings.ToValidUTF8(string(snippet), "\uFFFD"), maxErrorSnippet)

	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		// Some gateways answer with a list of errors; the first one speaks for all.
		var list []json.RawMessage
		if json.Unmarshal(trimmed, &list) == nil && len(list) > 0 {
			trimmed = list[0]
		}
	}
	var eb errorBody
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &eb) != nil {
		return e
	}
	e.Type = scalarText(eb.Type)
	e.Title = scalarText(eb.Title)
	e.Code = scalarText(eb.ErrorCode)
	if e.Code == "" {
		if m := codeInType.FindStringSubmatch(e.Type); m != nil {
			e.Code = m[1]
		} else {
			e.Code = scalarText(eb.OAuthError)
		}
	}
	if eb.Report != nil {
		e.Detail = scalarText(eb.Report.DetailedMessage)
		if id := scalarText(eb.Report.RequestID); id != "" {
			e.RequestID = id
		}
	}
	for _, d := range []json.RawMessage{eb.Detail, eb.Message, eb.ErrorMessage, eb.ErrorDescription} {
		if e.Detail != "" {
			break
		}
		e.Detail = scalarText(d)
	}
	return e
}

// scalarText renders a JSON scalar as text: strings unquoted, numbers and
// booleans as written, null and objects/arrays as "".
func scalarText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	case '{', '[', 'n':
		return ""
	default:
		return string(raw)
	}
}

// redact replaces every secret in the error's text fields with "********",
// so that a server echoing the request payload cannot leak a password.
func (e *APIError) redact(secrets []string) {
	for _, f := range []*string{&e.Title, &e.Detail, &e.Body, &e.URL, &e.Code, &e.Type, &e.RequestID} {
		*f = redactAll(*f, secrets)
	}
}

// Redacted is what flowclient writes in place of a secret.
const Redacted = "********"

func redactAll(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}

// transportError marks a failure below HTTP (dial, TLS, reset, a reply cut
// short, a timeout). sent is false only when the request is known not to
// have left: no connection was ever made for it.
type transportError struct {
	method, url string
	err         error
	sent        bool
}

func (e *transportError) Error() string {
	return fmt.Sprintf("flowclient: %s %s: %v", e.method, e.url, unwrapURLError(e.err))
}

func (e *transportError) Unwrap() error { return e.err }

// unwrapURLError drops *url.Error's own "Get \"…\":" prefix, which would repeat
// the method and URL already in the message.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// requestError is a request the client refused to send, because of what it
// would carry (a header value HTTP cannot hold). Retrying cannot help.
type requestError struct {
	method, url, msg string
}

func (e *requestError) Error() string {
	return fmt.Sprintf("flowclient: %s %s: %s", e.method, e.url, e.msg)
}

// IsNotFound reports whether err is a 404 reply.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// IsUnauthorized reports whether err is a 401 or 403 reply: a missing, invalid
// or expired token, or an API key or organization the gateway rejects. A
// *TokenRefusedError is the 401 case after the client has done what it can.
func IsUnauthorized(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden)
}

// IsRetryable reports whether repeating the request may succeed: a 429, 500,
// 502, 503 or 504 reply, a transport failure, or an IMS token endpoint
// failure of the same kinds. A cancelled or expired context is never
// retryable, nor is what cannot change by itself: a redirect, a reply that
// is not what the API documents, a request the client refused to build, or a
// server certificate that does not verify.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var re *RedirectError
	if errors.As(err, &re) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return retryableStatus(ae.StatusCode)
	}
	var te *TokenError
	if errors.As(err, &te) {
		if te.StatusCode != 0 {
			return retryableStatus(te.StatusCode)
		}
		return te.cause != nil && retryableTransport(te.cause)
	}
	var tr *transportError
	return errors.As(err, &tr) && retryableTransport(tr.err)
}

// retryableTransport reports whether a transport failure may pass: anything
// but a certificate that does not verify, which stays as it is until
// someone changes the server or the trust store.
func retryableTransport(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return !errors.As(err, &cv) && !errors.As(err, &ua) && !errors.As(err, &he) && !errors.As(err, &ci)
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// OutcomeUnknown reports whether the failed request may have reached Flow
// Service and been carried out, so that what it would have done (for
// CreateConnection: a new connection) may exist although err says it
// failed. It is true after a transport failure once a connection was made
// (a reset after sending, a reply cut short, a timeout or a cancelled
// context while waiting for the reply), after a 5xx reply, and after a 2xx
// reply that could not be read. It is false when the request was refused
// (a 4xx, a redirect, a token that could not be had) or never left (no
// connection was made, or the client refused to build it).
//
// CreateConnection resolves an unknown outcome itself while its context
// lives, by looking the name up; when it returns an error for which
// OutcomeUnknown is true, it could not. The caller should then look the
// name up (FindConnectionByName) with a fresh context before it reports a
// failure or tries again.
func OutcomeUnknown(err error) bool {
	var oe *outcomeError
	if errors.As(err, &oe) {
		return oe.unknown
	}
	return outcomeUnknown(err)
}

// outcomeUnknown is OutcomeUnknown for the error of one request.
func outcomeUnknown(err error) bool {
	var te *TokenError
	if errors.As(err, &te) {
		return false // the call waited for a token, and was never sent
	}
	var tr *transportError
	if errors.As(err, &tr) {
		return tr.sent
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode >= 500
	}
	var re *ReplyError
	return errors.As(err, &re)
}

// outcomeError carries CreateConnection's verdict on its request's outcome,
// which its last error (perhaps a look-up's) does not tell.
type outcomeError struct {
	err     error
	unknown bool
}

func (e *outcomeError) Error() string { return e.err.Error() }
func (e *outcomeError) Unwrap() error { return e.err }

func asAPIError(err error) (*APIError, bool) {
	var e *APIError
	ok := errors.As(err, &e)
	return e, ok
}
