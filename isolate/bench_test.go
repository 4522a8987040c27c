package isolate

import (
	"context"
	"testing"
)

func benchHello(b *testing.B, kind ExecutorKind) {
	rt, err := New(Options{Executor: kind, Workers: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	code := js("main.js", `export default { fetch() { return new Response("hi") } }`)
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
