package node

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// writeRate paces the replicated writes of each tenant on this node: a
// deployed Worker's Durable Objects together may commit at most rate bytes
// a second here, after a burst of burst's worth. A replicated write costs
// every replica of its group CPU and disk (about 0.1 s of CPU a MB over
// three nodes, measured by hand: docs/security.md), at the node's weight, which no demotion reaches: one
// Worker flooding its objects' storage would otherwise take the mesh's
// CPU from every other call. Writes past the pace wait, in the order they
// came (a generic cell rate algorithm: each reservation moves the key's
// theoretical arrival time by its bytes' share of a second); a writer
// within it never waits.
type writeRate struct {
	rate  float64       // bytes a second
	burst time.Duration // how far ahead of the pace a key may write
	now   func() time.Time

	mu  sync.Mutex
	tat map[string]time.Time // per key: when its reservations are paid off
}

// Default pace of one Worker's object writes on one node, and of one
// token's KV writes: a burst of 8 s lets one value of Workers KV's largest
// (25 MiB) through at once.
const (
	defaultObjectWriteRate  = 2 << 20
	defaultObjectWriteBurst = 2 * time.Second
	defaultKVWriteRate      = 4 << 20
	defaultKVWriteBurst     = 8 * time.Second
)

// newPace is the writeRate of a configured rate: 0 the default, negative
// none (nil).
func newPace(rate int64, def float64, burst time.Duration) *writeRate {
	switch {
	case rate == 0:
		return newWriteRate(def, burst)
	case rate > 0:
		return newWriteRate(float64(rate), burst)
	}
	return nil
}

func newWriteRate(rate float64, burst time.Duration) *writeRate {
	return &writeRate{rate: rate, burst: burst, now: time.Now, tat: map[string]time.Time{}}
}

// reserve books n bytes for key and returns how long to wait before
// writing them (0: at once). A nil writeRate never waits.
func (w *writeRate) reserve(key string, n int) time.Duration {
	if w == nil || w.rate <= 0 || n <= 0 {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	tat := w.tat[key]
	if tat.Before(now) {
		tat = now
	}
	w.tat[key] = tat.Add(time.Duration(float64(n) / w.rate * float64(time.Second)))
	if len(w.tat) > 4096 { // keys paid off long ago go
		for k, t := range w.tat {
			if t.Before(now) {
				delete(w.tat, k)
			}
		}
	}
	return max(0, tat.Add(-w.burst).Sub(now))
}

// wait reserves n bytes for key and waits for their turn.
func (w *writeRate) wait(ctx context.Context, key string, n int) error {
	d := w.reserve(key, n)
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting %v for the write's turn: %w", d.Round(time.Millisecond), context.Cause(ctx))
	}
}
