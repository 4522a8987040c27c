//go:build unix

package isolate

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// TestTimerFloodCPUMatchesRusage: in-process, the CPU a flooded call
// reports is close to what the process really burned meanwhile.
func TestTimerFloodCPUMatchesRusage(t *testing.T) {
	rt := testRuntime(t, InProcess)
	c := js("main.js", timerFlood)
	c.Limits = &Limits{CPUMs: 500}
	before := processCPU(t)
	res := rt.Run(context.Background(), &Invocation{Code: c})
	burned := processCPU(t) - before
	if res.Outcome != OutcomeExceededCPU {
		t.Fatalf("outcome %s %q", res.Outcome, res.Error)
	}
	reported := time.Duration(res.Telemetry.CPUTime * float64(time.Millisecond))
	t.Logf("reported %v, the process burned %v", reported, burned)
	// The process also runs the GC and the watchdog on other threads, so
	// it burns somewhat more than the guest's loop; an under-count of a
	// third or more is the loop's work going unaccounted.
	if reported < burned*2/3 {
		t.Errorf("reported %v of CPU, but the process burned %v", reported, burned)
	}
}

func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
