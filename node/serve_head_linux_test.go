//go:build linux

package node

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warrenmesh/warren/replication"
)

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
