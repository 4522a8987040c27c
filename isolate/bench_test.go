package isolate

import (
	"context"
	"strconv"
	"testing"

	"github.com/warrenmesh/warren/internal/cpujobs"
)

func benchHello(b *testing.B, kind ExecutorKind) {
	benchWorker(b, kind, `export default { fetch() { return new Response("hi") } }`)
}

func benchWorker(b *testing.B, kind ExecutorKind, src string) {
	rt, err := New(Options{Executor: kind, Workers: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	code := js("main.js", src)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := rt.Run(ctx, &Invocation{Code: code}); !r.OK() {
				b.Fatalf("%s %s", r.Outcome, r.Error)
			}
		}
	})
}

func BenchmarkHelloInProcess(b *testing.B) { benchHello(b, InProcess) }
func BenchmarkHelloSandboxed(b *testing.B) { benchHello(b, Sandboxed) }

// cpuJobWorker is the Worker of cpujobs, with the Go module and its glue.
func cpuJobWorker(wasm []byte, glue string) *Code {
	c := js("main.js", cpujobs.WorkerJS)
	c.Modules["wasm_exec.js"] = &Module{Kind: ModuleESM, Source: glue}
	c.Modules["sha256.js"] = &Module{Kind: ModuleESM, Source: cpujobs.SHA256JS}
	c.Modules["main.wasm"] = &Module{Kind: ModuleWasm, Data: wasm}
	c.Limits = &Limits{CPUMs: 60_000, WallMs: 120_000, MemoryMB: 512}
	return c
}

// BenchmarkCPUJobs compares JS with wasm called from JS on the same jobs,
// each in a fresh isolate (in process; the compiled module is cached, as
// it is after a process's first call).
func BenchmarkCPUJobs(b *testing.B) {
	wasm, glue := goJSModule(b)
	rt, err := New(Options{Executor: InProcess, Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	code := cpuJobWorker(wasm, glue)
	ctx := context.Background()
	for _, job := range cpujobs.Jobs {
		b.Run(job, func(b *testing.B) {
			req := &Request{URL: "https://bench.test/" + job}
			if r := rt.Run(ctx, &Invocation{Code: code, Request: req}); !r.OK() { // warm the caches
				b.Fatalf("%s %s %+v", r.Outcome, r.Error, r.Exceptions)
			}
			b.ResetTimer()
			var jobMs float64
			for b.Loop() {
				r := rt.Run(ctx, &Invocation{Code: code, Request: req})
				if !r.OK() {
					b.Fatalf("%s %s %+v", r.Outcome, r.Error, r.Exceptions)
				}
				ms, err := strconv.ParseFloat(string(r.Response.Body), 64)
				if err != nil {
					b.Fatalf("response %q", r.Response.Body)
				}
				jobMs += ms
			}
			b.ReportMetric(jobMs/float64(b.N), "job-ms/op")
		})
	}
}

// BenchmarkStreamedInProcess is hello with a ReadableStream body: the cost
// of the first stream use in a fresh runtime, and of draining it.
func BenchmarkStreamedInProcess(b *testing.B) {
	benchWorker(b, InProcess, `export default { fetch() {
  return new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([104, 105])); c.close(); } }));
} }`)
}
