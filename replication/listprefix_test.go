package replication

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/replication/internal/kvsm"
)

// TestListPrefixLongerThanAKey: a list whose prefix is longer than any
// key can be answers at once, empty and complete, without asking the
// groups. Before, every group's leader was sent the prefix (a Worker's
// binding passes whatever string it is given): past the 1 MiB an RPC
// header holds, the peers refused each request, and the list retried
// until its deadline, holding one of the node's few turns to list, then
// failed as unavailable.
func TestListPrefixLongerThanAKey(t *testing.T) {
	c := newKVCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := c.nodes[0].cl
	if err := cl.Put(ctx, "ns", "k", []byte("v"), KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{strings.Repeat("k", kvsm.MaxKeyLen+1), strings.Repeat("k", 2<<20)} {
		start := time.Now()
		res, err := cl.List(ctx, "ns", KVListOptions{Prefix: prefix}, Strong)
		if err != nil || len(res.Keys) != 0 || !res.ListComplete || res.Cursor != "" {
			t.Errorf("a prefix of %d bytes: %+v %v, want an empty, complete page", len(prefix), res, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("a prefix of %d bytes took %v", len(prefix), took)
		}
	}
	// A key as long as a key may be is still found by its whole name.
	long := strings.Repeat("k", kvsm.MaxKeyLen)
	if err := cl.Put(ctx, "ns", long, []byte("v"), KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := cl.List(ctx, "ns", KVListOptions{Prefix: long}, Strong); err != nil || len(res.Keys) != 1 || res.Keys[0].Name != long {
		t.Errorf("a prefix as long as the longest key: %+v %v", res, err)
	}
}
