package node

import (
	"net/http"
	"testing"
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
