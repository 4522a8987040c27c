package isolate

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/warrenmesh/warren/internal/gotool"
	"github.com/warrenmesh/warren/isolate/internal/wasmrun"
)

var (
	echoOnce sync.Once
	echoWasm []byte
	echoErr  error
)

// echoModule builds a Go WASI command that echoes stdin (upper-cased when
// SHOUT is set in env), fails with exit 3 on input "fail" and prints 16
// random bytes in hex on input "rand".
func echoModule(t *testing.T) []byte {
	t.Helper()
	echoOnce.Do(func() {
		dir, err := os.MkdirTemp("", "warren-wasm")
		if err != nil {
			echoErr = err
			return
		}
		defer os.RemoveAll(dir)
		src := `package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	b, _ := io.ReadAll(os.Stdin)
	s := string(b)
	if s == "rand" {
		r := make([]byte, 16)
		rand.Read(r)
		fmt.Printf("%x", r)
		return
	}
	if s == "fail" {
		fmt.Fprintln(os.Stderr, "asked to fail")
		os.Exit(3)
	}
	if os.Getenv("SHOUT") != "" {
		s = strings.ToUpper(s)
	}
	fmt.Print(s)
}
`
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
			echoErr = err
			return
		}
		out := filepath.Join(dir, "echo.wasm")
		goCmd, err := gotool.Path()
		if err != nil {
			echoErr = err
			return
		}
		cmd := exec.Command(goCmd, "build", "-o", out, "main.go")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GO111MODULE=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			echoErr = err
			t.Logf("go build: %s", b)
			return
		}
		echoWasm, echoErr = os.ReadFile(out)
	})
	if echoErr != nil {
		t.Fatalf("building the echo module: %v", echoErr)
	}
	return echoWasm
}

func TestWasmEcho(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm module")
	}
	// Compiling a Go module of a few MB with wazero's compiler takes
	// 15-20 s under the race detector, a second without; the sandbox's and
	// the executors' concurrency is tested under -race elsewhere.
	skipUnderRace(t)
	wasm := echoModule(t)
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			if kind == Sandboxed {
				rt = sandboxCompiled(t, wasm)
			}
			code := &Code{MainModule: "echo.wasm", Modules: map[string]*Module{"echo.wasm": {Kind: ModuleWasm, Data: wasm}}}
			res := run(t, rt, code, &Request{Method: "POST", Body: []byte("hello wasm")})
			if !res.OK() || string(res.Response.Body) != "hello wasm" {
				t.Fatalf("echo: %s %q %+v", res.Outcome, res.Error, res.Exceptions)
			}
			shout := *code
			shout.Env = map[string]json.RawMessage{"SHOUT": json.RawMessage(`"1"`)}
			res = run(t, rt, &shout, &Request{Method: "POST", Body: []byte("hey")})
			if !res.OK() || string(res.Response.Body) != "HEY" {
				t.Fatalf("env: %s %+v %+v", res.Outcome, res.Response, res.Exceptions)
			}
			res = run(t, rt, code, &Request{Method: "POST", Body: []byte("fail")})
			if res.Outcome != OutcomeException || len(res.Exceptions) == 0 || !strings.Contains(res.Exceptions[0].Message, "asked to fail") {
				t.Fatalf("non-zero exit: %s %+v", res.Outcome, res.Exceptions)
			}
			// random_get draws from the OS's CSPRNG on every call, unless
			// the code asks for the deterministic stream. (The module is
			// compiled once for all these code objects: by its own hash.)
			draw := func(flags ...string) string {
				c := *code
				c.CompatibilityFlags = flags
				res := run(t, rt, &c, &Request{Method: "POST", Body: []byte("rand")})
				// In process, one engine: the module is compiled already.
				// (A sandbox call may land on a worker that has not.)
				cold := kind == InProcess && res.Telemetry.ColdStart
				if res.Outcome != OutcomeOK || len(res.Response.Body) != 32 || cold {
					t.Fatalf("rand: %s %s %+v cold %v", res.Outcome, res.Error, res.Response, res.Telemetry.ColdStart)
				}
				return string(res.Response.Body)
			}
			if a, b := draw(), draw(); a == b {
				t.Errorf("two calls drew the same random bytes %s", a)
			}
			if a, b := draw(DeterministicRandomFlag), draw(DeterministicRandomFlag); a != b {
				t.Errorf("with %s, two calls drew %s and %s", DeterministicRandomFlag, a, b)
			}
		})
	}
}

// sandboxCompiled returns a sandboxed runtime whose wasm cache holds wasm
// compiled, as a node's workers share the node's cache. Under -race each
// worker compiling a Go program again takes about as long as a call may
// (30 s in run); TestGoWasmFromJS compiles in a fresh worker.
func sandboxCompiled(t *testing.T, wasm []byte) *Runtime {
	t.Helper()
	cache := t.TempDir()
	eng, err := wasmrun.NewEngine(t.Context(), wasmrun.Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	out, err := eng.Run(t.Context(), wasmrun.Input{Wasm: wasm, Stdin: []byte("compiled")})
	eng.Close(t.Context())
	if err != nil || string(out.Stdout) != "compiled" {
		t.Fatalf("compiling into the cache: %v", err)
	}
	rt, err := New(Options{Executor: Sandboxed, Workers: 2, Host: newMemHost(), Node: "test", CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}
