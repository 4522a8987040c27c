package node

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAlarmsOfAnUndeployedWorker: the alarms of objects whose Worker is no
// longer deployed cannot run; they must not hold the owner's alarm slots
// for ever. Before, they stayed the earliest alarms due, were looked at
// first (alarmsAtOnce of them at a time) and failed every time, so that
// once there were alarmsAtOnce of them no other object's alarm on the
// node ran again. Now such an alarm counts as a failed run: retried later,
// then dropped.
func TestAlarmsOfAnUndeployedWorker(t *testing.T) {
	defaultObjectTimings.alarmBackoff = 100 * time.Millisecond
	t.Cleanup(func() { defaultObjectTimings.alarmBackoff = time.Second })
	_, nodes := objectCluster(t, "a")
	n := nodes[0]
	for _, w := range []string{"gone", "count"} {
		if status, _, body := call(t, n, "PUT", "/v1/workers/"+w, strings.NewReader(doDeployBody(w, alarmWorker)), nil); status != 200 {
			t.Fatalf("deploy %s: %d %s", w, status, body)
		}
	}
	const stale = alarmsAtOnce + 4
	const dueIn = 3000 // ms: after the undeploy below
	due := time.Now().Add(dueIn * time.Millisecond)
	for i := range stale {
		if status, _, body := serve(t, n, "POST", fmt.Sprintf("/w/gone/arm?name=o%d&ms=%d", i, dueIn), "", nil); status != 200 {
			t.Fatalf("arm o%d: %d %s", i, status, body)
		}
	}
	if status, _, body := call(t, n, "DELETE", "/v1/workers/gone", nil, nil); status != 200 && status != 204 {
		t.Fatalf("undeploy: %d %s", status, body)
	}
	// The stale alarms come due first; the other Worker's comes due after.
	// Once due, the owner tries them and moves each failed one a backoff
	// ahead (at most 3.2 s), so they are not all due at any one instant:
	// wait until their time has passed with every one still pending.
	waitFor(t, 20*time.Second, "the stale alarms due", func() bool {
		return time.Now().After(due) && len(n.cluster.DueAlarms(time.Now().Add(5*time.Second), stale)) == stale
	})
	if status, _, body := serve(t, n, "POST", "/w/count/arm?name=honest&ms=50", "", nil); status != 200 {
		t.Fatalf("arm honest: %d %s", status, body)
	}
	waitFor(t, 20*time.Second, "the other Worker's alarm to run", func() bool {
		st, ok := readAlarm(t, n, "honest")
		return ok && st.Fired == 1
	})
	// The stale alarms are dropped after their retries (100 ms, 200 ms,
	// ... 3.2 s).
	waitFor(t, 30*time.Second, "the stale alarms dropped", func() bool {
		_, ok := n.cluster.NextAlarm()
		return !ok
	})
}

// greedyWorker's Hog objects hold their alarm for a while and set the
// next one in the past, so that it is always among the earliest due.
const greedyWorker = `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {}
export class Hog extends DurableObject {
  async arm() { await this.ctx.storage.setAlarm(1); }
  async alarm() {
    await new Promise(r => setTimeout(r, 300));
    await this.ctx.storage.setAlarm(1);
  }
}
export default {
  async fetch(req, env) {
    const name = new URL(req.url).searchParams.get("name");
    await env.HOG.getByName(name).arm();
    return new Response("armed");
  }
};`

// TestAlarmsInThePastWaitTheirTurn: an alarm set in the past runs as soon
// as the alarms due before it had their turn, not before them. Before,
// it kept its time: objects that set their next alarm in the past, as
// many as the owner runs at once, were always the earliest due and held
// every alarm slot, so no other object's alarm ran on the node.
func TestAlarmsInThePastWaitTheirTurn(t *testing.T) {
	_, nodes := objectCluster(t, "a")
	n := nodes[0]
	deployClass(t, n, "greedy", greedyWorker, "HOG", "Hog")
	if status, _, out := call(t, n, "PUT", "/v1/workers/count", strings.NewReader(doDeployBody("count", alarmWorker)), nil); status != 200 {
		t.Fatalf("deploy count: %d %s", status, out)
	}
	for i := range alarmsAtOnce {
		if status, _, out := serve(t, n, "POST", fmt.Sprintf("/w/greedy/?name=h%d", i), "", nil); status != 200 {
			t.Fatalf("arm h%d: %d %s", i, status, out)
		}
	}
	if status, _, out := serve(t, n, "POST", "/w/count/arm?name=honest&ms=50", "", nil); status != 200 {
		t.Fatalf("arm honest: %d %s", status, out)
	}
	waitFor(t, 20*time.Second, "the other Worker's alarm to run", func() bool {
		st, ok := readAlarm(t, n, "honest")
		return ok && st.Fired == 1
	})
}
