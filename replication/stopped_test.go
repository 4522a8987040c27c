package replication

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/warrenmesh/warren/replication/internal/raftbadger"
	"github.com/warrenmesh/warren/replication/placement"
)

// TestStoppedReplicaReplaced: a replica whose Raft stops on its own on a
// node that lives (as raft patch 0006 stops one that cannot read back a
// committed entry; here its Raft is shut down under the Cluster's feet) is
// replaced through placement. On 3 nodes no other node can take it: it is
// removed, its data deleted, and its node receives the group again as a
// new replica that catches up; the writes made meanwhile read back from
// it, and the group's replicas agree.
func TestStoppedReplicaReplaced(t *testing.T) {
	c, changes := newCountedCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const key = "stopped"
	gid := c.nodes[0].cl.groupOfKey("ns", key)
	if err := c.nodes[0].cl.Put(ctx, "ns", key, []byte("before"), KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	var victim *testNode
	var old *replica
	for _, nd := range c.nodes {
		if r := nd.cl.replica(gid); r != nil && !r.g.IsLeader() {
			victim, old = nd, r
			break
		}
	}
	if victim == nil {
		t.Fatalf("no follower of %v", gid)
	}
	t.Logf("stopping %s's replica of %v", victim.name, gid)
	if err := old.g.r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}

	// The group goes on with two voters; the node itself still serves
	// (through the group's leader).
	for i := range 20 {
		if err := victim.cl.Put(ctx, "ns", key, fmt.Appendf(nil, "after %d", i), KVPutOptions{}); err != nil {
			t.Fatalf("put %d with the replica stopped: %v", i, err)
		}
	}
	// The node sees its replica stopped (watchLeaders, within about 2 s)
	// before waitReplaced looks for a new one: until then the old one
	// still answers its checks (its last configuration, reads through
	// the leader). Once, under make test's load, it was not seen within
	// 30 s: the dump says where the loops that look and place were.
	defer func() {
		if t.Failed() {
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			for _, g := range strings.Split(b.String(), "\n\n") {
				if strings.Contains(g, "watchLeaders") || strings.Contains(g, "(*Cluster).loop") {
					t.Logf("%s", g)
				}
			}
		}
	}()
	waitFor(t, 30*time.Second, "the stopped replica seen as stopped", func() bool {
		return victim.cl.isStopped(gid) || victim.cl.replica(gid) != old
	})
	c.waitReplaced(ctx, victim, key)
	if victim.cl.replica(gid) == old {
		t.Fatal("the stopped replica is still in service")
	}
	for _, nd := range c.nodes {
		if nd.cl.reportedFailed(gid, victim.name) {
			t.Fatalf("%s still holds the report of the replica it removed", nd.name)
		}
	}
	// Removed once and added once: the new replica is not taken for the
	// stopped one. (A removal whose change failed after taking effect is
	// recorded from the group's configuration, not made again: at most
	// once, then.)
	if ch := fmt.Sprintf("remove %v %s", gid, victim.name); changes.count(ch) > 1 {
		t.Errorf("%q made %d times, want once", ch, changes.count(ch))
	}
	for _, op := range []string{"add-nonvoter", "promote"} {
		ch := fmt.Sprintf("%s %v %s", op, gid, victim.name)
		if n := changes.count(ch); n != 1 {
			t.Errorf("%q made %d times, want once", ch, n)
		}
	}
}

// TestUnreadableEntryReplaced: the fault itself, on disk. A node is
// stopped, one entry of a replica's log deleted from its database, and the
// node started again: raft, scanning the log at start, cannot read the
// entry, and the replica cannot start. The node used to refuse to start
// at all (every other replica with it); now it starts without that
// replica, which is replaced by a new one that catches up.
func TestUnreadableEntryReplaced(t *testing.T) {
	c := newKVCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const key = "unreadable"
	gid := c.nodes[0].cl.groupOfKey("ns", key)
	for i := range 10 {
		if err := c.nodes[0].cl.Put(ctx, "ns", key, fmt.Appendf(nil, "v%d", i), KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	victim := c.nodes[2]
	waitFor(t, 10*time.Second, "the victim applied the writes", func() bool {
		v, err := victim.cl.GetWithMetadata(ctx, "ns", key, Eventual)
		return err == nil && string(v.Value) == "v9"
	})
	c.stop(victim)
	db, err := OpenDB(filepath.Join(victim.dir, "db"), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	prefix := raftbadger.GroupPrefix(gid.String())
	var logKeys [][]byte // the log's keys: the prefix, a tag byte, a big-endian index
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if k := it.Item().KeyCopy(nil); len(k) == len(prefix)+9 {
				logKeys = append(logKeys, k)
			}
		}
		return nil
	})
	if err != nil || len(logKeys) < 3 {
		t.Fatalf("%d log entries of %v on %s: %v", len(logKeys), gid, victim.name, err)
	}
	gone := logKeys[len(logKeys)-2]
	t.Logf("deleting entry %d of %v's log on %s", binary.BigEndian.Uint64(gone[len(prefix)+1:]), gid, victim.name)
	if err := db.Update(func(txn *badger.Txn) error { return txn.Delete(gone) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	c.start(victim)
	waitFor(t, 30*time.Second, "the replica that cannot read its log stopped", func() bool {
		return victim.cl.isStopped(gid)
	})
	c.waitReplaced(ctx, victim, key)
}

// TestFailingStateMachineReplaced: a replica whose state machine fails is
// restarted (the failed command replayed); once it has failed maxFSMFails
// times it is stopped and replaced instead of restarted for ever.
func TestFailingStateMachineReplaced(t *testing.T) {
	c := newKVCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const key = "failing"
	gid := c.nodes[0].cl.groupOfKey("ns", key)
	if err := c.nodes[0].cl.Put(ctx, "ns", key, []byte("v"), KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	victim := c.nodes[1]
	for i := 1; i <= maxFSMFails; i++ {
		r := victim.cl.replica(gid)
		victim.cl.fail(gid, fmt.Errorf("injected failure %d", i))
		if i < maxFSMFails {
			waitFor(t, 30*time.Second, fmt.Sprintf("the replica restarted after failure %d", i), func() bool {
				n := victim.cl.replica(gid)
				return n != nil && n != r
			})
			continue
		}
		waitFor(t, 30*time.Second, "the replica stopped for good", func() bool {
			return victim.cl.isStopped(gid)
		})
	}
	c.waitReplaced(ctx, victim, key)
}

// waitReplaced writes key through a node other than victim, whose
// replica of key's group stopped, and waits until victim holds a new
// replica of the group, a voter, that reads the write back, every group
// has 3 voters and their replicas agree.
func (c *cluster) waitReplaced(ctx context.Context, victim *testNode, key string) {
	c.t.Helper()
	writer := c.nodes[0]
	if writer == victim {
		writer = c.nodes[1]
	}
	if err := writer.cl.Put(ctx, "ns", key, []byte("last"), KVPutOptions{}); err != nil {
		c.t.Fatal(err)
	}
	gid := victim.cl.groupOfKey("ns", key)
	waitFor(c.t, 60*time.Second, "a new replica on the victim, a voter, holding the last write", func() bool {
		r := victim.cl.replica(gid)
		if r == nil || victim.cl.isStopped(gid) || !slices.ContainsFunc(r.status().Config, func(s viewReplica) bool { return s.Name == victim.name && s.Voter }) {
			return false
		}
		v, err := victim.cl.GetWithMetadata(ctx, "ns", key, Eventual)
		return err == nil && string(v.Value) == "last"
	})
	c.waitPlaced(3, 30*time.Second)
	c.checkReplicasAgree(ctx)
}

// A stopped replica shows in the groups' status as stopped, with no lag.
func TestGroupInfoStopped(t *testing.T) {
	rs := []viewReplica{{Name: "n1", Voter: true}, {Name: "n2", Voter: true}, {Name: "n3", Voter: true}}
	sts := []*replicaStatus{
		{State: stateLeader, Term: 3, CommitIndex: 40, Applied: 40},
		{State: "follower", Term: 3, CommitIndex: 40, Applied: 38},
		{State: stateStopped},
	}
	g := groupInfo(placement.GroupID(1), rs, sts, placement.GroupStatus{Wanted: 3})
	if !g.Replicas[2].Stopped || g.Replicas[2].Unreachable || g.Replicas[2].Lag != 0 {
		t.Fatalf("stopped replica: %+v", g.Replicas[2])
	}
	if g.Replicas[1].Stopped || g.Replicas[1].Lag != 2 || g.Leader != "n1" {
		t.Fatalf("group: %+v", g)
	}
}

// newCountedCluster starts 3 nodes whose placement changes are counted,
// and waits until every group has 3 voters.
func newCountedCluster(t *testing.T) (*cluster, *changeCounter) {
	t.Helper()
	changes := &changeCounter{n: map[string]int{}, t: t}
	c := newClusterWith(t, 3, &cluster{kv: true, tune: func(cc *ClusterConfig) {
		fastGroups(cc)
		cc.Logger = slog.New(changes)
	}})
	c.waitPlaced(3, 60*time.Second)
	return c, changes
}

// changeCounter is a log handler that counts the placement changes made.
type changeCounter struct {
	mu sync.Mutex
	n  map[string]int
	t  *testing.T // logs every change and warning, for a failure's story
}

func (h *changeCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *changeCounter) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *changeCounter) WithGroup(string) slog.Handler                { return h }

func (h *changeCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "placement change" {
		if r.Level >= slog.LevelWarn {
			var b strings.Builder
			r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
			h.t.Logf("%s %s:%s", r.Time.Format("15:04:05.000"), r.Message, b.String())
		}
		return nil
	}
	h.t.Logf("%s placement change", r.Time.Format("15:04:05.000"))
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "change" {
			h.t.Logf("  %s", a.Value)
			h.mu.Lock()
			h.n[a.Value.String()]++
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *changeCounter) count(change string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[change]
}
