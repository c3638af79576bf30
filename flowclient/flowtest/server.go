package flowtest

import (
	"net/http"
	"net/http/httptest"
)

// Server is a Handler listening on a loopback port, like httptest.Server.
// Its Handler's knobs and logs are promoted: srv.FailNext, srv.Requests, ….
type Server struct {
	*Handler
	ts *httptest.Server
}

// NewServer starts an emulator. Close it when done.
func NewServer(opts ...Option) *Server {
	h := NewHandler(opts...)
	return &Server{Handler: h, ts: httptest.NewServer(h)}
}

// URL is the Flow Service base URL, for flowclient.WithBaseURL.
func (s *Server) URL() string { return s.ts.URL + BasePath }

// TokenURL is the IMS token endpoint, for flowclient.IMSConfig.TokenURL.
func (s *Server) TokenURL() string { return s.ts.URL + TokenPath }

// HTTPClient returns an HTTP client for the server.
func (s *Server) HTTPClient() *http.Client { return s.ts.Client() }

// Close shuts the server down, waiting for requests in flight. A reply held
// by HoldCreate is released first, so that Close does not wait for it.
func (s *Server) Close() {
	s.shutdown()
	s.ts.Close()
}
