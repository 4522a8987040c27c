package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/replication/placement"
)

// TestStartChangeBacksOff: a group whose placement change fails is not
// changed again before its wait (changeBackoffMin, doubling), where it was
// started again as fast as the loop asked, thousands of times a second; a
// change that succeeds clears the wait.
func TestStartChangeBacksOff(t *testing.T) {
	c := &Cluster{
		log: slog.New(slog.DiscardHandler), kick: make(chan struct{}, 1),
		pending: map[placement.GroupID]placement.Change{}, retry: map[placement.GroupID]changeRetry{},
		unsure: map[placement.GroupID]bool{}, checking: map[placement.GroupID]bool{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	defer c.cancel()
	ch := placement.Change{Op: placement.CreateGroup, Group: 7}
	var tries atomic.Int32
	fail := func(context.Context) error { tries.Add(1); return errors.New("too many open files") }

	// The reconcile loop asking without pause for 350 ms: tries at 0, then
	// after 100 ms and 200 ms more waits (at 100 and 300 ms).
	for end := time.Now().Add(350 * time.Millisecond); time.Now().Before(end); {
		c.startChange(ch, fail)
		c.wg.Wait()
	}
	if n := tries.Load(); n < 2 || n > 4 {
		t.Fatalf("a failing change was tried %d times in 350 ms, want 2 to 4 (100 ms, then 200 ms between)", n)
	}
	c.pmu.Lock()
	r := c.retry[ch.Group]
	c.pmu.Unlock()
	if r.failures != int(tries.Load()) || !r.at.After(time.Now()) {
		t.Fatalf("retry %+v after %d failures, want the failures counted and a wait ahead", r, tries.Load())
	}

	// Asked again, the change runs once the wait is over, and its
	// success clears the wait.
	var ok atomic.Int32
	for deadline := time.Now().Add(5 * time.Second); ok.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the change never ran again after its wait")
		}
		c.startChange(ch, func(context.Context) error { ok.Add(1); return nil })
		c.wg.Wait()
		if ok.Load() == 0 && time.Now().Before(r.at) {
			time.Sleep(10 * time.Millisecond) // polling, at the loop's pace
		}
	}
	if since := time.Since(r.at); since < 0 {
		t.Fatalf("the change ran again %v before its wait was over", -since)
	}
	c.pmu.Lock()
	_, waiting := c.retry[ch.Group]
	c.pmu.Unlock()
	if ok.Load() != 1 || waiting {
		t.Fatalf("after the wait: the change ran %d times, wait kept %v; want it run once and the wait gone", ok.Load(), waiting)
	}
}

// TestFailedChangeThatTookEffect: a change whose leader lost office after
// appending it fails to its caller, yet commits under the next leader.
// The meta leader then holds a view that no longer says what the group is:
// a removal of a stopped replica made that way left the view with three
// voters and the group with two, and nothing planned a new replica. Here a
// removal takes effect and its change reports a failure; the meta leader
// asks the group's leader, records what it says, and placement gives the
// group its third replica again.
func TestFailedChangeThatTookEffect(t *testing.T) {
	c, changes := newCountedCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const key = "took-effect"
	if err := c.nodes[0].cl.Put(ctx, "ns", key, []byte("before"), KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	gid := c.nodes[0].cl.groupOfKey("ns", key)
	var metaLeader, victim *testNode
	waitFor(t, 10*time.Second, "a meta leader", func() bool {
		for _, nd := range c.nodes {
			if r := nd.cl.replica(placement.Meta); r != nil && r.g.IsLeader() {
				metaLeader = nd
				return true
			}
		}
		return false
	})
	for _, nd := range c.nodes {
		if r := nd.cl.replica(gid); r != nil && !r.g.IsLeader() {
			victim = nd
			break
		}
	}
	if victim == nil {
		t.Fatalf("no follower of %v", gid)
	}
	// The removal, made until it is known to be made (leadership may move
	// under it: "leadership lost; the command may or may not commit"),
	// then a change that reports a failure.
	req := &changeReq{Op: "remove", Name: victim.name, ID: victim.id}
	waitFor(t, 30*time.Second, "the removal made", func() bool {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		defer acancel()
		_, _, err := metaLeader.cl.toLeader(actx, gid, &rpcReq{Op: opChange, Group: gid.String(), Change: req}, nil, false)
		if err != nil {
			t.Logf("removing: %v", err)
		}
		return err == nil
	})
	ch := placement.Change{Op: placement.Remove, Group: gid, Node: placement.NodeID(victim.name)}
	metaLeader.cl.startChange(ch, func(context.Context) error { return errors.New("injected: leadership lost") })
	t.Logf("removed %s from %v behind the view's back", victim.name, gid)

	// The view catches up with the removal, then placement adds the node
	// back: a new nonvoter, caught up and promoted.
	for _, op := range []string{"add-nonvoter", "promote"} {
		want := fmt.Sprintf("%s %v %s", op, gid, victim.name)
		waitFor(t, 60*time.Second, want, func() bool { return changes.count(want) == 1 })
	}
	if n := changes.count(fmt.Sprintf("remove %v %s", gid, victim.name)); n != 0 {
		t.Fatalf("placement removed the node %d times more, want none (the removal had taken effect)", n)
	}
	c.waitReplaced(ctx, victim, key)
}

// TestNodesOf: a node draining its calls (every stop, a restart too,
// goes through it) keeps its replicas; one being decommissioned
// (Retiring) has them moved off; one that left waits out the grace.
func TestNodesOf(t *testing.T) {
	left := time.Now().Add(-time.Minute)
	nodes, ids := nodesOf([]mesh.Peer{
		{Name: "a", ID: "ia", State: mesh.StateAlive},
		{Name: "b", ID: "ib", State: mesh.StateDraining},
		{Name: "c", ID: "ic", State: mesh.StateAlive, Retiring: true},
		{Name: "d", ID: "id", State: mesh.StateDraining, Retiring: true},
		{Name: "e", ID: "ie", State: mesh.StateLeft, Updated: left},
		{Name: "f", ID: "if", State: mesh.StateSuspect, Retiring: true},
	})
	want := []placement.Node{
		{ID: "a", Health: placement.Alive},
		{ID: "b", Health: placement.Alive},
		{ID: "c", Health: placement.Alive, Draining: true},
		{ID: "d", Health: placement.Alive, Draining: true},
		{ID: "e", Health: placement.Dead, DeadSince: left},
		{ID: "f", Health: placement.Suspect, Draining: true},
	}
	if !slices.Equal(nodes, want) {
		t.Fatalf("nodesOf:\n got %+v\nwant %+v", nodes, want)
	}
	if ids["d"] != "id" {
		t.Fatalf("ids %v", ids)
	}
}
