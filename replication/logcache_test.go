package replication

import (
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
)

// countingStore counts the reads that reach it.
type countingStore struct {
	raft.LogStore
	reads atomic.Int64
}

func (s *countingStore) GetLog(idx uint64, l *raft.Log) error {
	s.reads.Add(1)
	return s.LogStore.GetLog(idx, l)
}

// The cache serves recent small entries without the store, keeps no entry
// past logCacheMaxEntry and never more than logCacheMaxBytes in all, gives
// back an entry's bytes when a later one takes its place, and empties on
// DeleteRange.
func TestLogCacheBoundsBytes(t *testing.T) {
	store := &countingStore{LogStore: raft.NewInmemStore()}
	c := newLogCache(128, store)
	entry := func(i uint64, n int) *raft.Log { return &raft.Log{Index: i, Term: 1, Data: make([]byte, n)} }
	read := func(i uint64) (fromStore bool) {
		t.Helper()
		before := store.reads.Load()
		var l raft.Log
		if err := c.GetLog(i, &l); err != nil || l.Index != i {
			t.Fatalf("GetLog(%d): %v, index %d", i, err, l.Index)
		}
		return store.reads.Load() != before
	}

	if err := c.StoreLogs([]*raft.Log{entry(1, 100), entry(2, 100)}); err != nil {
		t.Fatal(err)
	}
	if read(1) || read(2) {
		t.Error("a small recent entry was read from the store")
	}
	if err := c.StoreLog(entry(3, logCacheMaxEntry+1)); err != nil {
		t.Fatal(err)
	}
	if !read(3) {
		t.Error("an entry past logCacheMaxEntry was kept in memory")
	}
	// Entries of logCacheMaxEntry each: the cache takes them until the
	// next would pass logCacheMaxBytes, and reads the rest from the store.
	var cached, past int
	for i := uint64(4); i < 4+2*logCacheMaxBytes/logCacheMaxEntry; i++ {
		if err := c.StoreLog(entry(i, logCacheMaxEntry)); err != nil {
			t.Fatal(err)
		}
		if read(i) {
			past++
		} else {
			cached++
		}
		if c.bytes > logCacheMaxBytes {
			t.Fatalf("the cache holds %d bytes, past %d", c.bytes, logCacheMaxBytes)
		}
	}
	if cached == 0 || past == 0 {
		t.Errorf("%d large entries kept and %d left to the store; want both", cached, past)
	}
	// Index 4+128 takes the place of index 4 (cached): its bytes come back.
	before := c.bytes
	if err := c.StoreLog(entry(4+128, 10)); err != nil {
		t.Fatal(err)
	}
	if want := before - logCacheMaxEntry + 10; c.bytes != want {
		t.Errorf("bytes %d after an entry took a large one's place, want %d", c.bytes, want)
	}
	if err := c.DeleteRange(1, 2); err != nil {
		t.Fatal(err)
	}
	if c.bytes != 0 || !read(4+128) {
		t.Errorf("after DeleteRange: %d bytes, the entry still cached", c.bytes)
	}
}
