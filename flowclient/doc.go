// Package flowclient is a client for the parts of Adobe Experience
// Platform's Flow Service API that register a source's base connection and
// check it from Adobe's side: connections (create, get, list, update,
// delete, test, explore) and connection specs.
//
// It knows nothing about PostgreSQL beyond the catalog constants Adobe
// publishes for it (PostgreSQLSpecID, PostgreSQLSpecVersion). The names of
// its two auth specs are defined once, in package connstr beside the params
// they take, and flowclient uses them from there:
// connstr.BasicAuthSpecName and connstr.ConnectionStringSpecName.
// Auth params are a Params (map[string]string): every param of the
// PostgreSQL auth specs is a JSON string, port included.
//
// Every call carries the four headers Flow Service requires (Authorization:
// Bearer, x-api-key, x-gw-ims-org-id, x-sandbox-name) and Content-Type:
// application/json when it has a body. Each runs the same steps: build, do,
// check, decode.
//
// # Transport
//
// Every call to Adobe, to Flow Service and to IMS alike, follows three rules,
// enforced when the Client or IMSSession is built or on the HTTP client it
// is given (which is copied, never changed):
//
//   - https only. Plain http is accepted only to a loopback address
//     (127.0.0.0/8, ::1 or the name localhost), where an emulator listens;
//     any other http URL is an error before any request.
//   - no userinfo (user:password@) in a URL. Errors that name a URL never
//     show userinfo, a query or a fragment.
//   - no redirects. Adobe's APIs do not use them, and following one would
//     re-send the request, its body (the client secret, the database
//     password) and its headers (the bearer token) to wherever the reply
//     points. A 3xx reply is a *RedirectError naming the target; nothing is
//     sent there.
//
// A header value that HTTP cannot carry (a token or setting with a line
// break) is refused before the request is sent, and not retried.
//
// # Tokens
//
// Tokens come from an oauth2.TokenSource: IMSTokenSource for an OAuth
// server-to-server credential (an *IMSSession, which caches its token and
// fetches with the call's context), or oauth2.StaticTokenSource for a ready
// access token. A 401 from Flow Service means the token was refused: with a
// RenewableTokenSource such as *IMSSession the client invalidates it, fetches
// a new one and repeats the call once; otherwise, or if the new token is
// refused too, the call fails with a *TokenRefusedError that says which.
// A failure to get a token is a *TokenError whose message names the IMS
// endpoint, not the Flow Service call that needed the token.
//
// # Errors and retries
//
// Every non-2xx reply is an *APIError, whichever of Adobe's three error shapes
// it came in; see IsNotFound, IsUnauthorized, IsStaleEtag and IsRetryable,
// and APIError.Meaning for what a documented Flow Service code means. Requests that
// fail with 429, 500, 502, 503, 504 or a transport error are retried with
// jittered exponential backoff, honouring Retry-After, within a RetryPolicy.
// What cannot change by asking again fails at once: a redirect, a token
// reply that is not a token, a certificate that does not verify, a request
// the client refused to build.
//
// CreateConnection, which is not idempotent, looks the connection up by name
// before repeating a request whose outcome is unknown. When it cannot (its
// context ended while the reply was awaited, or the retries ran out), it
// returns an error for which OutcomeUnknown is true: the request may have
// reached Flow Service, and the caller should look the name up with a fresh
// context before reporting a failure.
//
// Package flowtest, beside this one, is an in-memory Flow Service for tests,
// with knobs that make it misbehave in each of these ways.
package flowclient
