package node

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// TestRoutes: KV and Workers routes on a node
// without a store 503, a known path asked with another
// method 405 with an Allow header, anything else 404; all as JSON errors.
// None of these reach a node, so a bare one serves them (without auth,
// which TestAPIAuth tests).
func TestRoutes(t *testing.T) {
	bare := &Node{cfg: Config{NoAuth: true}}
	h := bare.authenticate(bare.routes())
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/v1/workers", 503, "no_kv", ""},
		{"PUT", "/v1/workers/w", 503, "no_kv", ""},
		{"GET", "/v1/workers/w", 503, "no_kv", ""},
		{"DELETE", "/w/w/some/path", 503, "no_kv", ""},
		{"GET", "/w/w", 503, "no_kv", ""},
		{"GET", "/w/Bad_Name/", 404, "not_found", ""},
		{"PUT", "/v1/workers/-bad", 400, "invalid", ""},
		{"POST", "/v1/workers", 405, "method_not_allowed", "GET, HEAD"},
		{"POST", "/v1/workers/w", 405, "method_not_allowed", "GET, HEAD, PUT, DELETE"},
		{"GET", "/v1/kv/ns/k", 503, "no_kv", ""},
		{"GET", "/v1/kv/ns", 503, "no_kv", ""},
		{"PUT", "/v1/kv/ns/a/b", 503, "no_kv", ""},
		{"POST", "/v1/kv/ns/k", 405, "method_not_allowed", "GET, HEAD, PUT, DELETE"},
		{"GET", "/v1/kv/", 404, "not_found", ""},
		{"GET", "/v1/groups", 503, "no_kv", ""},
		{"GET", "/v1/tail?scope=world", 400, "bad_request", ""},
		{"POST", "/v1/tail", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/v1/overview?scope=world", 400, "bad_request", ""},
		{"POST", "/v1/overview", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/ui/nope.js", 404, "not_found", ""},
		{"GET", "/ui/", 404, "not_found", ""},
		{"GET", "/ui/dashboard/index.html", 404, "not_found", ""},
		{"POST", "/ui/app.js", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/v1/run", 405, "method_not_allowed", "POST"},
		{"POST", "/metrics", 405, "method_not_allowed", "GET, HEAD"},
		{"DELETE", "/healthz", 405, "method_not_allowed", "GET, HEAD"},
		{"PUT", "/v1/members", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/mcp", 405, "method_not_allowed", "POST"},
		{"POST", "/", 405, "method_not_allowed", "GET, HEAD"},
		{"GET", "/nope", 404, "not_found", ""},
		{"POST", "/v1/run/x", 404, "not_found", ""},
		{"GET", "/v1/groupsx", 404, "not_found", ""},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(tc.method, tc.path, nil)
		r.Host = "localhost" // a node without auth answers loopback names only
		h.ServeHTTP(w, r)
		var e map[string]string
		err := json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != tc.status || err != nil || e["code"] != tc.code || e["error"] == "" ||
			w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q %s, want %d %s with Allow %q", tc.method, tc.path, w.Code, w.Header().Get("Allow"), w.Body, tc.status, tc.code, tc.allow)
		}
	}
}
