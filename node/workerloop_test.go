package node

import (
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
