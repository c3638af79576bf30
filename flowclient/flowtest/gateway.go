package flowtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

type ctxKey struct{}

// routes maps the Flow Service endpoints, below BasePath, to their
// handlers. Anything else is Flow Service's 404.
func (h *Handler) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /connections", h.listConnections)
	m.HandleFunc("POST /connections", h.createConnection)
	m.HandleFunc("GET /connections/{id}", h.getConnection)
	m.HandleFunc("PATCH /connections/{id}", h.patchConnection)
	m.HandleFunc("DELETE /connections/{id}", h.deleteConnection)
	m.HandleFunc("DELETE /connections/{id}/", h.deleteConnection)
	m.HandleFunc("GET /connections/{id}/test", h.testConnection)
	m.HandleFunc("GET /connections/{id}/explore", h.exploreConnection)
	m.HandleFunc("GET /connectionSpecs/{id}", h.getConnectionSpec)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		flowError(w, r, http.StatusNotFound, "FLOW-1404-404", "Not Found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return m
}

// ServeHTTP logs the request and gives it an x-request-id. A request to
// TokenPath goes to the IMS endpoint, after the token fault knobs. A request
// below BasePath meets the Flow Service fault knobs, then the gateway's
// checks, then the API. Any other path is a 404 in the plain shape.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.seq++
	reqID := fmt.Sprintf("flowtest-%06d", h.seq)
	hdr := r.Header.Clone()
	if a := hdr.Get("Authorization"); a != "" {
		scheme, _, _ := strings.Cut(a, " ")
		hdr.Set("Authorization", scheme+" "+Masked)
	}
	h.log = append(h.log, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: hdr})
	h.mu.Unlock()
	w.Header().Set("x-request-id", reqID)
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, reqID))

	if r.URL.Path == TokenPath {
		if !h.tokenKnobs(w) {
			h.token(w, r)
		}
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, BasePath)
	if !ok || (rest != "" && rest[0] != '/') {
		plainError(w, http.StatusNotFound, "NotFound", "no such path: "+r.URL.Path)
		return
	}
	if h.fault(w, r) || !h.gateway(w, r) {
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = rest
	r2.URL.RawPath = ""
	h.mux.ServeHTTP(w, r2)
}

// gateway checks the headers the way Adobe I/O's gateway does, with the
// codes and messages of AEP's troubleshooting guide ("Request header
// errors"): 403010 Oauth token is missing, 401013 Oauth token is not valid,
// 403000 Api Key is required, 403003 Api Key is invalid, 400003 Missing
// header (organization), 403025 Profile is not valid (wrong organization).
// Then Flow Service's own checks: x-sandbox-name, and Content-Type on calls
// with a body, whose reply uses the guide's plain shape.
func (h *Handler) gateway(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	tok, isBearer := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "":
		gatewayError(w, http.StatusForbidden, "403010", "Oauth token is missing.")
	case r.Header.Get("x-api-key") == "":
		gatewayError(w, http.StatusForbidden, "403000", "Api Key is required")
	case !isBearer || !h.validToken(strings.TrimSpace(tok)):
		gatewayError(w, http.StatusUnauthorized, "401013", "Oauth token is not valid")
	case r.Header.Get("x-api-key") != h.apiKey:
		gatewayError(w, http.StatusForbidden, "403003", "Api Key is invalid")
	case r.Header.Get("x-gw-ims-org-id") == "":
		gatewayError(w, http.StatusBadRequest, "400003", "Missing header")
	case r.Header.Get("x-gw-ims-org-id") != h.org:
		gatewayError(w, http.StatusForbidden, "403025", "Profile is not valid")
	case strings.TrimSpace(r.Header.Get("x-sandbox-name")) == "":
		flowError(w, r, http.StatusBadRequest, "FLOW-1400-400", "Bad Request", "Missing required header: x-sandbox-name")
	case hasBody(r) && !isJSON(r.Header.Get("Content-Type")):
		plainError(w, http.StatusBadRequest, "BadRequestError", "A valid content-type must be specified")
	default:
		return true
	}
	return false
}

func hasBody(r *http.Request) bool {
	return r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch
}

func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

func (h *Handler) validToken(tok string) bool {
	if tok == "" {
		return false
	}
	if slices.Contains(h.staticTokens, tok) {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.issued[tok]
	return ok && time.Now().Before(exp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// gatewayError answers in the Adobe I/O gateway's shape.
func gatewayError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error_code": code, "message": msg})
}

// flowError answers in Flow Service's shape, with code in the type URI and
// the request id in the report. The shape is Adobe's. So are the codes that
// Adobe's flow-service-errors and sources-errors pages document for what the
// emulator refuses:
// FLOW-1403-400 (no If-Match), FLOW-1404-412 (a stale etag) and
// FLOW-1418-400 (a connection that dataflows use). The other FLOW numbers
// are the emulator's choice.
func flowError(w http.ResponseWriter, r *http.Request, status int, code, title, detail string) {
	reqID, _ := r.Context().Value(ctxKey{}).(string)
	writeJSON(w, status, map[string]any{
		"type":   "https://ns.adobe.com/aep/errors/" + code,
		"title":  title,
		"status": status,
		"report": map[string]any{
			"tenantInfo": map[string]string{
				"sandboxName": r.Header.Get("x-sandbox-name"),
				"imsOrgId":    r.Header.Get("x-gw-ims-org-id"),
			},
			"additionalContext": nil,
			"detailed-message":  detail,
			"request-id":        reqID,
		},
	})
}

func badRequest(w http.ResponseWriter, r *http.Request, detail string) {
	flowError(w, r, http.StatusBadRequest, "FLOW-1415-400", "Bad Request", detail)
}

// plainError answers in the plain shape of the troubleshooting guide.
func plainError(w http.ResponseWriter, status int, title, detail string) {
	writeJSON(w, status, map[string]any{"type": "/placeholder/type/uri", "status": status, "title": title, "detail": detail})
}
