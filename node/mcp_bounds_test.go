package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// mcpPost posts body to n's /mcp as an MCP client would, through cl (the
// admin's token when cl is http.DefaultClient), and answers the status,
// the Content-Type and the body.
func mcpPost(t *testing.T, cl *http.Client, n *Node, body []byte, ctype string) (int, string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.APIURL()+"/mcp", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// mcpBatch is a JSON-RPC batch of k calls of the members tool.
func mcpBatch(k int) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i := range k {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"members","arguments":{}}}`, i)
	}
	b.WriteString("]")
	return []byte(b.String())
}

// TestMCPBounds: every bad POST /mcp is a clear JSON error, with the API's
// {"error", "code"}, never a panic or a plain-text page: oversize and
// malformed bodies, deep nesting, large batches, a wrong content type, no
// token; tool calls with bad arguments are the tool's error.
func TestMCPBounds(t *testing.T) {
	c := newCluster(t, 32, "a")
	n := c.start("a", c.secret, 2)
	const jsonType = "application/json"
	call := func(tool, args string) []byte {
		return []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`)
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		ctype  string
		client *http.Client
		status int
		code   string
	}{
		{"oversize", append(append([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"`), bytes.Repeat([]byte("x"), maxMCPBody)...), `"}}`...), jsonType, http.DefaultClient, 413, "too_large"},
		{"truncated", []byte(`{"jsonrpc":`), jsonType, http.DefaultClient, 400, "bad_request"},
		{"not JSON-RPC", []byte(`[1,2,3]`), jsonType, http.DefaultClient, 400, "bad_request"},
		{"empty batch", []byte(`[]`), jsonType, http.DefaultClient, 400, "bad_request"},
		{"nested", call("run_code", `{"code":`+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)+`}`), jsonType, http.DefaultClient, 400, "bad_request"},
		{"huge batch", mcpBatch(maxMCPBatch + 1), jsonType, http.DefaultClient, 400, "bad_request"},
		{"batch of one's in a long body", append(mcpBatch(1), bytes.Repeat([]byte(" "), 1<<20)...), jsonType, http.DefaultClient, 200, ""},
		{"text/plain", call("members", `{}`), "text/plain", http.DefaultClient, 415, "unsupported_media_type"},
		{"no token", call("members", `{}`), jsonType, authlessClient, 401, "unauthorized"},
		{"batch", mcpBatch(maxMCPBatch), jsonType, http.DefaultClient, 200, ""},
	} {
		status, ctype, b := mcpPost(t, tc.client, n, tc.body, tc.ctype)
		if status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, trunc(b), tc.status)
			continue
		}
		if tc.code == "" {
			continue
		}
		var e struct{ Error, Code string }
		if ctype != "application/json" || json.Unmarshal(b, &e) != nil || e.Code != tc.code || e.Error == "" {
			t.Errorf("%s: %d %s %s, want a JSON error with code %s", tc.name, status, ctype, trunc(b), tc.code)
		}
	}
	// A tool called with bad arguments answers the tool's error.
	for _, args := range []string{`{"source":5}`, `{"source":"x","code":{}}`, `{"source":"x","language":"cobol"}`, `{"code":"not an object"}`, `{"source":"x","limits":{"cpuMs":-1}}`} {
		status, _, b := mcpPost(t, http.DefaultClient, n, call("run_code", args), jsonType)
		var out struct {
			Result struct{ IsError bool }
			Error  *struct{ Message string }
		}
		if status != 200 || json.Unmarshal(b, &out) != nil || !out.Result.IsError && out.Error == nil {
			t.Errorf("run_code %s: %d %s, want the tool's error", args, status, trunc(b))
		}
	}
}

func trunc(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// TestMCPBodyBounds: the body of POST /mcp draws on the node's body
// budget, and a body that comes too slowly is a 408, as for POST /v1/run.
func TestMCPBodyBounds(t *testing.T) {
	c := newCluster(t, 33, "a")
	c.tune = func(cfg *Config) { cfg.ClientBodyBudget = budgetChunk; cfg.BodyGrace = 300 * time.Millisecond }
	n := c.start("a", c.secret, 2)
	// More than the client's share of the budget.
	body := append(mcpBatch(1), bytes.Repeat([]byte(" "), 2*budgetChunk)...)
	status, _, b := mcpPost(t, http.DefaultClient, n, body, "application/json")
	if status != http.StatusServiceUnavailable || !strings.Contains(string(b), `"code":"busy"`) {
		t.Errorf("a body over the client's budget: %d %s, want 503 busy", status, trunc(b))
	}
	if h := n.bodies.heldBy("127.0.0.1"); h != 0 {
		t.Errorf("the client still holds %d bytes of the budget", h)
	}
	// A body that stops.
	conn, err := net.Dial("tcp", n.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\"", adminToken(t, c.secret))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a stalled body got no answer: %v", err)
	}
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), `"code":"slow_body"`) {
		t.Errorf("a stalled body: %d %s, want 408 slow_body", resp.StatusCode, trunc(b))
	}
}

// FuzzMCPBatchLen: counting a body's batch never panics, and counts every
// message of a valid JSON array (up to one past maxMCPBatch).
func FuzzMCPBatchLen(f *testing.F) {
	for _, s := range []string{`[]`, `[1,2]`, ` [{"a":[1,2]},"x"]`, `{"jsonrpc":"2.0"}`, `[`, `[1,`, `[[[[`, string(mcpBatch(maxMCPBatch + 3))} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k := mcpBatchLen(b)
		var arr []json.RawMessage
		if err := json.Unmarshal(b, &arr); err == nil {
			if want := min(len(arr), maxMCPBatch+1); k != want {
				t.Fatalf("%q: %d messages, want %d", b, k, want)
			}
		} else if k > maxMCPBatch+1 || k < 0 {
			t.Fatalf("%q: %d", b, k)
		}
	})
}

// FuzzTailQuery: any query of GET /v1/tail is read or refused with a 400,
// never a panic; what is read passes the filters' own checks.
func FuzzTailQuery(f *testing.F) {
	for _, s := range []string{"", "scope=mesh", "worker=chat&outcome=ok", "scope=%zz", "a=b", "worker=a&worker=b", "outcome=%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := &http.Request{URL: &url.URL{RawQuery: q}}
		_, worker, outcome, err := tailQuery(r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest {
				t.Fatalf("%q: %v", q, err)
			}
			return
		}
		if worker != "" && ValidateWorkerName(worker) != nil || outcome != "" && !tailOutcomes[outcome] {
			t.Fatalf("%q: read worker %q, outcome %q", q, worker, outcome)
		}
	})
}

// TestMCPKVGetBounded: kv_get answers a value of at most maxMCPValue bytes
// and refuses a larger one with the tool's error, naming the HTTP route
// that reads it. Before, it answered any value the store holds: 2 MiB of
// zero bytes cost the node 540 MB of allocations and 1.7 s of CPU for a
// 27 MB answer, and a 25 MiB value ran past 30 s.
func TestMCPKVGetBounded(t *testing.T) {
	n, _ := kvNode(t, "mk")
	for key, size := range map[string]int{"small": maxMCPValue, "big": 2 << 20} {
		if status, _, b := call(t, n, "PUT", "/v1/kv/ns/"+key, bytes.NewReader(make([]byte, size)), nil); status != 200 {
			t.Fatalf("put %s: %d %s", key, status, b)
		}
	}
	get := func(key string) (isError bool, text string, found bool) {
		t.Helper()
		status, _, b := mcpPost(t, http.DefaultClient, n, []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"kv_get","arguments":{"namespace":"ns","key":"`+key+`"}}}`), "application/json")
		var out struct {
			Result struct {
				IsError           bool
				Content           []struct{ Text string }
				StructuredContent struct{ Found bool }
			}
		}
		if status != 200 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("kv_get %s: %d %s", key, status, trunc(b))
		}
		if len(out.Result.Content) > 0 {
			text = out.Result.Content[0].Text
		}
		return out.Result.IsError, text, out.Result.StructuredContent.Found
	}
	if isErr, text, found := get("small"); isErr || !found {
		t.Errorf("kv_get of %d bytes: error %v, found %v: %.200s", maxMCPValue, isErr, found, text)
	}
	if isErr, text, _ := get("big"); !isErr || !strings.Contains(text, "GET /v1/kv/ns/") {
		t.Errorf("kv_get of 2 MiB: error %v: %.200s, want the tool's error naming GET /v1/kv", isErr, text)
	}
}

// TestMCPResultsBounded: the run_code results of one POST /mcp carry at
// most maxMCPResults bytes together; a result past them is a tool error
// saying so. Before, a batch of 16 results of 30 MiB bodies took the
// node's heap to 8 GB as the SDK built its answer (a 1 GB answer, which
// the answer budget then refused).
func TestMCPResultsBounded(t *testing.T) {
	c := newCluster(t, 32, "a")
	// A batch's calls run at once: the second waits for the first's slot
	// (a client's share) longer than the tests' usual 300 ms under -race.
	c.tune = func(cfg *Config) { cfg.QueueTimeout = 30 * time.Second }
	n := c.start("a", c.secret, 2)
	run := func(id, mib int) string {
		src := fmt.Sprintf(`export default {fetch(){return new Response("x".repeat(%d<<20))}}`, mib)
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"run_code","arguments":{"source":%q,"limits":{"cpuMs":5000}}}}`, id, src)
	}
	type answer struct {
		ID     int
		Result struct {
			IsError bool
			Content []struct{ Text string }
		}
	}
	post := func(body string) []answer {
		t.Helper()
		status, _, b := mcpPost(t, http.DefaultClient, n, []byte(body), "application/json")
		if status != 200 {
			t.Fatalf("%d %s", status, trunc(b))
		}
		var out []answer
		if body[0] != '[' {
			out = make([]answer, 1)
			err := json.Unmarshal(b, &out[0])
			if err != nil {
				t.Fatalf("%v: %s", err, trunc(b))
			}
			return out
		}
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%v: %s", err, trunc(b))
		}
		return out
	}
	tooLarge := func(a answer) bool {
		return a.Result.IsError && len(a.Result.Content) == 1 && strings.Contains(a.Result.Content[0].Text, "carries at most")
	}
	// One result under the bound is carried; past it, a tool error.
	if a := post(run(1, 10)); len(a) != 1 || a[0].Result.IsError || len(a[0].Result.Content) != 1 || len(a[0].Result.Content[0].Text) < 10<<20 {
		t.Fatalf("a result of 10 MiB: %+.200v", a)
	}
	if a := post(run(1, 20)); len(a) != 1 || !tooLarge(a[0]) {
		t.Fatalf("a result of 20 MiB: %+.200v, want a tool error", a)
	}
	// A batch's results share the bound: one of two 10 MiB results is
	// carried, the other refused.
	a := post("[" + run(1, 10) + "," + run(2, 10) + "]")
	if len(a) != 2 || tooLarge(a[0]) == tooLarge(a[1]) {
		t.Fatalf("two results of 10 MiB: %+.200v, want one carried and one refused", a)
	}
}

// TestMCPValuesBounded: a POST /mcp body of more than maxMCPValues JSON
// values is a 400 before the SDK decodes it. Before, the SDK decoded the
// arguments whole into maps and slices of any to check them: 4 MiB of
// empty arrays in run_code's code took 345 MB of heap, and 4 MiB of
// object members came back quoted whole in the tool's error (3.3 MB).
func TestMCPValuesBounded(t *testing.T) {
	c := newCluster(t, 32, "a")
	n := c.start("a", c.secret, 2)
	for _, inner := range []string{
		`[` + strings.TrimSuffix(strings.Repeat("[],", maxMCPValues), ",") + `]`,
		`{` + strings.TrimSuffix(strings.Repeat(`"k":0,`, maxMCPValues), ",") + `}`,
	} {
		body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_code","arguments":{"source":"x","code":` + inner + `}}}`)
		status, ctype, b := mcpPost(t, http.DefaultClient, n, body, "application/json")
		if status != 400 || ctype != "application/json" || errCode(b) != "bad_request" || !strings.Contains(string(b), fmt.Sprintf("more than %d JSON values", maxMCPValues)) {
			t.Errorf("%.20s...: %d %s %s, want 400 naming the bound", inner, status, ctype, trunc(b))
		}
	}
	// Values in strings do not count.
	src := strings.Repeat("[],", maxMCPValues)
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"members","arguments":{}},"x":"` + src + `"}`)
	if status, _, b := mcpPost(t, http.DefaultClient, n, body, "application/json"); status != 200 {
		t.Errorf("a long string of commas: %d %s", status, trunc(b))
	}
}
