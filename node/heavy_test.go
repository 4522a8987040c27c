package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/policy"
)

// A client is low for heavyFor after one of its calls was demoted or ended
// having used heavyCPU, and only that client; the memory stays bounded.
func TestHeavyClients(t *testing.T) {
	h := newHeavyClients()
	now := time.Now()
	if h.low("a", now) {
		t.Fatal("a client nobody marked is low")
	}
	h.mark("a", now)
	if !h.low("a", now.Add(heavyFor/2)) || h.low("b", now) {
		t.Fatalf("after marking a: a low %v, b low %v; want true, false", h.low("a", now.Add(heavyFor/2)), h.low("b", now))
	}
	if h.low("a", now.Add(heavyFor)) {
		t.Errorf("a is still low %v after its mark", heavyFor)
	}
	if n := h.n.Load(); n != 0 {
		t.Errorf("%d clients remembered after the only mark lapsed", n)
	}

	// OnDemote marks the client; so does a call that ended past heavyCPU.
	s := h.sched("c")
	if s.Low || s.OnDemote == nil {
		t.Fatalf("first call of c: %+v", s)
	}
	s.OnDemote()
	if !h.sched("c").Low {
		t.Error("a call of c was demoted, and the next is not low")
	}
	res := &isolate.Result{}
	res.Telemetry.CPUTime = float64(heavyCPU/time.Millisecond) - 1
	h.ended("d", res)
	if h.low("d", time.Now()) {
		t.Errorf("a call of %v ms made its client low", res.Telemetry.CPUTime)
	}
	res.Telemetry.CPUTime = float64(heavyCPU / time.Millisecond)
	h.ended("d", res)
	if !h.low("d", time.Now()) {
		t.Errorf("a call of %v ms left its client at the normal weight", res.Telemetry.CPUTime)
	}

	// A client whose preparations take more than prepBudget in a window is
	// marked; one that takes as much over more than a window is not.
	slow, churn := "slow", "churn"
	for i := range 10 {
		at := now.Add(time.Duration(i) * prepWindow / 5) // 10 ms every 200 ms
		h.prepared(slow, prepBudget/5, at)
		if h.low(slow, at) {
			t.Fatalf("preparations of %v every %v made their client low", prepBudget/5, prepWindow/5)
		}
	}
	for i := range 6 {
		h.prepared(churn, prepBudget/5, now.Add(time.Duration(i)*time.Millisecond))
	}
	if !h.low(churn, now.Add(10*time.Millisecond)) {
		t.Fatalf("preparations of %v within %v left their client at the normal weight", 6*prepBudget/5, 10*time.Millisecond)
	}
	if s := h.sched("e"); s.OnPrepared == nil {
		t.Fatal("sched gives no OnPrepared")
	} else if s.OnPrepared(2 * prepBudget); !h.low("e", time.Now()) {
		t.Error("a call's preparation past the budget left its client at the normal weight")
	}

	// Full: lapsed marks go first; with none lapsed, a new client is not
	// remembered, and the others stay.
	h = newHeavyClients()
	for i := range maxHeavy {
		h.mark(fmt.Sprint(i), now)
	}
	h.mark("new", now.Add(time.Millisecond))
	if h.low("new", now.Add(time.Millisecond)) || !h.low("0", now.Add(time.Millisecond)) {
		t.Error("a full memory dropped an unlapsed client for a new one")
	}
	h.mark("new", now.Add(heavyFor))
	if !h.low("new", now.Add(heavyFor)) || len(h.until) != 1 {
		t.Errorf("once the others lapsed, new is low %v with %d remembered; want true, 1", h.low("new", now.Add(heavyFor)), len(h.until))
	}
}

// TestHeavyClientStartsLow: through a node's API with sandboxed workers, a
// client one of whose calls was demoted has its next call start low, and
// only that client; a second later its calls start at the normal weight
// again.
func TestHeavyClientStartsLow(t *testing.T) {
	c := newCluster(t, 18, "h")
	c.tune = func(cfg *Config) { cfg.Executor = isolate.Sandboxed }
	n := c.start("h", c.secret, 2)
	stats := func() (startedLow, demoted uint64, layers []string) {
		b, err := json.Marshal(n.rt.Stats())
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			StartedLow uint64   `json:"startedLow"`
			Demoted    uint64   `json:"demoted"`
			Layers     []string `json:"layers"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		return s.StartedLow, s.Demoted, s.Layers
	}
	if _, _, layers := stats(); !slices.Contains(layers, "cpu-demotion") {
		t.Skipf("no demotion here (layers %v)", layers)
	}
	ctx := context.Background()
	heavy := clientAs(t, "127.0.0.2", c.secret, "heavy")
	light := clientAs(t, "127.0.0.3", c.secret, "light")
	hello := func(cl *http.Client) {
		t.Helper()
		if r := callFrom(ctx, cl, n.APIURL(), sleepBody(0)); r.outcome != isolate.OutcomeOK {
			t.Fatalf("a hello: %d %s %q", r.status, r.outcome, r.error)
		}
	}
	hello(heavy)
	hello(light)
	if low, _, _ := stats(); low != 0 {
		t.Fatalf("%d calls started low before any ran long", low)
	}
	spin := `{"code":{"mainModule":"m.js","modules":{"m.js":{"js":"export default { fetch() { for (;;) {} } }"}},"limits":{"cpuMs":100}}}`
	if r := callFrom(ctx, heavy, n.APIURL(), spin); r.outcome != isolate.OutcomeExceededCPU {
		t.Fatalf("a spinner: %d %s %q", r.status, r.outcome, r.error)
	}
	if _, demoted, _ := stats(); demoted == 0 {
		t.Fatal("a call that spun for 100 ms of CPU was not demoted")
	}
	hello(light)
	if low, _, _ := stats(); low != 0 {
		t.Fatalf("another client's call started low (%d)", low)
	}
	hello(heavy)
	if low, _, _ := stats(); low != 1 {
		t.Fatalf("the heavy client's next call: %d calls started low, want 1", low)
	}
	// Its mark lapses a second after the spinner's demotion.
	deadline := time.Now().Add(10 * time.Second)
	for {
		before, _, _ := stats()
		hello(heavy)
		if after, _, _ := stats(); after == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the heavy client's calls still start low 10 s after its long call")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A client sending new code back to back (each call's code bundled
	// anew) is marked once its preparations take their budget; the light
	// client, calling the same code, is not.
	churn := clientAs(t, "127.0.0.4", c.secret, "churn")
	before, _, _ := stats()
	for i := 0; ; i++ {
		js := fmt.Sprintf("const pad = %q; export default { fetch() { return new Response(String(%d) + pad.length) } }", strings.Repeat("x", 64<<10), i)
		src, err := json.Marshal(map[string]any{"code": map[string]any{"mainModule": "m.js", "modules": map[string]any{"m.js": map[string]string{"js": js}}}})
		if err != nil {
			t.Fatal(err)
		}
		if r := callFrom(ctx, churn, n.APIURL(), string(src)); r.outcome != isolate.OutcomeOK {
			t.Fatalf("new code %d: %d %s %q", i, r.status, r.outcome, r.error)
		}
		hello(light)
		if low, _, _ := stats(); low > before {
			// Which of the two started low: the light client's next one
			// must not.
			mid := low
			hello(light)
			if after, _, _ := stats(); after != mid {
				t.Fatal("the light client's call started low beside a client sending new code")
			}
			t.Logf("the client sending new code was marked after %d calls", i+1)
			break
		}
		if i == 500 {
			t.Fatal("500 calls of new code, back to back, and their client never started low")
		}
	}

	// /metrics carries the same counts (the floor's boosts as well, which
	// only a busy host gives: their line is there, with whatever count).
	b, err := json.Marshal(n.rt.Stats())
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ StartedLow, Demoted, Boosted uint64 }
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	status, _, out := authCall(t, n, "GET", "/metrics", "", mintToken(t, c.secret, "m", policy.Grants{}, time.Hour))
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	for _, l := range []string{
		fmt.Sprintf("warren_sandbox_calls_demoted_total %d", s.Demoted),
		fmt.Sprintf("warren_sandbox_calls_started_low_total %d", s.StartedLow),
		fmt.Sprintf("warren_sandbox_floor_boosts_total %d", s.Boosted),
	} {
		if !strings.Contains("\n"+out["raw"].(string), "\n"+l+"\n") {
			t.Errorf("no line %q in /metrics", l)
		}
	}
}
