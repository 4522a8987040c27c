package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// echoWorker answers what it was asked, as JSON, with version v.
func echoWorker(v int) string {
	return `export default { async fetch(req, env) {
  const body = await req.text();
  return new Response(JSON.stringify({v: ` + fmt.Sprint(v) + `, method: req.method, url: req.url, test: req.headers.get("x-test"),
    auth: req.headers.get("authorization"), host: req.headers.get("host"), body}),
    {status: 201, headers: {"x-out": "yes", "content-type": "application/json"}});
} }`
}

// storeWorker puts the request's body under "k" of env.KV and answers what
// it reads back, or the error.
const storeWorker = `export default { async fetch(req, env) {
  try { await env.KV.put("k", await req.text()); return new Response("stored " + await env.KV.get("k")); }
  catch (e) { return new Response(e.name + " " + e.code + ": " + e.message, {status: 500}); }
} }`

// deployBody is a PUT /v1/workers body of one module.
func deployBody(src, limits string, bindings map[string]string) string {
	code := map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": src}}
	if limits != "" {
		code["limits"] = json.RawMessage(limits)
	}
	b := map[string]any{}
	for name, ns := range bindings {
		b[name] = map[string]string{"kv": ns}
	}
	out, _ := json.Marshal(map[string]any{"code": code, "bindings": b})
	return string(out)
}

// serve calls a deployed Worker without a token.
func serve(t *testing.T, n *Node, method, path, body string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.APIURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := authlessClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// errCode is the code of a JSON error answer ("" if it is none).
func errCode(b []byte) string {
	var e map[string]string
	if json.Unmarshal(b, &e) != nil || e["error"] == "" {
		return ""
	}
	return e["code"]
}

func TestDeployAPI(t *testing.T) {
	n, kv := kvNode(t, "dep")
	readOnly := mintToken(t, n.cfg.SecretPath, "reader", policy.Grants{KV: map[string]string{"app": policy.KVRead}}, time.Hour)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	big := `{"code":{"mainModule":"m.js","modules":{"m.js":"` + strings.Repeat("x", MaxKVValue) + `"}}}`
	for _, tc := range []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		want                     string // the body, or for an error its code
	}{
		{"deploy", "PUT", "/v1/workers/echo", deployBody(echoWorker(1), "", nil), nil, 200, `{"name":"echo","version":1}` + "\n"},
		{"redeploy", "PUT", "/v1/workers/echo", deployBody(echoWorker(2), "", nil), nil, 200, `{"name":"echo","version":2}` + "\n"},
		{"deploy with a binding", "PUT", "/v1/workers/kv-1", deployBody(storeWorker, "", map[string]string{"KV": "app"}), nil, 200, `{"name":"kv-1","version":1}` + "\n"},
		{"get", "GET", "/v1/workers/kv-1", "", nil, 200, ""},
		{"get with any token", "GET", "/v1/workers/echo", "", bearer(readOnly), 200, ""},
		{"get missing", "GET", "/v1/workers/nope", "", nil, 404, "not_found"},
		{"list", "GET", "/v1/workers", "", bearer(readOnly), 200, ""},
		// Refusals.
		{"not an admin", "PUT", "/v1/workers/x", deployBody(echoWorker(1), "", nil), bearer(readOnly), 403, "denied"},
		{"delete not an admin", "DELETE", "/v1/workers/echo", "", bearer(readOnly), 403, "denied"},
		{"no token", "GET", "/v1/workers", "", map[string]string{"Authorization": "Bearer nope"}, 401, "unauthorized"},
		{"upper case name", "PUT", "/v1/workers/Echo", deployBody(echoWorker(1), "", nil), nil, 400, "invalid"},
		{"leading dash", "PUT", "/v1/workers/-echo", deployBody(echoWorker(1), "", nil), nil, 400, "invalid"},
		{"trailing dash", "GET", "/v1/workers/echo-", "", nil, 400, "invalid"},
		{"long name", "PUT", "/v1/workers/" + strings.Repeat("a", 64), deployBody(echoWorker(1), "", nil), nil, 400, "invalid"},
		{"bad code", "PUT", "/v1/workers/x", `{"code":{"mainModule":"m.js","modules":{}}}`, nil, 400, "invalid_code"},
		{"no code", "PUT", "/v1/workers/x", `{"bindings":{}}`, nil, 400, "invalid_code"},
		{"not JSON", "PUT", "/v1/workers/x", `{nope`, nil, 400, "bad_request"},
		{"unknown field", "PUT", "/v1/workers/x", `{"code":{},"extra":1}`, nil, 400, "bad_request"},
		{"bad binding", "PUT", "/v1/workers/x", `{"code":{"mainModule":"m.js","modules":{"m.js":""}},"bindings":{"KV":{}}}`, nil, 400, "invalid_bindings"},
		{"reserved binding", "PUT", "/v1/workers/x", deployBody(storeWorker, "", map[string]string{"KV": "warren.workers"}), nil, 400, "invalid_bindings"},
		{"over the KV limit", "PUT", "/v1/workers/x", big, nil, 413, "too_large"},
		// The reserved namespace, on the KV API.
		{"reserved get", "GET", "/v1/kv/warren.workers/echo", "", nil, 400, "invalid"},
		{"reserved put", "PUT", "/v1/kv/warren.x/k", "v", nil, 400, "invalid"},
		{"reserved list", "GET", "/v1/kv/warren.workers", "", bearer(readOnly), 400, "invalid"},
		{"reserved delete", "DELETE", "/v1/kv/warren.workers/echo", "", nil, 400, "invalid"},
		{"reserved run binding", "POST", "/v1/run", `{"code":{"mainModule":"m.js","modules":{"m.js":""}},"bindings":{"KV":{"kv":"warren.workers"}}}`, nil, 400, "invalid_bindings"},
		// Removal.
		{"delete", "DELETE", "/v1/workers/kv-1", "", nil, 200, `{"deleted":true,"name":"kv-1","version":1}` + "\n"},
		{"deleted", "GET", "/v1/workers/kv-1", "", nil, 404, "not_found"},
		{"delete missing", "DELETE", "/v1/workers/kv-1", "", nil, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			status, _, b := call(t, n, tc.method, tc.path, body, tc.header)
			got := string(b)
			if status >= 400 {
				got = errCode(b)
				t.Logf("%d %s", status, b)
			}
			if status != tc.status || tc.want != "" && got != tc.want {
				t.Errorf("%d %q, want %d %q", status, got, tc.status, tc.want)
			}
		})
	}
	// What GET shows: no code, no grants.
	_, _, b := call(t, n, "GET", "/v1/workers", nil, nil)
	var list struct{ Workers []map[string]any }
	if err := json.Unmarshal(b, &list); err != nil || len(list.Workers) != 1 {
		t.Fatalf("list: %s", b)
	}
	w := list.Workers[0]
	if w["name"] != "echo" || w["version"] != 2.0 || w["deployedBy"] != "test admin" || w["deployedAt"] == "" || w["code"] != nil || w["grants"] != nil {
		t.Errorf("list: %s", b)
	}
	// The store holds it in the reserved namespace.
	v, err := kv.GetWithMetadata(context.Background(), workersNS, "echo", replication.Strong)
	var d Deployment
	if err != nil || json.Unmarshal(v.Value, &d) != nil || d.Version != 2 || !d.Grants.Admin || !strings.Contains(string(d.Code), "v: 2") {
		t.Errorf("stored: %v %s", err, v.Value)
	}
}

// TestServeWorker: /w/ runs the deployed Worker's current version without
// a token and answers its response; failures map to statuses with clean
// bodies.
func TestServeWorker(t *testing.T) {
	n, kv := kvNode(t, "serve")
	deploy := func(name, body string) {
		t.Helper()
		if status, _, b := call(t, n, "PUT", "/v1/workers/"+name, strings.NewReader(body), nil); status != 200 {
			t.Fatalf("deploy %s: %d %s", name, status, b)
		}
	}
	deploy("echo", deployBody(echoWorker(1), "", nil))
	deploy("kv", deployBody(storeWorker, "", map[string]string{"KV": "app"}))
	deploy("throws", deployBody(`export default { fetch() { throw new Error("secret detail"); } }`, "", nil))
	deploy("spins", deployBody(`export default { fetch() { for (;;) {} } }`, `{"cpuMs": 20}`, nil))
	deploy("waits", deployBody(`export default { async fetch() { await new Promise(r => setTimeout(r, 60000)); return new Response("late"); } }`, `{"wallMs": 100}`, nil))
	deploy("sw", deployBody(`export default { fetch() { return new Response("self.onfetch = () => {}", {headers: {"content-type": "text/javascript", "service-worker-allowed": "/", "x-kept": "1"}}) } }`, "", nil))

	// A Worker's script may not claim a service worker's scope beyond its
	// own path: the node's dashboard shares the origin.
	if status, h, _ := serve(t, n, "GET", "/w/sw/sw.js", "", map[string]string{"Service-Worker": "script"}); status != 200 || h.Get("Service-Worker-Allowed") != "" || h.Get("X-Kept") != "1" {
		t.Errorf("a service worker's script: %d %v", status, h)
	}

	// The request round-trips: method, URL as sent, headers (not
	// Authorization), body; and the response: status, headers, body.
	status, h, body := serve(t, n, "POST", "/w/echo/some/path%20x?q=1&r", "hello", map[string]string{"X-Test": "t", "Authorization": "Bearer whatever"})
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%d %s", status, body)
	}
	host := strings.TrimPrefix(n.APIURL(), "http://")
	want := map[string]any{"v": 1.0, "method": "POST", "url": "http://" + host + "/some/path%20x?q=1&r", "test": "t", "auth": nil, "host": host, "body": "hello"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
	if status != 201 || h.Get("X-Out") != "yes" || h.Get("Content-Type") != "application/json" {
		t.Errorf("response: %d %v", status, h)
	}
	// The Host header the client sent is request.url's host.
	hreq, err := http.NewRequest("GET", n.APIURL()+"/w/echo/x?y=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	hreq.Host = "example.com"
	if resp, err := authlessClient.Do(hreq); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `"url":"http://example.com/x?y=1"`) || !strings.Contains(string(b), `"host":"example.com"`) {
			t.Errorf("Host example.com: %d %s", resp.StatusCode, b)
		}
	}
	// The root, with and without its slash.
	for _, p := range []string{"/w/echo", "/w/echo/"} {
		if status, _, body := serve(t, n, "GET", p, "", nil); status != 201 || !strings.Contains(body, `"url":"http://`+host+`/"`) {
			t.Errorf("GET %s: %d %s", p, status, body)
		}
	}

	// A new version serves new calls (the deploying node drops its cache).
	deploy("echo", deployBody(echoWorker(2), "", nil))
	if _, _, body := serve(t, n, "GET", "/w/echo/", "", nil); !strings.Contains(body, `"v":2`) {
		t.Errorf("after a redeploy: %s", body)
	}

	// A KV binding works through /w/ with the deployer's grants (an admin's).
	if status, _, body := serve(t, n, "PUT", "/w/kv/", "value", nil); status != 200 || body != "stored value" {
		t.Errorf("kv: %d %s", status, body)
	}
	if status, _, b := call(t, n, "GET", "/v1/kv/app/k", nil, nil); status != 200 || string(b) != "value" {
		t.Errorf("kv written: %d %s", status, b)
	}
	// Deploy-time grants bind: a deployment recorded with a read-only
	// grant (only admins deploy through the API today, so the record is
	// written to the store directly) cannot write.
	ro := Deployment{Name: "ro", Version: 1, Code: json.RawMessage(`{"mainModule":"m.js","modules":{"m.js":` + jsonString(storeWorker) + `}}`),
		Bindings: map[string]Binding{"KV": {KV: "app"}}, DeployedBy: "reader", Grants: policy.Grants{KV: map[string]string{"app": policy.KVRead}}}
	rec, _ := json.Marshal(ro)
	if err := kv.Put(context.Background(), workersNS, "ro", rec, replication.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	if status, _, body := serve(t, n, "PUT", "/w/ro/", "nope", nil); status != 500 || !strings.Contains(body, "KV_DENIED") {
		t.Errorf("read-only deployment: %d %s", status, body)
	}
	ro.Name, ro.Grants = "none", policy.Grants{KV: map[string]string{"other": policy.KVReadWrite}}
	rec, _ = json.Marshal(ro)
	if err := kv.Put(context.Background(), workersNS, "none", rec, replication.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}

	// Failures: a status and a small JSON body naming the outcome.
	for _, tc := range []struct {
		path    string
		status  int
		outcome string
	}{
		{"/w/throws/", 500, "exception"},
		{"/w/spins/", 503, "exceededCpu"},
		{"/w/waits/", 504, "exceededWallTime"},
		{"/w/none/", 500, "denied"},
		{"/w/missing/", 404, ""},
		{"/w/Bad/", 404, ""},
	} {
		status, h, body := serve(t, n, "GET", tc.path, "", nil)
		var e map[string]string
		if err := json.Unmarshal([]byte(body), &e); err != nil || status != tc.status || e["outcome"] != tc.outcome || h.Get(HeaderOutcome) != tc.outcome || e["error"] == "" {
			t.Errorf("%s: %d %v %s, want %d %s", tc.path, status, h, body, tc.status, tc.outcome)
		}
		if strings.Contains(body, "secret detail") || strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") {
			t.Errorf("%s: the body leaks: %s", tc.path, body)
		}
	}

	// Undeployed: 404.
	if status, _, b := call(t, n, "DELETE", "/v1/workers/echo", nil, nil); status != 200 {
		t.Fatalf("delete: %d %s", status, b)
	}
	if status, _, body := serve(t, n, "GET", "/w/echo/", "", nil); status != 404 || !strings.Contains(body, "not_found") {
		t.Errorf("after delete: %d %s", status, body)
	}
	// An oversize request body is refused before it is read (the client
	// waits for the go-ahead to send it, and gets the answer instead).
	deploy("echo", deployBody(echoWorker(3), "", nil))
	req, _ := http.NewRequest("POST", n.APIURL()+"/w/echo/", io.LimitReader(zeros{}, MaxWorkerRequestBody+1))
	req.ContentLength = MaxWorkerRequestBody + 1
	req.Header.Set("Expect", "100-continue")
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: 10 * time.Second}, Timeout: 30 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize body: %d", resp.StatusCode)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestDeploymentCache: a node that did not deploy sees a new version
// within deploymentTTL. Two nodes share one store, as the mesh's nodes
// share its Raft groups; a call to the other node's /w/ may run on either.
func TestServeFromAnotherNode(t *testing.T) {
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 23, "a", "b")
	t.Cleanup(func() { kv.Close() })
	c.tune = func(cfg *Config) { cfg.KV = kv }
	a := c.start("a", c.secret, 1)
	b := c.start("b", c.secret, 1, "a")
	waitFor(t, 10*time.Second, "the mesh", func() bool { return sees(a, "a", "b") && sees(b, "a", "b") })

	put := func(v int) {
		t.Helper()
		if status, _, body := call(t, a, "PUT", "/v1/workers/echo", strings.NewReader(deployBody(echoWorker(v), "", nil)), nil); status != 200 {
			t.Fatalf("deploy: %d %s", status, body)
		}
	}
	put(1)
	if status, _, body := serve(t, b, "GET", "/w/echo/x", "", nil); status != 201 || !strings.Contains(body, `"v":1`) {
		t.Fatalf("b serves a's deployment: %d %s", status, body)
	}
	put(2)
	start := time.Now()
	waitFor(t, 5*time.Second, "b serves version 2", func() bool {
		_, _, body := serve(t, b, "GET", "/w/echo/x", "", nil)
		return strings.Contains(body, `"v":2`)
	})
	if d := time.Since(start); d > deploymentTTL+time.Second {
		t.Errorf("b saw the new version after %v", d)
	}
	// b lists it, and a's delete reaches b within the same time.
	if status, _, body := call(t, b, "GET", "/v1/workers/echo", nil, nil); status != 200 || !strings.Contains(string(body), `"version":2`) {
		t.Errorf("b gets: %d %s", status, body)
	}
	if status, _, body := call(t, a, "DELETE", "/v1/workers/echo", nil, nil); status != 200 {
		t.Fatalf("delete: %d %s", status, body)
	}
	waitFor(t, 5*time.Second, "b forgets the Worker", func() bool {
		status, _, _ := serve(t, b, "GET", "/w/echo/x", "", nil)
		return status == 404
	})
}

// countingKV counts the reads of deployments.
type countingKV struct {
	replication.KV
	reads atomic.Int64
}

func (c *countingKV) GetWithMetadata(ctx context.Context, ns, key string, cons replication.Consistency) (replication.KVValue, error) {
	if ns == workersNS {
		c.reads.Add(1)
	}
	return c.KV.GetWithMetadata(ctx, ns, key, cons)
}

// TestServeMissingWorkerCached: /w/ needs no token, so a flood of calls for
// a name that is not deployed costs one read per second, not one each; and
// deploying the name through the node serves it at once.
func TestServeMissingWorkerCached(t *testing.T) {
	local, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kv := &countingKV{KV: local}
	c := newCluster(t, 22, "missing")
	t.Cleanup(func() { local.Close() })
	c.tune = func(cfg *Config) { cfg.KV, cfg.Groups = kv, testGroups }
	n := c.start("missing", c.secret, 2)

	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, _, _ := serve(t, n, "GET", "/w/nope/", "", nil); status != http.StatusNotFound {
				t.Errorf("missing worker: %d, want 404", status)
			}
		}()
	}
	wg.Wait()
	// Calls that came before the first answer may have shared its read,
	// or made their own if they began after it ended: within a second,
	// far fewer reads than calls.
	if r := kv.reads.Load(); r > 3 {
		t.Errorf("20 calls for a missing worker made %d reads", r)
	}
	if status, _, b := call(t, n, "PUT", "/v1/workers/nope", strings.NewReader(deployBody(echoWorker(7), "", nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	if status, _, body := serve(t, n, "GET", "/w/nope/", "", nil); status != 201 || !strings.Contains(body, `"v":7`) {
		t.Fatalf("after deploying it: %d %s", status, body)
	}
}
