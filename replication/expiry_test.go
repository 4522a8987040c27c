package replication

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/warrenmesh/warren/replication/placement"
	"github.com/warrenmesh/warren/testnet"
)

// A key that a leader's clock expired stays expired when leadership moves
// to a node whose clock is behind: the strong read that found it expired
// recorded the leader's time in the group's log first (its clock floor),
// for a Get and for a List alike.
func TestExpiryOutlivesASlowLeader(t *testing.T) {
	testnet.Exclusive(t)
	skew := map[string]*atomic.Int64{}
	for i := range 3 {
		skew[fmt.Sprintf("n%d", i)] = new(atomic.Int64)
	}
	c := newClusterWith(t, 3, &cluster{kv: true, tune: func(cc *ClusterConfig) {
		fastGroups(cc)
		off := skew[cc.Mesh.Name()]
		cc.clock = func() time.Time { return time.Now().Add(time.Duration(off.Load())) }
	}})
	c.waitPlaced(3, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	gid := c.nodes[0].cl.groupOfKey("ns", "k1")
	// k2, another key of the same group.
	k2 := ""
	for i := 0; k2 == ""; i++ {
		if k := fmt.Sprintf("k2-%d", i); c.nodes[0].cl.groupOfKey("ns", k) == gid {
			k2 = k
		}
	}
	exp := time.Now().Unix() + 200
	if err := c.nodes[0].cl.Put(ctx, "ns", "k1", []byte("v"), KVPutOptions{Expiration: exp}); err != nil {
		t.Fatal(err)
	}
	if err := c.nodes[0].cl.Put(ctx, "ns", k2, []byte("v"), KVPutOptions{Expiration: exp + 200}); err != nil {
		t.Fatal(err)
	}

	// Get: the leader's clock runs 300 s ahead, past k1's expiration.
	l := c.groupLeader(gid, 20*time.Second)
	f := c.other(l)
	skew[l.name].Store(int64(300 * time.Second))
	if _, err := f.cl.GetWithMetadata(ctx, "ns", "k1", Strong); !errors.Is(err, ErrKVNotFound) {
		t.Fatalf("k1 by a leader 300 s ahead: %v", err)
	}
	if fl := l.cl.replica(gid).kv.Floor(); fl < exp {
		t.Fatalf("the group's floor is %d, before k1's expiration %d", fl, exp)
	}
	skew[l.name].Store(0)
	l = c.moveLeader(gid, l, f)
	if _, err := c.other(l).cl.GetWithMetadata(ctx, "ns", "k1", Strong); !errors.Is(err, ErrKVNotFound) {
		t.Fatalf("k1 after leadership moved to a node with the right time: %v", err)
	}
	if _, err := c.other(l).cl.GetWithMetadata(ctx, "ns", k2, Strong); err != nil {
		t.Fatalf("k2, not expired: %v", err)
	}

	// List: the new leader's clock runs 600 s ahead, past k2's.
	skew[l.name].Store(int64(600 * time.Second))
	res, err := c.other(l).cl.List(ctx, "ns", KVListOptions{Prefix: "k2-"}, Strong)
	if err != nil || len(res.Keys) != 0 {
		t.Fatalf("list by a leader 600 s ahead: %+v, %v", res, err)
	}
	skew[l.name].Store(0)
	l = c.moveLeader(gid, l, c.other(l))
	if _, err := c.other(l).cl.GetWithMetadata(ctx, "ns", k2, Strong); !errors.Is(err, ErrKVNotFound) {
		t.Fatalf("k2 after leadership moved again: %v", err)
	}
	if res, err := c.other(l).cl.List(ctx, "ns", KVListOptions{}, Strong); err != nil || len(res.Keys) != 0 {
		t.Fatalf("list after leadership moved again: %+v, %v", res, err)
	}
}

// groupLeader waits until an up node leads gid, and returns it.
func (c *cluster) groupLeader(gid placement.GroupID, within time.Duration) *testNode {
	c.t.Helper()
	var l *testNode
	waitFor(c.t, within, fmt.Sprintf("a leader of %v", gid), func() bool {
		for _, nd := range c.nodes {
			if r := nd.cl.replica(gid); nd.up && r != nil && r.g.IsLeader() {
				l = nd
				return true
			}
		}
		return false
	})
	return l
}

// other returns an up node that is not nd.
func (c *cluster) other(nd *testNode) *testNode {
	for _, o := range c.nodes {
		if o != nd && o.up {
			return o
		}
	}
	c.t.Fatal("no other node is up")
	return nil
}

// moveLeader hands gid's leadership from l to to and waits until to leads.
func (c *cluster) moveLeader(gid placement.GroupID, l, to *testNode) *testNode {
	c.t.Helper()
	if err := l.cl.replica(gid).g.r.LeadershipTransferToServer(raft.ServerID(to.id), raft.ServerAddress(to.name)).Error(); err != nil {
		c.t.Fatal(err)
	}
	if now := c.groupLeader(gid, 20*time.Second); now != to {
		c.t.Fatalf("%s leads %v, not %s", now.name, gid, to.name)
	}
	return to
}
