package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/replication"
	"github.com/warrenmesh/warren/testnet"
)

// counterWorker exports a Durable Object class Counter and routes
// /w/NAME/{inc,get,fetch,boom}?name=X to the object X.
const counterWorker = `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.calls = 0; }
  async increment(by = 1) {
    this.calls++;
    const n = ((await this.ctx.storage.get("n")) ?? 0) + by;
    await this.ctx.storage.put("n", n);
    return n;
  }
  async get() { return (await this.ctx.storage.get("n")) ?? 0; }
  calls_() { return this.calls; }
  boom() { throw new RangeError("out of range: " + this.ctx.id.name); }
  async selfCall() { return await this.env.COUNTER.get(this.ctx.id).get(); }
  async fetch(req) { return new Response("fetched " + await this.increment()); }
}
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const stub = env.COUNTER.getByName(url.searchParams.get("name") ?? "a");
    const op = url.pathname.split("/").pop();
    try {
      switch (op) {
      case "inc": return new Response(String(await stub.increment()));
      case "get": return new Response(String(await stub.get()));
      case "calls": return new Response(String(await stub.calls_()));
      case "fetch": return await stub.fetch(req);
      case "boom": await stub.boom(); return new Response("no throw");
      case "self": return new Response(String(await stub.selfCall()));
      }
    } catch (e) {
      return new Response(e.name + ": " + e.message, {status: 500});
    }
    return new Response("unknown op", {status: 404});
  }
};`

// alarmWorker exports Counter (as counterWorker) and Alarmed, whose alarm
// counts its runs and fails the first `failures` of them:
// /w/NAME/arm?name=X&ms=M&failures=F, /w/NAME/state?name=X.
const alarmWorker = `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async increment() {
    const n = ((await this.ctx.storage.get("n")) ?? 0) + 1;
    await this.ctx.storage.put("n", n);
    return n;
  }
  async get() { return (await this.ctx.storage.get("n")) ?? 0; }
}
export class Alarmed extends DurableObject {
  async arm(ms, failures) {
    this.ctx.storage.put("failures", failures);
    this.ctx.storage.put("due", Date.now() + ms);
    await this.ctx.storage.setAlarm(Date.now() + ms);
  }
  async alarm() {
    const fired = ((await this.ctx.storage.get("fired")) ?? 0) + 1;
    if (fired === 1) this.ctx.storage.put("late", Date.now() - (await this.ctx.storage.get("due")));
    await this.ctx.storage.put("fired", fired);
    if (fired <= ((await this.ctx.storage.get("failures")) ?? 0)) throw new Error("failing on purpose, run " + fired);
  }
  async state() {
    return JSON.stringify({ fired: (await this.ctx.storage.get("fired")) ?? 0, alarm: await this.ctx.storage.getAlarm(), late: (await this.ctx.storage.get("late")) ?? null });
  }
}
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const name = url.searchParams.get("name") ?? "a";
    switch (url.pathname.split("/").pop()) {
    case "inc": return new Response(String(await env.COUNTER.getByName(name).increment()));
    case "get": return new Response(String(await env.COUNTER.getByName(name).get()));
    case "arm":
      await env.ALARMED.getByName(name).arm(Number(url.searchParams.get("ms")), Number(url.searchParams.get("failures") ?? 0));
      return new Response("armed");
    case "state": return new Response(await env.ALARMED.getByName(name).state());
    }
    return new Response("unknown op", {status: 404});
  }
};`

// alarmState is what /state answers.
type alarmState struct {
	Fired int    `json:"fired"`
	Alarm *int64 `json:"alarm"`
	Late  *int64 `json:"late"` // ms from the first run's due time to its start
}

func readAlarm(t *testing.T, n *Node, name string) (alarmState, bool) {
	t.Helper()
	status, _, body := serve(t, n, "GET", "/w/count/state?name="+name, "", nil)
	var st alarmState
	if status != 200 || json.Unmarshal([]byte(body), &st) != nil {
		return st, false
	}
	return st, true
}

// doDeployBody is a deploy of src with env.COUNTER bound to its own Counter.
func doDeployBody(worker, src string) string {
	code := map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": src}}
	bindings := map[string]any{"COUNTER": map[string]any{"durableObject": map[string]string{"worker": worker, "class": "Counter"}}}
	if strings.Contains(src, "class Alarmed") {
		bindings["ALARMED"] = map[string]any{"durableObject": map[string]string{"worker": worker, "class": "Alarmed"}}
	}
	out, _ := json.Marshal(map[string]any{"code": code, "bindings": bindings})
	return string(out)
}

// objectCluster starts n in-process nodes that replicate, and waits until
// every data group has a leader.
func objectCluster(t *testing.T, names ...string) (*cluster, []*Node) {
	t.Helper()
	return objectClusterTuned(t, nil, names...)
}

// objectClusterTuned is objectCluster with tune applied to each node's
// configuration last.
func objectClusterTuned(t *testing.T, tune func(*Config), names ...string) (*cluster, []*Node) {
	t.Helper()
	testnet.Exclusive(t)
	c := newCluster(t, 41, names...)
	c.tune = func(cfg *Config) {
		defer func() {
			if tune != nil {
				tune(cfg)
			}
		}()
		cfg.NoReplication = false
		cfg.Logger = slog.New(slog.DiscardHandler) // raft's complaints as nodes die
		cfg.ReplicaGrace = 3 * time.Second
		// These tests count what the objects did, not shedding: under the
		// whole -race suite on 2 cores a call could wait past the default
		// 300 ms for one of the 4 slots, and a shed increment reads as a
		// lost one.
		cfg.QueueTimeout = 10 * time.Second
		cfg.ReplicationTuning = func(cc *replication.ClusterConfig) {
			cc.Settle = 300 * time.Millisecond
			cc.Tune = func(g *replication.GroupConfig) {
				g.HeartbeatTimeout = 500 * time.Millisecond
				g.ElectionTimeout = 500 * time.Millisecond
				g.LeaderLeaseTimeout = 250 * time.Millisecond
			}
		}
	}
	var nodes []*Node
	for i, name := range names {
		var join []string
		if i > 0 {
			join = []string{names[0]}
		}
		nodes = append(nodes, c.start(name, c.secret, 4, join...))
	}
	waitFor(t, time.Minute, "every group placed with a leader", func() bool {
		gs, err := nodes[0].groups.Groups(t.Context())
		if err != nil || len(gs) < 2 {
			return false
		}
		for _, g := range gs {
			if g.Leader == "" || len(g.Replicas) < min(3, len(names)) {
				return false
			}
		}
		return true
	})
	return c, nodes
}

func TestObjectsAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a 3-node replicated cluster")
	}
	_, nodes := objectCluster(t, "a", "b", "c")
	if status, _, body := call(t, nodes[0], "PUT", "/v1/workers/count", strings.NewReader(doDeployBody("count", counterWorker)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}
	// Sequential increments through each node in turn: one object, one
	// count.
	for i := 1; i <= 6; i++ {
		status, _, body := serve(t, nodes[i%3], "POST", "/w/count/inc?name=x", "", nil)
		if status != 200 || body != strconv.Itoa(i) {
			t.Fatalf("increment %d through %s: %d %q", i, nodes[i%3].Name(), status, body)
		}
	}
	// The live instance kept its field across those calls (one owner).
	if status, _, body := serve(t, nodes[0], "GET", "/w/count/calls?name=x", "", nil); status != 200 || body != "6" {
		t.Errorf("calls seen by the live instance: %d %q, want 6", status, body)
	}
	// fetch on a stub, and an exception rethrown at the caller.
	if status, _, body := serve(t, nodes[1], "GET", "/w/count/fetch?name=x", "", nil); status != 200 || body != "fetched 7" {
		t.Errorf("stub.fetch: %d %q", status, body)
	}
	if status, _, body := serve(t, nodes[2], "GET", "/w/count/boom?name=x", "", nil); status != 500 || body != "RangeError: out of range: x" {
		t.Errorf("a thrown error: %d %q", status, body)
	}
	// An object that calls itself is told so at once, rather than wait
	// for itself until its deadline.
	if status, _, body := serve(t, nodes[1], "GET", "/w/count/self?name=x", "", nil); status != 500 || !strings.Contains(body, "called itself") {
		t.Errorf("a self call: %d %q", status, body)
	}
	// Another name is another object.
	if status, _, body := serve(t, nodes[2], "GET", "/w/count/get?name=y", "", nil); status != 200 || body != "0" {
		t.Errorf("object y: %d %q", status, body)
	}
	// GET /v1/objects says who owns x.
	status, _, b := call(t, nodes[1], "GET", "/v1/objects/count/Counter?name=x", nil, nil)
	var info ObjectInfo
	if status != 200 || json.Unmarshal(b, &info) != nil || info.ID != ObjectIDFromName("count", "Counter", "x") || info.Owner == "" {
		t.Fatalf("GET /v1/objects: %d %s", status, b)
	}

	// Clients on every node at once: every acknowledged increment counts
	// once. One whose answer says its outcome is unknown (a group's
	// leader lost its office mid-write, which a loaded machine's missed
	// heartbeats can cause) counts at most once; one refused because the
	// object was reset (its owner no longer led the group when its write
	// was to commit: nothing was proposed) counts not at all.
	var acked, unknown, reset atomic.Int64
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 15 {
				status, _, body := serve(t, nodes[i%3], "POST", "/w/count/inc?name=x", "", nil)
				switch {
				case status == 200:
					acked.Add(1)
				case strings.Contains(body, "may or may not"):
					unknown.Add(1)
					t.Logf("increment through %s, outcome unknown: %d %q", nodes[i%3].Name(), status, body)
				case strings.Contains(body, "the Durable Object was reset") && strings.Contains(body, "does not own the object"):
					reset.Add(1)
					t.Logf("increment through %s, refused: %d %q", nodes[i%3].Name(), status, body)
				default:
					t.Errorf("increment through %s: %d %q", nodes[i%3].Name(), status, body)
				}
			}
		}()
	}
	wg.Wait()
	if acked.Load() == 0 {
		t.Fatalf("no increment acknowledged (%d unknown, %d refused)", unknown.Load(), reset.Load())
	}
	_, _, body := serve(t, nodes[0], "GET", "/w/count/get?name=x", "", nil)
	got, err := strconv.ParseInt(body, 10, 64)
	if least, most := 7+acked.Load(), 7+acked.Load()+unknown.Load(); err != nil || got < least || got > most {
		t.Fatalf("final count %q, want %d to %d (%d acknowledged, %d unknown)", body, least, most, acked.Load(), unknown.Load())
	}

	hostileObjectFrames(t, nodes[0], nodes[1])

	// The owner's metrics count the gate's commits and its actors; the
	// leaders time their Raft commits, the followers report their lag
	// and last contact.
	commits, actors, raftCommits, contact, lag := false, false, false, false, false
	for _, n := range nodes {
		_, _, b := call(t, n, "GET", "/metrics", nil, nil)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, `warren_object_gate_seconds_count{kind="commit"} `) && !strings.HasSuffix(line, " 0") {
				commits = true
			}
			if strings.HasPrefix(line, "warren_objects_active ") && !strings.HasSuffix(line, " 0") {
				actors = true
			}
			if strings.HasPrefix(line, "warren_raft_commit_seconds_count ") && !strings.HasSuffix(line, " 0") {
				raftCommits = true
			}
			if strings.HasPrefix(line, "warren_raft_last_contact_seconds{") && !strings.HasSuffix(line, " 0") {
				contact = true
			}
			lag = lag || strings.HasPrefix(line, "warren_raft_apply_lag_entries{")
		}
	}
	if !commits || !actors || !raftCommits || !contact || !lag {
		t.Errorf("metrics: gate commits counted %v, active objects %v, Raft commits timed %v, a follower's last contact %v, apply lag %v",
			commits, actors, raftCommits, contact, lag)
	}

	// The chat room example: clients on different nodes see each other's
	// messages.
	src, err := os.ReadFile("../examples/chat.js")
	if err != nil {
		t.Fatal(err)
	}
	dep, _ := json.Marshal(map[string]any{
		"code":     map[string]any{"mainModule": "chat.js", "modules": map[string]string{"chat.js": string(src)}},
		"bindings": map[string]any{"ROOMS": map[string]any{"durableObject": map[string]string{"worker": "chat", "class": "Room"}}},
	})
	if status, _, body := call(t, nodes[2], "PUT", "/v1/workers/chat", strings.NewReader(string(dep)), nil); status != 200 {
		t.Fatalf("deploy chat: %d %s", status, body)
	}
	for i, n := range nodes {
		msg := fmt.Sprintf(`{"from":"user%d","text":"hello from %s"}`, i, n.Name())
		if status, _, body := serve(t, n, "POST", "/w/chat/lobby", msg, nil); status != 200 || body != fmt.Sprintf(`{"seq":%d}`, i+1) {
			t.Fatalf("post through %s: %d %s", n.Name(), status, body)
		}
	}
	for _, n := range nodes {
		status, _, body := serve(t, n, "GET", "/w/chat/lobby?since=1", "", nil)
		var msgs []struct {
			Seq  int
			From string
			Text string
		}
		if status != 200 || json.Unmarshal([]byte(body), &msgs) != nil || len(msgs) != 2 || msgs[0].Seq != 2 || msgs[1].Text != "hello from c" {
			t.Fatalf("poll through %s: %d %s", n.Name(), status, body)
		}
	}
	if status, _, body := serve(t, nodes[0], "GET", "/w/chat/other?since=0", "", nil); status != 200 || body != "[]" {
		t.Errorf("another room: %d %s", status, body)
	}
}

func TestObjectSurvivesItsOwner(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a 3-node replicated cluster")
	}
	defaultObjectTimings.alarmBackoff = 100 * time.Millisecond
	t.Cleanup(func() { defaultObjectTimings.alarmBackoff = time.Second })
	_, nodes := objectCluster(t, "a", "b", "c")
	if status, _, body := call(t, nodes[0], "PUT", "/v1/workers/count", strings.NewReader(doDeployBody("count", alarmWorker)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}
	// An alarm runs on time (the owner sleeps until it is due, or is woken
	// when one is set): within 0.1 s, here 0.4 s on a shared machine.
	if status, _, body := serve(t, nodes[1], "POST", "/w/count/arm?name=prompt&ms=300", "", nil); status != 200 {
		t.Fatalf("arm: %d %s", status, body)
	}
	var prompt alarmState
	waitFor(t, 20*time.Second, "the alarm's run", func() bool {
		st, ok := readAlarm(t, nodes[2], "prompt")
		prompt = st
		return ok && st.Fired == 1 && st.Late != nil
	})
	t.Logf("the alarm ran %d ms after its time", *prompt.Late)
	if *prompt.Late > 400 {
		t.Errorf("the alarm ran %d ms after its time, want ≤ 400", *prompt.Late)
	}
	// An alarm that fails twice runs three times, then is gone.
	if status, _, body := serve(t, nodes[1], "POST", "/w/count/arm?name=retry&ms=50&failures=2", "", nil); status != 200 {
		t.Fatalf("arm: %d %s", status, body)
	}
	waitFor(t, 20*time.Second, "the alarm's third run", func() bool {
		st, ok := readAlarm(t, nodes[2], "retry")
		return ok && st.Fired == 3 && st.Alarm == nil
	})
	for i := 1; i <= 3; i++ {
		if status, _, body := serve(t, nodes[0], "POST", "/w/count/inc?name=x", "", nil); status != 200 || body != strconv.Itoa(i) {
			t.Fatalf("increment %d: %d %q", i, status, body)
		}
	}
	owner, others := objectOwner(t, nodes, "count", "Counter", "x")
	// An alarm of an object of the same owner, set to fire after the
	// owner's death.
	alarmed := ""
	for i := 0; alarmed == "" && i < 200; i++ {
		name := fmt.Sprintf("al%d", i)
		_, _, b := call(t, nodes[0], "GET", "/v1/objects/count/Alarmed?name="+name, nil, nil)
		var ai ObjectInfo
		if json.Unmarshal(b, &ai) == nil && ai.Owner == owner.Name() {
			alarmed = name
		}
	}
	if alarmed == "" {
		t.Fatal("no Alarmed object owned by the counter's owner")
	}
	if status, _, body := serve(t, owner, "POST", "/w/count/arm?name="+alarmed+"&ms=1500", "", nil); status != 200 {
		t.Fatalf("arm: %d %s", status, body)
	}
	// Increments through the survivors while the owner dies.
	countThroughDeath(t, owner, others, 4, "/w/count/inc?name=x", "/w/count/get?name=x", 3)
	// The alarm set before the owner died fired once, on a new owner,
	// and is gone.
	waitFor(t, 20*time.Second, "the alarm on the new owner", func() bool {
		st, ok := readAlarm(t, others[0], alarmed)
		return ok && st.Fired >= 1 && st.Alarm == nil
	})
	if st, _ := readAlarm(t, others[1], alarmed); st.Fired != 1 {
		t.Fatalf("the alarm fired %d times", st.Fired)
	}
}

// objectOwner returns the node that owns worker's object of class made
// from name, and the other nodes.
func objectOwner(t *testing.T, nodes []*Node, worker, class, name string) (owner *Node, others []*Node) {
	t.Helper()
	_, _, b := call(t, nodes[0], "GET", "/v1/objects/"+worker+"/"+class+"?name="+name, nil, nil)
	var info ObjectInfo
	if err := json.Unmarshal(b, &info); err != nil || info.Owner == "" {
		t.Fatalf("owner: %s", b)
	}
	for _, n := range nodes {
		if n.Name() == info.Owner {
			owner = n
		} else {
			others = append(others, n)
		}
	}
	if owner == nil {
		t.Fatalf("owner %q is none of the nodes", info.Owner)
	}
	return owner, others
}

// countThroughDeath has clients increment a counter (POST inc) through
// the first two of others while owner is killed, then reads it (GET get
// through others[0]): it must hold base plus every acknowledged increment
// and no more than were attempted.
func countThroughDeath(t *testing.T, owner *Node, others []*Node, clients int, inc, get string, base int64) {
	t.Helper()
	var acked, attempted atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				attempted.Add(1)
				if status, _, _ := serve(t, others[i%2], "POST", inc, "", nil); status == 200 {
					acked.Add(1)
				}
			}
		}()
	}
	waitFor(t, 10*time.Second, "some increments", func() bool { return acked.Load() > 20 })
	t.Logf("killing the owner %s", owner.Name())
	owner.Kill()
	before := acked.Load()
	serving := waitFor(t, 30*time.Second, "increments after the owner's death", func() bool { return acked.Load() > before+20 })
	t.Logf("the object served again within %v of its owner's death", serving)
	close(stop)
	wg.Wait()
	var final int64
	waitFor(t, 20*time.Second, "a final read", func() bool {
		status, _, body := serve(t, others[0], "GET", get, "", nil)
		if status != 200 {
			return false
		}
		final, _ = strconv.ParseInt(body, 10, 64)
		return true
	})
	lo, hi := base+acked.Load(), base+attempted.Load()
	t.Logf("acknowledged %d, attempted %d, final %d", acked.Load(), attempted.Load(), final)
	if final < lo || final > hi {
		t.Fatalf("final count %d outside [acknowledged %d, attempted %d]", final, lo, hi)
	}
}

func TestMergeBatches(t *testing.T) {
	v := func(s string) []byte { return []byte(s) }
	alarm := int64(5)
	q := []*ticket{
		{batch: &isolate.StorageBatch{Puts: []isolate.StoragePut{{Key: "a", Value: v("1")}, {Key: "b", Value: v("1")}}}},
		{batch: nil},
		{batch: &isolate.StorageBatch{Deletes: []string{"a"}, Puts: []isolate.StoragePut{{Key: "c", Value: v("2")}}, Alarm: &alarm}},
		{batch: &isolate.StorageBatch{Puts: []isolate.StoragePut{{Key: "b", Value: v("3")}}}},
	}
	got := mergeBatches(q)
	want := &isolate.StorageBatch{Puts: []isolate.StoragePut{{Key: "b", Value: v("3")}, {Key: "c", Value: v("2")}}, Deletes: []string{"a"}, Alarm: &alarm}
	if fmt.Sprint(got.Puts) != fmt.Sprint(want.Puts) || fmt.Sprint(got.Deletes) != fmt.Sprint(want.Deletes) || *got.Alarm != 5 || got.DeleteAll {
		t.Fatalf("merged %+v, want %+v", got, want)
	}
	// deleteAll drops what came before it, not what came after.
	q = append(q, &ticket{batch: &isolate.StorageBatch{DeleteAll: true}}, &ticket{batch: &isolate.StorageBatch{Puts: []isolate.StoragePut{{Key: "z", Value: v("9")}}}})
	got = mergeBatches(q)
	if !got.DeleteAll || len(got.Puts) != 1 || got.Puts[0].Key != "z" || len(got.Deletes) != 0 {
		t.Fatalf("after deleteAll: %+v", got)
	}
	if mergeBatches([]*ticket{{}, {}}) != nil {
		t.Fatal("no writes merge to a batch")
	}
	// Merged batches stay within the store's bound on one.
	big := func(k string) *ticket {
		return &ticket{batch: &isolate.StorageBatch{Puts: []isolate.StoragePut{{Key: k, Value: make([]byte, 600<<10)}}}}
	}
	if cs := chunks([]*ticket{big("a"), {}, big("b"), big("c")}); len(cs) != 3 || len(cs[0]) != 2 || len(cs[1]) != 1 {
		t.Fatalf("chunks of 600 KiB batches: %d %v", len(cs), cs)
	}
	many := &ticket{batch: &isolate.StorageBatch{Deletes: make([]string, 600)}}
	if cs := chunks([]*ticket{many, many, many}); len(cs) != 3 {
		t.Fatalf("chunks of 600-key batches: %d", len(cs))
	}
}

func TestObjectGrants(t *testing.T) {
	b := map[string]isolate.Binding{"C": {DurableObject: &isolate.DurableObjectBinding{Worker: "w", Class: "Counter"}}}
	for _, tc := range []struct {
		do []string
		ok bool
	}{{nil, false}, {[]string{"w.Counter"}, true}, {[]string{"w.*"}, true}, {[]string{"w.Other", "x.Counter"}, false}} {
		err := checkObjects(&Grants{DO: tc.do}, b)
		if (err == nil) != tc.ok {
			t.Errorf("grants %v: %v", tc.do, err)
		}
	}
	if checkObjects(&Grants{Admin: true}, b) != nil {
		t.Error("an admin is refused")
	}
}

// tickWorker records each cron tick it runs in a Durable Object.
const tickWorker = `import { DurableObject } from "cloudflare:workers";
export class Ticks extends DurableObject {
  async add(t) {
    const k = "t" + t;
    await this.ctx.storage.put(k, ((await this.ctx.storage.get(k)) ?? 0) + 1);
  }
  async all() { return JSON.stringify(Object.fromEntries(await this.ctx.storage.list({ prefix: "t" }))); }
}
export default {
  async scheduled(controller, env) { await env.TICKS.getByName("log").add(controller.scheduledTime); },
  async fetch(req, env) { return new Response(await env.TICKS.getByName("log").all()); },
};`

// TestCronAcrossFailover: a cron trigger runs once per tick, on through
// the death of the node that keeps the Worker's ticks.
func TestCronAcrossFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a 3-node replicated cluster")
	}
	_, nodes := objectCluster(t, "a", "b", "c")
	dep, _ := json.Marshal(map[string]any{
		"code":     map[string]any{"mainModule": "m.js", "modules": map[string]string{"m.js": tickWorker}},
		"bindings": map[string]any{"TICKS": map[string]any{"durableObject": map[string]string{"worker": "tick", "class": "Ticks"}}},
		"triggers": map[string]any{"crons": []string{"* * * * * *"}}, // every second
	})
	if status, _, body := call(t, nodes[0], "PUT", "/v1/workers/tick", strings.NewReader(string(dep)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}
	// A bad expression is refused.
	bad := strings.Replace(string(dep), "* * * * * *", "61 * * * *", 1)
	if status, _, body := call(t, nodes[0], "PUT", "/v1/workers/tick2", strings.NewReader(bad), nil); status != 400 || !strings.Contains(string(body), "triggers.crons[0]") {
		t.Errorf("a bad cron: %d %s", status, body)
	}
	ticks := func(n *Node) map[string]int {
		status, _, body := serve(t, n, "GET", "/w/tick/", "", nil)
		m := map[string]int{}
		if status != 200 || json.Unmarshal([]byte(body), &m) != nil {
			return nil
		}
		return m
	}
	waitFor(t, 30*time.Second, "three ticks", func() bool { return len(ticks(nodes[1])) >= 3 })

	// Kill the node that keeps the ticks.
	id := strings.Split(cronObjectKey("tick"), "\x00")[2]
	_, _, b := call(t, nodes[0], "GET", "/v1/objects/tick/"+cronClass+"?id="+id, nil, nil)
	var info ObjectInfo
	if json.Unmarshal(b, &info) != nil || info.Owner == "" {
		t.Fatalf("the keeper of the ticks: %s", b)
	}
	var survivor *Node
	for _, n := range nodes {
		if n.Name() == info.Owner {
			t.Logf("killing %s, which keeps the ticks", n.Name())
			n.Kill()
		} else {
			survivor = n
		}
	}
	before := len(ticks(survivor))
	waitFor(t, 30*time.Second, "ticks after the kill", func() bool { return len(ticks(survivor)) >= before+4 })
	m := ticks(survivor)
	twice := 0
	for tick, count := range m {
		if count > 2 || count == 2 && twice > 0 {
			t.Errorf("tick %s ran %d times (all: %v)", tick, count, m)
		}
		if count == 2 {
			twice++ // the tick under way at the kill may run again
		}
	}
	t.Logf("%d ticks ran, %d of them twice", len(m), twice)
	// The runs' outcomes are kept with the deployment.
	status, _, b := call(t, survivor, "GET", "/v1/workers/tick", nil, nil)
	var w WorkerInfo
	if status != 200 || json.Unmarshal(b, &w) != nil || w.Triggers == nil || len(w.CronRuns) == 0 || w.CronRuns[0].Cron != "* * * * * *" {
		t.Fatalf("GET /v1/workers/tick: %d %s", status, b)
	}
	ok := 0
	for _, r := range w.CronRuns {
		if r.Outcome == isolate.OutcomeOK {
			ok++
		}
	}
	if ok == 0 {
		t.Errorf("no run recorded ok: %s", b)
	}
}

// TestObjectsMoveTowardCallers: an object called mostly through another
// node moves there.
func TestObjectsMoveTowardCallers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a 3-node replicated cluster")
	}
	saved := defaultObjectTimings
	defaultObjectTimings.demandEvery, defaultObjectTimings.demandMin = 500*time.Millisecond, 20
	t.Cleanup(func() { defaultObjectTimings = saved })
	_, nodes := objectCluster(t, "a", "b", "c")
	if status, _, body := call(t, nodes[0], "PUT", "/v1/workers/count", strings.NewReader(doDeployBody("count", counterWorker)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}
	owner := func() string {
		_, _, b := call(t, nodes[0], "GET", "/v1/objects/count/Counter?name=hot", nil, nil)
		var info ObjectInfo
		json.Unmarshal(b, &info)
		return info.Owner
	}
	var first string
	waitFor(t, 20*time.Second, "an owner of the object", func() bool {
		first = owner()
		return first != ""
	})
	var caller *Node
	for _, n := range nodes {
		if n.Name() != first {
			caller = n
			break
		}
	}
	if first == "" || caller == nil {
		t.Fatalf("owner %q", first)
	}
	acked, attempted := 0, 0
	waitFor(t, 30*time.Second, "the object moving to "+caller.Name(), func() bool {
		for range 10 {
			attempted++
			if status, _, _ := serve(t, caller, "POST", "/w/count/inc?name=hot", "", nil); status == 200 {
				acked++
			}
		}
		return owner() == caller.Name()
	})
	t.Logf("moved from %s to %s after %d calls", first, caller.Name(), attempted)
	_, _, body := serve(t, caller, "GET", "/w/count/get?name=hot", "", nil)
	final, _ := strconv.Atoi(body)
	if final < acked || final > attempted {
		t.Fatalf("final count %d outside [acknowledged %d, attempted %d]", final, acked, attempted)
	}
}

func TestDemandDecide(t *testing.T) {
	d := newDemand(objectTimings{demandMin: 10, demandShare: 0.8, demandCooldown: time.Minute})
	now := time.Now()
	note := func(gid, origin string, n int) {
		for range n {
			d.note(gid, origin)
		}
	}
	note("g1", "b", 9)  // too few
	note("g2", "b", 18) // 90 % from b
	note("g2", "a", 2)
	note("g3", "b", 12) // 60 %: no clear caller
	note("g3", "c", 8)
	note("g4", "a", 50) // from this node itself
	if got := d.decide("a", now); len(got) != 1 || got["g2"] != "b" {
		t.Fatalf("decide: %v", got)
	}
	note("g2", "c", 20) // moved a moment ago: stays
	if got := d.decide("a", now.Add(time.Second)); len(got) != 0 {
		t.Fatalf("decide within the cooldown: %v", got)
	}
	note("g2", "c", 20)
	if got := d.decide("a", now.Add(2*time.Minute)); got["g2"] != "c" {
		t.Fatalf("decide after the cooldown: %v", got)
	}
}

// hostileObjectFrames sends b malformed object calls from a, over the
// mesh as a peer would: each gets an error answer, and b serves on.
func hostileObjectFrames(t *testing.T, a, b *Node) {
	t.Helper()
	send := func(msg []byte) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := a.mesh.Open(ctx, b.Name(), mesh.ProtoObject)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		_ = s.CloseWrite()
		out, _ := io.ReadAll(s)
		return out
	}
	frame := func(body string) []byte { return appendFrame([]byte{mesh.ProtoObjectVersion}, []byte(body)) }
	id := ObjectIDFromName("count", "Counter", "x")
	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"unknown version", appendFrame([]byte{99}, []byte("{}")), "V"},
		{"not JSON", frame("{nope"), "a bad call frame"},
		{"unknown kind", frame(`{"ref":{"worker":"count","class":"Counter","id":"` + id + `"},"kind":"evil"}`), "a bad call frame"},
		{"bad id", frame(`{"ref":{"worker":"count","class":"Counter","id":"../../x"},"kind":"call","method":"get"}`), "64 hex digits"},
		{"bad worker", frame(`{"ref":{"worker":"No Such","class":"Counter","id":"` + id + `"},"kind":"call","method":"get"}`), "is deployed"},
		{"deep chain", frame(`{"ref":{"worker":"count","class":"Counter","id":"` + id + `"},"kind":"call","method":"get","chain":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p"]}`), "nest more than"},
		{"truncated", append([]byte{mesh.ProtoObjectVersion, 0xff, 0xff, 0x03}, "{}"...), ""},
	} {
		out := send(tc.msg)
		if tc.want == "V" {
			if len(out) == 0 || out[0] != objBadVersion {
				t.Errorf("%s: answer %q", tc.name, out)
			}
			continue
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: answer %q, want %q in it", tc.name, out, tc.want)
		}
	}
	if status, _, body := serve(t, b, "GET", "/w/count/get?name=x", "", nil); status != 200 {
		t.Fatalf("b after hostile frames: %d %s", status, body)
	}
}

// TestObjectOwnerFoundFromOutside: a node that holds no replica of an
// object's group learns its owner from the group's replicas, and learns
// a new one when the owner dies: it used to keep sending its calls to the
// dead owner until KV traffic to the group taught it the new one.
func TestObjectOwnerFoundFromOutside(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a 4-node replicated cluster")
	}
	_, nodes := objectCluster(t, "a", "b", "c", "d")
	if status, _, body := call(t, nodes[0], "PUT", "/v1/workers/count", strings.NewReader(doDeployBody("count", counterWorker)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, body)
	}
	gs, err := nodes[0].groups.Groups(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	replicas := map[string][]string{}
	for _, g := range gs {
		for _, r := range g.Replicas {
			replicas[g.ID] = append(replicas[g.ID], r.Node)
		}
	}
	// An object whose group has no replica on some node, the outsider.
	var name, key string
	var outsider *Node
	for i := 0; outsider == nil && i < 100; i++ {
		name = fmt.Sprintf("o%d", i)
		_, _, b := call(t, nodes[0], "GET", "/v1/objects/count/Counter?name="+name, nil, nil)
		var info ObjectInfo
		if err := json.Unmarshal(b, &info); err != nil {
			t.Fatalf("locating %s: %s", name, b)
		}
		key = isolate.ObjectRef{Worker: "count", Class: "Counter", ID: info.ID}.Key()
		rs := replicas[nodes[0].cluster.ObjectGroup(key)]
		for _, nd := range nodes {
			if len(rs) == 3 && !slices.Contains(rs, nd.Name()) {
				outsider = nd
			}
		}
	}
	if outsider == nil {
		t.Fatal("no object whose group leaves a node out")
	}
	// Increments through the outsider until one is acknowledged (a
	// group's leadership may still move after placement, and a call cut
	// by a move may or may not have run).
	inc := func(within time.Duration) (count, attempts int) {
		t.Helper()
		var status int
		var body string
		waitFor(t, within, "an acknowledged increment through "+outsider.Name(), func() bool {
			attempts++
			status, _, body = serve(t, outsider, "POST", "/w/count/inc?name="+name, "", nil)
			return status == 200
		})
		count, err := strconv.Atoi(body)
		if err != nil {
			t.Fatalf("increment: %d %q", status, body)
		}
		return count, attempts
	}
	before, _ := inc(20 * time.Second)
	owner, local := outsider.cluster.ObjectOwner(key)
	if local || owner == "" || owner == outsider.Name() {
		t.Fatalf("the outsider knows the owner as %q (local %v)", owner, local)
	}
	var victim *Node
	for _, nd := range nodes {
		if nd.Name() == owner {
			victim = nd
		}
	}
	t.Logf("%s calls %s's object (group %s) through its owner %s; killing the owner", outsider.Name(), name, outsider.cluster.ObjectGroup(key), owner)
	victim.Kill()
	start := time.Now()
	after, attempts := inc(30 * time.Second)
	if after <= before || after > before+attempts {
		t.Fatalf("the count went from %d to %d in %d attempts", before, after, attempts)
	}
	t.Logf("served by a new owner %v after the old one died (%d attempts)", time.Since(start).Round(time.Millisecond), attempts)
	if now, _ := outsider.cluster.ObjectOwner(key); now == owner {
		t.Fatalf("the outsider still knows the dead %s as the owner", owner)
	}
}
