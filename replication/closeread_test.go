package replication

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Reads of a node's stores that race the cluster's Close end before Close
// returns, or are refused after it, so that the node may close the
// database then: a node's alarm loop read the next alarm of a database
// the node had just closed, and badger panicked (a nil memtable; seen
// once in make test). One read is held (readHook) between choosing its
// replicas and reading them for longer than Close takes: without the
// wait, the database closes under it and the test panics as the node did.
func TestReadsRacingClose(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a KV cluster")
	}
	c := newKVCluster(t, 1)
	nd := c.nodes[0]
	cl := nd.cl
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.Put(ctx, "ns", "k", []byte("v"), KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	closing, held := make(chan struct{}), make(chan struct{})
	var armed, heldDone atomic.Bool
	var once sync.Once
	cl.readHook = func() {
		if armed.Load() {
			once.Do(func() {
				close(held)
				<-closing
				time.Sleep(time.Second) // longer than Close takes
				heldDone.Store(true)
			})
		}
	}
	rctx, rcancel := context.WithCancel(ctx)
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for rctx.Err() == nil {
				cl.NextAlarm()
				cl.DueAlarms(time.Now(), 10)
				_, err := cl.GetWithMetadata(rctx, "ns", "k", Eventual)
				_, lerr := cl.List(rctx, "ns", KVListOptions{}, Eventual)
				if err == nil && lerr == nil {
					reads.Add(1)
				}
			}
		})
	}
	waitFor(t, 10*time.Second, "reads under way", func() bool { return reads.Load() > 100 })
	// One read is held between choosing its replicas and reading them
	// until after Close began.
	armed.Store(true)
	<-held
	close(closing)
	// What a node's Close does: the cluster, then the database, while the
	// readers go on.
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if !heldDone.Load() {
		t.Error("Close returned while a read of the stores was under way")
	}
	if err := nd.db.Close(); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, ok := cl.NextAlarm(); ok {
			t.Fatal("a closed cluster has a next alarm")
		}
		if due := cl.DueAlarms(time.Now(), 10); len(due) > 0 {
			t.Fatal("a closed cluster has due alarms")
		}
	}
	// A closed cluster's KV calls fail at once; they waited for their
	// deadline.
	t0 := time.Now()
	if _, err := cl.GetWithMetadata(ctx, "ns", "k", Strong); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrKVUnavailable) {
		t.Errorf("a get of a closed cluster: %v", err)
	}
	if err := cl.Put(ctx, "ns", "k", []byte("w"), KVPutOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("a put on a closed cluster: %v", err)
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("a closed cluster's KV calls took %v", took)
	}
	rcancel()
	wg.Wait()
	nd.cl = nil // stopped by hand
	nd.m.Close()
	nd.up = false
	t.Logf("%d reads before Close", reads.Load())
}
