package isolate

import (
	"context"
	"testing"
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

// BenchmarkStreamedInProcess is hello with a ReadableStream body: the cost
// of the first stream use in a fresh runtime, and of draining it.
func BenchmarkStreamedInProcess(b *testing.B) {
	benchWorker(b, InProcess, `export default { fetch() {
  return new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([104, 105])); c.close(); } }));
} }`)
}
