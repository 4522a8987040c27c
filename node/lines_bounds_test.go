package node

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestStalledRunLines: POST /v1/run answered as lines (Accept:
// application/x-ndjson) holds its large result line in the answer budget
// while the client reads it, and gives up a client that stops reading, as
// the JSON answer does. Before, the result line was written with no
// deadline and outside the budget: a client that asked for a large
// result as lines and never read it held the handler and the result in
// memory for ever, however many it opened.
func TestStalledRunLines(t *testing.T) {
	defer answerStall.set(answerStall.get())
	answerStall.set(300 * time.Millisecond)
	n, _ := kvNode(t, "lines")
	big := `export default { fetch() { return new Response("x".repeat(8 << 20)) } }`
	// CPU to spare: the body crosses from the isolate as the call's own
	// work, which a loaded machine under the race detector makes slow.
	run := `{"code":{"mainModule":"m.js","modules":{"m.js":` + jsonString(big) + `},"limits":{"cpuMs":20000}}}`
	conn, err := net.Dial("tcp", n.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, err := fmt.Fprintf(conn, "POST /v1/run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nAccept: %s\r\nContent-Length: %d\r\n\r\n%s",
		testToken(n.ln.Addr().String()), NDJSONType, len(run), run); err != nil {
		t.Fatal(err)
	}
	const fn = "node.(*Node).sendRunLines"
	waitFor(t, 20*time.Second, "the result line held in the answer budget", func() bool { return n.answers.heldBy("127.0.0.1") > 8<<20 })
	waitFor(t, 20*time.Second, "the handler to give up its stalled client", func() bool { return !handlerRunning(fn) })
	waitFor(t, 10*time.Second, "the answer budget given back", func() bool { return n.answers.heldBy("127.0.0.1") == 0 })

	// A client that reads gets the result line whole.
	status, _, body := call(t, n, "POST", "/v1/run", strings.NewReader(run), map[string]string{"Accept": NDJSONType})
	if status != 200 || !strings.HasPrefix(string(body), `{"result":{`) || len(body) < 8<<20 || !strings.HasSuffix(string(body), "}\n") {
		t.Fatalf("a run answered as lines: %d, %d bytes: %.100s", status, len(body), body)
	}
}
