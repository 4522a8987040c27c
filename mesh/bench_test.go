package mesh

import (
	"bytes"
	"context"
	"io"
	"slices"
	"syscall"
	"testing"
	"time"
)

// BenchmarkStreamRoundTrip: a 1 KB echo on a new stream per call over the
// one kept QUIC connection between two nodes on loopback.
func BenchmarkStreamRoundTrip(b *testing.B) {
	nodes := startCluster(b, 2, clusterOpts{})
	waitFor(b, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
	nodes[1].Handle(40, func(_ Peer, s *Stream) { io.Copy(s, s) })
	msg := bytes.Repeat([]byte("x"), 1024)
	buf := make([]byte, 2048)
	ctx := context.Background()
	call := func() { echoOnce(ctx, b, nodes[0], msg, buf) }
	call() // dial
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		call()
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkJoinConverge5: from the first Join to every one of 5 nodes
// seeing all 5 alive.
func BenchmarkJoinConverge5(b *testing.B) {
	var total time.Duration
	for range b.N {
		b.StopTimer()
		nodes := make([]testNode, 5)
		for i := range nodes {
			nodes[i] = startNode(b, i, clusterOpts{})
		}
		b.StartTimer()
		t0 := time.Now()
		for _, nd := range nodes[1:] {
			if _, err := nd.Join([]string{nodes[0].Addr().String()}); err != nil {
				b.Fatal(err)
			}
		}
		for ok, why := converged(nodes, StateAlive); !ok; ok, why = converged(nodes, StateAlive) {
			time.Sleep(time.Millisecond)
			if time.Since(t0) > 10*time.Second {
				b.Fatal("no convergence: ", why)
			}
		}
		total += time.Since(t0)
		b.StopTimer()
		for _, nd := range nodes {
			nd.Close()
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/converge")
}

// BenchmarkRedial: what closing an idle connection costs when it is needed
// again: a 1 KB echo on a new QUIC connection each time (mutual-TLS
// handshake included), its latency and the CPU both ends spend (both nodes
// run in this process), against BenchmarkStreamRoundTrip's kept
// connection.
func BenchmarkRedial(b *testing.B) {
	nodes := startCluster(b, 2, clusterOpts{})
	waitFor(b, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
	nodes[1].Handle(40, func(_ Peer, s *Stream) { io.Copy(s, s) })
	msg := bytes.Repeat([]byte("x"), 1024)
	buf := make([]byte, 2048)
	ctx := context.Background()
	drop := func() {
		nodes[0].mu.Lock()
		mc := nodes[0].byName["n1"]
		nodes[0].mu.Unlock()
		if mc != nil {
			mc.c.CloseWithError(codeIdle, "idle")
			nodes[0].removeConn(mc)
		}
	}
	call := func() { echoOnce(ctx, b, nodes[0], msg, buf) }
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	lat := make([]time.Duration, 0, b.N)
	var spent time.Duration
	b.ResetTimer()
	for range b.N {
		drop()
		c0, t0 := cpu(), time.Now()
		call()
		lat = append(lat, time.Since(t0))
		spent += cpu() - c0
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(spent.Microseconds())/float64(b.N), "cpu-µs/call")
}

// echoOnce sends msg to n1's echo handler (40) on a stream of its own and
// reads it back into buf.
func echoOnce(ctx context.Context, b *testing.B, n testNode, msg, buf []byte) {
	s, err := n.Open(ctx, "n1", 40)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Write(msg); err != nil {
		b.Fatal(err)
	}
	s.CloseWrite()
	got, err := io.ReadFull(s, buf[:len(msg)])
	if err != nil || got != len(msg) {
		b.Fatal(got, err)
	}
	s.Close()
}
