//go:build warren_stages

package stagetime

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// On reports whether stages are recorded: when WARREN_STAGES is set.
var On = os.Getenv("WARREN_STAGES") != ""

var (
	mu      sync.Mutex
	samples = map[string][]time.Duration{}
)

// Now is the start of a stage.
func Now() time.Time {
	if !On {
		return time.Time{}
	}
	return time.Now()
}

// Since records the stage that began at t.
func Since(stage string, t time.Time) {
	if On {
		Add(stage, time.Since(t))
	}
}

// Add records a stage that took d.
func Add(stage string, d time.Duration) {
	if !On {
		return
	}
	mu.Lock()
	samples[stage] = append(samples[stage], d)
	mu.Unlock()
}

// report is a line per stage: count, mean and percentiles in ms.
func report() string {
	mu.Lock()
	defer mu.Unlock()
	var b strings.Builder
	names := make([]string, 0, len(samples))
	for k := range samples {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		d := slices.Clone(samples[k])
		slices.Sort(d)
		var sum time.Duration
		for _, v := range d {
			sum += v
		}
		ms := func(v time.Duration) float64 { return float64(v.Microseconds()) / 1000 }
		q := func(x float64) float64 { return ms(d[int(x*float64(len(d)-1))]) }
		fmt.Fprintf(&b, "STAGE %-16s n=%7d mean=%.3f p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f\n",
			k, len(d), ms(sum)/float64(len(d)), q(.5), q(.9), q(.99), q(.999), q(1))
	}
	return b.String()
}

func init() {
	if !On {
		return
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for s := range ch {
			if s == syscall.SIGUSR1 {
				mu.Lock()
				samples = map[string][]time.Duration{}
				mu.Unlock()
				continue
			}
			os.Stderr.WriteString(report())
		}
	}()
}
