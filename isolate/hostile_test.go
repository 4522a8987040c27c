package isolate

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostileBudget is how soon every hostile script must get its outcome.
const hostileBudget = 2 * time.Second

// TestHostileScripts runs each hostile script in the sandbox while honest
// calls keep succeeding on the same runtime, and demands that each hostile
// call ends with its outcome within hostileBudget.
func TestHostileScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	rt, err := New(Options{Executor: Sandboxed, Workers: 3, Host: newMemHost(), Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	lim := func(cpu, mem int64) *Limits { return &Limits{CPUMs: cpu, MemoryMB: mem, WallMs: 10_000} }
	cases := []struct {
		name   string
		src    string
		limits *Limits
		want   []Outcome
	}{
		{"infinite loop", `export default { fetch() { for (;;) {} } }`, lim(50, 0), []Outcome{OutcomeExceededCPU}},
		{"memory bomb", `export default { fetch() { const a = []; for (;;) a.push(new Uint8Array(1 << 20)); } }`, lim(5000, 64), []Outcome{OutcomeExceededMemory}},
		{"huge string", `export default { fetch() { return new Response('x'.repeat(2 ** 30).length + "") } }`, lim(1000, 64), []Outcome{OutcomeExceededMemory, OutcomeException}},
		{"huge ArrayBuffer", `export default { fetch() { return new Response(new ArrayBuffer(2 ** 40).byteLength + "") } }`, lim(1000, 64), []Outcome{OutcomeExceededMemory, OutcomeException}},
		{"deep recursion", `function f(n) { return f(n + 1) + 1 } export default { fetch() { return new Response(String(f(0))) } }`, lim(1000, 64), []Outcome{OutcomeException}},
		{"catastrophic regexp", `export default { fetch() { return new Response(String(/^(a+)+(?!x)$/.test("a".repeat(40) + "b"))) } }`, lim(200, 64), []Outcome{OutcomeExceededCPU}},
		{"huge native sort", `export default { fetch() { const a = []; for (let i = 0; i < 3e6; i++) a.push((i * 7919) % 1000003); a.sort((x, y) => x - y); return new Response("sorted") } }`, lim(100, 256), []Outcome{OutcomeExceededCPU}},
		{"timer flood past wall", `export default { fetch() { return new Promise(r => setTimeout(r, 60000)) } }`, &Limits{WallMs: 300}, []Outcome{OutcomeExceededWallTime}},
		{"stream that never ends", `export default { fetch() { return new Response(new ReadableStream({ pull(c) { return new Promise(r => setTimeout(() => { c.enqueue(new Uint8Array(8)); r() }, 20)) } })) } }`, &Limits{WallMs: 300}, []Outcome{OutcomeExceededWallTime}},
		{"stream that can never go on", `export default { fetch() { return new Response(new ReadableStream({})) } }`, lim(1000, 64), []Outcome{OutcomeException}},
		{"pull that enqueues for ever", `export default { fetch() { return new Response(new ReadableStream({ pull(c) { c.enqueue(new Uint8Array(4 << 20)) } })) } }`, lim(2000, 256), []Outcome{OutcomeException, OutcomeExceededMemory}},
		{"start that enqueues for ever", `export default { fetch() { return new Response(new ReadableStream({ start(c) { for (;;) c.enqueue(new Uint8Array(1 << 20)) } })) } }`, lim(5000, 64), []Outcome{OutcomeExceededMemory}},
		{"gzip bomb as the response", `export default { fetch(req) { return new Response(req.body.pipeThrough(new DecompressionStream("gzip"))) } }`, lim(1000, 128), []Outcome{OutcomeException, OutcomeExceededMemory, OutcomeExceededCPU}},
		{"gzip bomb read whole", `export default { async fetch(req) { return new Response(String((await new Response(req.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer()).byteLength)) } }`, lim(1000, 64), []Outcome{OutcomeException, OutcomeExceededMemory, OutcomeExceededCPU}},
	}
	stop := make(chan struct{})
	var honestWG sync.WaitGroup
	var honestMu sync.Mutex
	honestOK, honestBad := 0, []string{}
	honestWG.Add(1)
	go func() {
		defer honestWG.Done()
		hello := js("main.js", `export default { fetch() { return new Response("hi") } }`)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			r := rt.Run(ctx, &Invocation{Code: hello})
			cancel()
			honestMu.Lock()
			if r.OK() && string(r.Response.Body) == "hi" {
				honestOK++
			} else {
				honestBad = append(honestBad, string(r.Outcome)+": "+r.Error)
			}
			honestMu.Unlock()
		}
	}()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code := js("main.js", tc.src)
			code.Limits = tc.limits
			inv := &Invocation{Code: code}
			if strings.Contains(tc.name, "gzip bomb") {
				inv.Request = &Request{Method: "POST", Body: gzipBomb()}
			}
			start := time.Now()
			res := rt.Run(context.Background(), inv)
			took := time.Since(start)
			ok := false
			for _, w := range tc.want {
				ok = ok || res.Outcome == w
			}
			if !ok {
				t.Errorf("outcome = %s (%s %+v), want one of %v", res.Outcome, res.Error, res.Exceptions, tc.want)
			}
			if took > hostileBudget {
				t.Errorf("took %v, want <= %v", took, hostileBudget)
			}
			t.Logf("%s -> %s in %v (%s)", tc.name, res.Outcome, took.Round(time.Millisecond), res.Error)
		})
	}
	close(stop)
	honestWG.Wait()
	if len(honestBad) > 0 {
		t.Errorf("honest calls failed during the hostile ones: %q", honestBad)
	}
	if honestOK == 0 {
		t.Error("no honest call completed")
	}
	t.Logf("honest calls succeeded meanwhile: %d", honestOK)
}

// gzipBomb is 256 MiB of zeros, gzipped: 256 gzip members of 1 MiB each
// (a gzip stream may have many), about 256 KiB in all. That is more than a
// response or a read body may be, and more than the memory limits used.
var gzipBomb = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = w.Write(make([]byte, 1<<20))
	_ = w.Close()
	return bytes.Repeat(b.Bytes(), 256)
})

// TestHungHostCall: a host call that never answers on its own (a hung
// egress or storage backend) ends with the call's wall-time limit, on
// both executors, at the limit: a worker does not wait on the host call
// until the node kills it.
func TestHungHostCall(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `export default { async fetch() { await fetch("https://hang.test/"); return new Response("no") } }`)
			c.Limits = &Limits{WallMs: 300}
			t0 := time.Now()
			res := run(t, rt, c, nil)
			took := time.Since(t0)
			if res.OK() || took > time.Second {
				t.Fatalf("outcome %s %q after %v", res.Outcome, res.Error, took)
			}
			t.Logf("%s after %v: %s", res.Outcome, took.Round(time.Millisecond), res.Error)
		})
	}
}

// TestConcurrentHostCalls: host calls in flight at once are answered
// concurrently in both executors (a sandbox worker's channel carries one
// call at a time, so it must not be held while the host works).
func TestConcurrentHostCalls(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `export default { async fetch() {
  const t0 = Date.now();
  const rs = await Promise.all([fetch("https://slow.test/300"), fetch("https://slow.test/300"), fetch("https://slow.test/300")]);
  const texts = await Promise.all(rs.map(r => r.text()));
  return new Response(texts.join(",") + " in " + (Date.now() - t0));
} }`)
			res := run(t, rt, c, nil)
			if !res.OK() {
				t.Fatalf("outcome %s %q %+v", res.Outcome, res.Error, res.Exceptions)
			}
			var took int
			body := string(res.Response.Body)
			if _, err := fmt.Sscanf(body, "slow 300,slow 300,slow 300 in %d", &took); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if took >= 600 {
				t.Errorf("three calls of 300 ms took %d ms: not concurrent", took)
			}
		})
	}
}
