package replication

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/testnet"
)

// Reads of large values hold at most the node's budget of them at once:
// past it, a read waits for values to be dropped, and fails as unavailable
// at its deadline; dropped, they give their bytes back. Both on a node
// that reads the value from its store (the key's leader) and on one that
// reads it from the leader's answer.
func TestLargeReadsBounded(t *testing.T) {
	testnet.Exclusive(t)
	const budget = 3<<20 + 512<<10 // three values of 1 MiB and a bit
	c := newClusterWith(t, 3, &cluster{kv: true, tune: func(cc *ClusterConfig) {
		fastGroups(cc)
		cc.valuesHeld = budget
	}})
	c.waitPlaced(3, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if err := c.nodes[0].cl.Put(ctx, "ns", "big", big, KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	l := c.groupLeader(c.nodes[0].cl.groupOfKey("ns", "big"), 20*time.Second)
	for _, nd := range []*testNode{l, c.other(l)} {
		// Three values fit, and are held.
		var held [][]byte
		for range 3 {
			v, err := nd.cl.GetWithMetadata(ctx, "ns", "big", Strong)
			if err != nil || !bytes.Equal(v.Value, big) {
				t.Fatalf("get on %s: %d bytes, %v", nd.name, len(v.Value), err)
			}
			held = append(held, v.Value)
		}
		// A fourth waits for them, until its deadline.
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := nd.cl.GetWithMetadata(rctx, "ns", "big", Strong)
		cancel()
		if !errors.Is(err, ErrKVUnavailable) || !strings.Contains(err.Error(), "waiting for memory") {
			t.Fatalf("on %s, a fourth get of 1 MiB with a budget of 3.5 MiB and three held: %v", nd.name, err)
		}
		runtime.KeepAlive(held)
		// Dropped, they give their bytes back.
		held = nil
		runtime.GC()
		waitFor(t, 20*time.Second, "the budget back", func() bool {
			var vs [][]byte
			for range 3 {
				v, err := nd.cl.GetWithMetadata(ctx, "ns", "big", Strong)
				if err != nil {
					t.Fatalf("get on %s after the values were dropped: %v", nd.name, err)
				}
				vs = append(vs, v.Value)
			}
			runtime.KeepAlive(vs)
			return true
		})
	}
}
