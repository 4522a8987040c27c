package replication

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// Large KV values that reads bring into a node's memory are bounded
// together: a value of heldMin bytes or more takes its size from the
// node's budget of MaxValuesHeld bytes before it is copied out of the
// store or read from a peer's answer, and gives it back once nothing
// refers to it any more (a cleanup on its buffer: the API, the bindings
// and the peers' answers hand values on without saying when they are done
// with them). Reads past the budget wait for it, up to their deadline, and
// then fail as unavailable. Without it, 64 parallel gets of a 25 MiB value
// through one node of three took it to 1.9 GB, and 63 timed out (bench
// row "replication/kv large gets" measures it now).
const (
	// MaxValuesHeld is a node's budget for the large values its reads
	// hold at once.
	MaxValuesHeld = 256 << 20
	// heldMin: smaller values are not counted (a value kept in its
	// record, 4 KiB at most, is never asked for).
	heldMin = 64 << 10
	// heldCollectEvery bounds how often a read waiting for the budget
	// runs the garbage collector, so that values no one refers to give
	// their bytes back.
	heldCollectEvery = 100 * time.Millisecond
)

// valueBudget is a node's budget of MaxValuesHeld bytes (valueBudget.max).
type valueBudget struct {
	sem *semaphore.Weighted
	max int64

	mu        sync.Mutex
	collected time.Time // when a waiting read last ran the collector
}

func newValueBudget(max int64) *valueBudget {
	return &valueBudget{sem: semaphore.NewWeighted(max), max: max}
}

// size is what a value of size bytes takes from the budget: 0 below
// heldMin, at most the whole budget.
func (b *valueBudget) size(size int) int64 {
	if size < heldMin {
		return 0
	}
	return min(int64(size), b.max)
}

// tryTake takes a value's bytes (size) if the budget has them now.
func (b *valueBudget) tryTake(size int) (int64, bool) {
	n := b.size(size)
	return n, n == 0 || b.sem.TryAcquire(n)
}

// take takes a value's bytes (size), waiting for them until ctx ends. It
// returns the bytes taken (size's), which the caller gives to the value's
// buffer (hold) or back (give). While it waits it runs the collector
// every heldCollectEvery, so that values no one refers to any more give
// their bytes back.
func (b *valueBudget) take(ctx context.Context, size int) (int64, error) {
	n, ok := b.tryTake(size)
	for !ok {
		b.collect()
		wctx, cancel := context.WithTimeout(ctx, heldCollectEvery)
		err := b.sem.Acquire(wctx, n)
		cancel()
		if ok = err == nil; !ok && ctx.Err() != nil {
			return 0, fmt.Errorf("%w: waiting for memory to read a value of %d bytes (this node holds up to %d MiB of large values at once): %w",
				ErrKVUnavailable, size, b.max>>20, ctx.Err())
		}
	}
	return n, nil
}

// hold gives n bytes taken to buf: they return to the budget once buf is
// unreachable.
func (b *valueBudget) hold(buf []byte, n int64) {
	if n == 0 {
		return
	}
	if len(buf) == 0 {
		b.give(n)
		return
	}
	runtime.AddCleanup(&buf[0], b.give, n)
}

// give returns n bytes to the budget.
func (b *valueBudget) give(n int64) {
	if n > 0 {
		b.sem.Release(n)
	}
}

// collect runs the garbage collector in the background, at most every
// heldCollectEvery: values dropped since the last collection give their
// bytes back.
func (b *valueBudget) collect() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.collected) < heldCollectEvery {
		return
	}
	b.collected = time.Now()
	go runtime.GC()
}
