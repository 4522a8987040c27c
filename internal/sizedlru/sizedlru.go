// Package sizedlru is a least-recently-used cache bounded by the bytes of
// its values as well as by their number: a few huge entries (a 64 MiB code
// object) must not crowd out memory the way many small ones cannot. It is
// safe for concurrent use.
package sizedlru

import (
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Cache maps keys to values of a known size.
type Cache[K comparable, V any] struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[K, entry[V]]
	bytes    int64
	maxBytes int64
}

type entry[V any] struct {
	v    V
	size int64
}

// New makes a cache holding at most maxEntries values of at most maxBytes
// in all (both at least 1).
func New[K comparable, V any](maxEntries int, maxBytes int64) *Cache[K, V] {
	c := &Cache[K, V]{maxBytes: max(maxBytes, 1)}
	c.lru, _ = simplelru.NewLRU(max(maxEntries, 1), func(_ K, e entry[V]) { c.bytes -= e.size })
	return c
}

// Get returns the value under k and marks it recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(k)
	return e.v, ok
}

// Add stores v under k, evicting the least recently used values until the
// bounds hold. A value larger than a quarter of maxBytes is not kept (it
// would evict most of the cache for one entry); Add reports whether v was.
func (c *Cache[K, V]) Add(k K, v V, size int64) bool {
	size = max(size, 0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if size > c.maxBytes/4 {
		c.lru.Remove(k)
		return false
	}
	c.lru.Remove(k)
	c.lru.Add(k, entry[V]{v, size})
	c.bytes += size
	for c.bytes > c.maxBytes {
		c.lru.RemoveOldest()
	}
	return true
}

// Remove drops the value under k.
func (c *Cache[K, V]) Remove(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(k)
}

// Len is the number of values held.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Bytes is the total size of the values held.
func (c *Cache[K, V]) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
