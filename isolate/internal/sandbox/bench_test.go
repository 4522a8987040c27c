package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"testing"
	"time"
)

// BenchmarkCallEcho measures the serial round trip host -> worker -> host.
func BenchmarkCallEcho(b *testing.B) {
	p := newTestPool(b, Config{Workers: 1, Logger: discard()})
	req := []byte("echo hello")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Call(ctx, req, CallOptions{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallEchoDeadline is the same with a per-call deadline and a cancelable context.
func BenchmarkCallEchoDeadline(b *testing.B) {
	p := newTestPool(b, Config{Workers: 1, Logger: discard()})
	req := []byte("echo hello")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := p.Call(ctx, req, CallOptions{Deadline: time.Now().Add(time.Second)}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallback measures one callback round trip inside a call.
func BenchmarkCallback(b *testing.B) {
	p := newTestPool(b, Config{Workers: 1, Logger: discard()})
	req := []byte("cb 1")
	ans := []byte("ok")
	onCall := func([]byte) ([]byte, error) { return ans, nil }
	for b.Loop() {
		if _, err := p.Call(context.Background(), req, CallOptions{}, onCall); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallParallel measures throughput with 4 workers (2 per core on the reference
// machine) and many concurrent callers.
func BenchmarkCallParallel(b *testing.B) {
	p := newTestPool(b, Config{Workers: 4, Logger: discard()})
	req := []byte("echo hello")
	b.SetParallelism(2) // 4 callers on 2 CPUs: one per worker
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := p.Call(ctx, req, CallOptions{}, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

func BenchmarkFrame(b *testing.B) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	payload := make([]byte, 100)
	for b.Loop() {
		buf.Reset()
		writeFrame(w, frameRequest, payload)
		if _, _, err := readFrame(bufio.NewReader(&buf)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWorkerStart: starting one worker to its ready frame, with every layer the host
// allows, and with the namespaces, the uid drop and the cgroups left out.
func BenchmarkWorkerStart(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"all layers", Config{}},
		{"no mount, pid ns", Config{SharedNamespaces: true}},
		{"no uid", Config{NoDropPrivileges: true}},
		{"no mount, pid ns, uid", Config{SharedNamespaces: true, NoDropPrivileges: true}},
		{"no mount, pid ns, uid, cgroups", Config{SharedNamespaces: true, NoDropPrivileges: true, CgroupRoot: "-"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			c.cfg.Workers, c.cfg.Spares, c.cfg.Logger = 1, -1, discard()
			p := newTestPool(b, c.cfg)
			for b.Loop() {
				w, err := p.startWorker()
				if err != nil {
					b.Fatal(err)
				}
				w.abort("bench")
				w.waitExit(reapWait)
			}
		})
	}
}
