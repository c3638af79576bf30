package flowclient

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/flowpg/flowpg/connstr"
)

// Preview is a request described instead of sent, for a dry run. Its
// Authorization header and every secret auth param are masked with Redacted,
// so a Preview is safe to print, log or save.
type Preview struct {
	// Method and URL are the request line: the HTTP method and the full URL.
	Method string `json:"method"`
	URL    string `json:"url"`
	// Headers are the request's headers, in a stable order.
	Headers []Header `json:"headers"`
	// Body is the JSON body, secrets masked.
	Body json.RawMessage `json:"body"`
}

// Header is one request header of a Preview.
type Header struct {
	// Name is the header's name, in Go's canonical form.
	Name string `json:"name"`
	// Value is its value, masked if it carries a secret.
	Value string `json:"value"`
}

// PreviewCreate describes the POST /connections request CreateConnection
// would send for conn, without sending it or fetching a token.
func (c *Client) PreviewCreate(conn Connection) (Preview, error) {
	masked := conn
	masked.Auth.Params = maskParams(conn.Auth.Params)
	body, err := json.MarshalIndent(createRequest(masked), "", "  ")
	if err != nil {
		return Preview{}, fmt.Errorf("flowclient: encode the create request: %w", err)
	}
	h := http.Header{}
	c.setHeaders(h, Redacted, true)
	return newPreview(http.MethodPost, c.baseURL+"/connections", h, body), nil
}

// maskParams copies params with every secret masked. A secret param that
// holds key=value parts (a connection string) keeps its shape: only the
// values of its secret parts are masked.
func maskParams(params Params) Params {
	out := make(Params, len(params))
	for k, v := range params {
		if v == "" || !connstr.IsSecretKey(k) {
			out[k] = v
			continue
		}
		masked := connstr.Redact(v)
		if masked == v {
			masked = Redacted
		}
		out[k] = masked
	}
	return out
}

// String renders the request as HTTP/1.1 text.
func (p Preview) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", p.Method, p.URL)
	for _, h := range p.Headers {
		fmt.Fprintf(&b, "%s: %s\n", h.Name, h.Value)
	}
	fmt.Fprintf(&b, "\n%s\n", p.Body)
	return b.String()
}

// Curl renders the request as a curl command, as Adobe's tutorials show
// them. The masked token must be replaced before running it.
func (p Preview) Curl() string {
	var b strings.Builder
	fmt.Fprintf(&b, "curl -X %s '%s' \\\n", p.Method, p.URL)
	for _, h := range p.Headers {
		if h.Name == "Authorization" {
			fmt.Fprintf(&b, "  -H 'Authorization: Bearer {ACCESS_TOKEN}' \\\n")
			continue
		}
		fmt.Fprintf(&b, "  -H '%s: %s' \\\n", h.Name, shellQuoted(h.Value))
	}
	fmt.Fprintf(&b, "  -d '%s'\n", shellQuoted(string(p.Body)))
	return b.String()
}

// shellQuoted escapes s for use inside single quotes.
func shellQuoted(s string) string { return strings.ReplaceAll(s, `'`, `'\''`) }
