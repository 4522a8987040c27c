package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/replication"
)

// hopWorker fetches the Worker that its request's ?names= names next
// (names[(n+1) % len], through /w/ on the node that called it), with n+1,
// and answers "n > " and what came back: the chain of hops, and the
// answer of the innermost, which is "bottom" at ?stop=. A hop whose fetch
// is answered other than 200 answers "n > STATUS BODY".
const hopWorker = `export default { async fetch(req) {
  const u = new URL(req.url), q = u.searchParams;
  const n = +q.get("n"), names = q.get("names").split(","), stop = +q.get("stop");
  if (n >= stop) return new Response("bottom");
  const next = u.origin + "/w/" + names[(n + 1) % names.length] + "/?n=" + (n + 1) + "&names=" + q.get("names") + "&stop=" + stop;
  const r = await fetch(next);
  const body = await r.text();
  return new Response(n + " > " + (r.status == 200 ? body : r.status + " " + body));
} }`

// TestWorkerLoopThroughURL: a Worker that fetches its own URL (/w/) on
// its node, and two Workers that fetch each other, are stopped after
// maxWorkerDepth nested calls: the call past it is answered 508
// worker_loop at once, and every call before it works. Before, each hop
// held a slot and a connection, and the chain went on until the slots,
// the queue or the first call's wall time ran out.
func TestWorkerLoopThroughURL(t *testing.T) {
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 45, "a")
	t.Cleanup(func() { kv.Close() }) // runs before the cluster's cleanup kills the node
	c.tune = func(cfg *Config) { cfg.KV, cfg.Groups, cfg.AllowNet = kv, testGroups, []string{"127.0.0.1"} }
	n := c.start("a", c.secret, 64)
	for _, name := range []string{"loop", "ping", "pong"} {
		if status, _, b := call(t, n, "PUT", "/v1/workers/"+name, strings.NewReader(deployBody(hopWorker, "", nil)), nil); status != 200 {
			t.Fatalf("deploy %s: %d %s", name, status, b)
		}
	}
	// The chain of hops 0 to last, then what the innermost answered.
	hops := func(last int) string {
		var b strings.Builder
		for i := 0; i <= last; i++ {
			fmt.Fprintf(&b, "%d > ", i)
		}
		return b.String()
	}

	for _, names := range []string{"loop", "ping,pong"} {
		first := strings.Split(names, ",")[0]
		// maxWorkerDepth nested calls work.
		status, _, body := serve(t, n, "GET", fmt.Sprintf("/w/%s/?n=0&names=%s&stop=%d", first, names, maxWorkerDepth), "", nil)
		if want := hops(maxWorkerDepth-1) + "bottom"; status != 200 || body != want {
			t.Errorf("%s, %d deep: %d %q, want %q", names, maxWorkerDepth, status, body, want)
		}
		// One more is refused at once.
		start := time.Now()
		status, _, body = serve(t, n, "GET", fmt.Sprintf("/w/%s/?n=0&names=%s&stop=30", first, names), "", nil)
		took := time.Since(start)
		if want := hops(maxWorkerDepth) + "508 "; status != 200 || !strings.HasPrefix(body, want) || errCode([]byte(strings.TrimPrefix(body, want))) != "worker_loop" {
			t.Errorf("%s, 30 deep: %d %q, want %q and the error worker_loop", names, status, body, want)
		}
		if took > 10*time.Second {
			t.Errorf("%s, 30 deep: took %v", names, took)
		}
	}

	// A client's own header counts as well; one that is not a depth is
	// ignored.
	status, _, body := serve(t, n, "GET", "/w/loop/?n=0&names=loop&stop=0", "", map[string]string{WorkerDepthHeader: fmt.Sprint(maxWorkerDepth + 1)})
	if status != 508 || errCode([]byte(body)) != "worker_loop" {
		t.Errorf("a client's call %d deep: %d %s", maxWorkerDepth+1, status, body)
	}
	for _, v := range []string{"x", "-1", "1e3", ""} {
		status, _, body = serve(t, n, "GET", "/w/loop/?n=0&names=loop&stop=0", "", map[string]string{WorkerDepthHeader: v})
		if status != 200 || body != "bottom" {
			t.Errorf("a client's call with %s %q: %d %s", WorkerDepthHeader, v, status, body)
		}
	}
}

// TestWorkerDepthThroughObject: a Durable Object's event runs at the depth
// of the Worker that called it, on its owner or on another node, so its
// fetches of Workers' URLs count on from there (here a client's call
// already maxWorkerDepth deep). Before, an object on another node
// fetched at depth 1 again.
func TestWorkerDepthThroughObject(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a 2-node replicated cluster")
	}
	_, nodes := objectClusterTuned(t, func(cfg *Config) { cfg.AllowNet = []string{"127.0.0.1"} }, "a", "b")
	a := nodes[0]
	deployClass(t, a, "looper", loopWorker, "LOOPER", "Looper")
	// An object a owns and one that b owns, as a sees them.
	owned := map[string]string{}
	for i := 0; len(owned) < 2 && i < 100; i++ {
		name := fmt.Sprintf("o%d", i)
		_, _, b := call(t, a, "GET", "/v1/objects/looper/Looper?name="+name, nil, nil)
		var info ObjectInfo
		if err := json.Unmarshal(b, &info); err != nil {
			t.Fatalf("locating %s: %s", name, b)
		}
		owner, _ := a.cluster.ObjectOwner(isolate.ObjectRef{Worker: "looper", Class: "Looper", ID: info.ID}.Key())
		if owner != "" && owned[owner] == "" {
			owned[owner] = name
		}
	}
	if len(owned) < 2 {
		t.Fatalf("no object on each node: %v", owned)
	}
	depth := func(d int) map[string]string { return map[string]string{WorkerDepthHeader: fmt.Sprint(d)} }
	for _, owner := range []string{"a", "b"} {
		path := "/w/looper/x?name=" + owned[owner] + "&target=" + url.QueryEscape(a.APIURL()+"/w/looper/x?name=other")
		status, _, body := serve(t, a, "GET", path, "", depth(maxWorkerDepth-1))
		if status != 200 || body != "inner 200: object other" {
			t.Errorf("an object on %s, %d deep: %d %q", owner, maxWorkerDepth-1, status, body)
		}
		status, _, body = serve(t, a, "GET", path, "", depth(maxWorkerDepth))
		if status != 200 || !strings.HasPrefix(body, "inner 508: ") || !strings.Contains(body, "worker_loop") {
			t.Errorf("an object on %s, %d deep: %d %q, want the object's fetch refused", owner, maxWorkerDepth, status, body)
		}
	}
}

// runHopWorker runs itself again through its node's /v1/run: its request
// body is its own source, its query names the node (?origin=), the token
// to call it with (?token=), the hop (?n=) and where to stop (?stop=). It
// answers "n > " and what the next run answered: the chain, then "bottom",
// or the status and body of the call that failed.
const runHopWorker = `export default { async fetch(req) {
  const u = new URL(req.url), q = u.searchParams, src = await req.text();
  const n = +q.get("n"), stop = +q.get("stop");
  if (n >= stop) return new Response("bottom");
  q.set("n", n + 1);
  const r = await fetch(q.get("origin") + "/v1/run", {method: "POST", headers: {authorization: "Bearer " + q.get("token")},
    body: JSON.stringify({code: {mainModule: "m.js", modules: {"m.js": src}}, request: {method: "POST", url: "http://x/?" + q, body: src}})});
  const text = await r.text();
  if (r.status != 200) return new Response(n + " > " + r.status + " " + text);
  const res = JSON.parse(text);
  return new Response(n + " > " + (res.outcome == "ok" ? res.response.body : res.outcome + " " + res.error));
} }`

// TestWorkerLoopThroughRun: code that runs itself through its node's
// /v1/run (a token and an egress grant to the node allow it) is stopped
// after maxWorkerDepth nested runs, as Workers that fetch their URLs are:
// /v1/run takes the depth of a Worker's fetch (WorkerDepthHeader), and a
// call it forwards to a peer carries it (RunRequest.Depth). Before, the
// count restarted at 0 at each /v1/run, and the chain went on until the
// slots, the queue or the first call's wall time ran out. A client may
// not set depth in the body: it is the node's.
func TestWorkerLoopThroughRun(t *testing.T) {
	c := newCluster(t, 46, "a", "b")
	c.tune = func(cfg *Config) { cfg.AllowNet = []string{"127.0.0.1"} }
	a := c.start("a", c.secret, 40)
	b := c.start("b", c.secret, 4, "a")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(a, "a", "b") && sees(b, "a", "b") })
	tok := adminToken(t, c.secret)
	var hopsOf string // where the last run went
	run := func(n *Node, stop int, header map[string]string) (int, string) {
		t.Helper()
		q := url.Values{"origin": {a.APIURL()}, "token": {tok}, "n": {"0"}, "stop": {fmt.Sprint(stop)}}
		body, _ := json.Marshal(map[string]any{"code": json.RawMessage(code(runHopWorker)),
			"request": map[string]any{"method": "POST", "url": "http://x/?" + q.Encode(), "body": runHopWorker}})
		status, _, b := call(t, n, "POST", "/v1/run", strings.NewReader(string(body)), header)
		var res isolate.Result
		if status != 200 || json.Unmarshal(b, &res) != nil || res.Response == nil {
			return status, string(b)
		}
		hopsOf = strings.Join(res.Telemetry.Hops, ">")
		return status, string(res.Response.Body)
	}
	hops := func(last int) string {
		var b strings.Builder
		for i := 0; i <= last; i++ {
			fmt.Fprintf(&b, "%d > ", i)
		}
		return b.String()
	}
	// maxWorkerDepth nested runs work; one more is refused at once.
	if status, body := run(a, maxWorkerDepth, nil); status != 200 || body != hops(maxWorkerDepth-1)+"bottom" {
		t.Errorf("%d deep: %d %q", maxWorkerDepth, status, body)
	}
	start := time.Now()
	status, body := run(a, 40, nil)
	if want := hops(maxWorkerDepth) + "508 "; status != 200 || !strings.HasPrefix(body, want) || errCode([]byte(strings.TrimPrefix(body, want))) != "worker_loop" {
		t.Errorf("40 deep: %d %q, want %q and the error worker_loop", status, body, want)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("40 deep: took %v", took)
	}
	// A client's call already deep: refused past the bound, and counted on
	// from where it says, on a peer too (b is full: its calls go to a).
	deep := map[string]string{WorkerDepthHeader: fmt.Sprint(maxWorkerDepth)}
	if status, body := run(a, 0, map[string]string{WorkerDepthHeader: fmt.Sprint(maxWorkerDepth + 1)}); status != 508 || errCode([]byte(body)) != "worker_loop" {
		t.Errorf("a client's call %d deep: %d %s", maxWorkerDepth+1, status, body)
	}
	for range 4 {
		go b.Run(context.Background(), sleepReq(5000))
	}
	waitFor(t, 5*time.Second, "b busy", func() bool { return b.running.Load() == 4 })
	if status, body := run(b, 1, deep); status != 200 || !strings.HasPrefix(body, "0 > 508 ") || !strings.Contains(body, "worker_loop") {
		t.Errorf("a call %d deep forwarded from b: %d %q, want its run refused", maxWorkerDepth, status, body)
	}
	if hopsOf != "b>a" {
		t.Errorf("the call from b ran on %s, want b>a", hopsOf)
	}
	status, body = postRun(t, a, `{"code": {"mainModule": "m.js", "modules": {"m.js": "export default {fetch() { return new Response('x') }}"}}, "depth": 3}`)
	if status != 400 || !strings.Contains(body, "depth is set by nodes") {
		t.Errorf("a client's depth in the body: %d %s", status, body)
	}
}

// postRun posts body to n's /v1/run and returns the status and the answer.
func postRun(t *testing.T, n *Node, body string) (int, string) {
	t.Helper()
	status, _, b := call(t, n, "POST", "/v1/run", strings.NewReader(body), nil)
	return status, string(b)
}
