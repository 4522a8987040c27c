package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/internal/quietio"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/replication"
	"github.com/warrenmesh/warren/replication/placement"
)

func init() {
	benchmarks = append(benchmarks,
		benchmark{"replication/kv idle and reads", func() ([]Row, error) { return benchKVStore(false) }},
		benchmark{"replication/kv put", func() ([]Row, error) { return benchKVStore(true) }},
		benchmark{"replication/kv re-replication", benchKVRereplication},
		benchmark{"replication/kv decommission", benchKVDecommission},
	)
}

// kvNS is the namespace of the benchmark's keys.
const kvNS = "bench"

// kvValue is a value of about the size of a small KV write.
var kvValue = []byte("a value of about the size of a small KV write, sixty-four bytes!")

// newKVCluster starts n in-process nodes on loopback UDP (newReplCluster),
// each with a replication.Cluster of default group timings, the first
// founding it, and waits until every group has a leader and 3 voters in
// every node's view.
func newKVCluster(n int, grace time.Duration) (*replCluster, error) {
	c, err := newReplClusterWith(n, func(i int, nd *replNode) error {
		cl, err := replication.StartCluster(replication.ClusterConfig{
			Mesh: nd.m, Transport: nd.tr, DB: nd.db, Dir: nd.dir, Logger: replLogger,
			Bootstrap: i == 0, Grace: grace,
			// Short, but past the others' joins: every group is created
			// on its final nodes, not moved there.
			Settle: time.Second,
		})
		nd.cl = cl
		return err
	})
	if err != nil {
		return nil, err
	}
	up := map[string]bool{}
	for _, nd := range c.nodes {
		up[nd.name] = true
	}
	if _, err := pollEvery(90*time.Second, 100*time.Millisecond, func() bool {
		for _, nd := range c.nodes {
			if !kvPlaced(nd.cl, up) {
				return false
			}
		}
		return true
	}); err != nil {
		c.close()
		return nil, fmt.Errorf("replication/kv: every group placed: %w", err)
	}
	return c, nil
}

// kvPlaced says whether cl's Groups shows the meta group and every data
// group with a leader and as many voters as placement wants (3 for data
// groups), every replica a voter on a node of up.
func kvPlaced(cl *replication.Cluster, up map[string]bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gs, err := cl.Groups(ctx)
	return err == nil && groupsPlaced(gs, up)
}

func groupsPlaced(gs []replication.GroupInfo, up map[string]bool) bool {
	if len(gs) != 1+placement.DefaultGroups {
		return false
	}
	for _, g := range gs {
		if g.Leader == "" || g.Error != "" || len(g.Replicas) != g.Wanted || (g.ID != "meta" && g.Wanted != 3) {
			return false
		}
		for _, r := range g.Replicas {
			if !r.Voter || r.Unreachable || !up[r.Node] {
				return false
			}
		}
	}
	return true
}

// pollEvery checks cond every `every` until it holds or within passes.
func pollEvery(within, every time.Duration, cond func() bool) (time.Duration, error) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			return 0, fmt.Errorf("condition not met within %v", within)
		}
		time.Sleep(every)
	}
	return time.Since(start), nil
}

// kvGroupOf is the data group ("g1".."g32") of key in kvNS: the slot of
// namespace and key, as replication's slotKey hashes it, on the slot map
// of a new mesh. It must follow replication/clusterkv.go; the local and
// forwarded rows would show the same latency if it did not.
func kvGroupOf(key string) string {
	return kvSlots[placement.SlotOf(kvNS+"\x00"+key)].String()
}

var kvSlots = placement.NewSlotMap(placement.DefaultGroups)

// kvLeaders maps each group's id to its leader, as cl sees it.
func kvLeaders(cl *replication.Cluster) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gs, err := cl.Groups(ctx)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, g := range gs {
		m[g.ID] = g.Leader
	}
	return m, nil
}

// kvProfile writes a CPU profile of one phase to
// $WARREN_BENCH_KV_PROFILE/<name>.pprof when that is set (and no
// -cpuprofile runs), and the allocations profile at its start and end
// (<name>-allocs0.pprof, <name>-allocs.pprof), and a trace (kvTrace); the
// returned func stops them.
func kvProfile(name string) func() {
	dir := os.Getenv("WARREN_BENCH_KV_PROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return func() {}
	}
	stopTrace := kvTrace(dir, name)
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	// The allocations profile counts from the process's start: the phase's
	// own are the difference (go tool pprof -diff_base NAME-allocs0.pprof).
	writeAllocs := func(suffix string) {
		if a, err := os.Create(filepath.Join(dir, name+suffix+".pprof")); err == nil {
			pprof.Lookup("allocs").WriteTo(a, 0)
			a.Close()
		}
	}
	writeAllocs("-allocs0")
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		writeAllocs("-allocs")
		stopTrace()
	}
}

// kvTrace, when WARREN_BENCH_KV_TRACE is set too, writes an execution
// trace of the phase to DIR/<name>.trace and its block and mutex profiles
// to DIR/<name>-block.pprof and -mutex.pprof: where a write waits, which a
// CPU profile does not show (`go tool trace -pprof=sched|syscall|sync`
// turns the trace into profiles of run-queue, syscall and blocking time).
// The trace costs the phase a good part of its rate.
func kvTrace(dir, name string) func() {
	if os.Getenv("WARREN_BENCH_KV_TRACE") == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, name+".trace"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return func() {}
	}
	if err := trace.Start(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		f.Close()
		return func() {}
	}
	runtime.SetBlockProfileRate(10_000) // a sample per 10 µs blocked
	runtime.SetMutexProfileFraction(5)
	return func() {
		trace.Stop()
		f.Close()
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
		for _, p := range []string{"block", "mutex"} {
			if w, err := os.Create(filepath.Join(dir, name+"-"+p+".pprof")); err == nil {
				pprof.Lookup(p).WriteTo(w, 0)
				w.Close()
			}
		}
	}
}

// kvSample is one timed operation and whether its key's group leader was
// the client node.
type kvSample struct {
	d     time.Duration
	local bool
}

// kvRows is three latency rows of samples: all of them (keys drawn at
// random, so about a third local), those whose key's leader was the client
// node, and those forwarded to a leader elsewhere.
func kvRows(name string, s []kvSample, target string) []Row {
	var all, local, fwd []time.Duration
	for _, x := range s {
		all = append(all, x.d)
		if x.local {
			local = append(local, x.d)
		} else {
			fwd = append(fwd, x.d)
		}
	}
	row := func(suffix string, d []time.Duration) Row {
		if len(d) == 0 {
			return Row{Name: name + suffix, Unit: "ms", Target: target}
		}
		p50, p99 := latencies(d)
		return Row{Name: name + suffix, Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: target}
	}
	return []Row{
		row(", random keys from one node", all),
		row(", key's leader on the client node", local),
		row(", key's leader on another node (forwarded)", fwd),
	}
}

// benchKVStore: three nodes, each with a Cluster (33 groups: meta and 32 data
// groups, 3 voters each). With puts, one client's put latencies from one
// node, then 16 clients' put rate and the CPU it costs; without, the idle
// CPU once placement has settled, then one client's get latencies.
func benchKVStore(puts bool) ([]Row, error) {
	c, err := newKVCluster(3, 0)
	if err != nil {
		return nil, err
	}
	defer c.close()
	var rows []Row
	var stop func()

	if !puts {
		// Idle: past the followers' commit-index catch-up and placement's
		// last changes.
		time.Sleep(3 * time.Second)
		stop = kvProfile("kv-idle")
		const window = 10 * time.Second
		t0, c0 := time.Now(), cpuTime()
		time.Sleep(window) // measuring CPU over an interval, not waiting for a condition
		cores := (cpuTime() - c0).Seconds() / time.Since(t0).Seconds()
		stop()
		rows = append(rows, Row{Name: "replication/kv idle CPU per node, 33 groups (3 nodes), mesh's own cost included", Unit: "% core",
			Value: 100 * cores / float64(len(c.nodes)), N: 1 + placement.DefaultGroups, Target: "<= 3 %"})
	}

	// One client on n1; n0 founded the cluster and leads the meta group.
	cl := c.nodes[1].cl
	leaders, err := kvLeaders(cl)
	if err != nil {
		return nil, err
	}
	lead := map[string]int{}
	for _, l := range leaders {
		lead[l]++
	}
	fmt.Fprintf(os.Stderr, "  group leaders per node (meta included): %v\n", lead)
	const keys = 1000
	key := func(i int) string { return fmt.Sprintf("key-%04d", i) }
	isLocal := func(k string) bool { return leaders[kvGroupOf(k)] == c.nodes[1].name }
	ctx := context.Background()
	put := func(k string) error { return cl.Put(ctx, kvNS, k, kvValue, replication.KVPutOptions{}) }
	for i := range keys { // every key exists; connections, pipelines, caches
		if err := put(key(i)); err != nil {
			return nil, err
		}
	}
	timed := func(n int, op func(k string) error) ([]kvSample, error) {
		s := make([]kvSample, 0, n)
		for range n {
			k := key(rand.IntN(keys))
			t0 := time.Now()
			if err := op(k); err != nil {
				return nil, err
			}
			s = append(s, kvSample{time.Since(t0), isLocal(k)})
		}
		return s, nil
	}

	if puts {
		return benchKVPuts(c, timed, put, key, keys, leaders)
	}

	get := func(cons replication.Consistency) func(string) error {
		return func(k string) error {
			v, err := cl.GetWithMetadata(ctx, kvNS, k, cons)
			if err == nil && len(v.Value) != len(kvValue) {
				err = fmt.Errorf("get %s: %d bytes, want %d", k, len(v.Value), len(kvValue))
			}
			return err
		}
	}
	stop = kvProfile("kv-get-strong")
	s, err := timed(3000, get(replication.Strong))
	stop()
	if err != nil {
		return nil, err
	}
	rows = append(rows, kvRows("replication/kv strong get p50", s, "<= 0.5 ms")...)
	// Every node has a replica of every group: eventual reads are local.
	stop = kvProfile("kv-get-eventual")
	s, err = timed(3000, get(replication.Eventual))
	stop()
	if err != nil {
		return nil, err
	}
	d := make([]time.Duration, len(s))
	for i, x := range s {
		d[i] = x.d
	}
	p50, p99 := latencies(d)
	rows = append(rows, Row{Name: "replication/kv eventual get p50, from the client node's replica", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: "report"})
	return rows, nil
}

// benchKVPuts: one client's put latencies from one node, then 16 clients
// spread over the nodes putting random keys: their rate, and the CPU of
// the whole process (the three nodes, the clients, the Go runtime) per
// write. Set WARREN_BENCH_KV_SECONDS to run the 16 clients longer than 3 s,
// WARREN_BENCH_KV_ON_LEADER to send each put to its key's group leader,
// WARREN_BENCH_KV_STAGES to print where a write's time goes (kvStages).
func benchKVPuts(c *replCluster, timed func(int, func(string) error) ([]kvSample, error), put func(string) error, key func(int) string, keys int, leaders map[string]string) ([]Row, error) {
	stop := kvProfile("kv-put-serial")
	s, err := timed(3000, put)
	stop()
	if err != nil {
		return nil, err
	}
	rows := kvRows("replication/kv put, 3 nodes, synced log, serial latency", s, "p50 <= 1 ms")

	dur := 3 * time.Second
	if v, err := strconv.Atoi(os.Getenv("WARREN_BENCH_KV_SECONDS")); err == nil && v > 0 {
		dur = time.Duration(v) * time.Second
	}
	ctx := context.Background()
	var next atomic.Int64
	stop = kvProfile("kv-put-16")
	var s0, w0 uint64
	for _, nd := range c.nodes {
		s, w := replication.SyncCounts(nd.db)
		s0, w0 = s0+s, w0+w
	}
	c0, d0 := cpuTime(), quietio.DatagramsSent()
	stopStages := kvStages()
	// WARREN_BENCH_KV_ON_LEADER=1 sends each put to the node that leads
	// its key's group, so that none is forwarded (docs/performance.md).
	onLeader := os.Getenv("WARREN_BENCH_KV_ON_LEADER") != ""
	byName := map[string]*replNode{}
	for _, nd := range c.nodes {
		byName[nd.name] = nd
	}
	var putNs, puts atomic.Int64
	rate, n, err := parallel(16, dur, func() error {
		i := next.Add(1)
		nd, k := c.nodes[i%int64(len(c.nodes))], key(rand.IntN(keys))
		if l := byName[leaders[kvGroupOf(k)]]; onLeader && l != nil {
			nd = l
		}
		t0 := time.Now()
		err := nd.cl.Put(ctx, kvNS, k, kvValue, replication.KVPutOptions{})
		putNs.Add(int64(time.Since(t0)))
		puts.Add(1)
		return err
	})
	cpu, datagrams := cpuTime()-c0, quietio.DatagramsSent()-d0
	stopStages(time.Duration(putNs.Load() / max(puts.Load(), 1)))
	stop()
	if err != nil {
		return nil, err
	}
	var s1, w1 uint64
	for _, nd := range c.nodes {
		s, w := replication.SyncCounts(nd.db)
		s1, w1 = s1+s, w1+w
	}
	perWrite := float64(cpu.Microseconds()) / float64(max(n, 1))
	fmt.Fprintf(os.Stderr, "  16 clients: %d writes in %v, %.0f µs of CPU per write (%.2f cores); %d syncs on the three nodes, %.2f per write, %.1f waits per sync; %.1f datagrams per write\n",
		n, dur, perWrite, cpu.Seconds()/dur.Seconds(), s1-s0, float64(s1-s0)/float64(max(n, 1)), float64(w1-w0)/float64(max(s1-s0, 1)), float64(datagrams)/float64(max(n, 1)))
	return append(rows,
		Row{Name: "replication/kv put, 3 nodes, synced log, 16 clients spread over the nodes, random keys", Unit: "writes/s", Value: rate, N: n, Target: ">= 10000/s"},
		Row{Name: "replication/kv put, 16 clients: CPU per write, all three nodes in one process", Unit: "µs", Value: perWrite, N: n, Target: "report"},
	), nil
}

// benchKVRereplication: four nodes, Grace 1 s; a node that does not lead
// the meta group is killed (its mesh closes first, with no leave, then its
// Cluster and database), and the time until every group again has a
// leader and 3 voters, all on live nodes, in the meta leader's view is
// measured. A poll of Groups starts every 50 ms, each in its own goroutine
// (one that asks the dead node waits for its timeout); the figure is the
// start of the first poll that sees the groups whole, as Groups reads the
// view when it starts.
func benchKVRereplication() ([]Row, error) {
	t0 := time.Now()
	c, watcher, victim, up, err := fourNodesWithData()
	if err != nil {
		return nil, err
	}
	defer c.close()
	fmt.Fprintf(os.Stderr, "  4 nodes placed and written in %v\n", time.Since(t0).Round(time.Millisecond))
	ctx := context.Background()
	gs, err := watcher.cl.Groups(ctx)
	if err != nil {
		return nil, err
	}
	held, led := 0, 0
	for _, g := range gs {
		for _, r := range g.Replicas {
			if r.Node == victim.name {
				held++
			}
		}
		if g.Leader == victim.name {
			led++
		}
	}
	fmt.Fprintf(os.Stderr, "  killing %s: it holds %d replicas and leads %d groups; watching from %s, the meta leader\n", victim.name, held, led, watcher.name)
	time.Sleep(2 * time.Second)

	stop := kvProfile("kv-rereplication")
	defer stop()
	killed := time.Now()
	victim.m.Close() // a crash: no leave, no goodbye to Raft
	c.stop(victim)

	first, err := waitWhole(watcher, up, killed)
	if err != nil {
		return nil, fmt.Errorf("re-replication: %w", err)
	}
	took := first.Sub(killed).Seconds()
	return []Row{{Name: "replication/kv re-replication after a node dies, 4 nodes, Grace 1 s: kill to every group whole again", Unit: "s", Value: took, P50: took, N: 1, Target: "report"}}, nil
}

// fourNodesWithData starts 4 nodes in one process (Grace 1 s), writes 200
// keys (some data in every group), and names the meta leader (watcher), a
// node that is not (victim), and the nodes up once the victim is gone.
func fourNodesWithData() (c *replCluster, watcher, victim *replNode, up map[string]bool, err error) {
	c, err = newKVCluster(4, time.Second)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	fail := func(err error) (*replCluster, *replNode, *replNode, map[string]bool, error) {
		c.close()
		return nil, nil, nil, nil, err
	}
	leaders, err := kvLeaders(c.nodes[0].cl)
	if err != nil {
		return fail(err)
	}
	for _, nd := range c.nodes {
		if nd.name == leaders["meta"] {
			watcher = nd
		}
	}
	if watcher == nil {
		return fail(fmt.Errorf("no meta leader in %v", leaders))
	}
	victim = c.nodes[len(c.nodes)-1]
	if victim == watcher {
		victim = c.nodes[len(c.nodes)-2]
	}
	for i := range 200 {
		if err := watcher.cl.Put(context.Background(), kvNS, fmt.Sprintf("key-%04d", i), kvValue, replication.KVPutOptions{}); err != nil {
			return fail(err)
		}
	}
	up = map[string]bool{}
	for _, nd := range c.nodes {
		up[nd.name] = nd != victim
	}
	return c, watcher, victim, up, nil
}

// waitWhole polls watcher's groups every 50 ms from since until every
// group has its replicas on the nodes up says are up, and returns the
// start of the first poll that saw them so (Groups reads the view when it
// starts).
func waitWhole(watcher *replNode, up map[string]bool, since time.Time) (time.Time, error) {
	var (
		mu    sync.Mutex
		first time.Time
		wg    sync.WaitGroup
	)
	deadline := since.Add(3 * time.Minute)
	for tick := time.NewTicker(50 * time.Millisecond); ; <-tick.C {
		mu.Lock()
		done := !first.IsZero()
		mu.Unlock()
		if done {
			tick.Stop()
			break
		}
		if time.Now().After(deadline) {
			tick.Stop()
			wg.Wait()
			return time.Time{}, fmt.Errorf("the groups are not whole %v after", time.Since(since).Round(time.Second))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := time.Now()
			pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			gs, err := watcher.cl.Groups(pctx)
			if err != nil || !groupsPlaced(gs, up) {
				return
			}
			mu.Lock()
			if first.IsZero() || at.Before(first) {
				first = at
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return first, nil
}

// benchKVDecommission: 4 nodes in one process, 200 keys, one node that
// is not the meta leader marked retiring (decommissioned): the time until
// every group has its 3 replicas on the other three, watched from the
// meta leader.
func benchKVDecommission() ([]Row, error) {
	c, watcher, victim, up, err := fourNodesWithData()
	if err != nil {
		return nil, err
	}
	defer c.close()
	start := time.Now()
	victim.m.SetLoad(mesh.LocalState{Retiring: true})
	first, err := waitWhole(watcher, up, start)
	if err != nil {
		return nil, fmt.Errorf("decommission: %w", err)
	}
	took := first.Sub(start).Seconds()
	fmt.Fprintf(os.Stderr, "  %s retired in %.2f s\n", victim.name, took)
	return []Row{{Name: "replication/kv decommission, 4 nodes, 200 keys: a node marked retiring to every group whole on the other three", Unit: "s", Value: took, P50: took, N: 1, Target: "report"}}, nil
}
