package replication

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// logCache keeps a group's recent log entries in memory, as raft.LogCache
// does, so that a leader replicates them without reading its store; unlike
// it, it bounds the bytes it holds, not only the entries. raft.LogCache
// held its last 128 entries whatever their size: a client writing values of
// 25 MiB (the KV limit) had every replica of the group hold 3.2 GB for as
// long as no 128 newer entries came (a node went from 36 MB to 4 GB of
// memory in 30 s of such puts, and kept 3.7 GB after). An entry of more
// than logCacheMaxEntry bytes is not kept, nor one that would take the
// cache past logCacheMaxBytes; raft reads those from the store.
type logCache struct {
	store raft.LogStore

	// sinceBytes and sinceN count the Data (and Extensions) and the
	// entries stored since the log was last compacted from its front;
	// once sinceBytes reaches bigAt (0: never), onBig is called (each
	// time an append finds it there, until a compaction resets them).
	sinceBytes, sinceN atomic.Int64
	bigAt              atomic.Int64
	onBig              func()

	mu    sync.RWMutex
	ring  []*raft.Log
	bytes int // the Data and Extensions of the entries in ring
}

const (
	// logCacheMaxEntry is the largest entry the cache keeps, in bytes;
	// logCacheMaxBytes all of a group's together (a node's 33 groups: 132
	// MiB at most, a group of small entries far less).
	logCacheMaxEntry = 256 << 10
	logCacheMaxBytes = 4 << 20
)

var (
	_ raft.LogStore          = (*logCache)(nil)
	_ raft.AsyncLogStore     = (*logCache)(nil)
	_ raft.MonotonicLogStore = (*logCache)(nil)
)

func newLogCache(capacity int, store raft.LogStore) *logCache {
	return &logCache{store: store, ring: make([]*raft.Log, capacity)}
}

func entrySize(l *raft.Log) int { return len(l.Data) + len(l.Extensions) }

// IsMonotonic implements raft.MonotonicLogStore: the store's answer.
func (c *logCache) IsMonotonic() bool {
	m, ok := c.store.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// GetLog implements raft.LogStore.
func (c *logCache) GetLog(idx uint64, log *raft.Log) error {
	c.mu.RLock()
	cached := c.ring[idx%uint64(len(c.ring))]
	c.mu.RUnlock()
	if cached != nil && cached.Index == idx {
		*log = *cached
		return nil
	}
	return c.store.GetLog(idx, log)
}

// StoreLog implements raft.LogStore.
func (c *logCache) StoreLog(log *raft.Log) error { return c.StoreLogs([]*raft.Log{log}) }

// StoreLogs implements raft.LogStore: the entries are kept once stored.
func (c *logCache) StoreLogs(logs []*raft.Log) error {
	if err := c.store.StoreLogs(logs); err != nil {
		return fmt.Errorf("unable to store logs within log store, err: %q", err)
	}
	c.keep(logs)
	c.count(logs)
	return nil
}

// count adds stored entries to what the log holds since its last
// compaction, and calls onBig past bigAt.
func (c *logCache) count(logs []*raft.Log) {
	n := 0
	for _, l := range logs {
		n += entrySize(l)
	}
	c.sinceN.Add(int64(len(logs)))
	total := c.sinceBytes.Add(int64(n))
	if at := c.bigAt.Load(); at > 0 && total >= at && c.onBig != nil {
		c.onBig()
	}
}

// since is what count counted: entries and their bytes.
func (c *logCache) since() (n, bytes int64) { return c.sinceN.Load(), c.sinceBytes.Load() }

// StoreLogsAsync implements raft.AsyncLogStore: the entries are kept once
// readable, before they are durable, where the store is asynchronous too;
// elsewhere it is StoreLogs, durable called before it returns.
func (c *logCache) StoreLogsAsync(logs []*raft.Log, durable func(error)) error {
	store, ok := c.store.(raft.AsyncLogStore)
	if !ok {
		if err := c.StoreLogs(logs); err != nil {
			return err
		}
		durable(nil)
		return nil
	}
	if err := store.StoreLogsAsync(logs, durable); err != nil {
		return fmt.Errorf("unable to store logs within log store, err: %q", err)
	}
	c.keep(logs)
	c.count(logs)
	return nil
}

// keep puts logs in the ring, each in place of the entry its index had
// there; one too large for the cache leaves that place empty.
func (c *logCache) keep(logs []*raft.Log) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range logs {
		i := l.Index % uint64(len(c.ring))
		if old := c.ring[i]; old != nil {
			c.bytes -= entrySize(old)
			c.ring[i] = nil
		}
		if n := entrySize(l); n <= logCacheMaxEntry && c.bytes+n <= logCacheMaxBytes {
			c.ring[i] = l
			c.bytes += n
		}
	}
}

// FirstIndex implements raft.LogStore.
func (c *logCache) FirstIndex() (uint64, error) { return c.store.FirstIndex() }

// LastIndex implements raft.LogStore.
func (c *logCache) LastIndex() (uint64, error) { return c.store.LastIndex() }

// DeleteRange implements raft.LogStore: it empties the cache.
func (c *logCache) DeleteRange(min, max uint64) error {
	c.mu.Lock()
	clear(c.ring)
	c.bytes = 0
	c.mu.Unlock()
	// A compaction (from the front; a conflict cuts the back) starts the
	// count again.
	front := false
	if first, err := c.store.FirstIndex(); err == nil && min <= first {
		front = true
	}
	if err := c.store.DeleteRange(min, max); err != nil {
		return err
	}
	if front {
		c.sinceN.Store(0)
		c.sinceBytes.Store(0)
	}
	return nil
}
