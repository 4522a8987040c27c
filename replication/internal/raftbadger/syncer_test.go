package raftbadger

import (
	"testing"
	"time"
)

// waitUntil polls cond until it holds, failing the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(time.Millisecond)
	}
}

// A sync that is due while another append is committing waits for that
// append, and one sync serves both.
func TestSyncGathersCommittingAppends(t *testing.T) {
	old := maxGather
	maxGather = time.Minute // the wait must end when the append arrives, not at its bound
	t.Cleanup(func() { maxGather = old })
	db := openDisk(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	s := syncerOf(db)

	s.begin() // append A: committing
	first := make(chan error, 1)
	go func() { first <- s.sync(false) }() // B: due now
	waitUntil(t, 10*time.Second, "B's sync waits for A", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.running && s.started == 0
	})
	select {
	case err := <-first:
		t.Fatalf("B's sync returned (%v) while A was still committing", err)
	default:
	}
	if err := s.sync(true); err != nil { // A arrives
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if syncs, waits := SyncCounts(db); syncs != 1 || waits != 2 {
		t.Fatalf("SyncCounts = %d syncs, %d waits; want one sync serving 2", syncs, waits)
	}
}

// An announced append that never arrives (its commit hangs) holds a sync
// back for maxGather at most; one that gives up (abandon) releases it.
func TestSyncGatherIsBounded(t *testing.T) {
	old := maxGather
	maxGather = 20 * time.Millisecond
	t.Cleanup(func() { maxGather = old })
	db := openDisk(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	s := syncerOf(db)

	s.begin()
	start := time.Now()
	if err := s.sync(false); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < maxGather {
		t.Fatalf("the sync began after %v, before the committing append or maxGather (%v)", d, maxGather)
	}
	s.abandon()

	maxGather = time.Minute
	s.begin()
	done := make(chan error, 1)
	go func() { done <- s.sync(false) }()
	waitUntil(t, 10*time.Second, "the sync waits", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.running && s.started == 1
	})
	s.abandon()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("abandon did not release the waiting sync")
	}
}
