package node

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// tokenTransport sends a fixed token.
type tokenTransport struct {
	tok string
	tr  *http.Transport
}

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.tok)
	return t.tr.RoundTrip(r)
}

// TestMCP: the SDK's own client calls run_code, members and the KV tools
// through POST /mcp, with the grants of its token.
func TestMCP(t *testing.T) {
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	c := newCluster(t, 3, "a")
	c.tune = func(cfg *Config) { cfg.KV = kv }
	n := c.start("a", c.secret, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connect := func(tok string) *mcp.ClientSession {
		t.Helper()
		cl := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
		tr := &http.Transport{}
		s, err := cl.Connect(ctx, &mcp.StreamableClientTransport{
			Endpoint: n.APIURL() + "/mcp", HTTPClient: &http.Client{Transport: tokenTransport{tok, tr}}, DisableStandaloneSSE: true,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(); tr.CloseIdleConnections() })
		return s
	}
	s := connect(mintToken(t, c.secret, "agent", policy.Grants{KV: map[string]string{"notes": policy.KVReadWrite}}, time.Hour))
	tools, err := s.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if strings.Join(names, ",") != "kv_get,kv_list,kv_put,members,run_code" {
		t.Errorf("tools: %v", names)
	}
	structured := func(res *mcp.CallToolResult, err error) map[string]any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if res.IsError {
			t.Fatalf("tool error: %+v", res.Content)
		}
		b, _ := json.Marshal(res.StructuredContent)
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}
	call := func(name string, args any) (*mcp.CallToolResult, error) {
		return s.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	}
	out := structured(call("run_code", map[string]any{
		"source":   `export default { async fetch(req, env) { await env.N.put("k", "from a Worker"); console.log("ran"); return new Response("hi " + new URL(req.url).pathname) } }`,
		"request":  map[string]any{"url": "http://localhost/there"},
		"bindings": map[string]any{"N": map[string]any{"kv": "notes"}},
	}))
	res, _ := out["result"].(map[string]any)
	resp, _ := res["response"].(map[string]any)
	if res["outcome"] != "ok" || resp["body"] != "hi /there" {
		t.Fatalf("run_code: %v", out)
	}
	if got := structured(call("kv_get", map[string]any{"namespace": "notes", "key": "k"})); got["found"] != true || got["value"] != "from a Worker" {
		t.Errorf("kv_get: %v", got)
	}
	structured(call("kv_put", map[string]any{"namespace": "notes", "key": "k2", "value": "v2"}))
	if got := structured(call("kv_list", map[string]any{"namespace": "notes"})); strings.Join(toStrings(got["keys"]), ",") != "k,k2" {
		t.Errorf("kv_list: %v", got)
	}
	if got := structured(call("members", map[string]any{})); len(got["members"].([]any)) != 1 {
		t.Errorf("members: %v", got)
	}
	// TypeScript, and an exception, come back in the result.
	out = structured(call("run_code", map[string]any{"language": "ts", "source": `export default { fetch(): Response { throw new RangeError("typed") } }`}))
	if res := out["result"].(map[string]any); res["outcome"] != "exception" {
		t.Errorf("a throwing TS run: %v", out)
	}
	// The token's grants hold: no other namespace.
	if r, err := call("kv_put", map[string]any{"namespace": "secrets", "key": "k", "value": "v"}); err == nil && !r.IsError {
		t.Errorf("kv_put to an ungranted namespace: %+v", r)
	}
	if r, err := call("run_code", map[string]any{}); err == nil && !r.IsError {
		t.Errorf("run_code without code: %+v", r)
	}
	// Without a token there is no MCP.
	req, _ := http.NewRequest("POST", n.APIURL()+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	r, err := authlessClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 401 {
		t.Errorf("no token: %d", r.StatusCode)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
