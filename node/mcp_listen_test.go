package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestMCPListen: POST /mcp refuses subscriptions/listen, alone or in a
// batch, however its method is spelled in JSON. The node's MCP server is
// stateless and its tools never change, so the stream would never carry
// a notification; the SDK held it open until the client went away, and
// with it the handler, a fresh MCP server and a chunk of the node's body
// budget: a few thousand such requests held the budget every call with a
// body needs.
func TestMCPListen(t *testing.T) {
	c := newCluster(t, 21, "listen")
	n := c.start("listen", c.secret, 1)
	cl := &http.Client{Transport: &authTransport{inner: http.DefaultTransport}}
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"subscriptions\/listen","params":{"notifications":{"toolsListChanged":true}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"\u0073ubscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}]`,
		// Keys that this package's decoder and the SDK's read differently.
		`{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","Method":"ping","params":{"notifications":{"toolsListChanged":true}}}`,
		`{"jsonrpc":"2.0","id":1,"Method":0,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"ping","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}`,
	} {
		status, _, b := mcpPost(t, cl, n, []byte(body), "application/json")
		if status != http.StatusBadRequest || errCode(b) != "bad_request" {
			t.Errorf("%s: %d %.200s, want 400 bad_request", body, status, b)
		}
	}
	// Other requests are served.
	if status, _, b := mcpPost(t, cl, n, mcpBatch(2), "application/json"); status != 200 {
		t.Errorf("a batch of tool calls: %d %.200s", status, b)
	}
}

// TestMCPStalledAnswer: a large MCP answer (run_code's result holds the
// Worker's whole body, twice) draws on the answer budget while the client
// reads it, and a client that stops reading is given up, as with POST
// /v1/run. Before, the SDK's answer was written with no deadline and
// outside the budget: a batch of 16 such calls, never read, held a
// gigabyte for as long as the client kept its connection.
func TestMCPStalledAnswer(t *testing.T) {
	defer answerStall.set(answerStall.get())
	answerStall.set(300 * time.Millisecond)
	c := newCluster(t, 21, "mcpans")
	n := c.start("mcpans", c.secret, 1)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_code","arguments":{"source":` +
		jsonString(`export default { fetch() { return new Response("x".repeat(8 << 20)) } }`) + `,"limits":{"cpuMs":20000}}}}`
	conn, err := net.Dial("tcp", n.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\n\r\n%s",
		n.ln.Addr(), adminToken(t, c.secret), len(body), body); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the answer held in the answer budget", func() bool { return n.answers.heldBy("127.0.0.1") > 8<<20 })
	waitFor(t, 20*time.Second, "the handler to give up its stalled client", func() bool { return !handlerRunning("node.(*Node).handleMCP") })
	waitFor(t, 10*time.Second, "the answer budget given back", func() bool { return n.answers.heldBy("127.0.0.1") == 0 })

	// A client that reads gets the whole answer.
	cl := &http.Client{Transport: &authTransport{inner: http.DefaultTransport}}
	status, _, b := mcpPost(t, cl, n, []byte(body), "application/json")
	if status != 200 || len(b) < 16<<20 || !json.Valid(b) {
		t.Fatalf("run_code through MCP: %d, %d bytes: %.200s", status, len(b), b)
	}
}

// Every large piece of an MCP answer draws on the answer budget while it
// is written, not only the first: a piece the budget refuses cuts the
// answer, and what the pieces drew is given back.
func TestMCPAnswerPiecesBudgeted(t *testing.T) {
	n := &Node{answers: newByteBudget(1<<20, 1<<20)}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	w := &mcpErrorWriter{ResponseWriter: rec, n: n, r: r}
	piece := bytes.Repeat([]byte("x"), 600<<10)
	if _, err := w.Write(piece); err != nil {
		t.Fatalf("first piece: %v", err)
	}
	if held := n.answers.heldBy(clientOf(r)); held != int64(len(piece)) {
		t.Fatalf("after the first piece the answer holds %d bytes, want %d", held, len(piece))
	}
	if _, err := w.Write(piece); !errors.Is(err, errMCPRefused) {
		t.Fatalf("a second piece past the budget: %v, want refused", err)
	}
	if _, err := w.Write([]byte("{}")); !errors.Is(err, errMCPRefused) {
		t.Fatalf("a piece after a refused one: %v, want refused", err)
	}
	w.release()
	if held := n.answers.heldBy(clientOf(r)); held != 0 {
		t.Fatalf("after the answer %d bytes are still held", held)
	}
	if rec.Body.Len() != len(piece) {
		t.Fatalf("%d bytes written, want the first piece only (%d)", rec.Body.Len(), len(piece))
	}
}
