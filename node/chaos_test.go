package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// ledger is a Host that records each subrequest (an effect) by the id in
// its URL ("" without one) and the node that made it.
type ledger struct {
	mu      sync.Mutex
	effects map[string][]string // id -> the nodes that made its effect
}

func (l *ledger) host(node string) isolate.Host { return &ledgerHost{l, node} }

func (l *ledger) of(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.effects[id]
}

// by counts the effects node made.
func (l *ledger) by(node string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, nodes := range l.effects {
		for _, m := range nodes {
			if m == node {
				n++
			}
		}
	}
	return n
}

type ledgerHost struct {
	l    *ledger
	node string
}

func (h *ledgerHost) Fetch(_ context.Context, r *isolate.Request) (*isolate.Response, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, err
	}
	id := u.Query().Get("id")
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	h.l.effects[id] = append(h.l.effects[id], h.node)
	return &isolate.Response{Status: 200, Body: []byte("done by " + h.node)}, nil
}

func (h *ledgerHost) KV(string) (isolate.KVNamespace, error) { return nil, ErrNoKV }

func (h *ledgerHost) DurableObjects(isolate.DurableObjectBinding) (isolate.DurableObjectNamespace, error) {
	return nil, ErrNoKV
}

// chaosWorker waits the requested time (so that faults land before and
// after its effect), makes one effect, and answers who made it.
var chaosWorker = code(`export default { async fetch(req) {
  const u = new URL(req.url);
  const ms = Number(u.searchParams.get("ms"));
  if (ms > 0) await new Promise(r => setTimeout(r, ms));
  const r = await fetch("http://effect.test/?id=" + u.searchParams.get("id"));
  return new Response(await r.text());
} }`)

// TestChaos: clients keep submitting calls to random nodes while nodes are
// killed and restarted, links partitioned (both ways and one way) and made
// lossy. Every call must end with a clear outcome, none may hang, and no
// call's effect may happen twice; a call answered ok made its effect
// exactly once, on the node the answer names. WARREN_CHAOS sets the
// duration (default 6 s; make soak runs it longer), WARREN_CHAOS_SEED the
// seed (logged).
func TestChaos(t *testing.T) {
	dur := 6 * time.Second
	if testing.Short() {
		dur = 2 * time.Second
	}
	if v := os.Getenv("WARREN_CHAOS"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("WARREN_CHAOS=%q: %v", v, err)
		}
		dur = d
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("WARREN_CHAOS_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("chaos for %v, seed %d (WARREN_CHAOS_SEED=%d replays the faults, not the timing)", dur, seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	names := []string{"x1", "x2", "x3", "x4"}
	c := newCluster(t, int64(seed), names...)
	l := &ledger{effects: map[string][]string{}}
	c.host = l.host
	c.start("x1", c.secret, 2)
	for _, n := range names[1:] {
		c.start(n, c.secret, 2, "x1")
	}
	waitFor(t, 10*time.Second, "convergence", func() bool {
		for _, n := range c.nodes {
			if !sees(n, names...) {
				return false
			}
		}
		return true
	})

	// The nodes that are up, for clients to pick from.
	var mu sync.Mutex
	up := map[string]*Node{}
	for _, n := range names {
		up[n] = c.nodes[n]
	}
	pick := func(r *rand.Rand) *Node {
		mu.Lock()
		defer mu.Unlock()
		live := make([]string, 0, len(up))
		for n := range up {
			live = append(live, n)
		}
		sort.Strings(live)
		return up[live[r.IntN(len(live))]]
	}

	type call struct {
		id      string
		entry   string
		res     *isolate.Result
		elapsed time.Duration
	}
	var calls []call
	var callsMu sync.Mutex
	stop := make(chan struct{})
	var clients sync.WaitGroup
	for w := range 6 {
		clients.Add(1)
		r := rand.New(rand.NewPCG(seed, uint64(w)+1))
		go func() {
			defer clients.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%d-%d", w, i)
				entry := pick(r)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				t0 := time.Now()
				res := entry.Run(ctx, &RunRequest{Code: chaosWorker,
					Request: &isolate.Request{URL: fmt.Sprintf("http://x/?id=%s&ms=%d", id, r.IntN(60))}})
				cancel()
				callsMu.Lock()
				calls = append(calls, call{id, entry.Name(), res, time.Since(t0)})
				callsMu.Unlock()
			}
		}()
	}

	// The faults, from the test goroutine (it may start nodes).
	var actions []string
	down := map[string]bool{}
	deadline := time.Now().Add(dur)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(100+rng.IntN(250)) * time.Millisecond) // pacing the faults, not waiting for a condition
		a, b := names[rng.IntN(len(names))], names[rng.IntN(len(names))]
		switch k := rng.IntN(6); {
		case k == 0 && !down[a] && len(down) < 2:
			mu.Lock()
			delete(up, a)
			mu.Unlock()
			c.fabric.Kill(a)
			c.nodes[a].Kill()
			down[a] = true
			actions = append(actions, "kill "+a)
		case k == 1 && len(down) > 0:
			for n := range down {
				var join string
				for _, m := range names {
					if !down[m] {
						join = m
						break
					}
				}
				nd := c.start(n, c.secret, 2, join)
				mu.Lock()
				up[n] = nd
				mu.Unlock()
				delete(down, n)
				actions = append(actions, "restart "+n)
				break
			}
		case k == 2 && a != b:
			c.fabric.Partition(a, b)
			actions = append(actions, "partition "+a+" "+b)
		case k == 3 && a != b:
			c.fabric.PartitionOneWay(a, b)
			actions = append(actions, "one-way "+a+" "+b)
		case k == 4 && a != b:
			c.fabric.SetLoss(a, b, 0.05)
			actions = append(actions, "loss "+a+" "+b)
		default:
			c.fabric.Heal()
			for _, x := range names {
				for _, y := range names {
					if x != y {
						c.fabric.SetLoss(x, y, 0)
					}
				}
			}
			actions = append(actions, "heal")
		}
	}
	close(stop)
	clients.Wait()
	t.Logf("faults: %s", strings.Join(actions, ", "))

	// Once the faults end, the mesh heals: every node sees every other.
	c.fabric.Heal()
	for _, x := range names {
		for _, y := range names {
			if x != y {
				c.fabric.SetLoss(x, y, 0)
			}
		}
	}
	for n := range down {
		var join []string
		for _, m := range names {
			if !down[m] {
				join = append(join, m)
			}
		}
		c.start(n, c.secret, 2, join...)
	}
	healed := waitFor(t, 30*time.Second, "the mesh converging after the faults", func() bool {
		for _, n := range names {
			if !sees(c.nodes[n], names...) {
				return false
			}
		}
		return true
	})
	t.Logf("converged %v after the faults ended", healed.Round(time.Millisecond))

	outcomes := map[isolate.Outcome]int{}
	var slowest time.Duration
	for _, cl := range calls {
		r := cl.res
		outcomes[r.Outcome]++
		slowest = max(slowest, cl.elapsed)
		made := l.of(cl.id)
		if len(made) > 1 {
			t.Errorf("call %s (entry %s) made its effect %d times, on %v: %s %q hops %v", cl.id, cl.entry, len(made), made, r.Outcome, r.Error, r.Telemetry.Hops)
		}
		switch r.Outcome {
		case isolate.OutcomeOK:
			if len(made) != 1 || r.Response == nil || string(r.Response.Body) != "done by "+made[0] ||
				r.Telemetry.Node != made[0] || r.Telemetry.Hops[0] != cl.entry {
				t.Errorf("ok call %s: effects on %v, body %q, node %q, hops %v (entry %s)", cl.id, made, r.Response.Body, r.Telemetry.Node, r.Telemetry.Hops, cl.entry)
			}
		case isolate.OutcomeInternalError, isolate.OutcomeLoadShed, isolate.OutcomeCanceled:
			// A node died under the call, there was no room, or the entry
			// node stopped. All must say so. (An exception would mean the
			// guest saw its effect refused while its caller still waited.)
			if r.Error == "" && len(r.Exceptions) == 0 {
				t.Errorf("call %s ended %s without saying why", cl.id, r.Outcome)
			}
		default:
			t.Errorf("call %s: unexpected outcome %s %q", cl.id, r.Outcome, r.Error)
		}
		if cl.elapsed > 25*time.Second {
			t.Errorf("call %s took %v", cl.id, cl.elapsed)
		}
	}
	t.Logf("%d calls: %v; slowest %v", len(calls), outcomes, slowest.Round(time.Millisecond))
	if outcomes[isolate.OutcomeOK] < len(calls)/3 {
		t.Errorf("only %d of %d calls succeeded under chaos", outcomes[isolate.OutcomeOK], len(calls))
	}
}
