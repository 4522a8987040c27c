package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// fakeGroups reports fixed groups.
type fakeGroups []replication.GroupInfo

func (f fakeGroups) Groups(context.Context) ([]replication.GroupInfo, error) { return f, nil }

var testGroups = fakeGroups{{
	ID: "g1", Leader: "kv", Term: 3, CommitIndex: 42, Wanted: 3, Degraded: true,
	Replicas: []replication.ReplicaInfo{{Node: "kv", Voter: true, Leader: true, Applied: 42}, {Node: "other", Voter: true, Applied: 40, Lag: 2}},
}}

// kvNode starts a node whose store is a LocalKV in a temporary directory.
func kvNode(t *testing.T, name string) (*Node, *replication.LocalKV) {
	t.Helper()
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 21, name)
	t.Cleanup(func() { kv.Close() }) // runs before the cluster's cleanup kills the node
	c.tune = func(cfg *Config) { cfg.KV, cfg.Groups = kv, testGroups }
	// A Python Worker's first call would otherwise compile python.wasm
	// within the client's timeout (past 30 s under -race on a loaded CI).
	sharePythonCache(t, c, name)
	return c.start(name, c.secret, 2), kv
}

// call makes an API request and returns the status, the headers and the body.
func call(t *testing.T, n *Node, method, path string, body io.Reader, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, n.APIURL()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func TestKVAPI(t *testing.T) {
	n, _ := kvNode(t, "kv")
	meta := map[string]string{HeaderKVMetadata: `{ "by": "test" }`}
	for _, tc := range []struct {
		name, method, path string
		body               string
		header             map[string]string
		status             int
		want               string // the body, or for an error its code
		wantHeader         map[string]string
	}{
		{"put", "PUT", "/v1/kv/ns/a%2Fb?expiration_ttl=3600", "hello", meta, 200, `{"ok":true}` + "\n", nil},
		{"put with a slash", "PUT", "/v1/kv/ns/dir/file%20one", "two", nil, 200, `{"ok":true}` + "\n", nil},
		{"put bytes", "PUT", "/v1/kv/ns/bin", "\x00\xff", nil, 200, `{"ok":true}` + "\n", nil},
		{"get", "GET", "/v1/kv/ns/a%2Fb", "", nil, 200, "hello", map[string]string{"Content-Type": "application/octet-stream", HeaderKVMetadata: `{"by":"test"}`}},
		{"get eventual", "GET", "/v1/kv/ns/a/b?consistency=eventual", "", nil, 200, "hello", nil},
		{"get strong", "GET", "/v1/kv/ns/dir/file%20one?consistency=strong", "", nil, 200, "two", map[string]string{HeaderKVMetadata: "", HeaderKVExpiration: ""}},
		{"get bytes", "GET", "/v1/kv/ns/bin", "", nil, 200, "\x00\xff", nil},
		{"other namespace", "GET", "/v1/kv/other/bin", "", nil, 404, "not_found", nil},
		{"missing key", "GET", "/v1/kv/ns/nope", "", nil, 404, "not_found", nil},
		{"list", "GET", "/v1/kv/ns?prefix=d", "", nil, 200, `{"keys":[{"name":"dir/file one"}],"list_complete":true}` + "\n", nil},
		{"list eventual", "GET", "/v1/kv/ns?prefix=bin&consistency=eventual", "", nil, 200, `{"keys":[{"name":"bin"}],"list_complete":true}` + "\n", nil},
		{"list empty", "GET", "/v1/kv/empty", "", nil, 200, `{"keys":[],"list_complete":true}` + "\n", nil},
		{"delete", "DELETE", "/v1/kv/ns/bin", "", nil, 200, `{"ok":true}` + "\n", nil},
		{"deleted", "GET", "/v1/kv/ns/bin", "", nil, 404, "not_found", nil},
		{"delete missing", "DELETE", "/v1/kv/ns/bin", "", nil, 200, `{"ok":true}` + "\n", nil},
		// Bad input.
		{"oversize key", "PUT", "/v1/kv/ns/" + strings.Repeat("k", 513), "v", nil, 414, "invalid", nil},
		{"oversize key read", "GET", "/v1/kv/ns/" + strings.Repeat("k", 513), "", nil, 414, "invalid", nil},
		{"oversize metadata", "PUT", "/v1/kv/ns/k", "v", map[string]string{HeaderKVMetadata: `"` + strings.Repeat("m", 1100) + `"`}, 413, "invalid", nil},
		{"metadata not JSON", "PUT", "/v1/kv/ns/k", "v", map[string]string{HeaderKVMetadata: `{nope`}, 400, "invalid", nil},
		{"short TTL", "PUT", "/v1/kv/ns/k?expiration_ttl=10", "v", nil, 400, "invalid", nil},
		{"TTL not a number", "PUT", "/v1/kv/ns/k?expiration_ttl=soon", "v", nil, 400, "invalid", nil},
		{"past expiration", "PUT", "/v1/kv/ns/k?expiration=1000", "v", nil, 400, "invalid", nil},
		{"expiration past 2^53", "PUT", "/v1/kv/ns/k?expiration=9223372036854775807", "v", nil, 400, "invalid", nil},
		{"bad cursor", "GET", "/v1/kv/ns?cursor=nope", "", nil, 400, "invalid", nil},
		{"bad limit", "GET", "/v1/kv/ns?limit=-1", "", nil, 400, "invalid", nil},
		{"limit too large", "GET", "/v1/kv/ns?limit=1001", "", nil, 400, "invalid", nil},
		{"malformed namespace", "GET", "/v1/kv/n%20s/k", "", nil, 400, "invalid", nil},
		{"malformed namespace list", "GET", "/v1/kv/n%2Fs", "", nil, 400, "invalid", nil},
		{"long namespace", "PUT", "/v1/kv/" + strings.Repeat("n", 65) + "/k", "v", nil, 400, "invalid", nil},
		{"bad consistency", "GET", "/v1/kv/ns/a?consistency=weak", "", nil, 400, "invalid", nil},
		{"bad consistency list", "GET", "/v1/kv/ns?consistency=weak", "", nil, 400, "invalid", nil},
		{"consistency on a put", "PUT", "/v1/kv/ns/k?consistency=eventual", "v", nil, 400, "invalid", nil},
		{"empty key", "GET", "/v1/kv/ns/", "", nil, 400, "invalid", nil},
		{"dot key", "PUT", "/v1/kv/ns/%2E", "v", nil, 400, "invalid", nil},
		{"value over 25 MiB", "PUT", "/v1/kv/ns/big", "", map[string]string{"Content-Length": fmt.Sprint(MaxKVValue + 1)}, 413, "invalid", nil},
		{"unknown method", "POST", "/v1/kv/ns/k", "", nil, 405, "method_not_allowed", map[string]string{"Allow": "GET, HEAD, PUT, DELETE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			if cl, ok := tc.header["Content-Length"]; ok {
				// Announce a length over the limit; the node refuses it
				// before reading a byte.
				var size int64
				fmt.Sscan(cl, &size)
				body = io.LimitReader(zeros{}, size)
			}
			status, h, b := call(t, n, tc.method, tc.path, body, tc.header)
			got := string(b)
			if status >= 400 {
				var e map[string]string
				if err := json.Unmarshal(b, &e); err != nil || e["error"] == "" {
					t.Fatalf("%d: not a JSON error: %q", status, b)
				}
				got = e["code"]
				t.Logf("%d %s: %s", status, e["code"], e["error"])
			}
			if status != tc.status || got != tc.want {
				t.Errorf("%d %q, want %d %q", status, got, tc.status, tc.want)
			}
			for k, v := range tc.wantHeader {
				if h.Get(k) != v {
					t.Errorf("header %s: %q, want %q", k, h.Get(k), v)
				}
			}
		})
	}
	// The expiration header says when a key with a TTL expires.
	_, h, _ := call(t, n, "GET", "/v1/kv/ns/a%2Fb", nil, nil)
	var exp int64
	if _, err := fmt.Sscan(h.Get(HeaderKVExpiration), &exp); err != nil || exp < time.Now().Unix()+3500 || exp > time.Now().Unix()+3700 {
		t.Errorf("expiration header %q", h.Get(HeaderKVExpiration))
	}
	// HEAD answers the headers alone.
	if status, h, b := call(t, n, "HEAD", "/v1/kv/ns/a%2Fb", nil, nil); status != 200 || len(b) != 0 || h.Get("Content-Length") != "5" {
		t.Errorf("HEAD: %d %q %v", status, b, h)
	}
	// A list pages with a cursor.
	for _, k := range []string{"p1", "p2", "p3"} {
		if status, _, b := call(t, n, "PUT", "/v1/kv/pages/"+k, strings.NewReader(k), nil); status != 200 {
			t.Fatalf("put %s: %d %s", k, status, b)
		}
	}
	var names []string
	cursor := ""
	for range 5 {
		_, _, b := call(t, n, "GET", "/v1/kv/pages?limit=2&prefix=p&cursor="+cursor, nil, nil)
		var page KVListPage
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Keys {
			names = append(names, k.Name)
		}
		if page.ListComplete {
			break
		}
		cursor = page.Cursor
	}
	if strings.Join(names, ",") != "p1,p2,p3" {
		t.Errorf("pages: %v", names)
	}
	// Groups come from Config.Groups.
	status, _, b := call(t, n, "GET", "/v1/groups", nil, nil)
	var out struct {
		Node   string                  `json:"node"`
		Groups []replication.GroupInfo `json:"groups"`
	}
	if err := json.Unmarshal(b, &out); err != nil || status != 200 || out.Node != "kv" || len(out.Groups) != 1 || out.Groups[0].Replicas[1].Lag != 2 {
		t.Errorf("groups: %d %s", status, b)
	}
}

// zeros reads zero bytes forever.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// failingKV fails every call with err.
type failingKV struct{ err error }

func (f failingKV) GetWithMetadata(context.Context, string, string, replication.Consistency) (replication.KVValue, error) {
	return replication.KVValue{}, f.err
}

func (f failingKV) Put(context.Context, string, string, []byte, replication.KVPutOptions) error {
	return f.err
}
func (f failingKV) Delete(context.Context, string, string) error { return f.err }
func (f failingKV) List(context.Context, string, replication.KVListOptions, replication.Consistency) (replication.KVListResult, error) {
	return replication.KVListResult{}, f.err
}

// TestKVAPIErrors: a store's errors reach the client as statuses and
// codes; a node without a store says so.
func TestKVAPIErrors(t *testing.T) {
	c := newCluster(t, 22, "bare", "down", "broken")
	bare := c.start("bare", c.secret, 1)
	c.tune = func(cfg *Config) { cfg.KV = failingKV{fmt.Errorf("no quorum: %w", replication.ErrKVUnavailable)} }
	down := c.start("down", c.secret, 1)
	c.tune = func(cfg *Config) { cfg.KV = failingKV{fmt.Errorf("disk on fire: %w", replication.ErrKVStorage)} }
	broken := c.start("broken", c.secret, 1)
	for _, tc := range []struct {
		n              *Node
		method, path   string
		status         int
		code, errorHas string
	}{
		{bare, "GET", "/v1/kv/ns/k", 503, "no_kv", "no KV store"},
		{bare, "PUT", "/v1/kv/ns/k", 503, "no_kv", "no KV store"},
		{bare, "GET", "/v1/kv/ns", 503, "no_kv", "no KV store"},
		{bare, "GET", "/v1/groups", 503, "no_kv", "no replicated KV store"},
		{down, "GET", "/v1/kv/ns/k", 503, "unavailable", "no quorum"},
		{down, "PUT", "/v1/kv/ns/k", 503, "unavailable", "no quorum"},
		{down, "DELETE", "/v1/kv/ns/k", 503, "unavailable", "no quorum"},
		{down, "GET", "/v1/kv/ns?consistency=eventual", 503, "unavailable", "no quorum"},
		{broken, "GET", "/v1/kv/ns/k", 500, "storage", "disk on fire"},
	} {
		status, _, b := call(t, tc.n, tc.method, tc.path, strings.NewReader("v"), nil)
		var e map[string]string
		if err := json.Unmarshal(b, &e); err != nil || status != tc.status || e["code"] != tc.code || !strings.Contains(e["error"], tc.errorHas) {
			t.Errorf("%s %s %s: %d %s, want %d %s saying %q", tc.n.Name(), tc.method, tc.path, status, b, tc.status, tc.code, tc.errorHas)
		}
	}
}

// TestKVWorker: a Worker run through the API reaches the node's store,
// and reads what the API wrote; a KV error has its code.
func TestKVWorker(t *testing.T) {
	n, _ := kvNode(t, "kvw")
	if status, _, b := call(t, n, "PUT", "/v1/kv/ns/from-api", strings.NewReader("written by the API"), map[string]string{HeaderKVMetadata: `{"n":1}`}); status != 200 {
		t.Fatalf("put: %d %s", status, b)
	}
	worker := func(src string) string {
		code, _ := json.Marshal(map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": src}})
		return `{"code":` + string(code) + `,"bindings":{"KV":{"kv":"ns"}}}`
	}
	status, out := runFrom(t, http.DefaultClient, n, worker(`export default { async fetch(req, env) {
  await env.KV.put("from-worker", "hi", { metadata: { by: "worker" } });
  const m = await env.KV.getWithMetadata("from-api", { consistency: "eventual" });
  const keys = (await env.KV.list({ consistency: "eventual" })).keys.map((k) => k.name);
  return Response.json([await env.KV.get("from-worker"), m.value, m.metadata.n, keys]);
} }`))
	if resp, _ := out["response"].(map[string]any); status != 200 || out["outcome"] != "ok" || resp["body"] != `["hi","written by the API",1,["from-api","from-worker"]]` {
		t.Fatalf("worker: %d %v", status, out)
	}
	if status, h, b := call(t, n, "GET", "/v1/kv/ns/from-worker", nil, nil); status != 200 || string(b) != "hi" || h.Get(HeaderKVMetadata) != `{"by":"worker"}` {
		t.Errorf("the worker's write, read by the API: %d %q %v", status, b, h)
	}
	status, out = runFrom(t, http.DefaultClient, n, worker(`export default { async fetch(req, env) {
  const out = [];
  for (const f of [() => env.KV.put("k".repeat(600), "v"), () => env.KV.get("k", { consistency: "weak" }), () => env.KV.list({ cursor: "nope" })]) {
    try { await f(); out.push("no error"); } catch (e) { out.push(e.name + " " + e.code + ": " + e.message); }
  }
  return Response.json(out);
} }`))
	want := `["TypeError KV_INVALID: KV KV.put: key: UTF-8 encoded length of 600 exceeds key length limit of 512",` +
		`"TypeError KV_INVALID: KV get: consistency must be \"strong\" or \"eventual\", not weak",` +
		`"TypeError KV_INVALID: KV KV.list: cursor: not a cursor of this API"]`
	if resp, _ := out["response"].(map[string]any); status != 200 || resp["body"] != want {
		t.Errorf("errors: %d %v\nwant body %s", status, out, want)
	}
}

// TestKVWorkerUnavailable: a store that cannot answer is the Worker's
// KV_UNAVAILABLE error; a node without a store too.
func TestKVWorkerUnavailable(t *testing.T) {
	c := newCluster(t, 23, "down", "bare")
	c.tune = func(cfg *Config) { cfg.KV = failingKV{fmt.Errorf("no quorum: %w", replication.ErrKVUnavailable)} }
	down := c.start("down", c.secret, 1)
	c.tune = nil
	bare := c.start("bare", c.secret, 1)
	body := `{"code":{"mainModule":"m.js","modules":{"m.js":"export default { async fetch(req, env) { try { await env.KV.get('k'); return new Response('no error'); } catch (e) { return new Response(e.name + ' ' + e.code + ': ' + e.message); } } }"}},"bindings":{"KV":{"kv":"ns"}}}`
	for n, want := range map[*Node]string{
		down: "Error KV_UNAVAILABLE: KV KV.get: no quorum: replication: the key's group is unavailable",
		bare: "Error KV_UNAVAILABLE: KV KV.get: this runtime has no KV storage",
	} {
		status, out := runFrom(t, http.DefaultClient, n, body)
		if resp, _ := out["response"].(map[string]any); status != 200 || resp["body"] != want {
			t.Errorf("%s: %d %v, want %q", n.Name(), status, out, want)
		}
	}
}

// TestGatedKV: a forwarded invocation's KV writes wait for the caller's
// go-ahead, and fail with KV_DENIED when it never comes; reads pass at
// once.
func TestGatedKV(t *testing.T) {
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	goAhead := make(chan error, 1)
	asked := make(chan struct{}, 10)
	g := &gatedHost{inner: hostWithKV(NewEgress(policy.Egress{}), kv), permit: func(ctx context.Context) error {
		asked <- struct{}{}
		select {
		case err := <-goAhead:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	ns, err := g.KV("ns")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Reads do not ask.
	if e, err := ns.Get(ctx, "k", isolate.KVGetOptions{Consistency: isolate.KVEventual}); e != nil || err != nil {
		t.Fatalf("get: %v %v", e, err)
	}
	if _, err := ns.List(ctx, isolate.KVListOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 0 {
		t.Fatal("a read asked for the go-ahead")
	}
	done := make(chan error, 1)
	go func() { done <- ns.Put(ctx, "k", []byte("v"), isolate.KVPutOptions{}) }()
	<-asked
	select {
	case err := <-done:
		t.Fatalf("the put ended before the go-ahead: %v", err)
	default:
	}
	if e, _ := ns.Get(ctx, "k", isolate.KVGetOptions{}); e != nil {
		t.Fatal("the put was made before the go-ahead")
	}
	goAhead <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if e, _ := ns.Get(ctx, "k", isolate.KVGetOptions{}); e == nil || string(e.Value) != "v" {
		t.Fatalf("after the go-ahead: %v", e)
	}
	goAhead <- errNoGoAhead
	err = ns.Delete(ctx, "k")
	var ke *isolate.KVError
	if !errors.As(err, &ke) || ke.Code != isolate.KVCodeDenied || !errors.Is(err, errNoGoAhead) {
		t.Errorf("a refused delete: %v", err)
	}
	if e, _ := ns.Get(ctx, "k", isolate.KVGetOptions{}); e == nil {
		t.Error("a refused delete was made")
	}
}

// TestKVWorkerExpirationNotANumber: a put whose expiration or
// expirationTtl is no number of seconds (NaN, a word, Infinity) is refused
// with KV_INVALID and stores nothing. Before, NaN and words read as 0,
// "not given", and the key was stored to live for ever; Infinity as the
// largest int64, an expiration that never comes.
func TestKVWorkerExpirationNotANumber(t *testing.T) {
	n, _ := kvNode(t, "kvx")
	code, _ := json.Marshal(map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": `export default { async fetch(req, env) {
  const out = [];
  const cases = [["ttlNaN", { expirationTtl: NaN }], ["ttlWord", { expirationTtl: "soon" }], ["expNaN", { expiration: NaN }], ["expInf", { expiration: Infinity }]];
  for (const [key, opts] of cases) {
    try { await env.KV.put(key, "v", opts); out.push(key + " stored"); } catch (e) { out.push(key + " " + e.name + " " + e.code); }
    out.push(String(await env.KV.get(key)));
  }
  return Response.json(out);
} }`}})
	status, out := runFrom(t, http.DefaultClient, n, `{"code":`+string(code)+`,"bindings":{"KV":{"kv":"ns"}}}`)
	want := `["ttlNaN TypeError KV_INVALID","null","ttlWord TypeError KV_INVALID","null","expNaN TypeError KV_INVALID","null","expInf TypeError KV_INVALID","null"]`
	if resp, _ := out["response"].(map[string]any); status != 200 || resp["body"] != want {
		t.Errorf("%d %v\nwant body %s", status, out, want)
	}
}
