package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// requirePython finds the artifacts of make python for the nodes of a test
// (in-process executors): skipped without them, failed when
// WARREN_REQUIRE_PYTHON=1.
func requirePython(t *testing.T) {
	t.Helper()
	if isolate.PythonAvailable() == nil {
		return
	}
	err := SetPythonDir(filepath.Join("..", "build", "python"))
	if err == nil {
		return
	}
	if os.Getenv("WARREN_REQUIRE_PYTHON") == "1" {
		t.Fatalf("WARREN_REQUIRE_PYTHON=1: %v", err)
	}
	t.Skipf("no Python (make python): %v", err)
}

// TestPythonThroughAPIAndMesh: a Python code object through /v1/run, and a
// Python call that its node forwards to a peer with room, as a JS call.
func TestPythonThroughAPIAndMesh(t *testing.T) {
	requirePython(t)
	c := newCluster(t, 14, "p1", "p2")
	// The nodes share one compilation cache for python.wasm, kept between
	// runs: compiling it takes seconds (minutes under -race) per node.
	if shared, err := os.UserCacheDir(); err == nil {
		shared = filepath.Join(shared, "warren", "python") // as isolate's tests
		for _, name := range []string{"p1", "p2"} {
			dir := filepath.Join(c.dir, name, "wasm-cache")
			if os.MkdirAll(shared, 0o700) != nil || os.MkdirAll(dir, 0o700) != nil || os.Symlink(shared, filepath.Join(dir, "python")) != nil {
				t.Log("no shared compilation cache: each node compiles python.wasm")
			}
		}
	}
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
