package isolate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/internal/hostile"
	"github.com/warrenmesh/warren/isolate/internal/jsengine"
	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// The memory corpus: data-heavy Workers in testdata/memory, each a script
// defining build(scale), with the memory V8 holds for build(1)'s result
// in testdata/memory/v8.json (made by v8measure.js with Node).

// memoryCorpus is the corpus and its V8 figures, in bytes.
type memoryCorpus struct {
	MeasuredWith string           `json:"measuredWith"`
	Bytes        map[string]int64 `json:"bytes"`
}

func loadMemoryCorpus(t testing.TB) (names []string, src map[string]string, v8 memoryCorpus) {
	t.Helper()
	b, err := os.ReadFile("testdata/memory/v8.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v8); err != nil {
		t.Fatalf("v8.json: %v", err)
	}
	files, err := filepath.Glob("testdata/memory/*.js")
	if err != nil {
		t.Fatal(err)
	}
	src = map[string]string{}
	for _, f := range files {
		if filepath.Base(f) == "v8measure.js" {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(f), ".js")
		s, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if v8.Bytes[name] <= 0 {
			t.Fatalf("%s has no V8 figure in v8.json: run node v8measure.js > v8.json in testdata/memory", name)
		}
		src[name] = string(s)
		names = append(names, name)
	}
	if len(names) != len(v8.Bytes) {
		t.Fatalf("v8.json has %d figures for %d Workers", len(v8.Bytes), len(names))
	}
	sort.Strings(names)
	return names, src, v8
}

// memoryWorker makes a corpus script a Worker that builds its structure
// at scale and answers with a figure read from all of it (so the whole
// structure is live until the response).
func memoryWorker(src string, scale int) *Code {
	return js("main.js", src+`
function weigh(v) {
  if (typeof v === "string") return v.length;
  if (typeof v === "function") return v();
  if (ArrayBuffer.isView(v)) return v.length;
  if (v instanceof Map || v instanceof Set) return v.size;
  if (Array.isArray(v)) { let n = 0; for (const x of v) n += weigh(x) + 1; return n; }
  if (v !== null && typeof v === "object") return Object.keys(v).length;
  return 1;
}
export default { fetch() { const kept = build(`+strconv.Itoa(scale)+`); return new Response(String(weigh(kept))); } }`)
}

// TestMemoryCorpusRatio measures goja's live heap for each Worker of the
// corpus and checks it against V8's times HeapRatio: the calibration
// memoryMb rests on. A change that makes goja hold more than HeapRatio
// times V8's memory for any kind of data fails here. It checks too that
// what a call is counted for it (its ArrayBuffer stores byte for byte, the
// rest of the heap divided by HeapRatio) is no more than V8 holds, give or
// take 5 %: what fits in V8 fits here.
func TestMemoryCorpusRatio(t *testing.T) {
	skipUnderRace(t)
	names, src, v8 := loadMemoryCorpus(t)
	t.Logf("V8 figures: %s", v8.MeasuredWith)
	worst := 0.0
	for _, name := range names {
		vm := goja.New()
		meter := jsengine.NewHeapMeter()
		vm.SetArrayBufferAllocHook(meter.AddFlat)
		v, err := vm.RunString(src[name] + "\n;build")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		build, ok := goja.AssertFunction(v)
		if !ok {
			t.Fatalf("%s: build is not a function", name)
		}
		before := liveHeap()
		_, flatBefore := meter.InUse()
		kept, err := build(goja.Undefined(), vm.ToValue(1))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		grown := liveHeap() - before
		_, flatAfter := meter.InUse() // after liveHeap's collections: the stores alive
		flat := flatAfter - flatBefore
		runtime.KeepAlive(kept)
		runtime.KeepAlive(vm)
		ratio := float64(grown) / float64(v8.Bytes[name])
		worst = max(worst, ratio)
		counted := float64(grown-flat)/HeapRatio + float64(flat)
		t.Logf("%-10s V8 %6.2f MB  goja %7.2f MB (flat %6.2f MB)  ratio %.2f  counted %6.2f MB (%.2f× V8)", name,
			float64(v8.Bytes[name])/1e6, float64(grown)/1e6, float64(flat)/1e6, ratio, counted/1e6, counted/float64(v8.Bytes[name]))
		if ratio > HeapRatio {
			t.Errorf("%s: goja holds %.2f× what V8 holds, more than HeapRatio (%d): memoryMb would no longer mean V8's memory", name, ratio, HeapRatio)
		}
		if counted > float64(v8.Bytes[name])*1.05 {
			t.Errorf("%s: counted %.2f MB where V8 holds %.2f MB", name, counted/1e6, float64(v8.Bytes[name])/1e6)
		}
	}
	t.Logf("largest ratio %.2f (HeapRatio %d)", worst, HeapRatio)
}

// skipUnderRace skips a test that measures goja's heap, runs the memory
// corpus at full size or runs CPython: under -race goja and wazero run
// 10-20× slower (these took nine minutes of make test) and races there are
// covered by the other tests of the package (TestPythonScript runs Python
// on both executors under -race). make test runs these in a second, plain
// go test.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceDetector {
		t.Skip("-race: make test runs this in a plain go test, without the race detector")
	}
}

// liveHeap is the process's live heap after full collections.
func liveHeap() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestMemoryCorpusV8Figures checks the committed V8 figures against the
// Node installed here, if there is one.
func TestMemoryCorpusV8Figures(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH: the committed V8 figures (testdata/memory/v8.json) are not checked")
	}
	names, _, v8 := loadMemoryCorpus(t)
	for _, name := range names {
		out, err := exec.Command(nodeBin, "--expose-gc", "testdata/memory/v8measure.js", "--one", "testdata/memory/"+name+".js").Output()
		if err != nil {
			t.Fatalf("%s: node: %v", name, err)
		}
		got, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		if err != nil {
			t.Fatalf("%s: node printed %q", name, out)
		}
		want := v8.Bytes[name]
		t.Logf("%-10s committed %d, node now %d", name, want, got)
		// Other V8 versions lay objects out differently; a figure far off
		// means the corpus and v8.json no longer match.
		if got < want*3/4 || got > want*4/3 {
			t.Errorf("%s: node measures %d bytes, v8.json says %d: run node v8measure.js > v8.json in testdata/memory", name, got, want)
		}
	}
}

// TestMemoryCorpusFits runs each Worker of the corpus in the sandbox with
// memoryMb only a quarter above what V8 needs for it (rounded up to whole
// MiB): each must run to its response, and report at most memoryMb. The
// memory counted grows linearly with the data, so a Worker that fits
// here fits at any multiple of its size with that multiple of memoryMb;
// TestMemoryCorpusFitsDefault runs two under the default 128 MiB.
func TestMemoryCorpusFits(t *testing.T) {
	skipUnderRace(t)
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	// Each runs its Workers one after another, on one core, each in
	// its own pool (memory is measured per worker process): the plain
	// go test of make test runs them side by side.
	t.Parallel()
	names, src, v8 := loadMemoryCorpus(t)
	rt := testRuntime(t, Sandboxed)
	for _, name := range names {
		mb := (v8.Bytes[name]*5/4 + 1<<20 - 1) >> 20
		code := memoryWorker(src[name], 1)
		code.Limits = &Limits{MemoryMB: mb, CPUMs: 30_000, WallMs: 60_000}
		res := run(t, rt, code, nil)
		t.Logf("%-10s V8 %6.2f MB, memoryMb %3d: %s, memoryBytes %6.2f MB (%.2f× V8), cpu %.0f ms", name,
			float64(v8.Bytes[name])/1e6, mb, res.Outcome, float64(res.Telemetry.MemoryBytes)/1e6,
			float64(res.Telemetry.MemoryBytes)/float64(v8.Bytes[name]), res.Telemetry.CPUTime)
		if !res.OK() {
			t.Errorf("%s: %s (%s) with memoryMb %d, where V8 needs %.1f MiB", name, res.Outcome, res.Error, mb, float64(v8.Bytes[name])/(1<<20))
			continue
		}
		if res.Telemetry.MemoryBytes <= 0 || res.Telemetry.MemoryBytes > mb<<20 {
			t.Errorf("%s: memoryBytes %d, want in (0, %d]", name, res.Telemetry.MemoryBytes, mb<<20)
		}
	}
}

// TestMemoryCorpusFitsDefault runs, under the default limits but for CPU
// time, the Worker the limit was calibrated for: a million small objects,
// which V8 holds in about 92 MiB (goja in about 600 MiB); and the data
// workload (objects to JSON and back, sorted) that did not fit before.
func TestMemoryCorpusFitsDefault(t *testing.T) {
	skipUnderRace(t)
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	t.Parallel() // as TestMemoryCorpusFits
	_, src, v8 := loadMemoryCorpus(t)
	rt := testRuntime(t, Sandboxed)
	for _, c := range []struct {
		name  string
		scale int
	}{{"workload", 1}, {"objects", 10}} {
		need := v8.Bytes[c.name] * int64(c.scale)
		if need > DefaultLimits.MemoryMB<<20 {
			t.Fatalf("%s at scale %d needs %d bytes in V8, over the default limit", c.name, c.scale, need)
		}
		code := memoryWorker(src[c.name], c.scale)
		code.Limits = &Limits{CPUMs: 60_000, WallMs: 120_000}
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
		res := rt.Run(ctx, &Invocation{Code: code})
		cancel()
		t.Logf("%s ×%d: V8 %.1f MB; %s, memoryBytes %.1f MB (%.2f× V8), cpu %.0f ms, wall %.0f ms", c.name, c.scale,
			float64(need)/1e6, res.Outcome, float64(res.Telemetry.MemoryBytes)/1e6, float64(res.Telemetry.MemoryBytes)/float64(need),
			res.Telemetry.CPUTime, res.Telemetry.WallTime)
		if !res.OK() {
			t.Errorf("%s ×%d: %s (%s): V8 holds it in %.1f MiB, under the default %d MiB", c.name, c.scale, res.Outcome, res.Error,
				float64(need)/(1<<20), DefaultLimits.MemoryMB)
		}
	}
}

// TestMemoryCorpusLimitStillBites: a Worker that needs well over memoryMb in V8
// ends with exceededMemory, naming the limit, and the runtime serves the
// next call.
func TestMemoryCorpusLimitStillBites(t *testing.T) {
	skipUnderRace(t)
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	t.Parallel() // as TestMemoryCorpusFits
	_, src, v8 := loadMemoryCorpus(t)
	rt := testRuntime(t, Sandboxed)
	for _, c := range []struct {
		name      string
		scale, mb int64
	}{
		// Five times what V8 needs, under a limit of what V8 needs:
		// goja holds up to HeapRatio times V8's memory for these.
		{"objects", 5, v8.Bytes["objects"] >> 20},
		{"closures", 5, v8.Bytes["closures"] >> 20},
		// Typed arrays count as in V8: twice what V8 needs.
		{"typed", 1, v8.Bytes["typed"] >> 20 / 2},
		// Short strings count for less than in V8 (goja holds them in
		// less): thirty-two times what V8 needs.
		{"strings", 8, v8.Bytes["strings"] >> 20 / 4},
	} {
		name, scale, mb := c.name, int(c.scale), c.mb
		code := memoryWorker(src[name], scale)
		code.Limits = &Limits{MemoryMB: mb, CPUMs: 30_000, WallMs: 60_000}
		start := time.Now()
		res := run(t, rt, code, nil)
		t.Logf("%s ×%d, memoryMb %d: %s in %v (%s)", name, scale, mb, res.Outcome, time.Since(start).Round(time.Millisecond), res.Error)
		if res.Outcome != OutcomeExceededMemory {
			t.Errorf("%s ×%d under memoryMb %d: %s, want %s", name, scale, mb, res.Outcome, OutcomeExceededMemory)
		}
		want := fmt.Sprintf("memory limit of %d MiB", mb)
		if res.Outcome == OutcomeExceededMemory && !strings.Contains(res.Error, want) {
			t.Errorf("error %q does not name the limit (%q)", res.Error, want)
		}
	}
	hello := run(t, rt, js("main.js", `export default { fetch() { return new Response("hi") } }`), nil)
	if !hello.OK() || string(hello.Response.Body) != "hi" {
		t.Fatalf("after the limits: %s %s", hello.Outcome, hello.Error)
	}
}

// TestMemoryGarbageIsNotCounted: a call that makes many times its limit in
// garbage, but holds little at any time, runs to its response: the limit
// judges the live heap, not the heap in use (which holds garbage until a
// collection; workers run with GOGC=400).
func TestMemoryGarbageIsNotCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	rt := testRuntime(t, Sandboxed)
	code := js("main.js", `export default { fetch() {
  let n = 0;
  for (let i = 0; i < 256; i++) n += new Uint8Array(1 << 20).length;          // 256 MiB of buffers
  for (let i = 0; i < 200; i++) n += JSON.stringify(Array.from({ length: 2000 }, (_, j) => ({ i, j }))).length;
  return new Response(String(n));
} }`)
	code.Limits = &Limits{MemoryMB: 4, CPUMs: 30_000, WallMs: 60_000}
	for range 2 {
		res := run(t, rt, code, nil)
		t.Logf("%s, memoryBytes %.2f MiB, cpu %.0f ms", res.Outcome, float64(res.Telemetry.MemoryBytes)/(1<<20), res.Telemetry.CPUTime)
		if !res.OK() {
			t.Fatalf("%s (%s): garbage counted against memoryMb 4", res.Outcome, res.Error)
		}
		if res.Telemetry.MemoryBytes > 4<<20 {
			t.Errorf("memoryBytes %d over the limit of a call that was not ended by it", res.Telemetry.MemoryBytes)
		}
	}
}

// TestWorkerCapFitsTheRatio: a worker's Go soft limit (7/8 of its hard
// cap) leaves room for a call at the largest memoryMb to grow the heap by
// HeapRatio times that, plus the worker's overhead; and the pool runs with
// that cap.
func TestWorkerCapFitsTheRatio(t *testing.T) {
	for _, mb := range []int64{1, 64, 128, DefaultMaxMemoryMB, MaxLimits.MemoryMB} {
		if c := workerCapMB(mb); c*7/8 < HeapRatio*mb+workerOverheadMB {
			t.Errorf("largest memoryMb %d: cap %d MiB, soft limit below %d × %d + %d", mb, c, HeapRatio, mb, workerOverheadMB)
		}
	}
	if testing.Short() {
		return
	}
	rt := testRuntime(t, Sandboxed)
	b, err := json.Marshal(rt.Stats())
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		MemoryLimitBytes int64 `json:"memoryLimitBytes"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if want := workerCapMB(DefaultMaxMemoryMB) << 20; st.MemoryLimitBytes != want {
		t.Errorf("the pool's cap is %d bytes, want %d", st.MemoryLimitBytes, want)
	}
}

// TestMemoryFlatBytesCountInFull: the backing stores of ArrayBuffers count
// byte for byte, as in V8, not at 1/HeapRatio like the rest of goja's heap:
// 200 MB of them, in large or in small buffers, or made by the Web API,
// end a call under memoryMb 128 with exceededMemory (a large one as it is
// made, even if it is dropped at once), 100 MB runs, and a
// 64 MiB buffer reads about 64 MiB in telemetry.memoryBytes. A
// WebAssembly memory, limited on its own, is not counted again. Only the
// sandbox meters memory (the in-process executor shares its heap).
func TestMemoryFlatBytesCountInFull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	rt := testRuntime(t, Sandboxed)
	// What it holds stays alive to the end (a module's variable), so a
	// call the watchdog has not judged yet is judged as it ends.
	hold := func(body string) *Code {
		code := js("main.js", `const kept = [];
export default { async fetch() {
  `+body+`
  let n = 0;
  for (const b of kept) n += b.byteLength;
  return new Response(String(n));
} }`)
		code.Limits = &Limits{MemoryMB: 128, CPUMs: 30_000, WallMs: 60_000}
		return code
	}
	for _, c := range []struct {
		name string
		body string
		want Outcome
		mib  [2]int64 // memoryBytes in [mib[0], mib[1]] MiB, for a call that runs
	}{
		{"200 MB in 1 MB ArrayBuffers", `for (let i = 0; i < 200; i++) kept.push(new ArrayBuffer(1e6));`, OutcomeExceededMemory, [2]int64{}},
		{"200 MB in one Float64Array", `kept.push(new Float64Array(25e6));`, OutcomeExceededMemory, [2]int64{}},
		// Judged as it is made, as V8 would refuse it.
		{"a 200 MB ArrayBuffer dropped at once", `for (let i = 0; i < 3; i++) new ArrayBuffer(200e6);`, OutcomeExceededMemory, [2]int64{}},
		{"200 MB in 4 KB Uint8Arrays", `for (let i = 0; i < 50_000; i++) kept.push(new Uint8Array(4000));`, OutcomeExceededMemory, [2]int64{}},
		{"200 MB in a SharedArrayBuffer", `kept.push(new SharedArrayBuffer(200e6));`, OutcomeExceededMemory, [2]int64{}},
		{"a resizable ArrayBuffer grown to 200 MB", `const b = new ArrayBuffer(0, { maxByteLength: 300e6 }); kept.push(b); for (let n = 1e6; n <= 200e6; n += 1e6) b.resize(n);`, OutcomeExceededMemory, [2]int64{}},
		{"200 MB from structuredClone", `const b = new ArrayBuffer(50e6); kept.push(b); for (let i = 0; i < 3; i++) kept.push(structuredClone(b));`, OutcomeExceededMemory, [2]int64{}},
		{"200 MB read from Responses", `for (let i = 0; i < 4; i++) kept.push(await new Response(new Uint8Array(50e6)).arrayBuffer());`, OutcomeExceededMemory, [2]int64{}},
		{"100 MB in 1 MB ArrayBuffers", `for (let i = 0; i < 100; i++) kept.push(new ArrayBuffer(1e6));`, OutcomeOK, [2]int64{95, 110}},
		{"100 MB in 4 KB Uint8Arrays", `for (let i = 0; i < 25_000; i++) kept.push(new Uint8Array(4000));`, OutcomeOK, [2]int64{80, 115}},
		{"a 64 MiB ArrayBuffer", `kept.push(new ArrayBuffer(64 << 20));`, OutcomeOK, [2]int64{63, 66}},
		{"a 100 MiB WebAssembly.Memory", `const m = new WebAssembly.Memory({ initial: 1600 }); new Uint8Array(m.buffer).fill(1); kept.push(m.buffer);`, OutcomeOK, [2]int64{0, 20}},
	} {
		start := time.Now()
		res := run(t, rt, hold(c.body), nil)
		t.Logf("%s: %s in %v, memoryBytes %.1f MiB %s", c.name, res.Outcome, time.Since(start).Round(time.Millisecond),
			float64(res.Telemetry.MemoryBytes)/(1<<20), res.Error)
		if res.Outcome != c.want {
			t.Errorf("%s under memoryMb 128: %s (%s), want %s", c.name, res.Outcome, res.Error, c.want)
			continue
		}
		if c.want == OutcomeOK {
			if mb := res.Telemetry.MemoryBytes; mb < c.mib[0]<<20 || mb > c.mib[1]<<20 {
				t.Errorf("%s: memoryBytes %.1f MiB, want %d to %d MiB", c.name, float64(mb)/(1<<20), c.mib[0], c.mib[1])
			}
		}
	}
	hello := run(t, rt, js("main.js", `export default { fetch() { return new Response("hi") } }`), nil)
	if !hello.OK() || string(hello.Response.Body) != "hi" {
		t.Fatalf("after the limits: %s %s", hello.Outcome, hello.Error)
	}
}

// TestMemoryRefusedUpFront: an allocation whose size is known before it is
// made (an ArrayBuffer's store, a string repeat or padStart builds) and
// that alone counts more than memoryMb ends the call with exceededMemory
// before anything is allocated, even if the guest catches the RangeError
// it sees; a string longer than V8's longest is V8's RangeError. None ends
// its worker: new ArrayBuffer(2 ** 40) used to fail in Go's allocator and
// take the worker process with it, and a repeated string was written whole
// up to the worker's hard cap.
func TestMemoryRefusedUpFront(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			if kind == Sandboxed && testing.Short() {
				t.Skip("starts worker processes")
			}
			rt := testRuntime(t, kind)
			worker := func(mb int64, body string) *Code {
				code := js("main.js", `export default { async fetch() { `+body+` } }`)
				code.Limits = &Limits{MemoryMB: mb}
				return code
			}
			var crashed uint64
			if kind == Sandboxed {
				crashed = rt.Stats().(sandbox.Stats).Crashed
			}
			for _, c := range []struct {
				name string
				mb   int64
				body string
				want Outcome
				msg  string // in the error or the exception
			}{
				{"a 1 TiB ArrayBuffer", 64, `return new Response(String(new ArrayBuffer(2 ** 40).byteLength))`, OutcomeExceededMemory, "memory limit of 64 MiB"},
				{"a 1 TiB ArrayBuffer, caught", 64, `try { new ArrayBuffer(2 ** 40) } catch (e) { return new Response("caught " + e) }`, OutcomeExceededMemory, "memory limit of 64 MiB"},
				{"a 1 TiB Float64Array", 64, `return new Response(String(new Float64Array(2 ** 37).length))`, OutcomeExceededMemory, "memory limit"},
				{"a resizable buffer resized to 1 TiB", 64, `const b = new ArrayBuffer(0, { maxByteLength: 2 ** 40 }); b.resize(2 ** 40); return new Response("no")`, OutcomeExceededMemory, "memory limit"},
				{"a 100 MiB SharedArrayBuffer under 64 MiB", 64, `return new Response(String(new SharedArrayBuffer(100 << 20).byteLength))`, OutcomeExceededMemory, "memory limit"},
				{"a 256 MiB string under 16 MiB", 16, `return new Response(String('ab'.repeat(2 ** 27).length))`, OutcomeExceededMemory, "memory limit of 16 MiB"},
				{"a string past V8's longest", 64, `return new Response(String('x'.repeat(2 ** 30).length))`, OutcomeException, "Invalid string length"},
				{"padStart past V8's longest", 64, `return new Response(String('x'.padStart(2 ** 30).length))`, OutcomeException, "Invalid string length"},
				{"a 60 MiB ArrayBuffer under 64 MiB", 64, `return new Response(String(new ArrayBuffer(60 << 20).byteLength))`, OutcomeOK, ""},
				{"a 1 MiB string under 16 MiB", 16, `return new Response(String('ab'.repeat(1 << 19).length))`, OutcomeOK, ""},
			} {
				res := run(t, rt, worker(c.mb, c.body), nil)
				text := res.Error
				for _, e := range res.Exceptions {
					text += " " + e.Message
				}
				if res.Outcome != c.want || !strings.Contains(text, c.msg) {
					t.Errorf("%s: %s %q, want %s with %q", c.name, res.Outcome, text, c.want, c.msg)
				}
			}
			if kind == Sandboxed {
				if st := rt.Stats().(sandbox.Stats); st.Crashed != crashed {
					t.Errorf("%d workers crashed", st.Crashed-crashed)
				}
			}
		})
	}
}

// TestTidyAfterGarbage: a call that leaves more than 64 MiB of garbage in
// its worker has the worker collect it once its answer is out (Engine.Tidy),
// so that the next call does not start by collecting it; calls that leave
// little have it collect only once what they left adds up to that (a hello
// leaves a fraction of a megabyte: at most once in 20).
func TestTidyAfterGarbage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	// No concurrency of its own to check, and its 96 MiB take the race
	// detector's worker seconds.
	skipUnderRace(t)
	rt, err := New(Options{Executor: Sandboxed, Workers: 1, Host: newMemHost(), Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	tidied := func() uint64 { s, _ := rt.Stats().(sandbox.Stats); return s.Tidied }
	hello := js("main.js", `export default { fetch() { return new Response("hi") } }`)
	for range 20 {
		if r := run(t, rt, hello, nil); !r.OK() {
			t.Fatalf("hello: %s %s", r.Outcome, r.Error)
		}
	}
	if n := tidied(); n > 1 {
		t.Fatalf("20 hellos left work to tidy %d times", n)
	}
	t0 := tidied()
	// 96 MiB held to the call's end (no collection frees it before), garbage after.
	garbage := js("main.js", `export default { fetch() {
  const keep = [];
  for (let i = 0; i < 96; i++) keep.push("x".repeat(1 << 20) + i);
  return new Response(String(keep.length));
} }`)
	garbage.Limits = &Limits{CPUMs: 30_000, WallMs: 60_000}
	if r := run(t, rt, garbage, nil); !r.OK() || string(r.Response.Body) != "96" {
		t.Fatalf("garbage: %s %s", r.Outcome, r.Error)
	}
	if n := tidied() - t0; n != 1 {
		t.Fatalf("after a call that left garbage, Tidied grew by %d, want 1", n)
	}
	// Collected: the next hello leaves nothing to tidy.
	if r := run(t, rt, hello, nil); !r.OK() {
		t.Fatalf("hello: %s %s", r.Outcome, r.Error)
	}
	if n := tidied() - t0; n != 1 {
		t.Errorf("after a hello, Tidied grew by %d since the garbage, want 1", n)
	}
}

// BenchmarkHelloAfterGarbage times the first hello on a worker after a
// memory bomb (the hostile corpus's, 64 MiB) left its garbage there, once
// the worker is idle again: with Engine.Tidy the worker has collected it
// between the calls; before, the hello collected it first (docs/
// performance.md, "The garbage a memory case leaves").
func BenchmarkHelloAfterGarbage(b *testing.B) {
	rt, err := New(Options{Executor: Sandboxed, Workers: 1, Host: newMemHost(), Node: "test"})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	var bomb hostile.Case
	for _, c := range hostile.Scripts() {
		if c.Name == "memory bomb" {
			bomb = c
		}
	}
	bc := js("main.js", bomb.Src)
	bc.Limits = &Limits{CPUMs: bomb.CPUMs, MemoryMB: bomb.MemoryMB, WallMs: 10_000}
	hello := js("main.js", `export default { fetch() { return new Response("hi") } }`)
	for range 100 {
		rt.Run(context.Background(), &Invocation{Code: hello})
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if r := rt.Run(context.Background(), &Invocation{Code: bc}); r.Outcome != OutcomeExceededMemory {
			b.Fatalf("the bomb: %s %s", r.Outcome, r.Error)
		}
		time.Sleep(50 * time.Millisecond) // the worker idle again
		b.StartTimer()
		if r := rt.Run(context.Background(), &Invocation{Code: hello}); !r.OK() {
			b.Fatalf("hello: %s %s", r.Outcome, r.Error)
		}
	}
}
