package node

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warrenmesh/warren/replication"
)

// pythonWorker is a PUT /v1/workers body of one Python module.
func pythonWorker(src string) string {
	code := map[string]any{"mainModule": "w.py", "modules": map[string]string{"w.py": src}}
	b, _ := json.Marshal(map[string]any{"code": code})
	return string(b)
}

// TestServeInvalidResponseHead: a Worker's response headers that are not
// valid HTTP are a 502 worker_invalid_response, not sent. A Python
// Worker's headers are any strings; before, a NUL in a value went out as
// it was (a response no client reads: Go's refuses it), and CR and LF as
// spaces.
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
		{"x-nul=a%00b", 502},
		{"x-crlf=a%0D%0ASet-Cookie:%20evil=1", 502},
		{"location=/a%0D%0A%0D%0Abody", 502},
		{"x%20space=1", 502},
		{"x%0D%0Aset-cookie:evil=1=1", 502},
		{"x%C3%A9=1", 502},
	} {
		status, h, body := serve(t, n, "GET", "/w/py/?"+tc.query, "", nil)
		switch {
		case status != tc.status:
			t.Errorf("%s: %d %v %.200s, want %d", tc.query, status, h, body, tc.status)
		case status == 200 && body != "body":
			t.Errorf("%s: %q", tc.query, body)
		case status == 502 && (errCode([]byte(body)) != "worker_invalid_response" || h.Get("Set-Cookie") != "" || h.Get("Location") != ""):
			t.Errorf("%s: %d %v %s, want a JSON error worker_invalid_response", tc.query, status, h, body)
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

// TestServeStreamedHeadUnread: the head of a streamed /w/ answer is sent
// under answerStall, as its chunks are: a client that reads nothing loses
// the connection, and the answer budget the head holds comes back. Before,
// the head was flushed with no deadline: a head larger than what the
// sockets' buffers take (256 KiB over a link whose buffers are small) held
// the handler, the connection and the head's share of the answer budget
// for as long as the client stayed.
func TestServeStreamedHeadUnread(t *testing.T) {
	defer answerStall.set(answerStall.get())
	answerStall.set(300 * time.Millisecond)
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 21, "head")
	t.Cleanup(func() { kv.Close() })
	c.tune = func(cfg *Config) {
		cfg.KV, cfg.Groups = kv, testGroups
		// Small send buffers, as over a slow link (loopback's take the
		// whole head): accepted connections inherit the listener's.
		rc, err := cfg.APIListener.(*net.TCPListener).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		_ = rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096) })
	}
	n := c.start("head", c.secret, 2)
	src := `export default { fetch() {
  const body = new ReadableStream({ pull(c) { return new Promise(r => setTimeout(() => { c.enqueue(new TextEncoder().encode("x")); r(); }, 100)); } });
  return new Response(body, {headers: {"x-big": "v".repeat(250000)}});
} }`
	if status, _, b := call(t, n, "PUT", "/v1/workers/js", strings.NewReader(deployBody(src, `{"wallMs": 1000}`, nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	_, before := n.conns.held("127.0.0.1")
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", n.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /w/js/ HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, 10*time.Second, "the head held in the answer budget", func() bool { return n.answers.heldBy("127.0.0.1") > 0 })
	waitFor(t, 10*time.Second, "the node to give up the connection", func() bool { _, m := n.conns.held("127.0.0.1"); return m <= before })
	waitFor(t, 10*time.Second, "the answer budget given back", func() bool { return n.answers.heldBy("127.0.0.1") == 0 })
}
