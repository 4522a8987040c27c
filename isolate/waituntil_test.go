package isolate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// callWithResponse runs c with an OnResponse hook and returns the result
// it was given (nil if it was not called) and the final result, with the
// times since the start at which each came.
func callWithResponse(t *testing.T, rt *Runtime, c *Code) (partial *Result, partialAt time.Duration, final *Result, finalAt time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	calls := 0
	t0 := time.Now()
	final = rt.Run(ctx, &Invocation{Code: c, OnResponse: func(r *Result) {
		calls++
		partial, partialAt = r, time.Since(t0)
	}})
	finalAt = time.Since(t0)
	if calls > 1 {
		t.Errorf("OnResponse called %d times", calls)
	}
	return partial, partialAt, final, finalAt
}

func logText(logs []Log) string {
	var b strings.Builder
	for _, l := range logs {
		b.WriteString(l.Level + ":" + l.Message + "\n")
	}
	return b.String()
}

// checkResponded checks that the response went out early and that the
// final result keeps it.
func checkResponded(t *testing.T, partial, final *Result, body string) {
	t.Helper()
	if partial == nil {
		t.Fatal("OnResponse was not called")
	}
	if !partial.OK() || partial.Response == nil || string(partial.Response.Body) != body {
		t.Fatalf("result at the response: %s %q %+v", partial.Outcome, partial.Error, partial.Response)
	}
	if partial.Telemetry.Executor == "" || partial.Telemetry.Node != "test" || partial.Telemetry.WallTime <= 0 {
		t.Errorf("telemetry at the response: %+v", partial.Telemetry)
	}
	if !final.OK() || final.Response == nil || string(final.Response.Body) != body || final.Response.Status != partial.Response.Status {
		t.Fatalf("final result: %s %q %+v", final.Outcome, final.Error, final.Response)
	}
}

// TestWaitUntilAfterResponse: the response goes out (OnResponse) while a
// ctx.waitUntil of 300 ms still runs; the final result has that work's
// logs.
func TestWaitUntilAfterResponse(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `export default { fetch(req, env, ctx) {
  console.log("before");
  ctx.waitUntil(new Promise(r => setTimeout(() => { console.log("background done"); r(); }, 300)));
  return new Response("early");
} }`)
			partial, partialAt, final, finalAt := callWithResponse(t, rt, c)
			checkResponded(t, partial, final, "early")
			if got := logText(partial.Logs); got != "log:before\n" {
				t.Errorf("logs at the response: %q", got)
			}
			if got := logText(final.Logs); got != "log:before\nlog:background done\n" {
				t.Errorf("final logs: %q", got)
			}
			if final.Error != "" || len(final.Exceptions) != 0 {
				t.Errorf("final result: error %q, exceptions %+v", final.Error, final.Exceptions)
			}
			if finalAt < 300*time.Millisecond || partialAt >= finalAt {
				t.Errorf("the response came after %v, the final result after %v", partialAt, finalAt)
			}
			if final.Telemetry.WallTime < 300 || final.Telemetry.WallTime < partial.Telemetry.WallTime {
				t.Errorf("wall time %v at the response, %v in all", partial.Telemetry.WallTime, final.Telemetry.WallTime)
			}
			t.Logf("response after %v, final result after %v", partialAt.Round(time.Millisecond), finalAt.Round(time.Millisecond))
		})
	}
}

// TestWaitUntilCutShort: ctx.waitUntil work that never ends does not delay
// the response; the background period (here the wall-time limit, smaller
// than BackgroundLimit) cuts it, and the final result says so. Work that
// can never settle, or that exceeds the CPU limit, is cut too.
func TestWaitUntilCutShort(t *testing.T) {
	cases := []struct {
		name, work string
		limits     *Limits
		want       string
		atLeast    time.Duration // the background period
	}{
		{"timers for ever", `new Promise(() => setInterval(() => console.log("tick"), 100))`, &Limits{WallMs: 400},
			"ctx.waitUntil work was canceled: it did not finish within 400 ms after the response", 400 * time.Millisecond},
		{"hung host call", `fetch("https://hang.test/")`, &Limits{WallMs: 400},
			"ctx.waitUntil work was canceled: it did not finish within 400 ms after the response", 400 * time.Millisecond},
		{"never settles", `new Promise(() => {})`, nil,
			"ctx.waitUntil work was canceled: 1 promise can never settle (no timer or host call is pending)", 0},
		{"CPU", `new Promise(r => setTimeout(() => { for (;;) {} }, 10))`, &Limits{CPUMs: 100},
			"ctx.waitUntil work was canceled: Worker exceeded its CPU time limit of 100 ms", 0},
	}
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c := js("main.js", `export default { fetch(req, env, ctx) {
  ctx.waitUntil(`+tc.work+`);
  return new Response("early");
} }`)
					c.Limits = tc.limits
					partial, partialAt, final, finalAt := callWithResponse(t, rt, c)
					checkResponded(t, partial, final, "early")
					if final.Error != tc.want {
						t.Errorf("final error %q, want %q", final.Error, tc.want)
					}
					// The background period runs from the response being
					// ready, a little before OnResponse is called.
					if finalAt < tc.atLeast || finalAt-partialAt > tc.atLeast+2*time.Second {
						t.Errorf("the final result came %v after the response (%v after the start), want %v", finalAt-partialAt, finalAt, tc.atLeast)
					}
					t.Logf("response after %v, final result after %v: %s", partialAt.Round(time.Millisecond), finalAt.Round(time.Millisecond), final.Error)
				})
			}
		})
	}
}

// TestWaitUntilRejected: a ctx.waitUntil promise rejected after the
// response is an exception of the final result, whose outcome stays ok.
func TestWaitUntilRejected(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `export default { fetch(req, env, ctx) {
  ctx.waitUntil(new Promise((_, reject) => setTimeout(() => reject(new TypeError("too late")), 50)));
  ctx.waitUntil(Promise.resolve(1));
  return new Response("early");
} }`)
			partial, _, final, _ := callWithResponse(t, rt, c)
			checkResponded(t, partial, final, "early")
			if len(partial.Exceptions) != 0 {
				t.Errorf("exceptions at the response: %+v", partial.Exceptions)
			}
			if len(final.Exceptions) != 1 || final.Exceptions[0].Name != "TypeError" || final.Exceptions[0].Message != "too late" {
				t.Fatalf("final exceptions %+v", final.Exceptions)
			}
			if final.Error != "" {
				t.Errorf("final error %q", final.Error)
			}
		})
	}
}

// TestWaitUntilWorkerDies: a worker that must end during ctx.waitUntil
// work (the decimal string of a BigInt of millions of digits is one
// native call, seconds long, that no interrupt reaches, so the worker's
// watchdog exits past the CPU limit) leaves the response standing; the
// final result says what ended the work.
func TestWaitUntilWorkerDies(t *testing.T) {
	rt := testRuntime(t, Sandboxed)
	c := js("main.js", `export default { fetch(req, env, ctx) {
  ctx.waitUntil(new Promise(r => setTimeout(() => r((3n ** 30000000n).toString().length), 10)));
  console.log("responding");
  return new Response("early");
} }`)
	// 1 s: at 200 ms one make test run ended the call before its response,
	// most likely through the charge for waits past contract.StarveGrace
	// (a race-detector worker on a host busy with the other packages'
	// tests). The power alone takes seconds, one instruction the interrupt
	// cannot cut (with 3n ** 10000000n it ended once within the stuck
	// path's grace, and the interrupt between it and toString ended the
	// call with its worker).
	c.Limits = &Limits{CPUMs: 1000}
	partial, _, final, _ := callWithResponse(t, rt, c)
	checkResponded(t, partial, final, "early")
	if want := "ctx.waitUntil work was canceled: Worker exceeded its CPU time limit of 1000 ms"; final.Error != want {
		t.Errorf("final error %q, want %q", final.Error, want)
	}
	if got := logText(final.Logs); got != "log:responding\n" {
		t.Errorf("final logs %q", got)
	}
	if final.Telemetry.WallTime <= partial.Telemetry.WallTime {
		t.Errorf("wall time %v at the response, %v in all", partial.Telemetry.WallTime, final.Telemetry.WallTime)
	}
	if st := rt.Stats().(sandbox.Stats); st.Crashed != 1 {
		t.Errorf("%d workers crashed, want 1: %+v", st.Crashed, st)
	}
	t.Logf("final: %+v", final.Telemetry)
}

// TestWaitUntilWithoutOnResponse: with no OnResponse, Run returns the
// final result, the same as with one.
func TestWaitUntilWithoutOnResponse(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `export default { fetch(req, env, ctx) {
  ctx.waitUntil(new Promise(r => setTimeout(() => { console.log("after"); r(); }, 20)));
  ctx.waitUntil(Promise.reject(new Error("no")));
  return new Response("early");
} }`)
			_, _, with, _ := callWithResponse(t, rt, c)
			without := run(t, rt, c, nil)
			if a, b := mustJSONString(t, normalize(with)), mustJSONString(t, normalize(without)); a != b {
				t.Errorf("with OnResponse:    %s\nwithout OnResponse: %s", a, b)
			}
		})
	}
}
