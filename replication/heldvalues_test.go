package replication

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
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
		var mu sync.Mutex
		var held [][]byte
		var refused int
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				rctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				v, err := nd.cl.GetWithMetadata(rctx, "ns", "big", Strong)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && bytes.Equal(v.Value, big):
					held = append(held, v.Value)
				case errors.Is(err, ErrKVUnavailable):
					refused++
				default:
					t.Errorf("get on %s: %d bytes, %v", nd.name, len(v.Value), err)
				}
			})
		}
		wg.Wait()
		if len(held) != 3 || refused != 5 {
			t.Fatalf("on %s, 8 gets of 1 MiB with a budget of 3.5 MiB, the values held: %d got them, %d refused", nd.name, len(held), refused)
		}
		// Dropped, they give their bytes back.
		held = nil
		runtime.GC()
		waitFor(t, 10*time.Second, "the budget back", func() bool {
			rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			var vs [][]byte
			for range 3 {
				v, err := nd.cl.GetWithMetadata(rctx, "ns", "big", Strong)
				if err != nil {
					return false
				}
				vs = append(vs, v.Value)
			}
			runtime.KeepAlive(vs)
			return true
		})
	}
}
