package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/testnet"
)

// cluster is N in-process nodes over a fault-injecting fabric.
type cluster struct {
	t      *testing.T
	fabric *testnet.Fabric
	secret string
	nodes  map[string]*Node
	dir    string
	host   func(node string) isolate.Host // the nodes' Host, if set
	tune   func(*Config)                  // adjusts each node's Config, if set
}

func newCluster(t *testing.T, seed int64, names ...string) *cluster {
	t.Helper()
	t.Logf("fabric seed %d", seed)
	dir := t.TempDir()
	c := &cluster{t: t, fabric: testnet.NewFabric(seed), nodes: map[string]*Node{}, dir: dir, secret: filepath.Join(dir, "secret")}
	if err := InitSecret(c.secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Kill()
		}
		c.fabric.Close()
	})
	return c
}

// tuning makes failure detection fast enough for tests.
func tuning(mc *mesh.Config) {
	mc.ProbeInterval = 200 * time.Millisecond
	mc.ProbeTimeout = 100 * time.Millisecond
	mc.GossipInterval = 50 * time.Millisecond
	mc.RefreshInterval = 100 * time.Millisecond
}

func (c *cluster) start(name, secret string, slots int, join ...string) *Node {
	c.t.Helper()
	pc, err := c.fabric.Listen(name)
	if err != nil {
		c.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	var joinAddrs []string
	for _, j := range join {
		joinAddrs = append(joinAddrs, c.fabric.Addr(j).String())
	}
	cfg := Config{
		Name: name, Data: filepath.Join(c.dir, name), SecretPath: secret, Slots: slots,
		Join: joinAddrs, PacketConn: pc, APIListener: ln, Executor: isolate.InProcess,
		QueueTimeout: 300 * time.Millisecond, MeshTuning: tuning, NoReplication: true,
	}
	if c.host != nil {
		cfg.Host = c.host(name)
	}
	if c.tune != nil {
		c.tune(&cfg)
	}
	n, err := Start(context.Background(), cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", name, err)
	}
	c.nodes[name] = n
	registerToken(n, adminToken(c.t, secret))
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		<-tick.C
	}
	return time.Since(start)
}

// sees reports whether n lists exactly want as alive members.
func sees(n *Node, want ...string) bool {
	var alive []string
	for _, p := range n.Mesh().Members() {
		if p.State == mesh.StateAlive {
			alive = append(alive, p.Name)
		}
	}
	sort.Strings(alive)
	sort.Strings(want)
	return strings.Join(alive, ",") == strings.Join(want, ",")
}

// hasRTT reports whether n has measured its RTT to each of peers over a
// QUIC connection (Vivaldi coordinates take many rounds to settle).
func hasRTT(n *Node, peers ...string) bool {
	known := map[string]bool{}
	for _, p := range n.Mesh().Members() {
		known[p.Name] = p.RTTSource == mesh.RTTQUIC
	}
	for _, p := range peers {
		if !known[p] {
			return false
		}
	}
	return true
}

// measureRTTs opens a connection from n to each peer, the way a forward
// would, and waits until n has measured its RTT to each over QUIC: ranking
// by the latency matrix needs them.
func measureRTTs(t *testing.T, n *Node, peers ...string) {
	t.Helper()
	for _, p := range peers {
		if s, err := n.Mesh().Open(context.Background(), p, 99); err == nil {
			s.Abort()
		}
	}
	waitFor(t, 10*time.Second, "RTTs from "+n.Name(), func() bool { return hasRTT(n, peers...) })
}

// nearAndFar starts three nodes of one slot each: a, then near and far
// joining it, far with the given one-way latency from a. It returns a once
// it sees both and has measured their RTTs, so that ranking prefers near.
func (c *cluster) nearAndFar(a, near, far string, farLatency time.Duration) *Node {
	c.t.Helper()
	c.fabric.SetLatency(a, far, farLatency)
	n := c.start(a, c.secret, 1)
	c.start(near, c.secret, 1, a)
	c.start(far, c.secret, 1, a)
	waitFor(c.t, 10*time.Second, "convergence", func() bool { return sees(n, a, near, far) })
	measureRTTs(c.t, n, near, far)
	return n
}

// occupy starts a sleeper of ms on n and waits until it runs there.
func occupy(t *testing.T, n *Node, ms int) {
	t.Helper()
	go n.Run(context.Background(), sleepReq(ms))
	waitFor(t, 5*time.Second, n.Name()+" busy", func() bool { return n.running.Load() == 1 })
}

func code(src string) json.RawMessage {
	b, _ := json.Marshal(&isolate.Code{MainModule: "main.js", Modules: map[string]*isolate.Module{"main.js": {Kind: isolate.ModuleESM, Source: src}}})
	return b
}

// sleeper holds its slot for the requested milliseconds without using CPU.
var sleeper = code(`export default { async fetch(req) {
  const ms = Number(new URL(req.url).searchParams.get("ms") ?? 0);
  await new Promise(r => setTimeout(r, ms));
  return new Response("slept " + ms);
} }`)

func sleepReq(ms int) *RunRequest {
	return &RunRequest{Code: sleeper, Request: &isolate.Request{URL: fmt.Sprintf("http://x/?ms=%d", ms)}}
}

// TestSpillToNearest: with a latency matrix, overflow from a full n1 runs
// on the nearest peer with room, then the next nearest.
func TestSpillToNearest(t *testing.T) {
	c := newCluster(t, 1, "n1", "n2", "n3", "n4", "n5")
	// One-way latencies from n1: n2 5 ms, n3 10 ms, n4 20 ms, n5 30 ms.
	for i, peer := range []string{"n2", "n3", "n4", "n5"} {
		c.fabric.SetLatency("n1", peer, []time.Duration{5, 10, 20, 30}[i]*time.Millisecond)
	}
	n1 := c.start("n1", c.secret, 1)
	for _, name := range []string{"n2", "n3", "n4", "n5"} {
		c.start(name, c.secret, 1, "n1")
	}
	took := waitFor(t, 10*time.Second, "convergence", func() bool {
		for _, n := range c.nodes {
			if !sees(n, "n1", "n2", "n3", "n4", "n5") {
				return false
			}
		}
		return true
	})
	t.Logf("5 nodes converged in %v", took)
	measureRTTs(t, n1, "n2", "n3", "n4", "n5")

	// Fill n1, then n2, then n3, each with a long sleeper, and check where
	// each next call lands.
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make(chan *isolate.Result, 8)
	for i, want := range []string{"n1", "n2", "n3", "n4"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Long enough that the first still runs when the last is
			// placed, on a loaded machine too (a placement there, the
			// code sent and bundled under -race, took over 5 s).
			results <- n1.Run(ctx, sleepReq(9000))
		}()
		// Wait until the call occupies its node before sending the next.
		waitFor(t, 10*time.Second, "slot taken on "+want, func() bool {
			for _, p := range c.nodes[want].Mesh().Members() {
				if p.Local {
					return len(c.nodes[want].slots) == 1
				}
			}
			return false
		})
		_ = i
	}
	wg.Wait()
	close(results)
	var ran []string
	for r := range results {
		if !r.OK() {
			t.Fatalf("outcome %s: %s", r.Outcome, r.Error)
		}
		ran = append(ran, strings.Join(r.Telemetry.Hops, ">"))
	}
	sort.Strings(ran)
	want := []string{"n1", "n1>n2", "n1>n3", "n1>n4"}
	if strings.Join(ran, " ") != strings.Join(want, " ") {
		t.Errorf("ran on %v, want %v", ran, want)
	}
}

// TestLoadShed: with no room anywhere, a call waits QueueTimeout and is shed.
func TestLoadShed(t *testing.T) {
	c := newCluster(t, 2, "a")
	a := c.start("a", c.secret, 1)
	a.cfg.MaxQueued = 2
	go a.Run(context.Background(), sleepReq(2000))
	waitFor(t, 5*time.Second, "slot taken", func() bool { return len(a.slots) == 1 })
	start := time.Now()
	r := a.Run(context.Background(), sleepReq(0))
	if r.Outcome != isolate.OutcomeLoadShed {
		t.Fatalf("outcome %s, want loadShed", r.Outcome)
	}
	if r.Telemetry.Node != "a" || len(r.Telemetry.Hops) != 1 {
		t.Errorf("shed call's telemetry: node %q hops %v, want a", r.Telemetry.Node, r.Telemetry.Hops)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("shed after %v, before the queue timeout", d)
	}
	// The queue is bounded: with MaxQueued calls waiting, the next is shed
	// at once.
	for range 2 {
		go a.Run(context.Background(), sleepReq(0))
	}
	waitFor(t, 5*time.Second, "two calls queued", func() bool { return a.queued.Load() == 2 })
	r = a.Run(context.Background(), sleepReq(0))
	if r.Outcome != isolate.OutcomeLoadShed || !strings.Contains(r.Error, "2 invocations waiting") {
		t.Errorf("past the queue bound: %s %q", r.Outcome, r.Error)
	}
}

// TestWrongSecretRefused: a node with another secret never appears in the
// mesh, and cannot open streams to its members.
func TestWrongSecretRefused(t *testing.T) {
	c := newCluster(t, 3, "good1", "good2", "evil")
	g1 := c.start("good1", c.secret, 1)
	c.start("good2", c.secret, 1, "good1")
	waitFor(t, 10*time.Second, "good nodes converge", func() bool { return sees(g1, "good1", "good2") })
	other := filepath.Join(c.dir, "other-secret")
	if err := InitSecret(other); err != nil {
		t.Fatal(err)
	}
	evil := c.start("evil", other, 1, "good1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s, err := evil.Mesh().Open(ctx, "good1", protoInvoke); err == nil {
		s.Abort()
		t.Error("a node with the wrong secret opened a stream")
	}
	// Give gossip many rounds to let evil in; it must never appear.
	deadline := time.After(2 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for watching := true; watching; {
		for _, p := range g1.Mesh().Members() {
			if p.Name == "evil" {
				t.Fatalf("good1 lists evil as %s", p.State)
			}
		}
		select {
		case <-deadline:
			watching = false
		case <-tick.C:
		}
	}
	if !sees(g1, "good1", "good2") || !sees(evil, "evil") {
		t.Error("membership changed")
	}
}

// TestKilledNode: a killed node stops receiving work within the detection
// time, and a call in flight on it ends with internalError naming it.
func TestKilledNode(t *testing.T) {
	c := newCluster(t, 4, "k1", "k2", "k3")
	k1 := c.nearAndFar("k1", "k2", "k3", 40*time.Millisecond)
	// Occupy k1; the next call goes to k2, which dies during it.
	occupy(t, k1, 5000)
	inflight := make(chan *isolate.Result, 1)
	go func() { inflight <- k1.Run(context.Background(), sleepReq(5000)) }()
	waitFor(t, 5*time.Second, "k2 busy", func() bool {
		if c.nodes["k3"].running.Load() == 1 {
			for _, p := range k1.Mesh().Members() {
				t.Logf("k1 sees %s: %s rtt %v (%s) free %d", p.Name, p.State, p.RTT, p.RTTSource, p.Free)
			}
			t.Fatal("the call went to k3, not the nearer k2")
		}
		return c.nodes["k2"].running.Load() == 1 && k1.remote.Load() == 1
	})
	killed := time.Now()
	c.fabric.Kill("k2")
	c.nodes["k2"].Kill()
	r := <-inflight
	if r.Outcome != isolate.OutcomeInternalError || !strings.Contains(r.Error, "k2") {
		t.Errorf("in-flight call: %s %q, want internalError naming k2", r.Outcome, r.Error)
	}
	if r.Telemetry.Node != "k2" || strings.Join(r.Telemetry.Hops, ">") != "k1>k2" {
		t.Errorf("in-flight call's telemetry: node %q hops %v, want k2 via k1>k2", r.Telemetry.Node, r.Telemetry.Hops)
	}
	t.Logf("in-flight call ended after %v: %s", time.Since(killed).Round(time.Millisecond), r.Error)
	took := waitFor(t, 5*time.Second, "k2 declared dead", func() bool { return sees(k1, "k1", "k3") })
	t.Logf("k2 detected dead in %v", took)
	// New work goes to k3 now.
	if r := k1.Run(context.Background(), sleepReq(0)); !r.OK() || strings.Join(r.Telemetry.Hops, ">") != "k1>k3" {
		t.Errorf("after the kill: %s hops %v", r.Outcome, r.Telemetry.Hops)
	}
}

// TestPartitionHeals: a node cut off from the others is declared dead;
// after the partition heals every table converges again.
func TestPartitionHeals(t *testing.T) {
	c := newCluster(t, 5, "p1", "p2", "p3", "p4", "p5")
	p1 := c.start("p1", c.secret, 1)
	for _, n := range []string{"p2", "p3", "p4", "p5"} {
		c.start(n, c.secret, 1, "p1")
	}
	all := []string{"p1", "p2", "p3", "p4", "p5"}
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(p1, all...) })
	c.fabric.Isolate("p5")
	waitFor(t, 10*time.Second, "p5 dead on p1", func() bool { return sees(p1, "p1", "p2", "p3", "p4") })
	c.fabric.Heal()
	took := waitFor(t, 30*time.Second, "reconvergence", func() bool {
		for _, n := range c.nodes {
			if !sees(n, all...) {
				return false
			}
		}
		return true
	})
	t.Logf("converged %v after the heal", took)
}

// TestFailoverBeforeStart: a peer that turns out to be full (its gossiped
// free slots are stale) refuses before starting, and the call goes to the
// next peer in the ranking.
func TestFailoverBeforeStart(t *testing.T) {
	c := newCluster(t, 8, "f1", "f2", "f3")
	f1 := c.nearAndFar("f1", "f2", "f3", 30*time.Millisecond)
	occupy(t, f1, 3000)
	// Take f2's slot behind the mesh's back: f1 still believes it is free.
	f2 := c.nodes["f2"]
	f2.slots <- struct{}{}
	defer func() { <-f2.slots }()
	r := f1.Run(context.Background(), sleepReq(0))
	if !r.OK() || strings.Join(r.Telemetry.Hops, ">") != "f1>f3" {
		t.Errorf("outcome %s, hops %v; want ok via f1>f3", r.Outcome, r.Telemetry.Hops)
	}
}

// effectful makes one subrequest and returns what it answered.
var effectful = code(`export default { async fetch() {
  const r = await fetch("http://effect.test/");
  return new Response(await r.text());
} }`)

// TestUnansweredPeerMakesNoEffect: a peer whose answers are lost (a
// one-way partition; gossip still finds it alive through others) may start
// the call, but its effects wait for the caller's go-ahead, which never
// comes: the caller gives up on it, and the call's effect happens once, on
// the next peer.
func TestUnansweredPeerMakesNoEffect(t *testing.T) {
	c := newCluster(t, 9, "u1", "u2", "u3")
	fx := &ledger{effects: map[string][]string{}}
	c.host = fx.host
	u1 := c.nearAndFar("u1", "u2", "u3", 30*time.Millisecond)
	u2 := c.nodes["u2"]
	// Effects pass through a forward that works.
	r := u1.Run(context.Background(), &RunRequest{Code: effectful})
	if !r.OK() || r.Response == nil || string(r.Response.Body) != "done by u1" {
		t.Fatalf("local effect: %s %q", r.Outcome, r.Error)
	}
	occupy(t, u1, 10000)
	r = u1.Run(context.Background(), &RunRequest{Code: effectful})
	if !r.OK() || string(r.Response.Body) != "done by u2" || fx.by("u2") != 1 {
		t.Fatalf("forwarded effect: %s %q hops %v, u2 made %d", r.Outcome, r.Error, r.Telemetry.Hops, fx.by("u2"))
	}
	c.fabric.PartitionOneWay("u2", "u1")
	t0 := time.Now()
	r = u1.Run(context.Background(), &RunRequest{Code: effectful})
	if !r.OK() || strings.Join(r.Telemetry.Hops, ">") != "u1>u3" || string(r.Response.Body) != "done by u3" {
		t.Errorf("outcome %s %q, hops %v; want ok via u1>u3", r.Outcome, r.Error, r.Telemetry.Hops)
	}
	t.Logf("ran on u3 after %v", time.Since(t0).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "u2 releases its slot", func() bool { return len(u2.slots) == 0 })
	if fx.by("u2") != 1 || fx.by("u3") != 1 {
		t.Errorf("effects: u2 %d (want 1, from before the partition), u3 %d (want 1)", fx.by("u2"), fx.by("u3"))
	}
}

// TestForwardedCancel: a caller that gives up on a forwarded call (its
// client went away) cancels it on the peer, which frees its slot at once
// instead of running the call to its end.
func TestForwardedCancel(t *testing.T) {
	c := newCluster(t, 10, "c1", "c2")
	c1 := c.start("c1", c.secret, 1)
	c2 := c.start("c2", c.secret, 1, "c1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(c1, "c1", "c2") })
	hold, release := context.WithCancel(context.Background())
	defer release()
	go c1.Run(hold, sleepReq(20000))
	waitFor(t, 5*time.Second, "c1 busy", func() bool { return c1.running.Load() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *isolate.Result, 1)
	go func() { done <- c1.Run(ctx, sleepReq(20000)) }()
	waitFor(t, 5*time.Second, "the call started on c2", func() bool { return c2.running.Load() == 1 && c1.remote.Load() == 1 })
	cancel()
	r := <-done
	if r.Outcome != isolate.OutcomeCanceled || strings.Join(r.Telemetry.Hops, ">") != "c1>c2" {
		t.Errorf("canceled forwarded call: %s %q hops %v", r.Outcome, r.Error, r.Telemetry.Hops)
	}
	took := waitFor(t, 15*time.Second, "c2 frees its slot", func() bool { return len(c2.slots) == 0 && c2.running.Load() == 0 })
	t.Logf("c2 freed its slot %v after the cancel", took)
}

// TestCodeByReference: a large code object crosses to a peer once; later
// forwards of the same code carry only its hash.
func TestCodeByReference(t *testing.T) {
	c := newCluster(t, 11, "r1", "r2")
	r1 := c.start("r1", c.secret, 1)
	c.start("r2", c.secret, 1, "r1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(r1, "r1", "r2") })
	hold, release := context.WithCancel(context.Background())
	defer release()
	go r1.Run(hold, sleepReq(20000))
	waitFor(t, 5*time.Second, "r1 busy", func() bool { return r1.running.Load() == 1 })
	var src strings.Builder
	for i := 0; src.Len() < 4*inlineCode; i++ {
		fmt.Fprintf(&src, "export const v%d = %q;\n", i, strings.Repeat("x", 60))
	}
	src.WriteString(`export default { fetch() { return new Response(v1 && 1 < 2 ? v1 : "") } }`)
	// As a client other than Go's encoder sends it: indented, with <
	// and & as they are (the hash names these bytes).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&isolate.Code{MainModule: "main.js", Modules: map[string]*isolate.Module{"main.js": {Kind: isolate.ModuleESM, Source: src.String()}}}); err != nil {
		t.Fatal(err)
	}
	big := &RunRequest{Code: bytes.TrimSpace(buf.Bytes())}
	received := func() uint64 { return c.fabric.ReceivedBytes("r2") }
	var got []uint64
	for i := range 3 {
		before := received()
		r := r1.Run(context.Background(), big)
		if !r.OK() || strings.Join(r.Telemetry.Hops, ">") != "r1>r2" {
			t.Fatalf("call %d: %s %q hops %v", i, r.Outcome, r.Error, r.Telemetry.Hops)
		}
		got = append(got, received()-before)
	}
	t.Logf("bytes r2 received per call of a %d-byte code object: %v", len(big.Code), got)
	if got[0] < uint64(len(big.Code)) {
		t.Errorf("the first call carried %d bytes, less than the code's %d", got[0], len(big.Code))
	}
	for _, g := range got[1:] {
		if g > uint64(len(big.Code))/4 {
			t.Errorf("a later call carried %d bytes: the code travelled again", g)
		}
	}
}

// TestDrain: Close lets the calls running on a node finish, sends the
// node's new calls to peers meanwhile, and peers stop sending it work.
func TestDrain(t *testing.T) {
	c := newCluster(t, 13, "d1", "d2")
	d1 := c.start("d1", c.secret, 1)
	d2 := c.start("d2", c.secret, 1, "d1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(d1, "d1", "d2") && sees(d2, "d1", "d2") })
	running := make(chan *isolate.Result, 1)
	go func() { running <- d1.Run(context.Background(), sleepReq(1500)) }()
	waitFor(t, 5*time.Second, "d1 busy", func() bool { return d1.running.Load() == 1 })
	closed := make(chan error, 1)
	go func() { closed <- d1.Close() }()
	waitFor(t, 5*time.Second, "d1 draining", func() bool { return d1.draining.Load() })
	// A new call to the draining node runs on its peer.
	if r := d1.Run(context.Background(), sleepReq(0)); !r.OK() || strings.Join(r.Telemetry.Hops, ">") != "d1>d2" {
		t.Errorf("a call during the drain: %s %q hops %v, want ok via d1>d2", r.Outcome, r.Error, r.Telemetry.Hops)
	}
	// The peer learns that the draining node takes no work.
	waitFor(t, 5*time.Second, "d2 sees d1 draining", func() bool {
		p, ok := d2.Mesh().Peer("d1")
		return ok && p.State == mesh.StateDraining && !p.Candidate().Alive
	})
	if r := <-running; !r.OK() {
		t.Errorf("the call running at Close: %s %q, want it to finish", r.Outcome, r.Error)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}
