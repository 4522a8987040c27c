package jsengine

import (
	"os"
	"path/filepath"
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

// TestEvalReadsNoSourceMapFile: code compiled at run time (eval, new
// Function) ending in a sourceMappingURL comment does not make the engine
// read that file (goja's default is os.ReadFile of any path: the node's
// files for the in-process executor, /dev/zero or a FIFO for any worker).
func TestEvalReadsNoSourceMapFile(t *testing.T) {
	p, err := filepath.Abs(filepath.Join(t.TempDir(), "m.map"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(`{"version":3,"sources":["LEAKED.ts"],"names":[],"mappings":"AAAA;AACA;AACA"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	l := newLoop(false)
	defer l.api.Close()
	up := strings.Repeat("../", strings.Count(p, "/")+4)
	for _, src := range []string{
		`try { eval("\nthrow new Error('x')\n//# sourceMappingURL=` + up + p + `") } catch (e) { e.stack }`,
		`try { new Function("\nthrow new Error('x')\n//# sourceMappingURL=` + up + p + `")() } catch (e) { e.stack }`,
		`try { eval("\nthrow new Error('x')\n//# sourceMappingURL=file://` + p + `") } catch (e) { e.stack }`,
	} {
		v, err := l.vm.RunString(src)
		if err != nil {
			t.Fatal(err)
		}
		if s := v.String(); strings.Contains(s, "LEAKED") || !strings.Contains(s, "Error: x") {
			t.Errorf("the engine read the source map file named by eval'd code: %q", s)
		}
	}
}
