package isolate

import (
	"encoding/json"
	"testing"
)

// TestPythonScheduled runs Python scheduled handlers, in the shape of
// Cloudflare's Python Workers, on both executors: the controller, env and
// KV, no_retry, on_scheduled, a failing handler and a missing one.
func TestPythonScheduled(t *testing.T) {
	skipUnderRace(t)
	ev := &ScheduledEvent{Cron: "*/5 * * * *", ScheduledTime: 1764300000000}
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := pyRuntime(t, kind)

			c := py("worker.py", `
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        raise RuntimeError("fetch must not run")

    async def scheduled(self, controller, env, ctx):
        print(controller.type, controller.cron, controller.scheduled_time, controller.scheduledTime, env is self.env, self.env.GREETING)
        await env.KV.put("py-last-tick", str(controller.scheduled_time))
        ctx.wait_until(self.after(env))

    async def after(self, env):
        print("after", await env.KV.get("py-last-tick"))
`)
			c.Env = map[string]json.RawMessage{"GREETING": json.RawMessage(`"hello"`)}
			res := runScheduled(t, rt, c, ev)
			if !res.OK() || res.Response != nil || res.NoRetry || len(res.Exceptions) != 0 {
				t.Fatalf("class: %s %q, response %+v, noRetry %v, exceptions %+v, logs %+v", res.Outcome, res.Error, res.Response, res.NoRetry, res.Exceptions, res.Logs)
			}
			want := "log:scheduled */5 * * * * 1764300000000 1764300000000 True hello\nlog:after 1764300000000\n"
			if got := logText(res.Logs); got != want {
				t.Errorf("class logs %q, want %q", got, want)
			}

			res = runScheduled(t, rt, py("main.py", `
def on_scheduled(controller, env, ctx):
    controller.no_retry()
    raise ValueError("tick " + controller.cron)
`), ev)
			checkException(t, res, "ValueError", "tick */5 * * * *")
			if !res.NoRetry {
				t.Error("no_retry() did not set NoRetry")
			}

			res = runScheduled(t, rt, py("main.py", `
def on_scheduled(controller):
    print("only", controller.type)
`), ev)
			if !res.OK() || res.Response != nil || res.NoRetry || logText(res.Logs) != "log:only scheduled\n" {
				t.Fatalf("on_scheduled(controller): %s %q %+v %v %q", res.Outcome, res.Error, res.Response, res.NoRetry, logText(res.Logs))
			}

			res = runScheduled(t, rt, py("main.py", `
from workers import Response
def on_fetch(request):
    return Response("hi")
`), ev)
			checkException(t, res, "RuntimeError", "the main module has no scheduled handler")

			// The same code still serves fetch.
			res = pyRun(t, rt, py("main.py", `
from workers import Response
def on_fetch(request):
    return Response("fetched")
def on_scheduled(controller):
    raise RuntimeError("no")
`), &Request{Method: "GET", URL: "http://w.test/"})
			if !res.OK() || res.Response == nil || string(res.Response.Body) != "fetched" || res.NoRetry {
				t.Fatalf("fetch: %s %q %+v", res.Outcome, res.Error, res.Response)
			}
		})
	}
}
