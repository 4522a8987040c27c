package isolate

import (
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// timerFlood keeps ten thousand intervals of 0 ms due for ever: the work
// is the event loop's (the timer heap, scheduling), not the callbacks'.
const timerFlood = `export default { fetch() {
  for (let i = 0; i < 9999; i++) setInterval(() => {}, 0);
  return new Promise(() => {});
} }`

// floodSlack is how much past its CPU budget a flooded call may end: the
// watchdog's period, the top level, a loaded test machine.
const floodSlack = 300 * time.Millisecond

// TestTimerFloodCPU: the event loop's own work counts as CPU, so a timer
// flood ends exceededCpu within its budget (plus slack), not three times
// later; both executors.
func TestTimerFloodCPU(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", timerFlood)
			c.Limits = &Limits{CPUMs: 300}
			run(t, rt, js("main.js", `export default { fetch() { return new Response("warm") } }`), nil)
			t0 := time.Now()
			res := run(t, rt, c, nil)
			took := time.Since(t0)
			if res.Outcome != OutcomeExceededCPU {
				t.Fatalf("outcome %s %q", res.Outcome, res.Error)
			}
			// A sandboxed call is charged for the CPU its worker used: demoted
			// on a loaded machine, it may wait for a processor uncharged for
			// contract.StarveGrace, and then run at seven eighths of one.
			bound := 300*time.Millisecond + floodSlack
			if kind == Sandboxed {
				bound = contract.StarveGrace + 343*time.Millisecond + floodSlack
			}
			if took > bound {
				t.Errorf("took %v for a CPU budget of 300 ms", took)
			}
			t.Logf("took %v, reported %.1f ms of CPU in %.1f ms", took.Round(time.Millisecond), res.Telemetry.CPUTime, res.Telemetry.WallTime)
		})
	}
}

// TestTimerLimit: a call may have at most maxTimers pending timers; one
// more is a RangeError the guest can catch.
func TestTimerLimit(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `export default { fetch() {
  let n = 0;
  try { for (;;) { setTimeout(() => {}, 60000); n++; } } catch (e) { return new Response(n + " " + e.name + ": " + e.message); }
} }`)
			res := run(t, rt, c, nil)
			want := "10000 RangeError: too many pending timers: a call may have at most 10000"
			if !res.OK() || string(res.Response.Body) != want {
				t.Fatalf("outcome %s %q, body %q, want %q", res.Outcome, res.Error, res.Response.Body, want)
			}
		})
	}
}
