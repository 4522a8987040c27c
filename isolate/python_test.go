package isolate

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/pyrun"
)

// requirePython skips a test when the Python artifacts are missing, or
// fails it when WARREN_REQUIRE_PYTHON=1 (make test, .ci/run).
func requirePython(t testing.TB) {
	t.Helper()
	if err := PythonAvailable(); err != nil {
		if os.Getenv("WARREN_REQUIRE_PYTHON") == "1" {
			t.Fatalf("WARREN_REQUIRE_PYTHON=1: %v", err)
		}
		t.Skipf("no Python: %v", err)
	}
}

// py builds a Python code object from name/source pairs; the first is the
// main module.
func py(pairs ...string) *Code {
	c := &Code{MainModule: pairs[0], Modules: map[string]*Module{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		c.Modules[pairs[i]] = &Module{Kind: ModulePython, Source: pairs[i+1]}
	}
	return c
}

// pyRuntime is a runtime of kind for one test, when Python is available.
func pyRuntime(t testing.TB, kind ExecutorKind) *Runtime {
	t.Helper()
	requirePython(t)
	if kind != Sandboxed || sandboxPythonCache == "" {
		return testRuntime(t, kind)
	}
	// The workers load python.wasm compiled, from a cache, as a node's do.
	rt, err := New(Options{Executor: kind, Workers: 2, Host: newMemHost(), Node: "test", CacheDir: sandboxPythonCache})
	if err != nil {
		t.Fatalf("New(%s): %v", kind, err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func pyRun(t testing.TB, rt *Runtime, c *Code, req *Request) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return rt.Run(ctx, &Invocation{Code: c, Request: req, Bindings: map[string]Binding{"KV": {KV: "test"}}})
}

// TestPythonCorpus runs the scripts of testdata/python on both executors
// and compares their stdout with the native python3.11's (the .want files,
// made by testdata/python/regen.sh).
func TestPythonCorpus(t *testing.T) {
	skipUnderRace(t)
	requirePython(t)
	files, err := filepath.Glob(filepath.Join("testdata", "python", "*.py"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		rt := pyRuntime(t, kind)
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".py")
			t.Run(string(kind)+"/"+name, func(t *testing.T) {
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(strings.TrimSuffix(f, ".py") + ".want")
				if err != nil {
					t.Fatal(err)
				}
				req := &Request{Method: "POST", URL: "http://x/"}
				if in, err := os.ReadFile(strings.TrimSuffix(f, ".py") + ".in"); err == nil {
					req.Body = in
				}
				res := pyRun(t, rt, py(name+".py", string(src)), req)
				if res.Outcome != OutcomeOK {
					t.Fatalf("outcome %s: %s %+v %+v", res.Outcome, res.Error, res.Exceptions, res.Logs)
				}
				if got := string(res.Response.Body); got != string(want) {
					t.Fatalf("stdout differs from native python3.11:\n--- got\n%s\n--- want\n%s", got, want)
				}
			})
		}
	}
}

// TestPythonScript covers the script contract: the body, logs, exceptions
// with tracebacks naming the author's files, importable modules, exit
// statuses.
func TestPythonScript(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := pyRuntime(t, kind)
			res := pyRun(t, rt, py("main.py", "import sys\nprint('to stderr', file=sys.stderr)\nprint('out')\n"), nil)
			if res.Outcome != OutcomeOK || string(res.Response.Body) != "out\n" || res.Response.Status != 200 {
				t.Fatalf("hello: %+v", res)
			}
			if len(res.Logs) != 1 || res.Logs[0].Message != "to stderr" {
				t.Fatalf("logs: %+v", res.Logs)
			}

			res = pyRun(t, rt, py("main.py", "import helper\nprint('before')\nhelper.boom(3)\n",
				"helper.py", "def boom(n):\n    x = {}\n    return x[n]\n"), nil)
			if res.Outcome != OutcomeException || len(res.Exceptions) != 1 {
				t.Fatalf("exception: %+v", res)
			}
			x := res.Exceptions[0]
			if x.Name != "KeyError" || x.Message != "3" {
				t.Fatalf("exception: %+v", x)
			}
			for _, want := range []string{`File "main.py", line 3, in <module>`, `File "helper.py", line 3, in boom`, "return x[n]", "KeyError: 3"} {
				if !strings.Contains(x.Stack, want) {
					t.Fatalf("traceback lacks %q:\n%s", want, x.Stack)
				}
			}
			if strings.Contains(x.Stack, "_warren_rt") {
				t.Fatalf("traceback shows the runtime's frames:\n%s", x.Stack)
			}

			// Packages, and a module's own exception class.
			res = pyRun(t, rt, py("app.py", "from pkg.sub import f\nimport pkg\nprint(f(), pkg.NAME)\nclass Oops(Exception): pass\nraise Oops('no')\n",
				"pkg/__init__.py", "NAME = 'pkg'\n", "pkg/sub.py", "def f():\n    return 42\n"), nil)
			if res.Outcome != OutcomeException || res.Exceptions[0].Name != "Oops" || res.Exceptions[0].Message != "no" {
				t.Fatalf("package: %+v", res)
			}

			res = pyRun(t, rt, py("main.py", "import sys\nprint('partial')\nsys.exit(0)\nprint('never')\n"), nil)
			if res.Outcome != OutcomeOK || string(res.Response.Body) != "partial\n" {
				t.Fatalf("sys.exit(0): %+v", res)
			}
			res = pyRun(t, rt, py("main.py", "import sys\nsys.exit(4)\n"), nil)
			if res.Outcome != OutcomeException || res.Exceptions[0].Name != "SystemExit" || !strings.Contains(res.Exceptions[0].Message, "status 4") {
				t.Fatalf("sys.exit(4): %+v", res)
			}
			res = pyRun(t, rt, py("main.py", "def f(:\n"), nil)
			if res.Outcome != OutcomeException || res.Exceptions[0].Name != "SyntaxError" || !strings.Contains(res.Exceptions[0].Stack, `File "main.py", line 1`) {
				t.Fatalf("syntax error: %+v", res)
			}
		})
	}
}

// TestPythonRealClockAndRandom: the real clock, and a CSPRNG that differs
// between calls although every call starts from one snapshot.
func TestPythonRealClockAndRandom(t *testing.T) {
	src := "import time, os, random, secrets\nprint(int(time.time()), os.urandom(8).hex(), random.random(), secrets.token_hex(8))\n"
	rt := pyRuntime(t, InProcess)
	res := pyRun(t, rt, py("main.py", src), nil)
	res2 := pyRun(t, rt, py("main.py", src), nil)
	if res.Outcome != OutcomeOK || res2.Outcome != OutcomeOK {
		t.Fatalf("%+v %+v", res, res2)
	}
	// The first call of the runtime started the interpreter; the second
	// started from its snapshot.
	if !res.Telemetry.ColdStart || res.Telemetry.StartupMs <= 0 || res2.Telemetry.ColdStart {
		t.Fatalf("telemetry: %+v then %+v", res.Telemetry, res2.Telemetry)
	}
	a, b := strings.Fields(string(res.Response.Body)), strings.Fields(string(res2.Response.Body))
	if got, err := strconv.ParseInt(a[0], 10, 64); err != nil || got < time.Now().Unix()-60 || got > time.Now().Unix()+60 {
		t.Fatalf("time.time() = %s, now %d", a[0], time.Now().Unix())
	}
	for i := 1; i < 4; i++ {
		if a[i] == b[i] {
			t.Fatalf("field %d repeats between calls: %q %q", i, a, b)
		}
	}
}

// TestPythonDataFiles: the code object's other modules are files in the
// working folder (/code), read-only.
func TestPythonDataFiles(t *testing.T) {
	skipUnderRace(t)
	rt := pyRuntime(t, Sandboxed)
	c := py("main.py", `import csv, json, os
rows = list(csv.reader(open("data/rows.csv")))
cfg = json.load(open("config.json"))
print(os.getcwd(), rows[1], cfg["k"], sorted(os.listdir(".")))
try:
    open("new.txt", "w")
except OSError as e:
    print(type(e).__name__)
`)
	c.Modules["data/rows.csv"] = &Module{Kind: ModuleText, Source: "a,b\n1,2\n"}
	c.Modules["config.json"] = &Module{Kind: ModuleJSON, JSON: []byte(`{"k": "v"}`)}
	res := pyRun(t, rt, c, nil)
	if res.Outcome != OutcomeOK {
		t.Fatalf("%+v", res)
	}
	if got, want := bodyOf(res), "/code ['1', '2'] v ['config.json', 'data', 'main.py']\n"; !strings.HasPrefix(got, want) || strings.Count(got, "\n") != 2 {
		t.Fatalf("got %q, want %q and an error on writing", got, want)
	}
}

// TestPythonUnavailable: a binary without the artifacts answers a Python
// call with an exception that says so and how to get them.
func TestPythonUnavailable(t *testing.T) {
	t.Setenv(pyrun.DirEnv, "")
	if PythonAvailable() == nil {
		t.Skip("this binary embeds Python")
	}
	rt := testRuntime(t, InProcess)
	res := run(t, rt, py("main.py", "print(1)"), nil)
	if res.Outcome != OutcomeException || !strings.HasPrefix(res.Exceptions[0].Message, "Python is not available in this build") ||
		!strings.Contains(res.Exceptions[0].Message, "--python-dir") {
		t.Fatalf("%+v", res)
	}
}

// TestPythonWarmsTheCache: with an empty wasm cache, the first Python call
// of a sandboxed runtime has a preparer compile python.wasm into it (the
// workers that run calls only read it), and the call runs.
func TestPythonWarmsTheCache(t *testing.T) {
	requirePython(t)
	skipUnderRace(t) // compiling python.wasm takes half a minute under -race
	if testing.Short() {
		t.Skip("-short: compiles python.wasm")
	}
	cache := t.TempDir()
	rt, err := New(Options{Executor: Sandboxed, Workers: 1, Host: newMemHost(), Node: "test", CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	res := pyRun(t, rt, py("main.py", "print('warm', end='')"), nil)
	if !res.OK() || bodyOf(res) != "warm" {
		t.Fatalf("%s %s %v", res.Outcome, res.Error, res.Exceptions)
	}
	files := 0
	_ = filepath.WalkDir(filepath.Join(cache, "python"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files == 0 {
		t.Fatal("python.wasm is not in the wasm cache after a Python call")
	}
	// Every worker that runs calls starts from the cache now: another one
	// (after a recycle) loads it rather than compiling it.
	if r := rt.Run(context.Background(), &Invocation{Code: py("main.py", "print('other', end='')"), Tenant: "other"}); !r.OK() {
		t.Fatalf("another tenant's call: %s %s", r.Outcome, r.Error)
	} else {
		t.Logf("another worker's first Python call: startup %v ms", r.Telemetry.StartupMs)
	}
}
