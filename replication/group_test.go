package replication

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// applyN applies keys prefix0..prefix(n-1) through whichever node leads
// group id, from workers goroutines, retrying while leadership moves.
func applyN(t *testing.T, c *cluster, id, prefix string, n, workers int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	next := make(chan int)
	go func() {
		for i := range n {
			next <- i
		}
		close(next)
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := applyOne(c, id, fmt.Sprintf("%s%d=v%d", prefix, i, i)); err != nil {
					errs <- err
					for range next { // let the feeder finish
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// applyOne applies cmd on the current leader, retrying for up to 30 s when
// there is none or it changed.
func applyOne(c *cluster, id, cmd string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var last error = errors.New("no leader")
		for _, nd := range c.nodes {
			g := nd.groups[id]
			if !nd.up || g == nil || !g.IsLeader() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := g.Apply(ctx, []byte(cmd))
			cancel()
			if err == nil {
				return nil
			}
			last = err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("apply %q: %w", cmd, last)
		}
		time.Sleep(5 * time.Millisecond) // a retry interval, not synchronisation
	}
}

// applyOnLeader applies cmd on the current leader and returns what the
// FSM answered, retrying only while leadership moves.
func applyOnLeader(t *testing.T, c *cluster, id, cmd string) (any, error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := c.leader(id, 30*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := l.groups[id].Apply(ctx, []byte(cmd))
		cancel()
		moved := errors.Is(err, ErrNotLeader) || errors.Is(err, ErrLeadershipLost)
		if !moved || time.Now().After(deadline) {
			return v, err
		}
	}
}

// TestGroupFailoverAndCatchUp is the end-to-end path: three nodes, a
// bootstrapped group, writes, the leader crashes, another takes over and
// writes go on, the log is compacted behind a snapshot, and the crashed
// node restarts on its data and catches up from the snapshot.
func TestGroupFailoverAndCatchUp(t *testing.T) {
	c := newCluster(t, 3)
	const id = "g1"
	tune := func(cfg *GroupConfig) {
		// Snapshots only when the test asks, and a short tail after
		// them, so that the restarted node needs the snapshot.
		cfg.SnapshotThreshold = 1 << 30
		cfg.TrailingLogs = 64
	}
	for _, nd := range c.nodes {
		c.startGroup(nd, id, tune)
	}
	if err := c.nodes[0].groups[id].Bootstrap(c.servers()...); err != nil {
		t.Fatal(err)
	}
	old := c.leader(id, 10*time.Second)
	t.Logf("leader: %s", old.name)

	applyN(t, c, id, "a", 1000, 4)
	waitFor(t, 10*time.Second, "every replica applied 1000 commands", func() bool {
		for _, nd := range c.nodes {
			if nd.fsms[id].len() != 1000 {
				return false
			}
		}
		return true
	})

	// The leader crashes.
	c.kill(old)
	start := time.Now()
	nl := c.leader(id, 20*time.Second)
	t.Logf("new leader %s after %v", nl.name, time.Since(start).Round(time.Millisecond))
	if nl == old {
		t.Fatal("the killed node leads")
	}

	// Writes go on, and the survivors compact their logs behind a
	// snapshot: the entries the crashed node lacks are gone from them.
	applyN(t, c, id, "b", 1000, 4)
	for _, nd := range c.nodes {
		if nd.up {
			if err := nd.groups[id].Snapshot(); err != nil {
				t.Fatalf("%s: %v", nd.name, err)
			}
		}
	}

	// The crashed node restarts on its data and catches up.
	c.start(old)
	c.startGroup(old, id, tune)
	c.waitMembers()
	f := old.fsms[id]
	waitFor(t, 20*time.Second, "the restarted node caught up", func() bool { return f.len() == 2000 })
	if f.restored() == 0 {
		t.Error("the restarted node caught up without the leader's snapshot")
	}
	if got := f.get("a999"); got != "v999" {
		t.Errorf("restarted node: a999 = %q", got)
	}

	// It takes part again: new writes reach every replica.
	applyN(t, c, id, "c", 10, 1)
	waitFor(t, 10*time.Second, "every replica applied the new writes", func() bool {
		for _, nd := range c.nodes {
			if nd.fsms[id].len() != 2010 {
				return false
			}
		}
		return true
	})
	st := old.groups[id].Status()
	if st.State != "follower" && st.State != "leader" || st.Leader == "" || st.AppliedIndex == 0 {
		t.Errorf("restarted node's status: %+v", st)
	}
}

// TestGroupErrors: what a caller can branch on.
func TestGroupErrors(t *testing.T) {
	c := newCluster(t, 3)
	const id = "errs"
	for _, nd := range c.nodes {
		c.startGroup(nd, id, nil)
	}
	if err := c.nodes[0].groups[id].Bootstrap(c.servers()...); err != nil {
		t.Fatal(err)
	}
	l := c.leader(id, 10*time.Second)
	var follower *testNode
	for _, nd := range c.nodes {
		if nd != l {
			follower = nd
			break
		}
	}
	waitFor(t, 10*time.Second, "the follower knows the leader", func() bool {
		name, _ := follower.groups[id].Leader()
		return name == l.name
	})
	_, err := follower.groups[id].Apply(context.Background(), []byte("k=v"))
	// (Under load the leader may have moved since: then the error names
	// the new one, or none.)
	if !errors.Is(err, ErrNotLeader) || !strings.Contains(err.Error(), `of group "errs" (`) {
		t.Fatalf("Apply on a follower: %v", err)
	}
	// An error the FSM returns is Apply's error.
	if _, err := applyOnLeader(t, c, id, "no equals sign"); err == nil || !strings.Contains(err.Error(), "bad command") {
		t.Fatalf("FSM error: %v", err)
	}
	if v, err := applyOnLeader(t, c, id, "k=v"); err != nil || v != 1 {
		t.Fatalf("Apply: %v, %v", v, err)
	}
	if err := c.nodes[0].groups[id].Bootstrap(c.servers()...); err == nil {
		t.Fatal("bootstrapped twice")
	}
	if _, err := StartGroup(GroupConfig{ID: id, Transport: l.tr, DB: l.db, Dir: l.dir, FSM: newKV()}); err == nil {
		t.Fatal("started a group twice on one node")
	}
	g := follower.groups[id]
	g.Close()
	if _, err := g.Apply(context.Background(), []byte("k=v")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
	delete(follower.groups, id)
}

// TestGroupWatch: followers of a silent leader stand for election once
// Watch sees the silence, and get their timeouts back once a leader leads.
func TestGroupWatch(t *testing.T) {
	// It mostly waits (for heartbeats, sleep and timeouts) on three
	// light nodes: it runs beside the other tests that do.
	t.Parallel()
	c := newCluster(t, 3)
	const id = "g1"
	tune := func(cfg *GroupConfig) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 2*time.Second, 2*time.Second, time.Second
	}
	for _, nd := range c.nodes {
		c.startGroup(nd, id, tune)
	}
	if err := c.nodes[0].groups[id].Bootstrap(c.servers()...); err != nil {
		t.Fatal(err)
	}
	old := c.leader(id, 20*time.Second)
	applyN(t, c, id, "a", 10, 1)
	var survivors []*Group
	for _, nd := range c.nodes {
		if nd != old {
			survivors = append(survivors, nd.groups[id])
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // as Cluster.watchLeaders does: sleeping until NextWatch
		defer close(done)
		t := time.NewTimer(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			now := time.Now()
			next := now.Add(500 * time.Millisecond)
			for _, g := range survivors {
				g.Watch(time.Second)
				if at := g.NextWatch(time.Second, now); at.Before(next) {
					next = at
				}
			}
			t.Reset(max(50*time.Millisecond, time.Until(next)))
		}
	}()
	defer func() { close(stop); <-done }()
	for _, g := range survivors {
		if n := g.early.Load(); n != 0 {
			t.Fatalf("Watch started %d elections under a live leader", n)
		}
	}
	c.kill(old)
	killed := time.Now()
	nl := c.leader(id, 20*time.Second)
	t.Logf("a new leader after %v", time.Since(killed).Round(time.Millisecond))
	if nl == old {
		t.Fatal("the killed node leads")
	}
	early := int64(0)
	for _, g := range survivors {
		early += g.early.Load()
	}
	if early == 0 {
		t.Error("a new leader was elected without Watch standing a follower early")
	}
	waitFor(t, 10*time.Second, "the survivors' timeouts restored", func() bool {
		for _, g := range survivors {
			if rc := g.r.ReloadableConfig(); rc.HeartbeatTimeout != 2*time.Second || rc.ElectionTimeout != 2*time.Second || g.quick.Load() {
				return false
			}
		}
		return true
	})
	applyN(t, c, id, "b", 10, 1)
}

// watchGroups runs Watch on groups as Cluster.watchLeaders does, sleeping
// until NextWatch (at least 50 ms, at most 500 ms), until the test ends.
func watchGroups(t *testing.T, silence time.Duration, groups ...*Group) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tm := time.NewTimer(50 * time.Millisecond)
		defer tm.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tm.C:
			}
			now := time.Now()
			next := now.Add(500 * time.Millisecond)
			for _, g := range groups {
				g.Watch(silence)
				if at := g.NextWatch(silence, now); at.Before(next) {
					next = at
				}
			}
			tm.Reset(max(50*time.Millisecond, time.Until(next)))
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// TestGroupQuiet: a leader whose log stops growing goes quiet (half the
// heartbeats) without its followers standing or its lease lapsing; a write
// wakes it at once; and a quiet leader that dies is replaced as early as a
// busy one.
func TestGroupQuiet(t *testing.T) {
	// It mostly waits (for heartbeats, sleep and timeouts) on three
	// light nodes: it runs beside the other tests that do.
	t.Parallel()
	c := newCluster(t, 3)
	const id = "g1"
	const hb = 2 * time.Second
	tune := func(cfg *GroupConfig) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = hb, hb, hb/2
		cfg.QuietAfter = time.Second
	}
	var all []*Group
	for _, nd := range c.nodes {
		all = append(all, c.startGroup(nd, id, tune))
	}
	if err := c.nodes[0].groups[id].Bootstrap(c.servers()...); err != nil {
		t.Fatal(err)
	}
	watchGroups(t, hb/2, all...)
	lead := c.leader(id, 20*time.Second)
	lg := lead.groups[id]
	applyN(t, c, id, "a", 10, 1)
	quiet := func() bool {
		return lg.quiet.Load() && lg.r.ReloadableConfig().HeartbeatTimeout == quietFactor*hb
	}
	waitFor(t, 10*time.Second, "the leader quiet", quiet)
	term := lg.r.CurrentTerm()

	// Quiet for 4 s: the followers hear from the leader about half as
	// often (heartbeats every 400-800 ms instead of 200-400 ms, and the
	// commit timeout's messages every 1-2 s), and nobody stands.
	gap := contactGap(t, "quiet", all, lg, 4*time.Second)
	if gap < 330*time.Millisecond { // a busy leader: about one every 250 ms
		t.Errorf("a quiet leader's follower heard from it every %v; want fewer heartbeats", gap)
	}
	for _, g := range all {
		if n := g.early.Load(); n != 0 {
			t.Fatalf("Watch started %d elections under a quiet leader", n)
		}
	}
	if !lg.IsLeader() || lg.r.CurrentTerm() != term || !quiet() {
		t.Fatalf("the quiet leader lost its office or its quiet (leader %v, term %d → %d)", lg.IsLeader(), term, lg.r.CurrentTerm())
	}

	// A write wakes it before it is proposed.
	if _, err := lg.Apply(context.Background(), []byte("b=1")); err != nil {
		t.Fatal(err)
	}
	if lg.quiet.Load() || lg.r.ReloadableConfig().HeartbeatTimeout != hb {
		t.Fatalf("a write left the leader quiet (heartbeat timeout %v)", lg.r.ReloadableConfig().HeartbeatTimeout)
	}

	// Quiet again, then killed: the followers stand early, as for a busy
	// leader.
	waitFor(t, 10*time.Second, "the leader quiet again", quiet)
	c.kill(lead)
	killed := time.Now()
	nl := c.leader(id, 20*time.Second)
	t.Logf("a new leader after %v", time.Since(killed).Round(time.Millisecond))
	if nl == lead {
		t.Fatal("the killed node leads")
	}
	early := int64(0)
	for _, g := range all {
		if g != lg {
			early += g.early.Load()
		}
	}
	if early == 0 {
		t.Error("a new leader was elected without Watch standing a follower early")
	}
	applyN(t, c, id, "c", 10, 1)
}

// TestGroupSleep: a group whose log stops growing goes to sleep: its
// followers trust the mesh's word for the leader's node, and its leader
// heartbeats sleepFactor times less often, without anyone standing or the
// leader's lease lapsing; reads still confirm the leadership; a write
// wakes the leader and then its followers; and a sleeping leader that dies
// is replaced once the mesh has noticed, long before the silence a
// sleeping follower otherwise allows.
func TestGroupSleep(t *testing.T) {
	// It mostly waits (for heartbeats, sleep and timeouts) on three
	// light nodes: it runs beside the other tests that do.
	t.Parallel()
	c := newCluster(t, 3)
	const id = "g1"
	const hb = 2 * time.Second
	var all []*Group
	for _, nd := range c.nodes {
		all = append(all, c.startGroup(nd, id, func(cfg *GroupConfig) {
			cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = hb, hb, hb/2
			cfg.QuietAfter, cfg.SleepAfter, cfg.Vouch = time.Second, 2*time.Second, nd.m.Vouches
		}))
	}
	if err := c.nodes[0].groups[id].Bootstrap(c.servers()...); err != nil {
		t.Fatal(err)
	}
	watchGroups(t, hb/2, all...)
	lead := c.leader(id, 20*time.Second)
	lg := lead.groups[id]
	applyN(t, c, id, "a", 10, 1)
	asleep := func() bool {
		for _, g := range all {
			if !g.asleep.Load() || g.r.ReloadableConfig().HeartbeatTimeout != sleepFactor*hb {
				return false
			}
		}
		return lg.r.ReloadableConfig().LeaderLeaseTimeout == sleepFactor*hb/2
	}
	waitFor(t, 20*time.Second, "the group asleep", asleep)
	term := lg.r.CurrentTerm()

	gap := contactGap(t, "asleep", all, lg, 10*time.Second)
	if gap < 2*time.Second { // a quiet leader: one every 400-800 ms
		t.Errorf("a sleeping leader's follower heard from it every %v; want one every 3-6 s", gap)
	}
	for _, g := range all {
		if n := g.early.Load(); n != 0 {
			t.Fatalf("Watch started %d elections under a sleeping leader", n)
		}
	}
	if !lg.IsLeader() || lg.r.CurrentTerm() != term || !asleep() {
		t.Fatalf("the sleeping leader lost its office or its sleep (leader %v, term %d → %d)", lg.IsLeader(), term, lg.r.CurrentTerm())
	}
	// A linearizable read's confirmation is a round of heartbeats, not
	// the lease: it works, and leaves the group asleep.
	if err := lg.r.VerifyLeader().Error(); err != nil {
		t.Fatalf("VerifyLeader on a sleeping leader: %v", err)
	}

	// A write wakes the leader before it is proposed, and the followers
	// once their logs grow.
	if _, err := lg.Apply(context.Background(), []byte("b=1")); err != nil {
		t.Fatal(err)
	}
	if lg.asleep.Load() || lg.quiet.Load() || lg.r.ReloadableConfig().HeartbeatTimeout != hb || lg.r.ReloadableConfig().LeaderLeaseTimeout != hb/2 {
		t.Fatalf("a write left the leader asleep (heartbeat timeout %v)", lg.r.ReloadableConfig().HeartbeatTimeout)
	}
	waitFor(t, 5*time.Second, "the followers awake", func() bool {
		for _, g := range all {
			if g.asleep.Load() || g.r.ReloadableConfig().HeartbeatTimeout > hb {
				return false
			}
		}
		return true
	})

	// Asleep again, then killed: the followers stand once the mesh no
	// longer vouches for the leader's node.
	waitFor(t, 20*time.Second, "the group asleep again", asleep)
	c.kill(lead)
	killed := time.Now()
	nl := c.leader(id, 30*time.Second)
	took := time.Since(killed)
	t.Logf("a new leader after %v", took.Round(time.Millisecond))
	if nl == lead {
		t.Fatal("the killed node leads")
	}
	if took > 10*time.Second { // a sleeping follower allows 15 s and more
		t.Errorf("a sleeping group took %v to replace its dead leader: the mesh's word was not heeded", took)
	}
	applyN(t, c, id, "c", 10, 1)
}

// TestGroupStateChange: OnStateChange hears a replica become a candidate
// and then the leader (the Cluster's leader watch relies on it to notice a
// leadership gained).
func TestGroupStateChange(t *testing.T) {
	c := newCluster(t, 1)
	const id = "g1"
	var changes atomic.Int32
	g := c.startGroup(c.nodes[0], id, func(cfg *GroupConfig) {
		cfg.OnStateChange = func() { changes.Add(1) }
	})
	if n := changes.Load(); n != 0 {
		t.Fatalf("%d state changes before the group was bootstrapped", n)
	}
	if err := g.Bootstrap(c.servers()...); err != nil {
		t.Fatal(err)
	}
	c.leader(id, 20*time.Second)
	// Follower -> candidate -> leader.
	waitFor(t, 5*time.Second, "two state changes", func() bool { return changes.Load() >= 2 })
}

// batchKV is a kvFSM that takes batches and records their sizes.
type batchKV struct {
	*kvFSM
	sizes []int
}

func (f *batchKV) ApplyBatch(cmds []Command) []any {
	f.sizes = append(f.sizes, len(cmds))
	out := make([]any, len(cmds))
	for i, c := range cmds {
		out[i] = f.Apply(c.Index, c.Term, c.Data)
	}
	return out
}

// A BatchFSM gets raft's commands of a batch together, without raft's own
// entries, and each answer goes to its entry; a plain FSM is not offered
// batches.
func TestBatchAdapter(t *testing.T) {
	if _, ok := any(fsmAdapter{newKV()}).(raft.BatchingFSM); ok {
		t.Fatal("a plain FSM's adapter offers batches")
	}
	f := &batchKV{kvFSM: newKV()}
	var a raft.FSM = batchAdapter{fsmAdapter{f}, f}
	bf, ok := a.(raft.BatchingFSM)
	if !ok {
		t.Fatal("a BatchFSM's adapter takes no batches")
	}
	logs := []*raft.Log{
		{Index: 5, Type: raft.LogCommand, Data: []byte("a=1")},
		{Index: 6, Type: raft.LogConfiguration, Data: []byte("not a command")},
		{Index: 7, Type: raft.LogCommand, Data: []byte("b=2")},
		{Index: 8, Type: raft.LogCommand, Data: []byte("bad")},
	}
	rs := bf.ApplyBatch(logs)
	if len(rs) != 4 || rs[0] != 1 || rs[1] != nil || rs[2] != 2 {
		t.Fatalf("results %v", rs)
	}
	if _, ok := rs[3].(error); !ok {
		t.Fatalf("a bad command's result: %v", rs[3])
	}
	if len(f.sizes) != 1 || f.sizes[0] != 3 || f.applied != 7 {
		t.Fatalf("batches %v, applied %d", f.sizes, f.applied)
	}
	if rs := bf.ApplyBatch(logs[1:2]); len(rs) != 1 || rs[0] != nil || len(f.sizes) != 1 {
		t.Fatalf("a batch of raft's own entries: %v, batches %v", rs, f.sizes)
	}
}

// contactGap watches a follower of the leader lg (one of all) for window,
// and returns how long on average it went between contacts from its
// leader (LastContact moving), logged under what.
func contactGap(t *testing.T, what string, all []*Group, lg *Group, window time.Duration) time.Duration {
	t.Helper()
	var follower *Group
	for _, g := range all {
		if g != lg {
			follower = g
		}
	}
	var contacts int
	last := follower.r.LastContact()
	start := time.Now()
	waitFor(t, 2*window, fmt.Sprintf("%v %s", window, what), func() bool {
		if lc := follower.r.LastContact(); !lc.Equal(last) {
			contacts, last = contacts+1, lc
		}
		return time.Since(start) > window
	})
	gap := time.Since(start) / time.Duration(max(contacts, 1))
	t.Logf("%s: %d contacts in %v, one every %v", what, contacts, time.Since(start).Round(time.Millisecond), gap.Round(time.Millisecond))
	return gap
}

// One of a new group's servers stands for election at once: with heartbeat
// and election timeouts of a minute, a group of one, and then a group of
// three bootstrapped on each node, still have a leader within seconds, the
// server of the three that stood.
func TestNewGroupStandsAtOnce(t *testing.T) {
	slow := func(cfg *GroupConfig) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Minute, time.Minute, time.Minute
	}
	c := newCluster(t, 3)
	one := c.startGroup(c.nodes[0], "g1", slow)
	if err := one.Bootstrap(c.servers()[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the group of one led", one.IsLeader)

	servers := c.servers()
	var three []*Group
	for _, nd := range c.nodes {
		three = append(three, c.startGroup(nd, "g3", slow))
	}
	for _, g := range three {
		if err := g.Bootstrap(servers...); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the group of three led by the server that stood", three[standing("g3", 3)].IsLeader)
}

// A log of large entries is compacted for its bytes, long before raft's
// count of entries would (SnapshotThreshold 8192): the replicas keep
// about TrailingBytes of entries, each its whole state, and the value log
// files the compacted entries took are collected.
func TestGroupCompactsLargeLog(t *testing.T) {
	c := newClusterWith(t, 3, &cluster{dbOptions: func(o badger.Options) badger.Options { return o.WithValueLogFileSize(4 << 20) }})
	const id = "g1"
	var compacted atomic.Int64
	tune := func(cfg *GroupConfig) {
		cfg.SnapshotBytes, cfg.TrailingBytes = 4<<20, 1<<20
		cfg.OnCompacted = func() { compacted.Add(1) }
	}
	for _, nd := range c.nodes {
		c.startGroup(nd, id, tune)
	}
	if err := c.nodes[0].groups[id].Bootstrap(c.servers()...); err != nil {
		t.Fatal(err)
	}
	c.leader(id, 10*time.Second)
	// 96 entries of 300 KiB, past the value log threshold: 28 MiB, the
	// same key each time (a state of one entry).
	big := strings.Repeat("x", 300<<10)
	for i := range 96 {
		if err := applyOne(c, id, fmt.Sprintf("k=%03d%s", i, big)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "every replica applied every entry and compacted its log for its bytes", func() bool {
		for _, nd := range c.nodes {
			g := nd.groups[id]
			first, _ := g.store.FirstIndex()
			last, _ := g.store.LastIndex()
			// 1 MiB behind the snapshot: 3 entries, kept as 16
			// (minTrailingLogs), and what came since (under 4 MiB).
			if first <= 1 || last-first+1 > 16+14 || !strings.HasPrefix(nd.fsms[id].get("k"), "095x") {
				return false
			}
		}
		return true
	})
	for _, nd := range c.nodes {
		if rc := nd.groups[id].r.ReloadableConfig(); rc.TrailingLogs != minTrailingLogs {
			t.Errorf("%s: TrailingLogs %d, want %d for entries of 300 KiB", nd.name, rc.TrailingLogs, minTrailingLogs)
		}
	}
	if compacted.Load() == 0 {
		t.Fatal("OnCompacted was not called")
	}

	// The value log: the compacted entries are garbage once badger's
	// compactions drop them: the memtable that holds their deletions is
	// rotated, flushed and compacted; collecting then frees their files.
	nd := c.nodes[0]
	before := vlogBytes(t, nd.dir)
	if _, err := collectValueLogOnce(nd.db, nil); err != nil {
		t.Fatal(err)
	}
	newest := func() (id uint64, l0 bool) {
		for _, ti := range nd.db.Tables() {
			id, l0 = max(id, ti.ID), l0 || ti.Level == 0
		}
		return id, l0
	}
	was, _ := newest()
	if rotated, err := nd.db.RotateMemtable(); err != nil || !rotated {
		t.Fatalf("rotating the memtable: %v %v", rotated, err)
	}
	waitFor(t, 20*time.Second, "the rotated memtable flushed and compacted", func() bool {
		id, l0 := newest()
		return id > was && !l0
	})
	n, err := collectValueLogOnce(nd.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	after := vlogBytes(t, nd.dir)
	t.Logf("value log: %d files collected, %d MiB before, %d MiB after", n, before>>20, after>>20)
	if n == 0 || after > before/2 {
		t.Errorf("value log: %d files collected, %d MiB before, %d MiB after: want most of it freed", n, before>>20, after>>20)
	}
}

// vlogBytes is the size of the value log files under dir.
func vlogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".vlog") {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
