package isolate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// runScheduled runs c's scheduled handler for ev, with the KV binding
// "KV" on the test namespace and no request.
func runScheduled(t testing.TB, rt *Runtime, c *Code, ev *ScheduledEvent) *Result {
	t.Helper()
	// A minute, as pyRun: a sandbox worker's first Python call compiles
	// python.wasm and takes its snapshot, which under -race on a loaded
	// machine outlasted 30 s.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return rt.Run(ctx, &Invocation{Code: c, Scheduled: ev, Bindings: map[string]Binding{"KV": {KV: "test"}}})
}

// checkException checks that res ended with one exception, of the given
// name, whose message contains msg.
func checkException(t *testing.T, res *Result, name, msg string) {
	t.Helper()
	if res.Outcome != OutcomeException || res.Response != nil {
		t.Fatalf("outcome %s %q, response %+v; want an exception", res.Outcome, res.Error, res.Response)
	}
	if len(res.Exceptions) == 0 {
		t.Fatal("no exceptions")
	}
	e := res.Exceptions[len(res.Exceptions)-1]
	if e.Name != name || !strings.Contains(e.Message, msg) {
		t.Errorf("exception %s: %q, want %s: ...%q...", e.Name, e.Message, name, msg)
	}
}

// TestScheduled runs scheduled handlers in both executors: the controller,
// env bindings, ctx.waitUntil, noRetry, failures and limits.
func TestScheduled(t *testing.T) {
	ev := &ScheduledEvent{Cron: "*/5 * * * *", ScheduledTime: 1764300000000}
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)

			t.Run("controller", func(t *testing.T) {
				res := runScheduled(t, rt, js("main.js", `export default {
  fetch() { throw new Error("fetch must not run"); },
  scheduled(controller, env, ctx) {
    console.log(controller.cron, controller.scheduledTime, typeof controller.scheduledTime, controller.type, typeof controller.noRetry, this === undefined ? "no this" : "this");
    console.log(typeof ctx.waitUntil, env.GREETING);
  },
}`), ev)
				if !res.OK() || res.Response != nil || res.NoRetry || len(res.Exceptions) != 0 {
					t.Fatalf("result %s %q, response %+v, noRetry %v, exceptions %+v", res.Outcome, res.Error, res.Response, res.NoRetry, res.Exceptions)
				}
				want := "log:*/5 * * * * 1764300000000 number scheduled function this\nlog:function undefined\n"
				if got := logText(res.Logs); got != want {
					t.Errorf("logs %q, want %q", got, want)
				}
			})

			t.Run("by hand", func(t *testing.T) {
				c := js("main.js", `export default { async scheduled(c, env) { console.log(JSON.stringify(c.cron), c.scheduledTime, env.GREETING); } }`)
				c.Env = map[string]json.RawMessage{"GREETING": json.RawMessage(`"hi"`)}
				res := runScheduled(t, rt, c, &ScheduledEvent{})
				if !res.OK() || logText(res.Logs) != "log:\"\" 0 hi\n" {
					t.Fatalf("result %s %q, logs %q", res.Outcome, res.Error, logText(res.Logs))
				}
			})

			t.Run("rejection", func(t *testing.T) {
				res := runScheduled(t, rt, js("main.js", `export default { async scheduled() {
  await new Promise(r => setTimeout(r, 5));
  throw new TypeError("the tick failed");
} }`), ev)
				checkException(t, res, "TypeError", "the tick failed")
				if !strings.Contains(res.Exceptions[0].Stack, "main.js") {
					t.Errorf("stack %q does not name main.js", res.Exceptions[0].Stack)
				}
			})

			t.Run("throw", func(t *testing.T) {
				res := runScheduled(t, rt, js("main.js", `export default { scheduled() { null.x; } }`), ev)
				checkException(t, res, "TypeError", "")
			})

			t.Run("missing handler", func(t *testing.T) {
				res := runScheduled(t, rt, js("main.js", `export default { fetch() { return new Response("hi"); } }`), ev)
				checkException(t, res, "Error", "the main module's default export has no scheduled(controller, env, ctx) handler")
				res = runScheduled(t, rt, js("main.js", `export const x = 1;`), ev)
				checkException(t, res, "Error", "the main module has no default export with a scheduled(controller, env, ctx) handler")
			})

			t.Run("noRetry", func(t *testing.T) {
				res := runScheduled(t, rt, js("main.js", `export default { scheduled(c) { c.noRetry(); } }`), ev)
				if !res.OK() || !res.NoRetry {
					t.Fatalf("result %s %q, noRetry %v", res.Outcome, res.Error, res.NoRetry)
				}
				b, err := json.Marshal(res)
				if err != nil || !strings.Contains(string(b), `"noRetry":true`) {
					t.Errorf("JSON %s (%v) has no noRetry", b, err)
				}
				// It stands when the handler then fails.
				res = runScheduled(t, rt, js("main.js", `export default { async scheduled(c) { c.noRetry(); throw new Error("give up"); } }`), ev)
				checkException(t, res, "Error", "give up")
				if !res.NoRetry {
					t.Error("noRetry lost by the exception")
				}
			})

			t.Run("cpu limit", func(t *testing.T) {
				c := js("main.js", `export default { scheduled() { for (;;) {} } }`)
				c.Limits = &Limits{CPUMs: 100}
				res := runScheduled(t, rt, c, ev)
				if res.Outcome != OutcomeExceededCPU {
					t.Fatalf("outcome %s %q, want exceededCpu", res.Outcome, res.Error)
				}
			})

			t.Run("kv", func(t *testing.T) {
				res := runScheduled(t, rt, js("main.js", `export default { async scheduled(c, env, ctx) {
  await env.KV.put("last-tick", c.cron + "@" + c.scheduledTime);
  ctx.waitUntil(env.KV.put("background", String(await env.KV.get("last-tick"))));
} }`), ev)
				if !res.OK() {
					t.Fatalf("result %s %q %+v", res.Outcome, res.Error, res.Exceptions)
				}
				kv, _ := rt.opts.Host.KV("test")
				for key, want := range map[string]string{"last-tick": "*/5 * * * *@1764300000000", "background": "*/5 * * * *@1764300000000"} {
					e, err := kv.Get(context.Background(), key, KVGetOptions{})
					if err != nil || e == nil || string(e.Value) != want {
						t.Errorf("KV %s = %+v (%v), want %q", key, e, err, want)
					}
				}
			})

			t.Run("waitUntil", func(t *testing.T) {
				// The work is the handler's and its ctx.waitUntil
				// promises': the result comes after both.
				res := runScheduled(t, rt, js("main.js", `export default { scheduled(c, env, ctx) {
  ctx.waitUntil(new Promise(r => setTimeout(() => { console.log("background done"); r(); }, 50)));
  console.log("handler done");
} }`), ev)
				if !res.OK() || res.Error != "" || logText(res.Logs) != "log:handler done\nlog:background done\n" {
					t.Fatalf("result %s %q, logs %q", res.Outcome, res.Error, logText(res.Logs))
				}
				// A rejected ctx.waitUntil promise fails the event.
				res = runScheduled(t, rt, js("main.js", `export default { scheduled(c, env, ctx) {
  ctx.waitUntil(new Promise((_, no) => setTimeout(() => no(new RangeError("background failed")), 5)));
} }`), ev)
				checkException(t, res, "RangeError", "background failed")
				if len(res.Exceptions) != 1 {
					t.Errorf("exceptions %+v, want one", res.Exceptions)
				}
				// So does ctx.waitUntil work that can never settle.
				res = runScheduled(t, rt, js("main.js", `export default { scheduled(c, env, ctx) { ctx.waitUntil(new Promise(() => {})); } }`), ev)
				checkException(t, res, "Error", "ctx.waitUntil: 1 promise can never settle")
				// And a limit that cuts it short.
				c := js("main.js", `export default { scheduled(c, env, ctx) {
  ctx.waitUntil(new Promise(r => setTimeout(() => { for (;;) {} }, 5)));
} }`)
				c.Limits = &Limits{CPUMs: 100}
				res = runScheduled(t, rt, c, ev)
				if res.Outcome != OutcomeExceededCPU {
					t.Fatalf("outcome %s %q, want exceededCpu", res.Outcome, res.Error)
				}
				c = js("main.js", `export default { scheduled(c, env, ctx) { ctx.waitUntil(fetch("https://hang.test/")); } }`)
				c.Limits = &Limits{WallMs: 200}
				res = runScheduled(t, rt, c, ev)
				if res.Outcome != OutcomeExceededWallTime || !strings.Contains(res.Error, "after the scheduled handler settled") {
					t.Fatalf("outcome %s %q, want exceededWallTime after the handler", res.Outcome, res.Error)
				}
			})

			t.Run("fetch still runs", func(t *testing.T) {
				res := run(t, rt, js("main.js", `export default { fetch() { return new Response("fetched"); }, scheduled() { throw new Error("no"); } }`), nil)
				if !res.OK() || res.Response == nil || string(res.Response.Body) != "fetched" || res.NoRetry {
					t.Fatalf("result %s %q %+v", res.Outcome, res.Error, res.Response)
				}
			})

			t.Run("wasm", func(t *testing.T) {
				c := &Code{MainModule: "main.wasm", Modules: map[string]*Module{"main.wasm": {Kind: ModuleWasm, Data: []byte("\x00asm\x01\x00\x00\x00")}}}
				res := runScheduled(t, rt, c, ev)
				checkException(t, res, "Error", "scheduled handlers are for JavaScript and Python Workers")
			})
		})
	}
}
