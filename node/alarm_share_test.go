package node

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/policy"
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
	deployClass(t, n, "slow", slowAlarmWorker, "SLOW", "Slow")
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

// TestAlarmsOfASuspendedWorker: the alarm of an object whose Worker is
// suspended (its deployer's token revoked) is kept, looked at again every
// alarmSuspendedEvery, and there when the Worker is deployed again.
// Before, it failed as a run would and was dropped after its retries.
func TestAlarmsOfASuspendedWorker(t *testing.T) {
	defaultObjectTimings.alarmBackoff = 100 * time.Millisecond
	t.Cleanup(func() { defaultObjectTimings.alarmBackoff = time.Second })
	c, nodes := objectCluster(t, "a")
	n := nodes[0]
	deployer := revocableToken(t, c.secret, "deployer", policy.Grants{Admin: true})
	admin := adminToken(t, c.secret)
	if status, _, out := authCall(t, n, "PUT", "/v1/workers/count", doDeployBody("count", alarmWorker), deployer); status != 200 {
		t.Fatalf("deploy: %d %v", status, out)
	}
	if status, _, body := serve(t, n, "POST", "/w/count/arm?name=x&ms=1500", "", nil); status != 200 {
		t.Fatalf("arm: %d %s", status, body)
	}
	if status, _, out := authCall(t, n, "POST", "/v1/tokens/revoke", `{"token":"`+deployer+`"}`, admin); status != 200 {
		t.Fatalf("revoke: %d %v", status, out)
	}
	waitFor(t, 20*time.Second, "the suspended Worker's alarm put off", func() bool {
		at, ok := n.cluster.NextAlarm()
		return ok && time.Until(at) > alarmSuspendedEvery/2
	})
	if status, _, out := authCall(t, n, "PUT", "/v1/workers/count", doDeployBody("count", alarmWorker), admin); status != 200 {
		t.Fatalf("deploy again: %d %v", status, out)
	}
	st, ok := readAlarm(t, n, "x")
	if !ok || st.Alarm == nil || st.Fired != 0 {
		t.Fatalf("after the deploy that lifts the suspension: %+v", st)
	}
}

// deployClass deploys src as Worker worker with env.BINDING bound to its
// own Durable Object class.
func deployClass(t *testing.T, n *Node, worker, src, binding, class string) {
	t.Helper()
	code := map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": src}}
	bindings := map[string]any{binding: map[string]any{"durableObject": map[string]string{"worker": worker, "class": class}}}
	body, _ := json.Marshal(map[string]any{"code": code, "bindings": bindings})
	if status, _, out := call(t, n, "PUT", "/v1/workers/"+worker, strings.NewReader(string(body)), nil); status != 200 {
		t.Fatalf("deploy %s: %d %s", worker, status, out)
	}
}
