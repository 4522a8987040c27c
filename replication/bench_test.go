//go:build unix

package replication

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkApply: one group of three in-process nodes on loopback UDP, the
// log synced to disk on each. "serial" is one client's latency (p50, p99);
// "16clients" is the throughput of 16 concurrent clients.
func BenchmarkApply(b *testing.B) {
	c := newClusterOn(b, 3, true)
	const id = "bench"
	for _, nd := range c.nodes {
		c.startGroup(nd, id, nil)
	}
	if err := c.nodes[0].groups[id].Bootstrap(c.servers()...); err != nil {
		b.Fatal(err)
	}
	g := c.leader(id, 10*time.Second).groups[id]
	ctx := context.Background()
	cmd := []byte("key=a value of about the size of a small KV write, sixty-four")
	for range 200 { // connections, pipelines, caches
		if _, err := g.Apply(ctx, cmd); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("serial", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for b.Loop() {
			t0 := time.Now()
			if _, err := g.Apply(ctx, cmd); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})

	b.Run("16clients", func(b *testing.B) {
		const clients = 16
		var wg sync.WaitGroup
		work := make(chan struct{}, clients)
		t0 := time.Now()
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range work {
					if _, err := g.Apply(ctx, cmd); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		for range b.N {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "writes/s")
	})
}

// BenchmarkIdleGroups measures the CPU that idle groups cost: three
// in-process nodes on loopback UDP, each with a replica of every group,
// leaders spread evenly. It reports the process's CPU (user + system) over
// a quiet window, per node, without and with the groups. It ignores b.N:
// one window is the measurement, and it outlasts -benchtime, so the
// benchmark runs once. REPL_IDLE_PROFILE=FILE writes a CPU profile of the
// window.
func BenchmarkIdleGroups(b *testing.B) {
	for _, groups := range []int{32} {
		b.Run(fmt.Sprint(groups), func(b *testing.B) {
			c := newClusterOn(b, 3, true)
			const window = 10 * time.Second
			settle(3 * time.Second)
			base := cpuOver(window)

			for i := range groups {
				id := fmt.Sprintf("idle-%d", i)
				for _, nd := range c.nodes {
					c.startGroup(nd, id, nil)
				}
				// The bootstrapping node is the only one that knows
				// the configuration at first, so it becomes the leader.
				if err := c.nodes[i%len(c.nodes)].groups[id].Bootstrap(c.servers()...); err != nil {
					b.Fatal(err)
				}
			}
			for i := range groups {
				id := fmt.Sprintf("idle-%d", i)
				l := c.leader(id, 30*time.Second)
				if _, err := l.groups[id].Apply(context.Background(), []byte("k=v")); err != nil {
					b.Fatal(err)
				}
			}
			settle(3 * time.Second) // past the followers' commit-index catch-up
			g0 := runtime.NumGoroutine()
			if f := os.Getenv("REPL_IDLE_PROFILE"); f != "" {
				pf, _ := os.Create(f)
				pprof.StartCPUProfile(pf)
				defer pf.Close()
				defer pprof.StopCPUProfile()
			}
			busy := cpuOver(window)
			n := float64(len(c.nodes))
			b.ReportMetric(100*base/n, "idle-node-%core")
			b.ReportMetric(100*busy/n, "with-groups-%core/node")
			b.ReportMetric(100*(busy-base)/n, "groups-only-%core/node")
			b.Logf("%d groups x 3 replicas: %.1f%% of a core for the process (mesh alone %.1f%%), %d goroutines",
				groups, 100*busy, 100*base, g0)
		})
	}
}

// settle lets the system reach its steady state before a measurement.
func settle(d time.Duration) { time.Sleep(d) }

// cpuOver returns the process's CPU use over d, in cores.
func cpuOver(d time.Duration) float64 {
	t0, c0 := time.Now(), cpuTime()
	time.Sleep(d)
	return (cpuTime() - c0).Seconds() / time.Since(t0).Seconds()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
