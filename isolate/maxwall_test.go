package isolate

import (
	"context"
	"strings"
	"testing"

	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// TestMaxWallMs: a runtime denies a call that asks for more wall time than
// its ceiling, rather than clipping it; without a ceiling the limits' own
// maximum holds.
func TestMaxWallMs(t *testing.T) {
	rt, err := New(Options{Executor: InProcess, Workers: 1, MaxWallMs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	hello := func(wallMs int64) *Invocation {
		c := js("main.js", `export default { fetch() { return new Response("hi") } }`)
		c.Limits = &Limits{WallMs: wallMs}
		return &Invocation{Code: c}
	}
	if res := rt.Run(context.Background(), hello(1000)); !res.OK() {
		t.Errorf("at the ceiling: %s %q", res.Outcome, res.Error)
	}
	res := rt.Run(context.Background(), hello(1001))
	if res.Outcome != OutcomeDenied || !strings.Contains(res.Error, "limits.wallMs 1001") || !strings.Contains(res.Error, "1000") {
		t.Errorf("over the ceiling: %s %q, want denied naming both", res.Outcome, res.Error)
	}
	open, err := New(Options{Executor: InProcess, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if res := open.Run(context.Background(), hello(MaxLimits.WallMs)); !res.OK() {
		t.Errorf("no ceiling, the maximum: %s %q", res.Outcome, res.Error)
	}
}

// TestMaxMemoryMB: a runtime denies a call that asks for more memory than
// its ceiling, rather than clipping it, and says what the ceiling is and
// how an operator raises it.
func TestMaxMemoryMB(t *testing.T) {
	rt, err := New(Options{Executor: InProcess, Workers: 1, MaxMemoryMB: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	hello := func(memoryMB int64) *Invocation {
		c := js("main.js", `export default { fetch() { return new Response("hi") } }`)
		c.Limits = &Limits{MemoryMB: memoryMB, CPUMs: 5000}
		return &Invocation{Code: c}
	}
	if res := rt.Run(context.Background(), hello(64)); !res.OK() {
		t.Errorf("at the ceiling: %s %q", res.Outcome, res.Error)
	}
	res := rt.Run(context.Background(), hello(65))
	if res.Outcome != OutcomeDenied || !strings.Contains(res.Error, "limits.memoryMb 65") || !strings.Contains(res.Error, "maximum of 64") ||
		!strings.Contains(res.Error, "--max-memory-mb") || !strings.Contains(res.Error, "4096") {
		t.Errorf("over the ceiling: %s %q, want denied naming the ceiling and how to raise it", res.Outcome, res.Error)
	}
}

// TestWallLimitStopsBusyGuest: the wall-time limit ends a guest that never
// waits (a loop, given more CPU time than wall time) when it falls, as
// exceededWallTime, and its worker goes on: before, the deadline was seen
// only at the guest's next wait, so the in-process executor ran the loop
// to its CPU limit and a sandbox worker was killed by the node two
// seconds after the deadline, its CPU time lost.
func TestWallLimitStopsBusyGuest(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			if kind == Sandboxed && testing.Short() {
				t.Skip("starts worker processes")
			}
			rt := testRuntime(t, kind)
			var before sandbox.Stats
			if kind == Sandboxed {
				before = rt.Stats().(sandbox.Stats)
			}
			code := js("main.js", `export default { fetch() { for (;;); } }`)
			code.Limits = &Limits{CPUMs: 20_000, WallMs: 500}
			res := run(t, rt, code, nil)
			if res.Outcome != OutcomeExceededWallTime || !strings.Contains(res.Error, "wall-time limit of 500 ms") {
				t.Fatalf("%s %q, want exceededWallTime", res.Outcome, res.Error)
			}
			if res.Telemetry.CPUTime <= 0 {
				t.Errorf("cpuTime %v: the engine did not end the call", res.Telemetry.CPUTime)
			}
			if kind == Sandboxed {
				if st := rt.Stats().(sandbox.Stats); st.Killed != before.Killed || st.Crashed != before.Crashed {
					t.Errorf("workers killed %d, crashed %d", st.Killed-before.Killed, st.Crashed-before.Crashed)
				}
			}
			if hello := run(t, rt, js("main.js", `export default { fetch() { return new Response("hi") } }`), nil); !hello.OK() {
				t.Fatalf("after: %s %s", hello.Outcome, hello.Error)
			}
		})
	}
}

// TestRegexpTimeoutEndsCall: a regular-expression match that runs past
// its own bound (RegexpMatchTimeout; goja's regexp engine never sees the
// interrupt) ends the call as exceededCpu, whatever CPU budget is left.
// It used to be taken as no match: the call went on, and a Worker with a
// large cpuMs answered "false" after a second, a wrong answer.
func TestRegexpTimeoutEndsCall(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		rt := testRuntime(t, kind)
		c := js("main.js", `export default { fetch() {
  let caught = "no";
  try { return new Response(String(/^(a+)+(?!x)$/.test("a".repeat(40) + "b"))) } catch (e) { caught = String(e) }
  return new Response("caught " + caught);
} }`)
		c.Limits = &Limits{CPUMs: 20000, WallMs: 20000}
		res := run(t, rt, c, nil)
		if res.Outcome != OutcomeExceededCPU || !strings.Contains(res.Error, "regular expression") {
			t.Fatalf("outcome %s (%q), response %+v; want exceededCpu for the match", res.Outcome, res.Error, res.Response)
		}
	})
}

// TestRegexpEndsAtCPULimit: a catastrophic match (regexp2's engine, for
// the lookahead) ends at the call's CPU limit, as any of its code does:
// the interrupt reaches the match (regexp2 patch 0001, goja patch 0031).
// It used to run on to the match's own bound (RegexpMatchTimeout, 1 s);
// in a sandbox worker, the worker's stuck path ended it at 2.6 times its
// cpuMs with no telemetry, and the pool started a new worker.
func TestRegexpEndsAtCPULimit(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		rt := testRuntime(t, kind)
		c := js("main.js", `export default { fetch() {
  return new Response(String(/^(a+)+(?!x)$/.test("a".repeat(40) + "b")))
} }`)
		c.Limits = &Limits{CPUMs: 200, WallMs: 20000}
		before, _ := rt.Stats().(sandbox.Stats)
		res := run(t, rt, c, nil)
		if res.Outcome != OutcomeExceededCPU || strings.Contains(res.Error, "regular expression") || res.Telemetry.CPUTime < 150 {
			t.Fatalf("outcome %s (%q) after %.1f ms of CPU; want exceededCpu at the 200 ms limit", res.Outcome, res.Error, res.Telemetry.CPUTime)
		}
		if after, ok := rt.Stats().(sandbox.Stats); ok && (after.Crashed != before.Crashed || after.Killed != before.Killed) {
			t.Errorf("the call cost its worker: crashed %d → %d, killed %d → %d", before.Crashed, after.Crashed, before.Killed, after.Killed)
		}
		// The worker (or runtime) serves the next call.
		c = js("main.js", `export default { fetch() { return new Response(String(/a(?=b)/.test("ab"))) } }`)
		if res := run(t, rt, c, nil); res.Outcome != OutcomeOK || res.Response == nil || string(res.Response.Body) != "true" {
			t.Fatalf("the next call: %s %q %+v", res.Outcome, res.Error, res.Response)
		}
	})
}
