package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/replication"
)

func init() {
	benchmarks = append(benchmarks,
		benchmark{"replication/apply", benchReplApply},
		benchmark{"replication/idle", benchReplIdle},
		benchmark{"replication/failover", benchReplFailover},
		benchmark{"replication/failover quiet", benchReplFailoverQuiet},
		benchmark{"replication/failover sleeping", benchReplFailoverAsleep},
	)
}

// replCluster is three in-process nodes on loopback UDP, each with its
// mesh, Raft transport and badger database: the setup of replication's
// BenchmarkApply and BenchmarkIdleGroups.
type replCluster struct {
	dir   string
	nodes []*replNode
}

type replNode struct {
	name, id, dir string
	m             *mesh.Mesh
	tr            *replication.Transport
	db            *badger.DB
	groups        map[string]*replication.Group
	cl            *replication.Cluster // replication/kv's rows
	up            bool
}

// replLogger discards without formatting: raft's messages must not cost
// the idle measurement CPU.
var replLogger = slog.New(slog.DiscardHandler)

func newReplCluster(n int) (*replCluster, error) { return newReplClusterWith(n, nil) }

// newReplClusterWith is newReplCluster; setup, if set, runs on each node
// once its transport and database are open, before it joins the others.
func newReplClusterWith(n int, setup func(i int, nd *replNode) error) (*replCluster, error) {
	secret, err := mesh.GenerateSecret()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "warren-bench-repl")
	if err != nil {
		return nil, err
	}
	c := &replCluster{dir: dir}
	for i := range n {
		nd := &replNode{name: fmt.Sprintf("n%d", i), id: fmt.Sprintf("id-%d", i), groups: map[string]*replication.Group{}}
		nd.dir = filepath.Join(dir, nd.name)
		// The mesh opens its socket as a node's does (Bind, not a
		// PacketConn of ours): its datagrams then go through the same
		// raw system calls (internal/quietio), not quic-go's batched
		// calls through the scheduler, which cost a write more CPU.
		var err error
		nd.m, err = mesh.Start(context.Background(), mesh.Config{
			Name: nd.name, ID: nd.id, Secret: secret, Bind: "127.0.0.1:0", Logger: replLogger,
			ProbeInterval: 200 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond,
			GossipInterval: 50 * time.Millisecond, RefreshInterval: 100 * time.Millisecond,
		})
		if err != nil {
			c.close()
			return nil, err
		}
		nd.up = true
		c.nodes = append(c.nodes, nd)
		// The transport before the join: a mesh refuses streams of a
		// protocol it has no handler for.
		nd.tr = replication.NewTransport(nd.m, replLogger)
		if nd.db, err = replication.OpenDB(filepath.Join(nd.dir, "db"), replLogger); err != nil {
			c.close()
			return nil, err
		}
		if setup != nil {
			if err := setup(i, nd); err != nil {
				c.close()
				return nil, err
			}
		}
		if i > 0 {
			if _, err := nd.m.Join([]string{c.nodes[0].m.Addr().String()}); err != nil {
				c.close()
				return nil, err
			}
		}
	}
	if _, err := poll(20*time.Second, func() bool {
		for _, nd := range c.nodes {
			alive := 0
			for _, p := range nd.m.Members() {
				if p.State == mesh.StateAlive {
					alive++
				}
			}
			if alive != n {
				return false
			}
		}
		return true
	}); err != nil {
		c.close()
		return nil, fmt.Errorf("replication cluster: every node sees every other alive: %w", err)
	}
	return c, nil
}

// stop closes nd's Cluster and groups, then its mesh and database.
func (c *replCluster) stop(nd *replNode) {
	if !nd.up {
		return
	}
	nd.up = false
	if nd.cl != nil {
		nd.cl.Close()
		nd.cl = nil
	}
	for _, g := range nd.groups {
		g.Close()
	}
	nd.m.Close()
	if nd.db != nil {
		nd.db.Close()
	}
}

func (c *replCluster) close() {
	for _, nd := range c.nodes {
		c.stop(nd)
	}
	os.RemoveAll(c.dir)
}

func (c *replCluster) servers() []replication.Server {
	var s []replication.Server
	for _, nd := range c.nodes {
		s = append(s, replication.Server{ID: nd.id, Name: nd.name})
	}
	return s
}

// startGroup starts group id on every node and bootstraps it on
// c.nodes[boot], which therefore becomes its first leader.
func (c *replCluster) startGroup(id string, boot int) error { return c.startGroupWith(id, boot, nil) }

// startGroupWith is startGroup with the group's configuration adjusted by
// tune (when not nil).
func (c *replCluster) startGroupWith(id string, boot int, tune func(*replication.GroupConfig)) error {
	for _, nd := range c.nodes {
		gc := replication.GroupConfig{ID: id, Transport: nd.tr, DB: nd.db, Dir: nd.dir, FSM: newBenchKV(), Logger: replLogger}
		if tune != nil {
			tune(&gc)
		}
		g, err := replication.StartGroup(gc)
		if err != nil {
			return err
		}
		nd.groups[id] = g
	}
	return c.nodes[boot].groups[id].Bootstrap(c.servers()...)
}

// leader waits for a node that is up to lead group id.
func (c *replCluster) leader(id string, within time.Duration) (*replNode, error) {
	var l *replNode
	_, err := poll(within, func() bool {
		for _, nd := range c.nodes {
			if g := nd.groups[id]; nd.up && g != nil && g.IsLeader() {
				l = nd
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("a leader of group %s: %w", id, err)
	}
	return l, nil
}

const replCmd = "key=a value of about the size of a small KV write, sixty-four"

// benchReplApply: one group of three nodes, the log synced on each; one
// client's Apply latency, then 16 clients' throughput.
func benchReplApply() ([]Row, error) {
	c, err := newReplCluster(3)
	if err != nil {
		return nil, err
	}
	defer c.close()
	const id = "bench"
	if err := c.startGroup(id, 0); err != nil {
		return nil, err
	}
	l, err := c.leader(id, 10*time.Second)
	if err != nil {
		return nil, err
	}
	g, ctx := l.groups[id], context.Background()
	apply := func() error { _, err := g.Apply(ctx, []byte(replCmd)); return err }
	for range 200 { // connections, pipelines, caches
		if err := apply(); err != nil {
			return nil, err
		}
	}
	d := make([]time.Duration, 0, 3000)
	for range cap(d) {
		t0 := time.Now()
		if err := apply(); err != nil {
			return nil, err
		}
		d = append(d, time.Since(t0))
	}
	p50, p99 := latencies(d)
	rate, n, err := parallel(16, 3*time.Second, apply)
	if err != nil {
		return nil, err
	}
	return []Row{
		{Name: "replication/apply, 3 nodes, synced log, serial latency", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: "p50 <= 1 ms"},
		{Name: "replication/apply, 3 nodes, synced log, 16 clients", Unit: "writes/s", Value: rate, N: n, Target: ">= 10000/s"},
	}, nil
}

// benchReplIdle: the CPU of three nodes in this process, each with a
// replica of 32 idle groups (leaders spread evenly), over a quiet window,
// per node. The meshes' own cost is in it.
func benchReplIdle() ([]Row, error) {
	c, err := newReplCluster(3)
	if err != nil {
		return nil, err
	}
	defer c.close()
	const groups = 32
	for i := range groups {
		if err := c.startGroup(fmt.Sprintf("idle-%d", i), i%len(c.nodes)); err != nil {
			return nil, err
		}
	}
	for i := range groups {
		id := fmt.Sprintf("idle-%d", i)
		l, err := c.leader(id, 30*time.Second)
		if err != nil {
			return nil, err
		}
		if _, err := l.groups[id].Apply(context.Background(), []byte("k=v")); err != nil {
			return nil, err
		}
	}
	time.Sleep(3 * time.Second) // past the followers' commit-index catch-up
	const window = 10 * time.Second
	t0, c0 := time.Now(), cpuTime()
	time.Sleep(window) // measuring CPU over an interval, not waiting for a condition
	cores := (cpuTime() - c0).Seconds() / time.Since(t0).Seconds()
	perNode := 100 * cores / float64(len(c.nodes))
	return []Row{{Name: "replication/idle CPU of 32 groups per node (3 nodes), mesh's own cost included", Unit: "% core", Value: perNode, N: groups, Target: "<= 3 %"}}, nil
}

// cpuTime is the process's CPU time, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchReplFailover: a group of three; its leader's group and mesh close
// (no goodbye to Raft: no leadership transfer) and the time until another
// replica leads is measured, polling every millisecond. Three fresh
// clusters; the row is the median.
func benchReplFailover() ([]Row, error) {
	return failoverMedian(failoverBusy, "replication/failover, leader killed to new leader elected")
}

// benchReplFailoverQuiet: the same with a cluster's data-group timing (2 s
// heartbeat timeout, followers watched as Cluster does, standing after 1 s
// of silence) and a leader killed once its group has gone quiet (no write
// for 1 s here, 5 s in a Cluster): it then heartbeats every 400-800 ms.
func benchReplFailoverQuiet() ([]Row, error) {
	return failoverMedian(failoverQuiet, "replication/failover of a quiet data group, leader killed to new leader elected")
}

// benchReplFailoverAsleep: the same with a group asleep (no write for 2 s
// here, 10 s in a Cluster): its leader heartbeats every 3-6 s, and its
// followers stand once the mesh stops vouching for the leader's node, so
// the failover takes the mesh's failure detection (its probes every
// 200 ms here, 400 ms in a node) plus an election.
func benchReplFailoverAsleep() ([]Row, error) {
	return failoverMedian(failoverAsleep, "replication/failover of a sleeping data group, leader killed to new leader elected")
}

// failoverMedian is the median of three failovers of kind, as the row name.
func failoverMedian(kind int, name string) ([]Row, error) {
	var d []time.Duration
	for range 3 {
		took, err := replFailoverOnce(kind)
		if err != nil {
			return nil, err
		}
		d = append(d, took)
	}
	slices.Sort(d)
	med := d[len(d)/2].Seconds()
	return []Row{{Name: name, Unit: "s", Value: med, P50: med, N: len(d), Target: "report"}}, nil
}

// The groups replFailoverOnce kills the leader of.
const (
	failoverBusy   = iota // raft's test timing, no Watch
	failoverQuiet         // a Cluster's data-group timing, quiet
	failoverAsleep        // the same, asleep
)

// watchGroups calls Watch(silence) on groups every 50 ms until stop is
// closed (Cluster sleeps until NextWatch instead, as early).
func watchGroups(groups []*replication.Group, silence time.Duration, stop chan struct{}) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for _, g := range groups {
			g.Watch(silence)
		}
	}
}

func replFailoverOnce(mode int) (time.Duration, error) {
	quiet := mode != failoverBusy
	c, err := newReplCluster(3)
	if err != nil {
		return 0, err
	}
	defer c.close()
	const id = "failover"
	const hb = replication.DataHeartbeatTimeout
	var tune func(*replication.GroupConfig)
	if quiet {
		tune = func(g *replication.GroupConfig) {
			g.HeartbeatTimeout, g.ElectionTimeout, g.LeaderLeaseTimeout = hb, hb, hb/2
			g.QuietAfter = time.Second
			if mode == failoverAsleep {
				g.SleepAfter = 2 * time.Second
				for _, nd := range c.nodes {
					if nd.tr == g.Transport {
						g.Vouch = nd.m.Vouches
					}
				}
			}
		}
	}
	if err := c.startGroupWith(id, 0, tune); err != nil {
		return 0, err
	}
	l, err := c.leader(id, 10*time.Second)
	if err != nil {
		return 0, err
	}
	if quiet {
		var gs []*replication.Group
		for _, nd := range c.nodes {
			gs = append(gs, nd.groups[id])
		}
		stop := make(chan struct{})
		defer close(stop)
		go watchGroups(gs, hb/2, stop)
	}
	if _, err := l.groups[id].Apply(context.Background(), []byte("k=v")); err != nil {
		return 0, err
	}
	time.Sleep(time.Second) // steady state: the followers hear the leader's heartbeats
	if quiet {
		lg := l.groups[id]
		if _, err := poll(10*time.Second, func() bool { return lg.Raft().ReloadableConfig().HeartbeatTimeout > hb }); err != nil {
			return 0, fmt.Errorf("failover: the leader did not go quiet: %w", err)
		}
		if mode == failoverAsleep {
			// The followers sleep first, the leader a heartbeat timeout
			// later, with sleepFactor (15) times its timeouts.
			if _, err := poll(20*time.Second, func() bool { return lg.Raft().ReloadableConfig().HeartbeatTimeout >= 10*hb }); err != nil {
				return 0, fmt.Errorf("failover: the group did not go to sleep: %w", err)
			}
		}
	}
	// The kill: the leader's replica and mesh close.
	t0 := time.Now()
	l.groups[id].Close()
	delete(l.groups, id)
	l.m.Close()
	l.up = false
	_, err = poll(30*time.Second, func() bool {
		for _, nd := range c.nodes {
			if nd.up && nd.groups[id].IsLeader() {
				return true
			}
		}
		return false
	})
	took := time.Since(t0)
	l.db.Close()
	l.db = nil
	if err != nil {
		return 0, fmt.Errorf("failover: no new leader: %w", err)
	}
	return took, nil
}

// benchKV is a map of strings; a command is "key=value" (replication's
// test FSM).
type benchKV struct {
	mu sync.Mutex
	m  map[string]string
}

func newBenchKV() *benchKV { return &benchKV{m: map[string]string{}} }

func (f *benchKV) Apply(_, _ uint64, cmd []byte) any {
	k, v, ok := strings.Cut(string(cmd), "=")
	if !ok {
		return fmt.Errorf("bad command %q", cmd)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[k] = v
	return len(f.m)
}

func (f *benchKV) Snapshot() (replication.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(f.m)
	return benchKVSnap(b), err
}

func (f *benchKV) Restore(r io.Reader) error {
	m := map[string]string{}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m = m
	return nil
}

type benchKVSnap []byte

func (s benchKVSnap) Write(w io.Writer) error { _, err := w.Write(s); return err }
func (benchKVSnap) Release()                  {}
