package node

import (
	"strings"
	"testing"
	"time"
)

// rearmWorker's alarm re-arms itself four times; for the object named
// "calls" it then calls another object, before which the engine commits the
// event's buffered writes, the new alarm among them.
const rearmWorker = `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async increment() { const n = ((await this.ctx.storage.get("n")) ?? 0) + 1; await this.ctx.storage.put("n", n); return n; }
}
export class Alarmed extends DurableObject {
  async arm(ms) { await this.ctx.storage.setAlarm(Date.now() + ms); }
  async alarm() {
    const fired = ((await this.ctx.storage.get("fired")) ?? 0) + 1;
    await this.ctx.storage.put("fired", fired);
    if (fired < 5) await this.ctx.storage.setAlarm(Date.now() + 50);
    if (this.ctx.id.name === "calls") await this.env.COUNTER.getByName("side").increment();
  }
  async state() { return JSON.stringify({ fired: (await this.ctx.storage.get("fired")) ?? 0, alarm: await this.ctx.storage.getAlarm() }); }
}
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const name = url.searchParams.get("name");
    switch (url.pathname.split("/").pop()) {
    case "arm": await env.ALARMED.getByName(name).arm(50); return new Response("armed");
    case "state": return new Response(await env.ALARMED.getByName(name).state());
    }
    return new Response("?", {status: 404});
  }
};`

// TestAlarmRearmedBeforeACall: an alarm handler that sets its next alarm
// and then calls out keeps that alarm (the end of the event took the alarm
// for untouched, the handler's writes having been committed before the
// call, and deleted it: the alarm ran once).
func TestAlarmRearmedBeforeACall(t *testing.T) {
	_, nodes := objectCluster(t, "a")
	n := nodes[0]
	if status, _, body := call(t, n, "PUT", "/v1/workers/count", strings.NewReader(doDeployBody("count", rearmWorker)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}
	for _, name := range []string{"quiet", "calls"} {
		if status, _, body := serve(t, n, "POST", "/w/count/arm?name="+name, "", nil); status != 200 {
			t.Fatalf("arm %s: %d %s", name, status, body)
		}
	}
	for _, name := range []string{"quiet", "calls"} {
		waitFor(t, 30*time.Second, name+"'s alarm to run five times", func() bool {
			st, ok := readAlarm(t, n, name)
			if ok && st.Fired >= 5 {
				return true
			}
			if ok && st.Fired > 0 && st.Alarm == nil {
				t.Fatalf("%s: the alarm ran %d times and none is set", name, st.Fired)
			}
			return false
		})
	}
}
