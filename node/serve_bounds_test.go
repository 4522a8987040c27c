package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/replication"
)

// rawRequest sends head (the request line and headers, without the blank
// line) to n and answers the status and body.
func rawRequest(t *testing.T, n *Node, head string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", n.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	go fmt.Fprintf(conn, "%s\r\nConnection: close\r\n\r\n", head)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%.80s: %v", head, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServeBounds: a deployed Worker's /w/ answers hostile requests with
// a clear error and runs nothing it should not: names that are not a
// Worker's, too many headers, a method that is not one, paths and
// headers of every size up to the server's bounds.
func TestServeBounds(t *testing.T) {
	n, _ := kvNode(t, "serve")
	// The echo Worker reads a 100 KiB path or header back into JSON:
	// under -race beside other packages that took more than the default
	// CPU limit once. The bounds tested here are the server's, not the
	// Worker's, so it gets room.
	if status, _, b := call(t, n, "PUT", "/v1/workers/echo", strings.NewReader(deployBody(echoWorker(1), `{"cpuMs": 5000, "wallMs": 20000}`, nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	host := "Host: " + n.ln.Addr().String()
	for _, tc := range []struct {
		name, head string
		status     int
		code       string // "" for the Worker's answer
	}{
		{"a name with a space", "GET /w/a%20b HTTP/1.1\r\n" + host, 404, "not_found"},
		{"a long name", "GET /w/" + strings.Repeat("a", 300) + "/x HTTP/1.1\r\n" + host, 404, "not_found"},
		// Paths that leave /w/ once cleaned are the API's: a token is needed.
		{"an escaped slash", "GET /w/echo%2f..%2f..%2fv1%2fmembers HTTP/1.1\r\n" + host, 401, "unauthorized"},
		{"dot segments", "GET /w/%2e%2e/v1/members HTTP/1.1\r\n" + host, 401, "unauthorized"},
		{"a name not deployed", "GET /w/nope/x HTTP/1.1\r\n" + host, 404, "not_found"},
		{"too many headers", "GET /w/echo/x HTTP/1.1\r\n" + host + manyHeaderLines(maxRequestHeaders+1), 400, "bad_request"},
		{"a long method", strings.Repeat("M", maxMethodLen+1) + " /w/echo/x HTTP/1.1\r\n" + host, 400, "bad_request"},
		{"an odd method", "PURGE /w/echo/x HTTP/1.1\r\n" + host, 201, ""},
		{"a long path", "GET /w/echo/" + strings.Repeat("p", 100<<10) + " HTTP/1.1\r\n" + host, 201, ""},
		{"a large header", "GET /w/echo/x HTTP/1.1\r\n" + host + "\r\nX-Big: " + strings.Repeat("v", 100<<10), 201, ""},
		{"headers past the server's bound", "GET /w/echo/x HTTP/1.1\r\n" + host + "\r\nX-Big: " + strings.Repeat("v", MaxHeaderBytes+8<<10), 431, "-"},
		{"a path past the server's bound", "GET /w/echo/" + strings.Repeat("p", MaxHeaderBytes+8<<10) + " HTTP/1.1\r\n" + host, 431, "-"},
	} {
		status, body := rawRequest(t, n, tc.head)
		switch {
		case status != tc.status:
			t.Errorf("%s: %d %.200s, want %d", tc.name, status, body, tc.status)
		case tc.code == "-": // net/http's own answer, before any handler
		case tc.code == "" && !strings.Contains(body, `"v":1`):
			t.Errorf("%s: %d %.200s, not the Worker's answer", tc.name, status, body)
		case tc.code != "" && errCode([]byte(body)) != tc.code:
			t.Errorf("%s: %d %.200s, want a JSON error %s", tc.name, status, body, tc.code)
		}
	}
}

// manyHeaderLines is k header lines, each after a CRLF.
func manyHeaderLines(k int) string {
	var b strings.Builder
	for i := range k {
		fmt.Fprintf(&b, "\r\nX-H%d: v", i)
	}
	return b.String()
}

// handlerRunning reports whether a goroutine runs fn (a function name as
// a stack shows it).
func handlerRunning(fn string) bool {
	buf := make([]byte, 1<<20)
	for {
		k := runtime.Stack(buf, true)
		if k < len(buf) {
			return strings.Contains(string(buf[:k]), fn)
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestStalledAnswer: a client that asks for a large answer and never
// reads it does not hold the handler (and the answer, in memory) for
// ever: once a write has waited answerStall, the connection is given up.
// Both a deployed Worker's /w/ answer (no token needed) and POST /v1/run.
func TestStalledAnswer(t *testing.T) {
	defer answerStall.set(answerStall.get())
	answerStall.set(300 * time.Millisecond)
	n, _ := kvNode(t, "stall")
	big := `export default { fetch() { return new Response("x".repeat(8 << 20)) } }`
	if status, _, b := call(t, n, "PUT", "/v1/workers/big", strings.NewReader(deployBody(big, "", nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	run := `{"code":{"mainModule":"m.js","modules":{"m.js":` + jsonString(big) + `}}}`
	for _, tc := range []struct{ name, fn, req string }{
		{"/w/", "node.(*Node).handleServe", "GET /w/big HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"/v1/run", "node.(*Node).handleRun", fmt.Sprintf("POST /v1/run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
			testToken(n.ln.Addr().String()), len(run), run)},
	} {
		conn, err := net.Dial("tcp", n.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
		if _, err := io.WriteString(conn, tc.req); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, tc.name+" to start answering", func() bool { return handlerRunning(tc.fn) })
		waitFor(t, 20*time.Second, tc.name+" to give up its stalled client", func() bool { return !handlerRunning(tc.fn) })
		conn.Close()
	}
}

// stallKV holds every read of a deployment until its context ends or
// release is closed: a group without a quorum.
type stallKV struct {
	replication.KV
	release chan struct{}
}

func (s *stallKV) GetWithMetadata(ctx context.Context, ns, key string, c replication.Consistency) (replication.KVValue, error) {
	if ns != workersNS {
		return s.KV.GetWithMetadata(ctx, ns, key, c)
	}
	select {
	case <-ctx.Done():
		return replication.KVValue{}, ctx.Err()
	case <-s.release:
		return replication.KVValue{}, replication.ErrKVNotFound
	}
}

// TestServeReadsBounded: a read of a deployment outlives the call that
// started it (later calls share it), so a client that asks /w/ for one
// name after another and goes away each time, while reads are slow,
// leaves them all running. At most maxDeploymentReads run at once; a call
// that would start one more is 503 at once. Before, each name added a
// read and a goroutine, with no bound but the read's 10 s timeout.
func TestServeReadsBounded(t *testing.T) {
	local, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kv := &stallKV{KV: local, release: make(chan struct{})}
	c := newCluster(t, 24, "reads")
	t.Cleanup(func() { local.Close() })
	c.tune = func(cfg *Config) { cfg.KV, cfg.Groups = kv, testGroups }
	n := c.start("reads", c.secret, 2)
	t.Cleanup(func() { close(kv.release) })
	reads := func() int {
		n.workers.rmu.Lock()
		defer n.workers.rmu.Unlock()
		return len(n.workers.reads)
	}
	for i := range maxDeploymentReads {
		conn, err := net.Dial("tcp", n.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /w/name-%d/ HTTP/1.1\r\nHost: x\r\n\r\n", i)
		waitFor(t, 10*time.Second, "the read to start", func() bool { return reads() == i+1 })
		conn.Close()
	}
	conn, err := net.Dial("tcp", n.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second)) // the reads last 10 s
	fmt.Fprintf(conn, "GET /w/one-more/ HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("with %d reads running, another name: %v (%d reads)", maxDeploymentReads, err, reads())
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || errCode(b) != "unavailable" {
		t.Errorf("with %d reads running, another name: %d %s, want 503 unavailable", maxDeploymentReads, resp.StatusCode, b)
	}
	if r := reads(); r > maxDeploymentReads {
		t.Errorf("%d reads running, want at most %d", r, maxDeploymentReads)
	}
}

// TestServeHashesCodeOnce: a /w/ call does not hash its deployment's code
// again; the hash is taken once as the deployment is read. /w/ needs no
// token: before, every call of a Worker whose code is 25 MiB cost the node
// 15 ms of hashing, for a request of a few bytes.
func TestServeHashesCodeOnce(t *testing.T) {
	n, _ := kvNode(t, "hash")
	src := `export default { fetch() { return new Response("hi") } }` + "\n//" + strings.Repeat("x", 1<<20)
	if status, _, b := call(t, n, "PUT", "/v1/workers/big", strings.NewReader(deployBody(src, "", nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %.300s", status, b)
	}
	before := bigCodeHashes.Load()
	const calls = 20
	for range calls {
		if status, _, b := serve(t, n, "GET", "/w/big/", "", nil); status != 200 || b != "hi" {
			t.Fatalf("%d %.200s", status, b)
		}
	}
	// One read of the deployment a second hashes it once.
	if h := bigCodeHashes.Load() - before; h > calls/4 {
		t.Errorf("%d calls hashed the code %d times", calls, h)
	}
}
