package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/replication"
)

// requirePython finds the artifacts of make python for the nodes of a test
// (in-process executors): skipped without them, failed when
// WARREN_REQUIRE_PYTHON=1.
func requirePython(t *testing.T) {
	t.Helper()
	err := isolate.PythonAvailable()
	if err != nil {
		err = SetPythonDir(filepath.Join("..", "build", "python"))
	}
	if err == nil {
		// The shared cache of sharePythonCache, filled before any node
		// needs it (its first call would otherwise compile within a
		// client's timeout).
		precompileOnce.Do(func() { _ = isolate.PrecompilePython("") })
		return
	}
	if os.Getenv("WARREN_REQUIRE_PYTHON") == "1" {
		t.Fatalf("WARREN_REQUIRE_PYTHON=1: %v", err)
	}
	t.Skipf("no Python (make python): %v", err)
}

var precompileOnce sync.Once

// sharePythonCache gives the nodes of c to be started one compilation cache
// for python.wasm, kept between runs (isolate's tests use it too):
// compiling it takes seconds (half a minute under -race) per node.
func sharePythonCache(t *testing.T, c *cluster, names ...string) {
	shared, err := os.UserCacheDir()
	if err != nil {
		return
	}
	shared = filepath.Join(shared, "warren", "python")
	for _, name := range names {
		dir := filepath.Join(c.dir, name, "wasm-cache")
		if os.MkdirAll(shared, 0o700) != nil || os.MkdirAll(dir, 0o700) != nil || os.Symlink(shared, filepath.Join(dir, "python")) != nil {
			t.Log("no shared compilation cache: each node compiles python.wasm")
		}
	}
}

// TestPythonDeployed: a Python Worker deployed with a KV binding, served
// at /w/.
func TestPythonDeployed(t *testing.T) {
	requirePython(t)
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 15, "py")
	t.Cleanup(func() { kv.Close() })
	c.tune = func(cfg *Config) { cfg.KV, cfg.Groups = kv, testGroups }
	sharePythonCache(t, c, "py")
	n := c.start("py", c.secret, 2)
	code := map[string]any{"mainModule": "w.py", "modules": map[string]string{"w.py": `
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        await self.env.KV.put("last", await request.text())
        return Response("stored " + await self.env.KV.get("last") + " at " + request.url, status=201)
`}}
	body, _ := json.Marshal(map[string]any{"code": code, "bindings": map[string]any{"KV": map[string]string{"kv": "app"}}})
	if status, _, b := call(t, n, "PUT", "/v1/workers/pyw", strings.NewReader(string(body)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	status, _, got := serve(t, n, "POST", "/w/pyw/p?q=1", "hello", nil)
	if status != 201 || !strings.HasPrefix(got, "stored hello at http") || !strings.HasSuffix(got, "/p?q=1") {
		t.Fatalf("served: %d %q", status, got)
	}
}

// TestPythonThroughAPIAndMesh: a Python code object through /v1/run, and a
// Python call that its node forwards to a peer with room, as a JS call.
func TestPythonThroughAPIAndMesh(t *testing.T) {
	requirePython(t)
	c := newCluster(t, 14, "p1", "p2")
	sharePythonCache(t, c, "p1", "p2")
	p1 := c.start("p1", c.secret, 1)
	c.start("p2", c.secret, 1, "p1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(p1, "p1", "p2") && sees(c.nodes["p2"], "p1", "p2") })

	body := `{"code":{"mainModule":"main.py","modules":{"main.py":"import sys, util\nprint(util.twice(sys.stdin.read()))\n","util.py":"def twice(s):\n    return s * 2\n"}},
	  "request":{"method":"POST","url":"http://x/","body":"ab"}}`
	resp, err := http.Post(p1.APIURL()+"/v1/run", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var res isolate.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, b, err)
	}
	if res.Outcome != isolate.OutcomeOK || res.Response == nil || string(res.Response.Body) != "abab\n" {
		t.Fatalf("/v1/run: %d %s", resp.StatusCode, b)
	}

	// p1 is busy: the Python call goes to p2.
	occupy(t, p1, 3000)
	code, _ := json.Marshal(&isolate.Code{MainModule: "w.py", Modules: map[string]*isolate.Module{"w.py": {Kind: isolate.ModulePython,
		Source: "from workers import Response\ndef on_fetch(request, env):\n    return Response('from python')\n"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := p1.Run(ctx, &RunRequest{Code: code, Request: &isolate.Request{URL: "http://x/"}})
	if !r.OK() || string(r.Response.Body) != "from python" {
		t.Fatalf("forwarded: %s %s %+v", r.Outcome, r.Error, r.Exceptions)
	}
	if hops := strings.Join(r.Telemetry.Hops, ">"); hops != "p1>p2" {
		t.Fatalf("ran on %s, want p1>p2", hops)
	}
}

// TestPythonKVNegativeTTL: a Python Worker's put with a negative
// expiration_ttl is refused, as a JavaScript Worker's is. Before, only a
// TTL above 0 reached the store: a negative one was dropped, and the key
// stored to live for ever.
func TestPythonKVNegativeTTL(t *testing.T) {
	requirePython(t)
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 16, "pyttl")
	t.Cleanup(func() { kv.Close() })
	c.tune = func(cfg *Config) { cfg.KV, cfg.Groups = kv, testGroups }
	sharePythonCache(t, c, "pyttl")
	n := c.start("pyttl", c.secret, 2)
	code := map[string]any{"mainModule": "w.py", "modules": map[string]string{"w.py": `
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        try:
            await self.env.KV.put("k", "v", expiration_ttl=-5)
            said = "stored"
        except Exception as e:
            said = "refused: " + str(e)
        return Response(said + " | " + str(await self.env.KV.get("k")))
`}}
	body, _ := json.Marshal(map[string]any{"code": code, "bindings": map[string]any{"KV": map[string]string{"kv": "app"}}})
	if status, _, b := call(t, n, "PUT", "/v1/workers/pyttl", strings.NewReader(string(body)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, b)
	}
	status, _, got := serve(t, n, "GET", "/w/pyttl/", "", nil)
	if status != 200 || !strings.HasPrefix(got, "refused: ") || !strings.Contains(got, "expirationTtl") || !strings.HasSuffix(got, " | None") {
		t.Errorf("a put with expiration_ttl=-5: %d %q, want it refused and nothing stored", status, got)
	}
}
