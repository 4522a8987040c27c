package node

import (
	"github.com/warrenmesh/warren/replication"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// TestBackgroundLogBounded: a client that cuts a deployed Worker's
// streamed body, again and again (no token needed), does not make the
// node log a line for each call: the lines about background work cut
// short come at most once per backgroundLogEvery, the next one counting
// those left out. Before, each call logged one at INFO, so any client set
// the rate at which the node wrote its log.
func TestBackgroundLogBounded(t *testing.T) {
	var logs lockedBuffer
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 21, "bglog")
	t.Cleanup(func() { kv.Close() }) // runs before the cluster's cleanup kills the node
	c.tune = func(cfg *Config) {
		cfg.KV, cfg.Groups = kv, testGroups
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	n := c.start("bglog", c.secret, 2)
	stream := `export default { fetch() { return new Response(new ReadableStream({ async pull(c) { await new Promise(r => setTimeout(r, 5)); c.enqueue(new TextEncoder().encode("x".repeat(1000))) } })) } }`
	if status, _, b := call(t, n, "PUT", "/v1/workers/stream", strings.NewReader(deployBody(stream, "", nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	const calls = 40
	for range calls {
		conn, err := net.Dial("tcp", n.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte("GET /w/stream HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Read(make([]byte, 4096)); err != nil { // the stream has started
			t.Fatal(err)
		}
		conn.Close()
	}
	const line = "an invocation ended after its response went out"
	waitFor(t, 20*time.Second, "the streams to end", func() bool { return n.backgroundLog.seen() >= calls })
	if k := strings.Count(logs.String(), line); k > 3 {
		t.Fatalf("%d calls cut by their client logged %d lines, want at most a few:\n%s", calls, k, logs.String())
	}
}
