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
	for i := range stale {
		if status, _, body := serve(t, n, "POST", fmt.Sprintf("/w/gone/arm?name=o%d&ms=%d", i, dueIn), "", nil); status != 200 {
			t.Fatalf("arm o%d: %d %s", i, status, body)
		}
	}
	if status, _, body := call(t, n, "DELETE", "/v1/workers/gone", nil, nil); status != 200 && status != 204 {
		t.Fatalf("undeploy: %d %s", status, body)
	}
	// The stale alarms come due first; the other Worker's comes due after.
	waitFor(t, 20*time.Second, "the stale alarms due", func() bool {
		return len(n.cluster.DueAlarms(time.Now(), stale)) == stale
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
