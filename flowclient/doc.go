// Package flowclient is a client for the parts of Adobe Experience
// Platform's Flow Service API that register a source's base connection and
// check it from Adobe's side: connections (create, get, list, delete, test,
// explore) and connection specs.
//
// It knows nothing about PostgreSQL beyond the catalog constants Adobe
// publishes for it (PostgreSQLSpecID, AuthBasic, AuthConnectionString).
// Auth params are a Params (map[string]string): every param of the
// PostgreSQL auth specs is a JSON string, port included.
//
// Every call carries the four headers Flow Service requires (Authorization:
// Bearer, x-api-key, x-gw-ims-org-id, x-sandbox-name) and Content-Type:
// application/json when it has a body. Tokens come from an
// oauth2.TokenSource: IMSTokenSource for an OAuth server-to-server credential,
// or oauth2.StaticTokenSource for a ready access token.
//
// Every non-2xx reply is an *APIError, whichever of Adobe's three error shapes
// it came in; see IsNotFound, IsUnauthorized and IsRetryable. Requests that
// fail with 429, 500, 502, 503, 504 or a transport error are retried with
// jittered exponential backoff, honouring Retry-After, within a RetryPolicy.
// CreateConnection, which is not idempotent, looks the connection up by name
// before repeating a request whose outcome is unknown.
//
// Package flowtest, beside this one, is an in-memory Flow Service for tests.
package flowclient
