package isolate

import (
	"encoding/json"
	"testing"
)

// TestClassEntrypoint runs Workers whose default export is a class
// (`export default class extends WorkerEntrypoint`), as Cloudflare does: an
// instance made with (ctx, env) per event, its fetch called with the
// request alone and its scheduled with the controller alone.
func TestClassEntrypoint(t *testing.T) {
	greeting := func(c *Code) *Code {
		c.Env = map[string]json.RawMessage{"GREETING": json.RawMessage(`"hi"`)}
		return c
	}
	cases := []corpusCase{
		{name: "fetch", code: greeting(js("main.js", `import { WorkerEntrypoint } from "cloudflare:workers";
let made = 0;
export default class extends WorkerEntrypoint {
  constructor(ctx, env) { super(ctx, env); made++; }
  async fetch(request, second) {
    this.ctx.waitUntil(Promise.resolve());
    return new Response([this.env.GREETING, new URL(request.url).pathname, typeof second, made, this instanceof WorkerEntrypoint].join(" "));
  }
}`)), req: &Request{Method: "GET", URL: "https://x.test/path"}, outcome: OutcomeOK, status: 200, body: "hi /path undefined 1 true"},
		{name: "a class of its own", code: js("main.js", `export default class Api {
  constructor(ctx, env) { this.waits = typeof ctx.waitUntil; }
  fetch() { return new Response("plain class, ctx.waitUntil is a " + this.waits); }
}`), outcome: OutcomeOK, status: 200, body: "plain class, ctx.waitUntil is a function"},
		{name: "no fetch method", code: js("main.js", `import { WorkerEntrypoint } from "cloudflare:workers";
export default class extends WorkerEntrypoint { other() {} }`), outcome: OutcomeException, excHas: []string{"no default export with a fetch(request, env, ctx) handler"}},
		{name: "a constructor that throws", code: js("main.js", `import { WorkerEntrypoint } from "cloudflare:workers";
export default class extends WorkerEntrypoint {
  constructor(ctx, env) { super(ctx, env); throw new RangeError("not today"); }
  fetch() { return new Response("unreachable") }
}`), outcome: OutcomeException, excHas: []string{"RangeError", "not today"}},
		{name: "a constructor that never returns", code: &Code{MainModule: "main.js", Limits: &Limits{CPUMs: 50},
			Modules: js("main.js", `export default class { constructor() { for (;;) {} } fetch() {} }`).Modules}, outcome: OutcomeExceededCPU},
	}
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		rt := testRuntime(t, kind)
		for _, tc := range cases {
			t.Run(string(kind)+"/"+tc.name, func(t *testing.T) {
				req := tc.req
				if req == nil {
					req = &Request{Method: "GET", URL: "https://x.test/"}
				}
				checkCase(t, tc, run(t, rt, tc.code, req))
			})
		}
		t.Run(string(kind)+"/scheduled", func(t *testing.T) {
			res := runScheduled(t, rt, greeting(js("main.js", `import { WorkerEntrypoint } from "cloudflare:workers";
export default class extends WorkerEntrypoint {
  scheduled(controller, second) { console.log(controller.cron, typeof second, this.env.GREETING); }
}`)), &ScheduledEvent{Cron: "0 * * * *"})
			if !res.OK() || logText(res.Logs) != "log:0 * * * * undefined hi\n" {
				t.Fatalf("result %s %q, logs %q, exceptions %+v", res.Outcome, res.Error, logText(res.Logs), res.Exceptions)
			}
		})
	}
}
