package isolate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/internal/cpujobs"
	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// addWasm imports env.scale(i32) -> i32 and exports add(a, b) =
// scale(a + b) and a one-page memory "mem" (hand-assembled).
var addWasm = []byte("\x00asm\x01\x00\x00\x00\x01\f\x02`\x01\x7f\x01\x7f`\x02\x7f\x7f\x01\x7f\x02\r\x01\x03env\x05scale\x00\x00\x03\x02\x01\x01\x05\x03\x01\x00\x01\a\r\x02\x03add\x00\x01\x03mem\x02\x00\n\v\x01\t\x00 \x00 \x01j\x10\x00\v")

// limitsWasm exports spin() (an endless loop), bomb() (grows its memory 16
// pages at a time until refused; returns the pages it has), recurse()
// (calls itself forever) and its memory "mem" (hand-assembled).
var limitsWasm = []byte("\x00asm\x01\x00\x00\x00\x01\v\x03`\x00\x00`\x00\x01\x7f`\x00\x00\x03\x04\x03\x00\x01\x02\x05\x03\x01\x00\x01\a\x1f\x04\x04spin\x00\x00\x04bomb\x00\x01\arecurse\x00\x02\x03mem\x02\x00\n\x1f\x03\a\x00\x03@\f\x00\v\v\x10\x00\x03@A\x10@\x00A\x7fG\r\x00\v?\x00\v\x04\x00\x10\x02\v")

// limitsWorker returns String(expr), with x the exports of limitsWasm.
func limitsWorker(expr string) *Code {
	c := js("main.js", `import mod from "./limits.wasm";
export default { fetch() {
  const x = new WebAssembly.Instance(mod).exports;
  return new Response(String(`+expr+`));
} };`)
	c.Modules["limits.wasm"] = &Module{Kind: ModuleWasm, Data: limitsWasm}
	return c
}

// TestWasmFromJSLimits: wasm called from JS runs under the isolate's
// limits on both executors.
func TestWasmFromJSLimits(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)

			// An endless loop in wasm ends with exceededCpu.
			c := limitsWorker("x.spin()")
			c.Limits = &Limits{CPUMs: 100, WallMs: 10_000}
			res := run(t, rt, c, nil)
			if res.Outcome != OutcomeExceededCPU {
				t.Fatalf("spin: %s %q %+v", res.Outcome, res.Error, res.Exceptions)
			}
			if res.Telemetry.CPUTime > 2_000 {
				t.Errorf("spin: stopped after %v ms of CPU", res.Telemetry.CPUTime)
			}

			// So does an endless loop in a JS import that wasm called.
			c = js("main.js", `import mod from "./add.wasm";
export default { fetch() {
  const x = new WebAssembly.Instance(mod, { env: { scale: () => { for (;;) {} } } }).exports;
  try { x.add(1, 2); } catch (e) { return new Response("caught " + e.name); }
  return new Response("returned");
} };`)
			c.Modules["add.wasm"] = &Module{Kind: ModuleWasm, Data: addWasm}
			c.Limits = &Limits{CPUMs: 100, WallMs: 10_000}
			res = run(t, rt, c, nil)
			if res.Outcome != OutcomeExceededCPU {
				t.Fatalf("spin in an import: %s %q %+v %q", res.Outcome, res.Error, res.Exceptions, bodyOf(res))
			}

			// A memory bomb is refused growth at the memory limit: the
			// Worker sees memory.grow return -1 (or the heap watchdog ends
			// it first), never more memory than the limit.
			c = limitsWorker("x.bomb()")
			c.Limits = &Limits{CPUMs: 5_000, WallMs: 10_000, MemoryMB: 32}
			res = run(t, rt, c, nil)
			t.Logf("bomb: %s %q", res.Outcome, bodyOf(res))
			switch res.Outcome {
			case OutcomeOK:
				pages, err := strconv.Atoi(string(res.Response.Body))
				if err != nil || pages*65536 > 32<<20 || pages < 16 {
					t.Fatalf("bomb: grew to %q pages under a 32 MiB limit", res.Response.Body)
				}
			case OutcomeExceededMemory:
			default:
				t.Fatalf("bomb: %s %q %+v", res.Outcome, res.Error, res.Exceptions)
			}

			// Unbounded recursion in wasm is a RuntimeError, not a crash.
			// (wazero grows the wasm stack to ~100 MB before it overflows:
			// under a smaller memory limit the heap watchdog ends the call
			// first, with exceededMemory.)
			c = limitsWorker("x.recurse()")
			c.Limits = &Limits{MemoryMB: 320, CPUMs: 20_000, WallMs: 30_000}
			res = run(t, rt, c, nil)
			if res.Outcome != OutcomeException || len(res.Exceptions) == 0 ||
				res.Exceptions[0].Name != "RuntimeError" || !strings.Contains(res.Exceptions[0].Message, "stack overflow") {
				t.Fatalf("recurse: %s %q %+v", res.Outcome, res.Error, res.Exceptions)
			}

			// The worker is still fine afterwards.
			res = run(t, rt, limitsWorker("x.mem.buffer.byteLength"), nil)
			if !res.OK() || string(res.Response.Body) != "65536" {
				t.Fatalf("after: %s %q %+v", res.Outcome, res.Error, res.Exceptions)
			}
		})
	}
}

func bodyOf(r *Result) string {
	if r.Response == nil {
		return ""
	}
	return string(r.Response.Body)
}

var (
	goJSOnce sync.Once
	goJSWasm []byte
	goJSGlue string
	goJSErr  error
)

// goJSModule builds cpujobs.GoProgram (Go's js/wasm port) and returns the
// module and the toolchain's JS glue (wasm_exec.js), once per test binary.
func goJSModule(t testing.TB) ([]byte, string) {
	t.Helper()
	goJSOnce.Do(func() { goJSWasm, goJSGlue, goJSErr = cpujobs.Build() })
	if goJSErr != nil {
		t.Fatalf("building the Go js/wasm module: %v", goJSErr)
	}
	return goJSWasm, goJSGlue
}

// goJSWorker runs the Go module with its glue, unchanged, in a JS Worker:
// the response is goSha256(body) and goSort(body), one per line.
func goJSWorker(wasm []byte, glue string) *Code {
	c := js("main.js", `import "./wasm_exec.js";
import mod from "./main.wasm";
export default { async fetch(req) {
  const go = new Go();
  const inst = await WebAssembly.instantiate(mod, go.importObject);
  go.run(inst); // main registers the functions and waits
  const text = await req.text();
  return new Response(goSha256(text) + "\n" + goSort(text));
} };`)
	c.Modules["wasm_exec.js"] = &Module{Kind: ModuleESM, Source: glue}
	c.Modules["main.wasm"] = &Module{Kind: ModuleWasm, Data: wasm}
	// The wall time includes compiling the 2.5 MB module, which a fresh
	// sandbox worker under -race on a loaded machine takes 12-30 s to do.
	c.Limits = &Limits{CPUMs: 2_000, WallMs: 120_000, MemoryMB: 256}
	return c
}

// TestGoWasmFromJS: a real toolchain's output (Go's js/wasm port and its
// wasm_exec.js glue) runs in a JS Worker on both executors and answers as
// the same Go code run natively.
func TestGoWasmFromJS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go wasm module")
	}
	// Compiling a Go module of a few MB with wazero's compiler takes
	// 15-20 s under the race detector, a second without; what runs
	// concurrently here is tested under -race elsewhere.
	skipUnderRace(t)
	wasm, glue := goJSModule(t)
	text := "pear apple fig banana cherry apple"
	sum := sha256.Sum256([]byte(text))
	words := strings.Fields(text)
	sort.Strings(words)
	want := hex.EncodeToString(sum[:]) + "\n" + strings.Join(words, " ")
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			cache := ""
			if kind == Sandboxed {
				// Fresh worker processes, with a wasm cache they may read
				// and not write (only preparers do, and they compile no
				// guest's wasm): the module compiles in memory.
				cache = t.TempDir()
				var err error
				// Preparing wasm_exec.js and the module may take more than
				// the default second under -race on a loaded machine.
				if rt, err = New(Options{Executor: kind, Workers: 1, Host: newMemHost(), Node: "test", CacheDir: cache, PrepareTimeout: 30 * time.Second}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { rt.Close() })
			}
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
			defer cancel()
			res := rt.Run(ctx, &Invocation{Code: goJSWorker(wasm, glue), Request: &Request{Method: "POST", Body: []byte(text)}})
			if !res.OK() || bodyOf(res) != want {
				t.Fatalf("%s %q %+v\nbody %q\nwant %q\nlogs %+v\ntelemetry %+v", res.Outcome, res.Error, res.Exceptions, bodyOf(res), want, res.Logs, res.Telemetry)
			}
			t.Logf("wasm %d bytes; cold start %v, startup %v ms, cpu %v ms", len(wasm), res.Telemetry.ColdStart, res.Telemetry.StartupMs, res.Telemetry.CPUTime)
			if cache != "" {
				n := 0
				_ = filepath.WalkDir(filepath.Join(cache, "js"), func(_ string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						n++
					}
					return nil
				})
				if n != 0 {
					t.Errorf("a worker that runs calls wrote %d files in the wasm cache %s", n, cache)
				}
			}
		})
	}
}

// TestWasmInDurableObject: a live object keeps its wasm instance (and the
// state in its memory) across events, each event's calls running under
// that event's limits.
func TestWasmInDurableObject(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		w := newObjWorld(t, kind, `import { DurableObject } from "cloudflare:workers";
import mod from "./limits.wasm";
export class Box extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.x = new WebAssembly.Instance(mod).exports; }
  bump() { const m = new Uint32Array(this.x.mem.buffer); m[0]++; return m[0]; }
  spin() { this.x.spin(); }
}`)
		w.code.Modules["limits.wasm"] = &Module{Kind: ModuleWasm, Data: limitsWasm}
		// Room for the first event's start (module, wasm instance) under
		// -race on a loaded machine; spin runs past any limit.
		w.code.Limits = &Limits{CPUMs: 500}
		a := ref("Box", "a")
		for want := int64(1); want <= 3; want++ {
			res := w.call(a, "bump")
			if res.Outcome != OutcomeOK || decodeValue(t, res.Value) != want {
				t.Fatalf("bump: %s %q %v, want %d", res.Outcome, res.Error, decodeValue(t, res.Value), want)
			}
		}
		if res := w.call(a, "spin"); res.Outcome != OutcomeExceededCPU || !res.Reset {
			t.Fatalf("spin: %s %q reset=%v", res.Outcome, res.Error, res.Reset)
		}
		if res := w.call(a, "bump"); res.Outcome != OutcomeOK || decodeValue(t, res.Value) != int64(1) {
			t.Fatalf("after the overrun: %s %q %v, want a new instance", res.Outcome, res.Error, decodeValue(t, res.Value))
		}
	})
}

// TestWasmHugeDeclaredCounts: a module of a few bytes that declares
// billions of exports, globals, locals, names (...) is refused as
// malformed at once, imported from JS or run as the main module: the
// decoder sized its slices by the declared count first, and spent the
// worker's memory (a killed worker) or seconds of CPU past the call's
// limit (exports: a map sized for 4 billion) before it failed.
func TestWasmHugeDeclaredCounts(t *testing.T) {
	leb, sec := wasmLEB, wasmSection
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	mod := func(secs ...[]byte) []byte {
		return cat(append([][]byte{[]byte("\x00asm\x01\x00\x00\x00")}, secs...)...)
	}
	const huge = 0xffffffff
	typ := sec(1, leb(1), []byte{0x60, 0, 0})
	fn := sec(3, leb(1), leb(0))
	cases := map[string][]byte{
		"types":         mod(sec(1, leb(huge), []byte{0x60, 0, 0})),
		"imports":       mod(sec(2, leb(huge))),
		"functions":     mod(typ, sec(3, leb(huge), []byte{0})),
		"globals":       mod(sec(6, leb(huge), []byte{0x7f, 0, 0x41, 0, 0x0b})),
		"exports":       mod(sec(7, leb(huge))),
		"elements":      mod(sec(9, leb(huge))),
		"data":          mod(sec(11, leb(huge), []byte{0})),
		"locals":        mod(typ, fn, sec(10, leb(1), leb(8), leb(1), leb(huge-1), []byte{0x7f, 0x0b})),
		"local groups":  mod(typ, fn, sec(10, leb(1), leb(15), leb(2), leb(0x7ffffffe), []byte{0x7f}, leb(0x7ffffffe), []byte{0x7f, 0x0b})),
		"names":         mod(sec(0, leb(4), []byte("name"), []byte{1}, leb(6), leb(huge))),
		"param types":   mod(sec(1, leb(1), []byte{0x60}, leb(huge), []byte{0x7f})),
		"custom":        mod([]byte{0}, leb(huge), leb(1), []byte("x")),
		"data segment":  mod(sec(11, leb(1), []byte{1}, leb(huge))),
		"export string": mod(sec(7, leb(1), leb(huge))),
	}
	rt := testRuntime(t, Sandboxed)
	for name, w := range cases {
		c := js("main.js", `import mod from "./x.wasm";
export default { fetch() { new WebAssembly.Instance(mod); return new Response("instantiated") } };`)
		c.Modules["x.wasm"] = &Module{Kind: ModuleWasm, Data: w}
		main := &Code{MainModule: "x.wasm", Modules: map[string]*Module{"x.wasm": {Kind: ModuleWasm, Data: w}}}
		for _, c := range []*Code{c, main} {
			c.Limits = &Limits{MemoryMB: 128, CPUMs: 1000}
			res := run(t, rt, c, nil)
			if res.Outcome != OutcomeException || res.Telemetry.CPUTime > 500 {
				t.Errorf("%s (main %s): %s %q after %v ms of CPU, want an exception at once", name, c.MainModule, res.Outcome, res.Error, res.Telemetry.CPUTime)
			}
		}
	}
}

// TestWasmDeepNestingCompiles: a function of thousands of nested blocks,
// loops or ifs (tens of KB of wasm) compiles in time linear in its size,
// run as the main module, imported from JS, or made by the guest at run
// time. wazero's loop detection walked the dominator tree, which such a
// function makes as deep as its nesting, up from every block: 8,000 nested
// loops (24 KB) took 10 s of compiling, 20,000 took 98 s, and compiling
// cannot be interrupted, so the call held its worker until the node killed
// it (or, in the node's process, held the node's).
func TestWasmDeepNestingCompiles(t *testing.T) {
	// Under -race wazero's compiler is several times slower, and the
	// calls' CPU limits are what the test is about.
	skipUnderRace(t)
	leb, sec := wasmLEB, wasmSection
	// command is a WASI command whose _start is open repeated depth times,
	// then as many ends.
	command := func(open []byte, depth int) []byte {
		body := append(bytes.Repeat(open, depth), bytes.Repeat([]byte{0x0b}, depth)...)
		fn := append(append([]byte{0}, body...), 0x0b) // no locals
		return bytes.Join([][]byte{
			[]byte("\x00asm\x01\x00\x00\x00"),
			sec(1, leb(1), []byte{0x60, 0, 0}),
			sec(3, leb(1), leb(0)),
			sec(5, leb(1), []byte{0, 1}),
			sec(7, leb(2), leb(6), []byte("memory"), []byte{2, 0}, leb(6), []byte("_start"), []byte{0, 0}),
			sec(10, leb(1), leb(uint64(len(fn))), fn),
		}, nil)
	}
	cases := map[string][]byte{
		"blocks": command([]byte{0x02, 0x40}, 40000),             // block
		"loops":  command([]byte{0x03, 0x40}, 8000),              // loop
		"ifs":    command([]byte{0x41, 0x01, 0x04, 0x40}, 20000), // i32.const 1; if
	}
	rt := testRuntime(t, Sandboxed)
	for name, w := range cases {
		imported := js("main.js", `import mod from "./x.wasm";
export default { fetch() { new WebAssembly.Instance(mod); return new Response("instantiated") } };`)
		imported.Modules["x.wasm"] = &Module{Kind: ModuleWasm, Data: w}
		made := js("main.js", `const b64 = "`+base64.StdEncoding.EncodeToString(w)+`";
export default { fetch() {
  const s = atob(b64), b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  new WebAssembly.Instance(new WebAssembly.Module(b));
  return new Response("instantiated");
} };`)
		main := &Code{MainModule: "x.wasm", Modules: map[string]*Module{"x.wasm": {Kind: ModuleWasm, Data: w}}}
		for kind, c := range map[string]*Code{"imported": imported, "made": made, "main": main} {
			// Compiled in linear time these take 0.1 to 1 s of CPU here
			// (the one the guest makes also decodes its bytes in JS);
			// before, 7 to 10 s each. 4 s leaves a loaded host room.
			c.Limits = &Limits{MemoryMB: 128, CPUMs: 4000, WallMs: 10000}
			if res := run(t, rt, c, nil); res.Outcome != OutcomeOK {
				t.Errorf("%s (%s): %s %q, want ok", name, kind, res.Outcome, res.Error)
			}
		}
	}
}

// TestWasmTablesCountAgainstMemory: the entries of a module's tables (a
// machine word each) count against the call's memory limit with its linear
// memory, run as the main module or imported from JS: table.grow past it
// returns -1, and a module declaring more is refused. A table's entries
// were counted nowhere: table.grow in a loop took a worker's memory past
// its cap (the worker was killed, with the call: exceededMemory, or
// exceededCpu while it copied gigabytes), and a declared minimum of 2^27
// entries allocated a GiB for a few bytes of module.
func TestWasmTablesCountAgainstMemory(t *testing.T) {
	leb, sec := wasmLEB, wasmSection
	// command is a WASI command with one funcref table of min entries and
	// no maximum, whose _start is body.
	command := func(min uint64, body []byte) []byte {
		fn := append(append([]byte{0}, body...), 0x0b) // no locals
		return bytes.Join([][]byte{
			[]byte("\x00asm\x01\x00\x00\x00"),
			sec(1, leb(1), []byte{0x60, 0, 0}),
			sec(3, leb(1), leb(0)),
			sec(4, leb(1), []byte{0x70, 0x00}, leb(min)),
			sec(5, leb(1), []byte{0, 1}),
			sec(7, leb(2), leb(6), []byte("memory"), []byte{2, 0}, leb(6), []byte("_start"), []byte{0, 0}),
			sec(10, leb(1), leb(uint64(len(fn))), fn),
		}, nil)
	}
	// loop: table.grow(ref.null func, 16 Mi) != -1 -> br 0
	grow := bytes.Join([][]byte{{0x03, 0x40, 0xd0, 0x70, 0x41}, leb(16 << 20), {0xfc, 0x0f, 0x00, 0x41, 0x7f, 0x47, 0x0d, 0x00, 0x0b}}, nil)
	cases := []struct {
		name string
		wasm []byte
		// want is the outcome of the main module, and ok that of the
		// module imported from JS (its error is caught).
		want Outcome
	}{
		{"table.grow until refused", command(0, grow), OutcomeOK},
		{"a declared GiB", command(1<<27, nil), OutcomeExceededMemory},
	}
	rt := testRuntime(t, Sandboxed)
	for _, tc := range cases {
		imported := js("main.js", `import mod from "./x.wasm";
export default { fetch() {
  try { new WebAssembly.Instance(mod).exports._start() } catch (e) { return new Response(e.name) }
  return new Response("ok");
} };`)
		imported.Modules["x.wasm"] = &Module{Kind: ModuleWasm, Data: tc.wasm}
		main := &Code{MainModule: "x.wasm", Modules: map[string]*Module{"x.wasm": {Kind: ModuleWasm, Data: tc.wasm}}}
		for kind, c := range map[string]*Code{"imported": imported, "main": main} {
			c.Limits = &Limits{MemoryMB: 128, CPUMs: 2000, WallMs: 10000}
			want := tc.want
			if kind == "imported" {
				want = OutcomeOK
			}
			if res := run(t, rt, c, nil); res.Outcome != want {
				t.Errorf("%s (%s): %s %q, want %s", tc.name, kind, res.Outcome, res.Error, want)
			}
		}
	}
	if st, _ := rt.Stats().(sandbox.Stats); st.Killed+st.Crashed > 0 {
		t.Errorf("%d workers killed and %d crashed, want none", st.Killed, st.Crashed)
	}
}

// wasmLEB is v in unsigned LEB128, as a wasm binary writes numbers.
func wasmLEB(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		if v >>= 7; v != 0 {
			c |= 0x80
		}
		if b = append(b, c); v == 0 {
			return b
		}
	}
}

// wasmSection is a wasm binary's section id of the bytes of body.
func wasmSection(id byte, body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return bytes.Join([][]byte{{id}, wasmLEB(uint64(len(b))), b}, nil)
}
