package isolate

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPythonWorker covers Python Workers in the shape of Cloudflare's:
// WorkerEntrypoint with self.env, on_fetch, the request, headers and
// status, fetch denied and granted, KV.
func TestPythonWorker(t *testing.T) {
	skipUnderRace(t)
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := pyRuntime(t, kind)
			c := py("worker.py", `
from workers import WorkerEntrypoint, Response
import json

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        data = await request.json()
        print("got", request.method, request.url)
        return Response.json({"hi": self.env.GREETING, "n": data["n"] * 2,
                              "ua": request.headers.get("User-Agent")},
                             status=201, headers={"x-py": "1"})
`)
			c.Env = map[string]json.RawMessage{"GREETING": json.RawMessage(`"hello"`)}
			res := pyRun(t, rt, c, &Request{Method: "POST", URL: "http://w.test/p", Headers: map[string]string{"user-agent": "t"}, Body: []byte(`{"n": 21}`)})
			if res.Outcome != OutcomeOK {
				t.Fatalf("class worker: %+v", res)
			}
			if res.Response.Status != 201 || res.Response.Headers["x-py"] != "1" || res.Response.Headers["content-type"] != "application/json" {
				t.Fatalf("class worker response: %+v", res.Response)
			}
			var got map[string]any
			if err := json.Unmarshal(res.Response.Body, &got); err != nil || got["hi"] != "hello" || got["n"] != 42.0 || got["ua"] != "t" {
				t.Fatalf("class worker body %s: %v", res.Response.Body, err)
			}
			if len(res.Logs) != 1 || res.Logs[0].Message != "got POST http://w.test/p" || res.Logs[0].Level != "log" {
				t.Fatalf("class worker logs: %+v", res.Logs)
			}

			res = pyRun(t, rt, py("main.py", `
from workers import Response
def on_fetch(request, env):
    return Response("plain " + request.method, headers={"content-type": "text/x-test"})
`), &Request{Method: "PUT", URL: "http://w.test/"})
			if res.Outcome != OutcomeOK || string(res.Response.Body) != "plain PUT" || res.Response.Headers["content-type"] != "text/x-test" || res.Response.Status != 200 {
				t.Fatalf("on_fetch: %+v", res)
			}

			// Cloudflare's first examples: js.Response.new, @handler.
			res = pyRun(t, rt, py("main.py", `
from js import Response, console
from workers import handler

@handler
async def on_fetch(request, env):
    console.log("path", request.url)
    return Response.new("Hello World!", {"status": 202, "headers": {"x-a": "b"}})
`), &Request{Method: "GET", URL: "http://w.test/hi"})
			if res.Outcome != OutcomeOK || bodyOf(res) != "Hello World!" || res.Response.Status != 202 || res.Response.Headers["x-a"] != "b" ||
				len(res.Logs) != 1 || res.Logs[0].Message != "path http://w.test/hi" {
				t.Fatalf("js.Response.new: %+v %s", res, bodyOf(res))
			}

			// fetch: granted by the host (echo.test), denied otherwise.
			res = pyRun(t, rt, py("main.py", `
from workers import WorkerEntrypoint, Response, fetch

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        r = await fetch("https://echo.test/x", method="POST", body="ping")
        text = await r.text()
        try:
            await fetch("https://denied.test/")
            denied = "no"
        except OSError as e:
            denied = "yes: " + str(e)
        return Response(f"{r.status} {text} | {denied}")
`), nil)
			if res.Outcome != OutcomeOK || !strings.HasPrefix(string(res.Response.Body), "200 echo:POST:ping | yes: ") || !strings.Contains(string(res.Response.Body), "network access is not granted") {
				t.Fatalf("fetch: %+v %s", res, bodyOf(res))
			}

			// The node counts subrequests itself (fetch and binding calls
			// alike): a Python Worker is held to limits.subRequests too.
			c = py("main.py", `
from workers import WorkerEntrypoint, Response, fetch

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        made = 0
        try:
            for i in range(3):
                await fetch("https://echo.test/x")
                made += 1
            for i in range(5):
                await self.env.KV.get("k")
                made += 1
        except Exception as e:
            return Response(f"{made} | {e}")
        return Response(f"{made} | no limit")
`)
			c.Limits = &Limits{SubRequests: 5}
			res = pyRun(t, rt, c, nil)
			if res.Outcome != OutcomeOK || !strings.HasPrefix(bodyOf(res), "5 | ") || !strings.Contains(bodyOf(res), "Too many subrequests: the limit is 5 per invocation") {
				t.Fatalf("subrequests: %+v %s", res, bodyOf(res))
			}

			// KV round trip through the binding KV.
			res = pyRun(t, rt, py("main.py", `
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        await self.env.KV.put("k1", "v1")
        await self.env.KV.put("k2", "v2")
        a = await self.env.KV.get("k1")
        missing = await self.env.KV.get("nope")
        keys = await self.env.KV.list(prefix="k")
        await self.env.KV.delete("k1")
        gone = await self.env.KV.get("k1")
        bulk = await self.env.KV.get(["k2", "k1"])
        return Response.json({"a": a, "missing": missing, "keys": [k["name"] for k in keys["keys"]], "gone": gone, "bulk": bulk})
`), nil)
			if res.Outcome != OutcomeOK || string(res.Response.Body) != `{"a": "v1", "missing": null, "keys": ["k1", "k2"], "gone": null, "bulk": {"k2": "v2", "k1": null}}` {
				t.Fatalf("kv: %+v %s", res, bodyOf(res))
			}

			// An exception in a Worker names its line.
			res = pyRun(t, rt, py("main.py", "from workers import Response\nasync def on_fetch(request, env):\n    raise ValueError('bad input')\n"), nil)
			if res.Outcome != OutcomeException || res.Exceptions[0].Name != "ValueError" || !strings.Contains(res.Exceptions[0].Stack, `File "main.py", line 3, in on_fetch`) {
				t.Fatalf("worker exception: %+v", res)
			}
		})
	}
}

// TestPythonHostile runs the hostile Python corpus in the sandbox: each
// script ends with its outcome within hostileBudget, and an honest call
// on the same runtime succeeds after each.
func TestPythonHostile(t *testing.T) {
	skipUnderRace(t)
	requirePython(t)
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	rt := pyRuntime(t, Sandboxed)
	// Room for the legitimate work of a case (a recursion to the limit, a
	// memory growth to the cap) on a loaded machine, within the budget; the
	// cases that spin get a short CPU limit.
	lim := &Limits{CPUMs: 1500, MemoryMB: 64, WallMs: 1800}
	spin := &Limits{CPUMs: 300, MemoryMB: 64, WallMs: 1800}
	honest := py("ok.py", "print('ok')")
	warm := func(t *testing.T) {
		t.Helper()
		if res := pyRun(t, rt, honest, nil); res.Outcome != OutcomeOK || bodyOf(res) != "ok\n" {
			t.Fatalf("honest call: %+v", res)
		}
	}
	// Both workers take their snapshot before the clock starts.
	for range 4 {
		warm(t)
	}
	cases := []struct {
		name, src string
		want      []Outcome
		exception string // the exception's name, for OutcomeException
		spins     bool
	}{
		{"infinite loop", "while True:\n    pass\n", []Outcome{OutcomeExceededCPU}, "", true},
		{"memory growth", "a = []\nwhile True:\n    a.append(bytearray(4 << 20))\n", []Outcome{OutcomeExceededMemory}, "", false},
		{"huge int", "x = 10 ** (10 ** 8)\n", []Outcome{OutcomeExceededCPU}, "", true},
		{"deep recursion", "def f(n):\n    return f(n + 1)\nf(0)\n", []Outcome{OutcomeException}, "RecursionError", false},
		{"unbounded recursion limit", "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\nf(0)\n", []Outcome{OutcomeExceededCPU, OutcomeExceededMemory, OutcomeException}, "", true},
		{"nested json", "import json\njson.loads('[' * 100000 + ']' * 100000)\n", []Outcome{OutcomeException}, "RecursionError", false},
		{"os.system", "import os\nos.system('id')\n", []Outcome{OutcomeException}, "AttributeError", false},
		{"fork", "import os\nos.fork()\n", []Outcome{OutcomeException}, "AttributeError", false},
		{"subprocess", "import subprocess\nsubprocess.run(['id'])\n", []Outcome{OutcomeException}, "OSError", false},
		{"open outside the stdlib", "open('/etc/passwd').read()\n", []Outcome{OutcomeException}, "PermissionError", false},
		{"write to the stdlib", "open('/lib/python3.11/os.py', 'w').write('x')\n", []Outcome{OutcomeException}, "", false},
		{"list the root", "import os\nos.listdir('/')\n", []Outcome{OutcomeException}, "PermissionError", false},
		{"socket", "import socket\nsocket.socket().connect(('1.1.1.1', 80))\n", []Outcome{OutcomeException}, "OSError", false},
		{"threads", "import threading\nthreading.Thread(target=print).start()\n", []Outcome{OutcomeException}, "RuntimeError", false},
		{"ctypes", "import ctypes\n", []Outcome{OutcomeException}, "ModuleNotFoundError", false},
		{"stdout flood", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", []Outcome{OutcomeException}, "RangeError", false},
		{"sleep past the wall", "import time\ntime.sleep(100)\n", []Outcome{OutcomeExceededWallTime}, "", false},
		{"busy with sleeps", "import time\nwhile True:\n    time.sleep(0.01)\n", []Outcome{OutcomeExceededWallTime}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := py("hostile.py", tc.src)
			c.Limits = lim
			if tc.spins {
				c.Limits = spin
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			res := rt.Run(ctx, &Invocation{Code: c, Request: &Request{Method: "GET", URL: "http://x/"}})
			took := time.Since(start)
			ok := false
			for _, o := range tc.want {
				ok = ok || res.Outcome == o
			}
			if !ok {
				t.Fatalf("outcome %s (%s), want one of %v: %+v", res.Outcome, res.Error, tc.want, res.Exceptions)
			}
			if tc.exception != "" && (len(res.Exceptions) == 0 || res.Exceptions[0].Name != tc.exception) {
				t.Fatalf("exception %+v, want %s", res.Exceptions, tc.exception)
			}
			if took > hostileBudget {
				t.Fatalf("took %v, budget %v", took, hostileBudget)
			}
			warm(t)
		})
	}
}

// TestPythonHostWaitIsNotCPU: the time a Python call waits on a host call
// (a 600 ms fetch) is neither charged to its cpuMs nor reported as its
// cpuTime, on both executors.
func TestPythonHostWaitIsNotCPU(t *testing.T) {
	skipUnderRace(t)
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := pyRuntime(t, kind)
			c := py("main.py", `
from workers import WorkerEntrypoint, Response, fetch

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        r = await fetch("https://slow.test/600")
        return Response(await r.text())
`)
			c.Limits = &Limits{CPUMs: 300}
			res := pyRun(t, rt, c, nil)
			if res.Outcome != OutcomeOK || string(res.Response.Body) != "slow 600" {
				t.Fatalf("a 600 ms fetch under cpuMs 300: %s %q %s", res.Outcome, res.Error, bodyOf(res))
			}
			t.Logf("cpuTime %.1f ms, wallTime %.1f ms", res.Telemetry.CPUTime, res.Telemetry.WallTime)
			if res.Telemetry.CPUTime >= 300 {
				t.Errorf("cpuTime %.1f ms: the fetch's 600 ms wait was counted", res.Telemetry.CPUTime)
			}
		})
	}
}

// twoCookies are Set-Cookie values whose Expires hold commas (a joined
// header cannot be split again).
var twoCookies = []string{"a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/", "b=2; Expires=Thu, 22 Oct 2026 07:28:00 GMT"}

// TestPythonSetCookies: a Python Worker's response can carry two
// Set-Cookie headers, each its own (Response.SetCookie), through
// Headers.append or a list of pairs, in workers and in js; a fetched
// response's stay apart too (get_all, getSetCookie). Before, the headers
// were a dict: the second replaced the first, and a fetched response's
// came joined.
func TestPythonSetCookies(t *testing.T) {
	skipUnderRace(t)
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := pyRuntime(t, kind)
			joined := strings.Join(twoCookies, ", ")
			// The values as Python literals.
			qa, _ := json.Marshal(twoCookies[0])
			qb, _ := json.Marshal(twoCookies[1])
			a, b := string(qa), string(qb)
			check := func(what string, res *Result, body string) {
				t.Helper()
				if res.Outcome != OutcomeOK || res.Response == nil {
					t.Fatalf("%s: %s %q %+v", what, res.Outcome, res.Error, res.Exceptions)
				}
				if !slices.Equal(res.Response.SetCookie, twoCookies) || res.Response.Headers["set-cookie"] != joined {
					t.Errorf("%s: setCookie %q, set-cookie %q; want each apart and joined", what, res.Response.SetCookie, res.Response.Headers["set-cookie"])
				}
				if body != "" && bodyOf(res) != body {
					t.Errorf("%s: body %s, want %s", what, bodyOf(res), body)
				}
			}

			res := pyRun(t, rt, py("main.py", `
import json
from workers import WorkerEntrypoint, Response, Headers, fetch

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        r = await fetch("https://cookies.test/")
        h = Headers({"x-multi": "1"})
        h.append("X-Multi", "2")
        h.append("Set-Cookie", `+a+`)
        h.append("set-cookie", `+b+`)
        got = {"all": r.headers.get_all("Set-Cookie"), "js": r.headers.getSetCookie(), "get": r.headers.get("set-cookie"),
               "none": Headers().get_all("set-cookie"), "mine": h.getSetCookie(), "copy": Headers(h).get_all("set-cookie")}
        return Response(json.dumps(got), headers=h)
`), nil)
			want, _ := json.Marshal(map[string]any{"all": twoCookies, "js": twoCookies, "get": joined, "none": []string{}, "mine": twoCookies, "copy": twoCookies})
			var gotBody, wantBody any
			_ = json.Unmarshal(want, &wantBody)
			if json.Unmarshal([]byte(bodyOf(res)), &gotBody) != nil || !reflect.DeepEqual(gotBody, wantBody) {
				t.Errorf("append: body %s, want %s", bodyOf(res), want)
			}
			check("append", res, "")
			if res.Response.Headers["x-multi"] != "1, 2" {
				t.Errorf("append: x-multi %q, want \"1, 2\"", res.Response.Headers["x-multi"])
			}

			res = pyRun(t, rt, py("main.py", `
from workers import Response
def on_fetch(request):
    return Response("pairs", headers=[("Set-Cookie", `+a+`), ("Set-Cookie", `+b+`)])
`), nil)
			check("a list of pairs", res, "pairs")

			res = pyRun(t, rt, py("main.py", `
from js import Response, Headers
def on_fetch(request):
    h = Headers()
    h.set("set-cookie", "gone=1")
    h["Set-Cookie"] = `+a+`
    h.append("Set-Cookie", `+b+`)
    return Response.new("js", {"headers": h})
`), nil)
			check("js.Response.new", res, "js")

			// One stays in the headers alone, as for JavaScript.
			res = pyRun(t, rt, py("main.py", `
from workers import Response, Headers
def on_fetch(request):
    h = Headers()
    h.append("Set-Cookie", "x=1")
    h.append("Set-Cookie", "y=2")
    del h["set-cookie"]
    h.append("Set-Cookie", "z=3")
    return Response("one", headers=h)
`), nil)
			if res.Outcome != OutcomeOK || res.Response.SetCookie != nil || res.Response.Headers["set-cookie"] != "z=3" {
				t.Errorf("one cookie: %s %q %+v", res.Outcome, res.Error, res.Response)
			}
		})
	}
}

// TestPythonResponseBound: a Python Worker's response is at most
// MaxResponseBytes, body, headers and Set-Cookie values together, as a
// JavaScript Worker's is: a larger one is a RangeError. Before, a 40 MiB
// body, or 12 MiB of cookies beside it, went out whole.
func TestPythonResponseBound(t *testing.T) {
	skipUnderRace(t)
	rt := pyRuntime(t, InProcess)
	for _, tc := range []struct{ what, ret string }{
		{"a body", "Response(b'x' * (MaxResponseBytes + 1))"},
		{"cookies", "Response(b'x' * (MaxResponseBytes - (1 << 20)), headers=[('set-cookie', 'c' * (1 << 20)) for i in range(2)])"},
	} {
		c := py("main.py", fmt.Sprintf("from workers import Response\nMaxResponseBytes = %d\ndef on_fetch(request):\n    return %s\n", MaxResponseBytes, tc.ret))
		// The CPU of a loaded machine (make test's): the cookies' JSON
		// is CPython's on WebAssembly.
		c.Limits = &Limits{MemoryMB: 256, CPUMs: 5000}
		res := pyRun(t, rt, c, nil)
		if res.Outcome != OutcomeException || len(res.Exceptions) == 0 || res.Exceptions[0].Name != "RangeError" || res.Response != nil {
			t.Errorf("%s: %s %q %+v, want a RangeError", tc.what, res.Outcome, res.Error, res.Exceptions)
		}
	}
	res := pyRun(t, rt, py("main.py", "from workers import Response\ndef on_fetch(request):\n    return Response(b'x' * (1 << 20))\n"), nil)
	if res.Outcome != OutcomeOK || len(res.Response.Body) != 1<<20 {
		t.Errorf("1 MiB: %s %q", res.Outcome, res.Error)
	}
}

// TestPythonMalformedResponse: a Python Worker's response that no HTTP
// response can be (a status outside [200, 599] or not a number, a header
// name that is not a token, a value with a CR, LF or NUL or not a string,
// more than MaxResponseBytes) ends the call with an exception naming what
// was wrong, as the same mistake does in JavaScript, and never with a
// response the node cannot send. Before, each went out as an ok response
// (status 5, status 0, a header "a b"), or as an OSError quoting Go's JSON
// decoder; a body past the worker's frame (64 MiB) killed the sandbox
// worker, and the call ended internalError.
func TestPythonMalformedResponse(t *testing.T) {
	skipUnderRace(t)
	const pre = "from workers import Response\ndef on_fetch(request, env):\n    r = Response('x')\n"
	cases := []struct {
		name, src, exception, message string
	}{
		{"status 5", pre + "    r.status = 5\n    return r\n", "RangeError", "the response's status 5 is outside the range [200, 599]"},
		{"status None", pre + "    r.status = None\n    return r\n", "TypeError", "the response's status is null, not an integer"},
		{"status a string", pre + "    r.status = 'zz'\n    return r\n", "TypeError", `the response's status is "zz", not an integer`},
		{"status huge", pre + "    r.status = 10 ** 30\n    return r\n", "RangeError", "the response's status 1000000000000000000000000000000 is outside the range [200, 599]"},
		{"header name", "from workers import Response\ndef on_fetch(request, env):\n    return Response('x', headers={'a b': 'c'})\n", "TypeError", `Invalid header name: "a b"`},
		{"header value CR LF", "from workers import Response\ndef on_fetch(request, env):\n    return Response('x', headers={'a': 'b\\r\\nc: d'})\n", "TypeError", `Invalid header value of "a": it has a CR, LF or NUL`},
		{"header value not a string", pre + "    r.headers._h['a'] = ['x']\n    return r\n", "TypeError", `the value of the response's header "a" is not a string`},
		{"headers not an object", pre + "    r.headers._h = None\n    return r\n", "AttributeError", ""},
		{"body past the bound", "from workers import Response\ndef on_fetch(request, env):\n    return Response(b'x' * ((32 << 20) - 10), headers={'a': 'bcdefghijkl'})\n", "RangeError",
			"the response is 33554434 bytes (body and headers), more than the limit of 33554432"},
		{"body past the frame", "from workers import Response\ndef on_fetch(request, env):\n    return Response(b'x' * (70 << 20))\n", "RangeError",
			"the response is 73400320 bytes (body and headers), more than the limit of 33554432"},
		{"no status", "import _warren\ndef on_fetch(request, env):\n    _warren.call('respond', b'{}\\n')\n    return 'x'\n", "TypeError", "the response has no status"},
		{"sent twice", "import _warren\nfrom workers import Response\ndef on_fetch(request, env):\n    _warren.call('respond', b'{\"status\": 201}\\n')\n    return Response('x')\n", "Error", "the response was sent already"},
	}
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := pyRuntime(t, kind)
			for _, tc := range cases {
				c := py("main.py", tc.src)
				c.Limits = &Limits{CPUMs: 5000, MemoryMB: 512, WallMs: 20_000}
				res := pyRun(t, rt, c, nil)
				if res.Outcome != OutcomeException || len(res.Exceptions) == 0 || res.Exceptions[0].Name != tc.exception || !strings.Contains(res.Exceptions[0].Message, tc.message) || res.Response != nil {
					t.Errorf("%s: %s %q %+v, want an exception %s: %s", tc.name, res.Outcome, res.Error, res.Exceptions, tc.exception, tc.message)
				}
			}
			// A response within the bounds still goes out, its headers as
			// they were.
			res := pyRun(t, rt, py("main.py", "from workers import Response\ndef on_fetch(request, env):\n    return Response('x', status=599, headers={'x-a': ' b\\tc', 'x-b': 'ü'})\n"), nil)
			if res.Outcome != OutcomeOK || res.Response.Status != 599 || res.Response.Headers["x-a"] != " b\tc" || res.Response.Headers["x-b"] != "ü" || bodyOf(res) != "x" {
				t.Errorf("a valid response: %+v", res)
			}
		})
	}
}

// TestPythonHandlerNotCallable: a main module that names a fetch handler
// it cannot call is an exception that says so. Before, `on_fetch = 5` (or
// a Default class without fetch) ran as a script: ok, with no response,
// whatever the request.
func TestPythonHandlerNotCallable(t *testing.T) {
	skipUnderRace(t)
	rt := pyRuntime(t, InProcess)
	for _, tc := range []struct{ src, want string }{
		{"on_fetch = 5\n", "on_fetch is not a function but int"},
		{"from workers import WorkerEntrypoint\nclass Default(WorkerEntrypoint):\n    pass\n", "Default has no fetch method"},
	} {
		res := pyRun(t, rt, py("main.py", tc.src), &Request{Method: "GET", URL: "http://w.test/"})
		if res.Outcome != OutcomeException || len(res.Exceptions) != 1 || res.Exceptions[0].Name != "TypeError" || !strings.Contains(res.Exceptions[0].Message, tc.want) {
			t.Errorf("%q: %s %+v %+v, want a TypeError %q", tc.src, res.Outcome, res.Exceptions, res.Response, tc.want)
		}
	}
	// A script (no handler named) still runs as one.
	res := pyRun(t, rt, py("main.py", "Default = 3\nprint('script')\n"), &Request{Method: "GET", URL: "http://w.test/"})
	if res.Outcome != OutcomeOK || res.Response == nil || string(res.Response.Body) != "script\n" {
		t.Errorf("a script: %s %+v", res.Outcome, res.Response)
	}
}
