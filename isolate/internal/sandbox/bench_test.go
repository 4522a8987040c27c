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
