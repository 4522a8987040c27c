package node

import (
	"encoding/json"
	"strings"
	"testing"
)

// pythonWorker is a PUT /v1/workers body of one Python module.
func pythonWorker(src string) string {
	code := map[string]any{"mainModule": "w.py", "modules": map[string]string{"w.py": src}}
	b, _ := json.Marshal(map[string]any{"code": code})
	return string(b)
}

// TestServeInvalidResponseHead: a Worker's response headers that are not
// valid HTTP are never sent. A Python Worker's headers are any strings;
// before, a NUL in a value went out as it was (a response no client reads:
// Go's refuses it), and CR and LF as spaces. The node answers such a head
// 502 worker_invalid_response; a Python Worker's response is now checked
// as it leaves Python, as a JavaScript Worker's Response is, so these end
// the call with a TypeError (500 worker_exception) before the node sees
// them.
func TestServeInvalidResponseHead(t *testing.T) {
	requirePython(t)
	n, _ := kvNode(t, "head")
	// The header to send is the request's path: ?name=value, escaped.
	src := `
from urllib.parse import unquote
from workers import WorkerEntrypoint, Response
class Default(WorkerEntrypoint):
    async def fetch(self, request):
        k, v = request.url.split("?", 1)[1].split("=", 1)
        return Response("body", headers={unquote(k): unquote(v)})
`
	if status, _, b := call(t, n, "PUT", "/v1/workers/py", strings.NewReader(pythonWorker(src)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"x-ok=a%09b%20c%C3%A9", 200},
		{"x-nul=a%00b", 500},
		{"x-crlf=a%0D%0ASet-Cookie:%20evil=1", 500},
		{"location=/a%0D%0A%0D%0Abody", 500},
		{"x%20space=1", 500},
		{"x%0D%0Aset-cookie:evil=1=1", 500},
		{"x%C3%A9=1", 500},
	} {
		status, h, body := serve(t, n, "GET", "/w/py/?"+tc.query, "", nil)
		switch {
		case status != tc.status:
			t.Errorf("%s: %d %v %.200s, want %d", tc.query, status, h, body, tc.status)
		case status == 200 && body != "body":
			t.Errorf("%s: %q", tc.query, body)
		case status == 500 && (errCode([]byte(body)) != "worker_exception" || h.Get("Set-Cookie") != "" || h.Get("Location") != ""):
			t.Errorf("%s: %d %v %s, want a JSON error worker_exception", tc.query, status, h, body)
		}
	}
}

// TestServeLargeResponseHead: a Worker's response headers of more than
// maxWorkerHead bytes, in one header or many, are a 502
// worker_invalid_response. Before, a JavaScript Worker's megabyte header
// or a Python Worker's 100,000 headers went out (up to 32 MiB of them,
// which the node held outside the answer budget for as long as a client
// took to read them).
func TestServeLargeResponseHead(t *testing.T) {
	n, _ := kvNode(t, "head")
	src := `export default { fetch(req) {
  const q = new URL(req.url).searchParams, size = +q.get("size"), count = +q.get("count") || 1;
  const h = new Headers();
  for (let i = 0; i < count; i++) h.set("x-h" + i, "v".repeat(size));
  return new Response("body", {headers: h});
} }`
	if status, _, b := call(t, n, "PUT", "/v1/workers/js", strings.NewReader(deployBody(src, `{"cpuMs": 5000, "wallMs": 20000}`, nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"size=200000", 200},
		{"size=1000&count=200", 200},
		{"size=262144", 502},
		{"size=1048576", 502},
		{"size=1000&count=300", 502},
	} {
		status, h, body := serve(t, n, "GET", "/w/js/?"+tc.query, "", nil)
		switch {
		case status != tc.status:
			t.Errorf("%s: %d %.200s, want %d", tc.query, status, body, tc.status)
		case status == 200 && body != "body":
			t.Errorf("%s: %q", tc.query, body)
		case status == 502 && (errCode([]byte(body)) != "worker_invalid_response" || h.Get("X-H0") != ""):
			t.Errorf("%s: %d %.200s, want a JSON error worker_invalid_response", tc.query, status, body)
		}
	}
}
