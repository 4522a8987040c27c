package replication

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/warrenmesh/warren/replication/placement"
)

// fastGroups shortens a group's timeouts for tests on one machine.
func fastGroups(cc *ClusterConfig) {
	cc.Settle = 300 * time.Millisecond
	cc.Grace = 2 * time.Second
	cc.Tune = func(g *GroupConfig) {
		g.HeartbeatTimeout = 500 * time.Millisecond
		g.ElectionTimeout = 500 * time.Millisecond
		g.LeaderLeaseTimeout = 250 * time.Millisecond
	}
}

// newKVCluster starts n nodes with a Cluster each and waits until every
// data group has min(n,3) voters in every node's view.
func newKVCluster(t testing.TB, n int) *cluster {
	t.Helper()
	c := newClusterWith(t, n, &cluster{kv: true, tune: fastGroups})
	c.waitPlaced(min(n, 3), 60*time.Second)
	return c
}

// waitPlaced waits until every up node's view has every data group with
// voters voters, all on up nodes.
func (c *cluster) waitPlaced(voters int, within time.Duration) {
	c.t.Helper()
	up := map[string]bool{}
	for _, nd := range c.nodes {
		up[nd.name] = nd.up
	}
	d := waitFor(c.t, within, fmt.Sprintf("every group placed with %d voters", voters), func() bool {
		for _, nd := range c.nodes {
			if !nd.up {
				continue
			}
			v := nd.cl.currentView()
			if v == nil {
				return false
			}
			for _, gid := range nd.cl.slots.Groups() {
				rs := v.Groups[gid]
				n := 0
				for _, r := range rs {
					if !up[r.Name] {
						return false
					}
					if r.Voter {
						n++
					}
				}
				if n != voters || len(rs) != voters {
					return false
				}
			}
		}
		return true
	})
	c.t.Logf("placed with %d voters in %v", voters, d.Round(time.Millisecond))
}

func TestClusterKVAcrossNodes(t *testing.T) {
	c := newKVCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n0, n1, n2 := c.nodes[0].cl, c.nodes[1].cl, c.nodes[2].cl

	// A write on one node is seen at once by strong reads on the others.
	for i := range 20 {
		k := fmt.Sprintf("k%02d", i)
		if err := n0.Put(ctx, "ns", k, []byte("v"+k), KVPutOptions{Metadata: []byte(`{"i":1}`)}); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		for _, r := range []*Cluster{n1, n2} {
			v, err := r.GetWithMetadata(ctx, "ns", k, Strong)
			if err != nil || string(v.Value) != "v"+k || string(v.Metadata) != `{"i":1}` {
				t.Fatalf("get %s: %q %s, %v", k, v.Value, v.Metadata, err)
			}
		}
	}
	// Eventual reads converge.
	waitFor(t, 5*time.Second, "an eventual read sees the write", func() bool {
		v, err := n2.GetWithMetadata(ctx, "ns", "k19", Eventual)
		return err == nil && string(v.Value) == "vk19"
	})
	if err := n1.Delete(ctx, "ns", "k00"); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.GetWithMetadata(ctx, "ns", "k00", Strong); !errors.Is(err, ErrKVNotFound) {
		t.Fatalf("get after delete: %v, want not found", err)
	}
	// Lists merge the groups' pages, in order, across pages.
	var got []string
	opts := KVListOptions{Prefix: "k", Limit: 7}
	for page := 0; ; page++ {
		res, err := n2.List(ctx, "ns", opts, Strong)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range res.Keys {
			got = append(got, k.Name)
		}
		if res.ListComplete {
			break
		}
		if page > 10 {
			t.Fatal("list does not end")
		}
		opts.Cursor = res.Cursor
	}
	if len(got) != 19 || got[0] != "k01" || got[18] != "k19" {
		t.Fatalf("listed %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i-1] >= got[i] {
			t.Fatalf("list out of order: %v", got)
		}
	}
	// Bad input changes nothing and says what is wrong.
	if err := n0.Put(ctx, "ns", string(make([]byte, 513)), []byte("x"), KVPutOptions{}); !errors.Is(err, ErrKVInvalid) {
		t.Fatalf("oversize key: %v", err)
	}
	if _, err := n0.List(ctx, "ns", KVListOptions{Cursor: "garbage"}, Strong); !errors.Is(err, ErrKVInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
	gs, err := n1.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 1+placement.DefaultGroups {
		t.Fatalf("%d groups, want %d", len(gs), 1+placement.DefaultGroups)
	}
	for _, g := range gs {
		if g.Leader == "" || len(g.Replicas) != 3 || g.Wanted != 3 || g.Degraded || g.Unavailable {
			t.Errorf("group %+v", g)
		}
	}
}

func TestClusterSurvivesANode(t *testing.T) {
	c := newKVCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.nodes[1].cl
	for i := range 50 {
		if err := cl.Put(ctx, "ns", fmt.Sprintf("k%d", i), []byte("1"), KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Kill the node that leads the meta group, and many data groups.
	victim := c.nodes[0]
	c.kill(victim)
	for i := range 50 {
		k := fmt.Sprintf("k%d", i)
		v, err := cl.GetWithMetadata(ctx, "ns", k, Strong)
		if err != nil || string(v.Value) != "1" {
			t.Fatalf("after the kill, get %s: %q, %v", k, v.Value, err)
		}
		if err := c.nodes[2].cl.Put(ctx, "ns", k, []byte("2"), KVPutOptions{}); err != nil {
			t.Fatalf("after the kill, put %s: %v", k, err)
		}
	}
	// It comes back and catches up.
	c.start(victim)
	for i := range 50 {
		k := fmt.Sprintf("k%d", i)
		v, err := victim.cl.GetWithMetadata(ctx, "ns", k, Strong)
		if err != nil || string(v.Value) != "2" {
			t.Fatalf("after the restart, get %s: %q, %v", k, v.Value, err)
		}
	}
}
