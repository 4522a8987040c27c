package contract

import (
	"testing"
	"time"
)

func TestCountedCPU(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct{ busy, cpu, want time.Duration }{
		{100 * ms, 100 * ms, 100 * ms},                // it had a processor throughout
		{100 * ms, 90 * ms, 90 * ms},                  // it waited 10 ms for one
		{100 * ms, 10 * ms, 87500 * time.Microsecond}, // starved: seven eighths of its busy time at least
		{100 * ms, 300 * ms, 100 * ms},                // the collector on other threads: never more than busy
		{0, 0, 0},
	} {
		if got := CountedCPU(c.busy, c.cpu); got != c.want {
			t.Errorf("CountedCPU(%v, %v) = %v, want %v", c.busy, c.cpu, got, c.want)
		}
	}
}
