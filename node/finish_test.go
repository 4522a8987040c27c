package node

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// ctx.waitUntil work goes on after the response: the caller (over HTTP,
// and through a forwarding peer) has the response at once, while the work
// completes later, still holding its slot, and its final result, with the
// background's logs, is reported on the node that ran it.
func TestWaitUntilAfterResponse(t *testing.T) {
	c := newCluster(t, 1, "w1", "w2")
	var mu sync.Mutex
	finals := map[string][]*isolate.Result{}
	c.tune = func(cfg *Config) {
		name := cfg.Name
		cfg.OnFinish = func(res *isolate.Result, background bool) {
			if background {
				mu.Lock()
				finals[name] = append(finals[name], res)
				mu.Unlock()
			}
		}
	}
	w1 := c.start("w1", c.secret, 1)
	w2 := c.start("w2", c.secret, 1, "w1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(w1, "w1", "w2") && sees(w2, "w1", "w2") })
	body, _ := json.Marshal(map[string]any{"code": code(`export default { fetch(req, env, ctx) {
  ctx.waitUntil(new Promise(r => setTimeout(r, 400)).then(() => console.log("background done")));
  console.log("responding");
  return new Response("at once");
} }`)})
	post := func() (map[string]any, time.Duration) {
		t0 := time.Now()
		resp, err := http.Post(w1.APIURL()+"/v1/run", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var res map[string]any
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return res, time.Since(t0)
	}
	// The first runs on w1; while its background holds w1's only slot,
	// the second goes to w2.
	for i, where := range []string{"w1", "w2"} {
		res, took := post()
		t.Logf("call %d: %s in %v on %v", i, res["outcome"], took, res["telemetry"].(map[string]any)["node"])
		if res["outcome"] != "ok" || res["response"].(map[string]any)["body"] != "at once" || took > 300*time.Millisecond {
			t.Fatalf("call %d: %v after %v, want the response before the 400 ms of background work", i, res, took)
		}
		if got := res["telemetry"].(map[string]any)["node"]; got != where {
			t.Fatalf("call %d ran on %v, want %s", i, got, where)
		}
		logs, _ := json.Marshal(res["logs"])
		if !strings.Contains(string(logs), "responding") || strings.Contains(string(logs), "background done") {
			t.Errorf("call %d: logs %s, want the handler's log only", i, logs)
		}
	}
	waitFor(t, 5*time.Second, "background results", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(finals["w1"]) == 1 && len(finals["w2"]) == 1
	})
	for _, name := range []string{"w1", "w2"} {
		f := finals[name][0]
		var logs []string
		for _, l := range f.Logs {
			logs = append(logs, l.Message)
		}
		if f.Outcome != isolate.OutcomeOK || f.Error != "" || strings.Join(logs, ",") != "responding,background done" {
			t.Errorf("%s final: %s %q %v", name, f.Outcome, f.Error, logs)
		}
	}
	// The slots come back once the work ends.
	waitFor(t, 5*time.Second, "slots free", func() bool { return w1.running.Load() == 0 && w2.running.Load() == 0 })
	if r := w1.Run(context.Background(), sleepReq(1)); r.Outcome != isolate.OutcomeOK {
		t.Fatalf("after: %s %s", r.Outcome, r.Error)
	}
}

// Code that fails to prepare leaves the code caches of the node that
// prepared it and of the node that forwarded it.
func TestFailedCodeLeavesCaches(t *testing.T) {
	c := newCluster(t, 1, "f1", "f2")
	f1 := c.start("f1", c.secret, 1)
	f2 := c.start("f2", c.secret, 1, "f1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(f1, "f1", "f2") && sees(f2, "f1", "f2") })
	bad := &RunRequest{Code: code("export default { fetch() { return " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + " } }")}
	good := sleepReq(1)
	for _, tc := range []struct {
		name string
		busy bool // f1 full, so the call runs on f2
	}{{"here", false}, {"forwarded", true}} {
		if tc.busy {
			occupy(t, f1, 3000)
		}
		for _, r := range []*RunRequest{good, bad} {
			raw := *r
			res := f1.Run(context.Background(), &raw)
			want := map[bool]isolate.Outcome{true: isolate.OutcomeOK, false: isolate.OutcomeException}[r == good]
			if res.Outcome != want {
				t.Fatalf("%s: %s %s %v", tc.name, res.Outcome, res.Error, res.Exceptions)
			}
			n1, n2 := f1.codes.Len(), f2.codes.Len()
			t.Logf("%s, %s: ran on %s; cached codes f1 %d, f2 %d", tc.name, res.Outcome, res.Telemetry.Node, n1, n2)
		}
		if f1.codes.Len() != 1 || (tc.busy && f2.codes.Len() != 1) {
			t.Errorf("%s: f1 caches %d codes, f2 %d; want only the good one", tc.name, f1.codes.Len(), f2.codes.Len())
		}
	}
}

// ctx.waitUntil work of a forwarded call may make effects after the
// response: the caller, having its result, can no longer retry the call
// elsewhere, so the effect happens, once.
func TestForwardedEffectAfterResponse(t *testing.T) {
	c := newCluster(t, 1, "e1", "e2")
	fx := &ledger{effects: map[string][]string{}}
	c.host = fx.host
	var mu sync.Mutex
	var final *isolate.Result
	c.tune = func(cfg *Config) {
		cfg.OnFinish = func(res *isolate.Result, background bool) {
			if background {
				mu.Lock()
				final = res
				mu.Unlock()
			}
		}
	}
	e1 := c.start("e1", c.secret, 1)
	e2 := c.start("e2", c.secret, 1, "e1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(e1, "e1", "e2") && sees(e2, "e1", "e2") })
	occupy(t, e1, 3000)
	res := e1.Run(context.Background(), &RunRequest{Code: code(`export default { fetch(req, env, ctx) {
  ctx.waitUntil(new Promise(r => setTimeout(r, 100)).then(() => fetch("http://effect.test/?id=bg")).then(r => r.text()).then(t => console.log(t)));
  return new Response("at once");
} }`)})
	if res.Outcome != isolate.OutcomeOK || res.Telemetry.Node != "e2" {
		t.Fatalf("%s on %s: %s", res.Outcome, res.Telemetry.Node, res.Error)
	}
	waitFor(t, 5*time.Second, "the background's final result", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return final != nil
	})
	if made := fx.of("bg"); len(made) != 1 || made[0] != "e2" {
		t.Errorf("the effect was made on %v, want once on e2", made)
	}
	if final.Error != "" || len(final.Logs) != 1 || final.Logs[0].Message != "done by e2" {
		t.Errorf("final: %q %+v %+v", final.Error, final.Logs, final.Exceptions)
	}
}
