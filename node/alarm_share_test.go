package node

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// slowAlarmWorker's Slow objects run an alarm handler that takes 20 s.
const slowAlarmWorker = `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {}
export class Slow extends DurableObject {
  async arm() { await this.ctx.storage.setAlarm(Date.now() + 50); }
  async alarm() { await new Promise(r => setTimeout(r, 20000)); }
}
export default {
  async fetch(req, env) {
    await env.SLOW.getByName(new URL(req.url).searchParams.get("name")).arm();
    return new Response("armed");
  }
};`

// TestAlarmsShareOfAWorker: one Worker's alarms take at most
// alarmsPerWorker of the owner's alarmsAtOnce slots, so that a Worker
// whose handlers run long does not hold the other Workers' alarms back.
// Before, alarmsAtOnce slow alarms held every slot for their 20 s.
func TestAlarmsShareOfAWorker(t *testing.T) {
	_, nodes := objectCluster(t, "a")
	n := nodes[0]
	code := map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": slowAlarmWorker}}
	bindings := map[string]any{"SLOW": map[string]any{"durableObject": map[string]string{"worker": "slow", "class": "Slow"}}}
	body, _ := json.Marshal(map[string]any{"code": code, "bindings": bindings})
	if status, _, out := call(t, n, "PUT", "/v1/workers/slow", strings.NewReader(string(body)), nil); status != 200 {
		t.Fatalf("deploy slow: %d %s", status, out)
	}
	if status, _, out := call(t, n, "PUT", "/v1/workers/count", strings.NewReader(doDeployBody("count", alarmWorker)), nil); status != 200 {
		t.Fatalf("deploy count: %d %s", status, out)
	}
	for i := range alarmsAtOnce {
		if status, _, out := serve(t, n, "POST", fmt.Sprintf("/w/slow/?name=s%d", i), "", nil); status != 200 {
			t.Fatalf("arm s%d: %d %s", i, status, out)
		}
	}
	// The slow alarms run (their share of the slots, and no more).
	waitFor(t, 10*time.Second, "the slow Worker's alarms running", func() bool {
		n.alarms.mu.Lock()
		defer n.alarms.mu.Unlock()
		return n.alarms.workers["slow"] == alarmsPerWorker
	})
	if status, _, out := serve(t, n, "POST", "/w/count/arm?name=other&ms=50", "", nil); status != 200 {
		t.Fatalf("arm other: %d %s", status, out)
	}
	waitFor(t, 8*time.Second, "the other Worker's alarm to run beside the slow ones", func() bool {
		st, ok := readAlarm(t, n, "other")
		return ok && st.Fired == 1
	})
}
