package jsengine

import (
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// TestOverflowStack: a stack of more than OverflowHead+OverflowTail frames
// keeps those, with one line between saying how many more there were.
func TestOverflowStack(t *testing.T) {
	for n, want := range map[int]string{OverflowHead + OverflowTail: "", OverflowHead + OverflowTail + 1: "\n    ... 1 more frame\n"} {
		if s := overflowStack(make([]goja.StackFrame, n)); strings.Count(s, "\n") != min(n, OverflowHead+OverflowTail+1) || !strings.Contains(s, want) {
			t.Errorf("%d frames: %q", n, s)
		}
	}
}

// In a process of its own a call is past its CPU limit once both its busy
// time and the CPU time contract.CountedCPU counts are: a call that waited
// for a processor is not ended for the wait, up to contract.StarveGrace
// and 8/7 of its limit.
func TestOverCPUWithClock(t *testing.T) {
	ms := time.Millisecond
	var cpu time.Duration
	l := newLoop(false)
	defer l.api.Close()
	cpu = 5 * ms
	l.call = &jsCall{limits: contract.Limits{CPUMs: 100}}
	l.meter = contract.NewCPUMeter(func() time.Duration { return cpu })
	for _, c := range []struct {
		busy, used time.Duration // used: the clock's CPU time since the call began
		over       bool
	}{
		{90 * ms, 90 * ms, false},
		{110 * ms, 110 * ms, true},
		{110 * ms, 50 * ms, false},                      // it waited: counted 50 ms
		{contract.StarveGrace + 112*ms, 50 * ms, false}, // counted 98 ms: seven eighths of what passed the grace
		{contract.StarveGrace + 115*ms, 50 * ms, true},  // counted 100.6 ms: the grace and 8/7 of the limit is as far as a wait goes
		{200 * ms, 101 * ms, true},
	} {
		cpu = 5*ms + c.used
		if got := l.overCPU(c.busy); got != c.over {
			t.Errorf("busy %v, used %v: over = %v, want %v", c.busy, c.used, got, c.over)
		}
	}
	l.meter = contract.CPUMeter{} // the node's process: busy time alone
	if !l.overCPU(101 * ms) {
		t.Error("without a clock, 101 ms busy is not over a 100 ms limit")
	}
}
