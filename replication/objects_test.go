package replication

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/warrenmesh/warren/testnet"
)

const testObject = "worker\x00Counter\x00" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func alarmAt(v int64) *int64 { return &v }

// ownerOf waits until an up node leads objectKey's group, and returns it.
func (c *cluster) ownerOf(objectKey string, within time.Duration) *testNode {
	c.t.Helper()
	var owner *testNode
	waitFor(c.t, within, "an owner of the object", func() bool {
		for _, nd := range c.nodes {
			if nd.up {
				if _, local := nd.cl.ObjectOwner(objectKey); local {
					owner = nd
					return true
				}
			}
		}
		return false
	})
	return owner
}

func entries(t *testing.T, s *ObjectStore, opts ObjectListOptions) []string {
	t.Helper()
	es, err := s.List(opts)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, e := range es {
		out = append(out, e.Key+"="+string(e.Value))
	}
	return out
}

func TestObjectsOnTheOwner(t *testing.T) {
	// The owner must stay the owner throughout: Raft timeouts that a
	// loaded test machine does not trip (fastGroups' 250 ms lease once
	// moved a leader in the middle).
	c := newClusterWith(t, 3, &cluster{kv: true, tune: func(cc *ClusterConfig) {
		fastGroups(cc)
		cc.Tune = func(g *GroupConfig) {
			g.HeartbeatTimeout = 2 * time.Second
			g.ElectionTimeout = 2 * time.Second
			g.LeaderLeaseTimeout = time.Second
		}
	}})
	c.waitPlaced(3, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	owner := c.ownerOf(testObject, 20*time.Second)
	s, err := owner.cl.OpenObject(ctx, testObject)
	if err != nil {
		t.Fatal(err)
	}
	gid := owner.cl.groupOfObject(testObject)
	if st := owner.cl.replica(gid).g.Status(); s.Epoch() != st.Term || s.Epoch() == 0 {
		t.Fatalf("epoch %d, term %d", s.Epoch(), st.Term)
	}

	// Every other node routes to the owner and refuses to open it.
	for _, nd := range c.nodes {
		if nd == owner {
			continue
		}
		waitFor(t, 10*time.Second, nd.name+" knows the owner", func() bool {
			name, local := nd.cl.ObjectOwner(testObject)
			return name == owner.name && !local
		})
		if name, err := nd.cl.FindObjectOwner(ctx, testObject); err != nil || name != owner.name {
			t.Fatalf("%s finds owner %q, %v", nd.name, name, err)
		}
		_, err := nd.cl.OpenObject(ctx, testObject)
		var ne *NotOwnerError
		if !errors.Is(err, ErrNotOwner) || !errors.As(err, &ne) || ne.Leader != owner.name {
			t.Fatalf("open on %s: %v", nd.name, err)
		}
	}

	// Commit, then read from the handle.
	if err := s.Commit(ctx, ObjectBatch{Puts: []ObjectPut{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}, {Key: "c", Value: []byte("3")}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get([]string{"a", "b", "x"})
	if err != nil || len(got) != 2 || string(got["a"]) != "1" || string(got["b"]) != "2" {
		t.Fatalf("get: %q, %v", got, err)
	}
	if l := entries(t, s, ObjectListOptions{StartAfter: "a", Reverse: true}); !slices.Equal(l, []string{"c=3", "b=2"}) {
		t.Fatalf("list: %q", l)
	}
	// A batch is atomic: deleteAll and puts together.
	if err := s.Commit(ctx, ObjectBatch{DeleteAll: true, Puts: []ObjectPut{{Key: "d", Value: []byte("4")}}, Deletes: []string{"zz"}}); err != nil {
		t.Fatal(err)
	}
	if l := entries(t, s, ObjectListOptions{}); !slices.Equal(l, []string{"d=4"}) {
		t.Fatalf("after deleteAll: %q", l)
	}
	// A broken limit is refused before proposing.
	if err := s.Commit(ctx, ObjectBatch{Puts: []ObjectPut{{Key: "big", Value: make([]byte, MaxStorageValueLen+1)}}}); !errors.Is(err, ErrKVInvalid) {
		t.Fatalf("a value too large: %v", err)
	}
	// The followers apply the same.
	for _, nd := range c.nodes {
		r := nd.cl.replica(gid)
		waitFor(t, 10*time.Second, nd.name+" applies the batches", func() bool {
			es, err := r.kv.ObjectList(testObject, ObjectListOptions{})
			return err == nil && len(es) == 1 && es[0].Key == "d"
		})
	}

	// Alarms: set, due on the owner only, deleted.
	now := time.Now()
	if err := s.Commit(ctx, ObjectBatch{Alarm: alarmAt(now.Add(-time.Second).UnixMilli())}); err != nil {
		t.Fatal(err)
	}
	if at, err := s.Alarm(); err != nil || at != now.Add(-time.Second).UnixMilli() {
		t.Fatalf("alarm %d, %v", at, err)
	}
	if due := owner.cl.DueAlarms(now, 10); !slices.ContainsFunc(due, func(d DueAlarm) bool { return d.ObjectKey == testObject }) {
		t.Fatalf("due on the owner: %v", due)
	}
	if due := owner.cl.DueAlarms(now.Add(-2*time.Second), 10); slices.ContainsFunc(due, func(d DueAlarm) bool { return d.ObjectKey == testObject }) {
		t.Fatalf("due before its time: %v", due)
	}
	for _, nd := range c.nodes {
		if nd != owner && len(nd.cl.DueAlarms(now, 10)) != 0 && nd.cl.replica(gid).g.IsLeader() {
			t.Fatalf("%s lists alarms of a group it does not lead", nd.name)
		}
	}
	if err := s.Commit(ctx, ObjectBatch{Alarm: alarmAt(0)}); err != nil {
		t.Fatal(err)
	}
	if at, _ := s.Alarm(); at != 0 || len(owner.cl.DueAlarms(now, 10)) != 0 {
		t.Fatalf("alarm after delete: %d", at)
	}

	// Concurrent Verify calls share rounds.
	v := &owner.cl.replica(gid).verifier
	before := v.rounds.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() { errs <- s.Verify(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := v.rounds.Load() - before; n == 0 || n > 64 {
		t.Fatalf("%d rounds of VerifyLeader for 64 calls", n)
	}
	t.Logf("64 concurrent Verify calls took %d rounds", v.rounds.Load()-before)

	// Pipelined batches commit in the order they started.
	var waits []func(context.Context) error
	for i := range 20 {
		waits = append(waits, s.Start(ctx, ObjectBatch{Puts: []ObjectPut{{Key: "n", Value: []byte{byte('a' + i)}}}}))
	}
	for _, w := range waits {
		if err := w(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Get([]string{"n"}); string(got["n"]) != "t" {
		t.Fatalf("after pipelined batches: %q", got["n"])
	}
}

// An owner that lost its office and got it back has a new epoch: batches
// of the old one are refused, whole.
func TestObjectStaleEpoch(t *testing.T) {
	testnet.Exclusive(t)
	c := newKVCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := c.ownerOf(testObject, 20*time.Second)
	gid := a.cl.groupOfObject(testObject)
	old, err := a.cl.OpenObject(ctx, testObject)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Commit(ctx, ObjectBatch{Puts: []ObjectPut{{Key: "k", Value: []byte("old")}}}); err != nil {
		t.Fatal(err)
	}

	// Leadership moves away: the old handle can neither commit nor verify.
	if err := a.cl.replica(gid).g.r.LeadershipTransfer().Error(); err != nil {
		t.Fatal(err)
	}
	b := c.ownerOf(testObject, 20*time.Second)
	if b == a {
		t.Fatal("leadership did not move")
	}
	if err := old.Commit(ctx, ObjectBatch{Puts: []ObjectPut{{Key: "k", Value: []byte("away")}}}); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("commit on a follower: %v", err)
	}
	if err := old.Verify(ctx); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("verify on a follower: %v", err)
	}
	// The new owner sees the committed state.
	sb, err := b.cl.OpenObject(ctx, testObject)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Epoch() <= old.Epoch() {
		t.Fatalf("epochs %d then %d", old.Epoch(), sb.Epoch())
	}
	if got, _ := sb.Get([]string{"k"}); string(got["k"]) != "old" {
		t.Fatalf("the new owner reads %q", got["k"])
	}

	// And back: a leads again, in a later term.
	br := b.cl.replica(gid).g.r
	if err := br.LeadershipTransferToServer(raft.ServerID(a.id), raft.ServerAddress(a.name)).Error(); err != nil {
		t.Fatal(err)
	}
	if again := c.ownerOf(testObject, 20*time.Second); again != a {
		t.Fatalf("%s leads, not %s", again.name, a.name)
	}
	err = old.Commit(ctx, ObjectBatch{DeleteAll: true, Puts: []ObjectPut{{Key: "k", Value: []byte("stale")}}, Alarm: alarmAt(1)})
	if !errors.Is(err, ErrStaleOwner) {
		t.Fatalf("commit with the old epoch: %v", err)
	}
	if err := old.Verify(ctx); !errors.Is(err, ErrStaleOwner) {
		t.Fatalf("verify with the old epoch: %v", err)
	}
	cur, err := a.cl.OpenObject(ctx, testObject)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Epoch() <= sb.Epoch() {
		t.Fatalf("epochs %d then %d", sb.Epoch(), cur.Epoch())
	}
	got, err := cur.Get([]string{"k"})
	if err != nil || !maps.EqualFunc(got, map[string][]byte{"k": []byte("old")}, func(x, y []byte) bool { return string(x) == string(y) }) {
		t.Fatalf("after a stale batch: %q, %v", got, err)
	}
	if at, _ := cur.Alarm(); at != 0 {
		t.Fatalf("a stale batch set the alarm to %d", at)
	}
	if err := cur.Commit(ctx, ObjectBatch{Puts: []ObjectPut{{Key: "k", Value: []byte("new")}}}); err != nil {
		t.Fatal(err)
	}
	if err := cur.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	// Every replica agrees.
	for _, nd := range c.nodes {
		r := nd.cl.replica(gid)
		waitFor(t, 10*time.Second, nd.name+" applies the batch", func() bool {
			got, err := r.kv.ObjectGet(testObject, []string{"k"})
			return err == nil && string(got["k"]) == "new"
		})
	}
}

// Callers that arrive while a round is in flight share the next one.
func TestVerifierBatches(t *testing.T) {
	var v verifier
	release := make(chan struct{})
	var calls sync.WaitGroup
	fn := func() error { <-release; return nil }
	calls.Go(func() {
		if err := v.verify(context.Background(), fn); err != nil {
			t.Error(err)
		}
	})
	waitFor(t, 5*time.Second, "the first round under way", func() bool { return v.rounds.Load() == 1 })
	for range 10 {
		calls.Go(func() {
			if err := v.verify(context.Background(), fn); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, 5*time.Second, "ten callers waiting for the next round", func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.next != nil && v.next.waiters == 10
	})
	// A caller that gives up does not hold the others.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := v.verify(ctx, fn); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	close(release)
	calls.Wait()
	if n := v.rounds.Load(); n != 2 {
		t.Fatalf("%d rounds, want 2", n)
	}
	waitFor(t, 5*time.Second, "the runner to stop", func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return !v.running
	})
}

// A replica that was down while the log was compacted catches up from the
// leader's snapshot, object data and alarms included.
func TestObjectSnapshotCatchUp(t *testing.T) {
	testnet.Exclusive(t)
	c := newClusterWith(t, 3, &cluster{kv: true, tune: func(cc *ClusterConfig) {
		fastGroups(cc)
		tune := cc.Tune
		cc.Tune = func(g *GroupConfig) {
			tune(g)
			g.SnapshotThreshold = 16
			g.TrailingLogs = 8
		}
	}})
	c.waitPlaced(3, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	owner := c.ownerOf(testObject, 20*time.Second)
	gid := owner.cl.groupOfObject(testObject)
	var down *testNode
	for _, nd := range c.nodes {
		if nd != owner {
			down = nd
			break
		}
	}
	c.kill(down)
	s, err := owner.cl.OpenObject(ctx, testObject)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		b := ObjectBatch{Puts: []ObjectPut{{Key: string(rune('a' + i%26)), Value: []byte{byte(i)}}}}
		if i == 30 {
			b.DeleteAll = true
		}
		if err := s.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(ctx, ObjectBatch{Alarm: alarmAt(12345)}); err != nil {
		t.Fatal(err)
	}
	if err := owner.cl.replica(gid).g.Snapshot(); err != nil {
		t.Fatal(err)
	}
	want, err := s.List(ObjectListOptions{})
	if err != nil || len(want) != 26 {
		t.Fatalf("%d entries, %v", len(want), err)
	}
	c.start(down)
	waitFor(t, 30*time.Second, down.name+" catches up", func() bool {
		r := down.cl.replica(gid)
		if r == nil {
			return false
		}
		got, err := r.kv.ObjectList(testObject, ObjectListOptions{})
		at, _ := r.kv.ObjectAlarm(testObject)
		return err == nil && at == 12345 && slices.EqualFunc(got, want, func(x, y ObjectEntry) bool {
			return x.Key == y.Key && string(x.Value) == string(y.Value)
		})
	})
	if latestSnapshot(filepath.Join(down.dir, "groups", gid.String())) == 0 {
		t.Fatal("the replica caught up without a snapshot")
	}
	waitFor(t, 10*time.Second, "equal state hashes", func() bool {
		h1, err1 := owner.cl.replica(gid).kv.Hash()
		h2, err2 := down.cl.replica(gid).kv.Hash()
		return err1 == nil && err2 == nil && h1 == h2
	})
}

// TestObjectOwnerFoundAfterItsDeath: a node holding no replica of an
// object's group finds its owner by asking the group's replicas, and,
// once a call could not reach that owner (ObjectOwnerMoved), finds the
// next one: it used to keep the dead owner as its hint until some KV
// traffic to the group replaced it.
func TestObjectOwnerFoundAfterItsDeath(t *testing.T) {
	c := newKVCluster(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	gid := c.nodes[0].cl.groupOfObject(testObject)
	var outsider *testNode
	for _, nd := range c.nodes {
		if !nd.cl.currentView().has(gid, nd.name) {
			outsider = nd
		}
	}
	if outsider == nil {
		t.Fatalf("every node holds a replica of %v", gid)
	}
	owner := c.ownerOf(testObject, 10*time.Second)
	found, err := outsider.cl.FindObjectOwner(ctx, testObject)
	if err != nil || found != owner.name {
		t.Fatalf("the outsider %s found the owner %q (%v), want %s", outsider.name, found, err, owner.name)
	}
	t.Logf("%s finds %s, the owner of %v; killing it", outsider.name, owner.name, gid)
	c.kill(owner)
	d := waitFor(t, 30*time.Second, "the outsider finding the new owner", func() bool {
		outsider.cl.ObjectOwnerMoved(testObject, owner.name, "") // as a call that could not reach it does
		fctx, fcancel := context.WithTimeout(ctx, time.Second)
		defer fcancel()
		now, err := outsider.cl.FindObjectOwner(fctx, testObject)
		if err != nil || now == owner.name {
			return false
		}
		for _, nd := range c.nodes {
			if nd.name == now && nd.up {
				if _, local := nd.cl.ObjectOwner(testObject); local {
					return true
				}
			}
		}
		return false
	})
	t.Logf("found the new owner %v after the old one died", d.Round(time.Millisecond))
}
