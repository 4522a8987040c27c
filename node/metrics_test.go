package node

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
)

// TestMetrics: GET /metrics needs a token and counts invocations by
// outcome and by where they ran, with their latency, the queue and the
// members.
func TestMetrics(t *testing.T) {
	c := newCluster(t, 41, "ma", "mb")
	a := c.start("ma", c.secret, 1)
	b := c.start("mb", c.secret, 1, "ma")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(a, "ma", "mb") && sees(b, "ma", "mb") })

	if r := a.Run(context.Background(), &RunRequest{Code: code(`export default { fetch() { return new Response("hi") } }`)}); r.Outcome != isolate.OutcomeOK {
		t.Fatalf("ok call: %s %s", r.Outcome, r.Error)
	}
	if r := a.Run(context.Background(), &RunRequest{Code: code(`export default { fetch() { throw new Error("boom") } }`)}); r.Outcome != isolate.OutcomeException {
		t.Fatalf("throwing call: %s %s", r.Outcome, r.Error)
	}
	// With ma's one slot taken, a call goes to mb.
	occupy(t, a, 500)
	if r := a.Run(context.Background(), sleepReq(0)); r.Outcome != isolate.OutcomeOK || r.Telemetry.Node != "mb" {
		t.Fatalf("spilled call: %s on %q %s", r.Outcome, r.Telemetry.Node, r.Error)
	}
	waitFor(t, 5*time.Second, "ma idle", func() bool { return a.running.Load() == 0 && len(a.slots) == 0 })
	waitFor(t, 5*time.Second, "mb idle", func() bool { return b.running.Load() == 0 && len(b.slots) == 0 })

	if status, _, _ := authCall(t, a, "GET", "/metrics", "", ""); status != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", status)
	}
	scrape := func(n *Node) string {
		t.Helper()
		// Any valid token reads the metrics, as it lists the members.
		status, h, out := authCall(t, n, "GET", "/metrics", "", mintToken(t, c.secret, "t", policy.Grants{}, time.Hour))
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			t.Fatalf("GET /metrics: %d %s %v", status, h.Get("Content-Type"), out)
		}
		return out["raw"].(string)
	}
	has := func(node, text string, lines ...string) {
		t.Helper()
		for _, l := range lines {
			if !strings.Contains("\n"+text, "\n"+l+"\n") {
				t.Errorf("%s: no line %q in\n%s", node, l, text)
			}
		}
	}
	// A call's duration is observed by its caller once the call has
	// returned, a moment after its slot is free: the occupying call's may
	// come after the waits above.
	var textA string
	waitFor(t, 5*time.Second, "ma's three local durations", func() bool {
		textA = scrape(a)
		return strings.Contains(textA, "\n"+`warren_invocation_duration_seconds_count{where="local"} 3`+"\n")
	})
	has("ma", textA,
		`warren_invocations_total{outcome="ok",where="local"} 2`,
		`warren_invocations_total{outcome="exception",where="local"} 1`,
		`warren_invocations_total{outcome="ok",where="forwarded-out"} 1`,
		`warren_invocation_duration_seconds_count{where="local"} 3`,
		`warren_invocation_duration_seconds_count{where="forwarded-out"} 1`,
		`warren_invocations_queued 0`,
		`warren_invocations_running 0`,
		`warren_load_shed_total 0`,
		`warren_slots 1`,
		`warren_mesh_members{state="alive"} 2`,
		`warren_mesh_members{state="dead"} 0`,
		"# HELP warren_invocations_total Invocations that ended, by outcome and by where they ran (local, forwarded-out, forwarded-in, none). Those run here count their final result, after ctx.waitUntil work.",
	)
	has("mb", scrape(b),
		`warren_invocations_total{outcome="ok",where="forwarded-in"} 1`,
		`warren_invocation_duration_seconds_count{where="forwarded-in"} 1`,
	)
}
