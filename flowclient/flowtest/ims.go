package flowtest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// token is the IMS client credentials endpoint. Error replies use the OAuth
// shape {"error", "error_description"}; the statuses are the emulator's choice.
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "method not allowed")
		return
	}
	if !strings.EqualFold(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]), "application/x-www-form-urlencoded") {
		oauthError(w, http.StatusBadRequest, "invalid_request", "body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "cannot parse form")
		return
	}
	switch {
	case r.Form.Get("grant_type") != "client_credentials":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
	case r.Form.Get("client_id") == "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "missing client_id parameter")
	case r.Form.Get("client_id") != h.clientID:
		oauthError(w, http.StatusBadRequest, "invalid_client", "invalid client_id parameter")
	case r.Form.Get("client_secret") != h.clientSecret:
		oauthError(w, http.StatusUnauthorized, "invalid_client", "invalid client_secret parameter")
	case r.Form.Get("scope") == "":
		oauthError(w, http.StatusBadRequest, "invalid_scope", "missing scope parameter")
	default:
		tok := "flowtest-ims-" + randomHex(16)
		h.mu.Lock()
		h.issued[tok] = time.Now().Add(h.tokenLifetime)
		h.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": tok,
			"token_type":   "bearer",
			"expires_in":   int64(h.tokenLifetime / time.Second),
		})
	}
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
