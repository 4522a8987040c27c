package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// Large writes. A put of a value of several MiB (KV takes up to 25 MiB)
// costs its group's leader and both followers seconds of network, disk and
// CPU on a small host, and several at once starve what the nodes' other
// groups need in the meantime: heartbeats arrive late, leaders are deposed,
// and every write in flight outlives its caller's deadline with an unknown
// outcome. So a leader proposes large commands only while those it has in
// flight total at most leadBudget bytes (one 25 MiB value and some
// smaller ones); the others wait their turn in arrival order. Commands
// under LargeWrite bytes, nearly every write, never wait here.
//
// The node a client sends its write to bounds the large writes it sends
// on likewise (forwardBudget bytes, leaders elsewhere or not), so that the
// values waiting for a leader's room do not crowd the network that the
// admitted ones are replicated over.
//
// Each side measures the rate its large writes were made at lately
// (bytes a second: from proposal to commit on the leader, from sending to
// the answer on the client's node), and a write is given the time that
// rate says it needs (allowance): a write that cannot start while there is
// still that much time before its deadline is refused before it is
// proposed (or sent), an unambiguous "unavailable" that the caller may
// retry, instead of being proposed late and ending unknown. A large
// write's own deadline grows by its allowance (writeDeadline), and each
// attempt lasts long enough for the leader's wait and the commit
// (attemptTimeout).
const (
	leadBudget    = 32 << 20
	forwardBudget = 32 << 20

	// largeRate is the rate assumed before any large write was measured:
	// three nodes on one 2-core VM commit a 25 MiB put in 0.8-1.2 s when
	// nothing else runs. minRate and maxRate bound what is measured.
	largeRate = 8 << 20 // bytes a second
	minRate   = 1 << 20
	maxRate   = 256 << 20
)

// LargeWrite is the size from which a write is a large one: admitted by
// its bytes in flight, and given the time its size needs when its caller
// set no deadline (callers that bound KV calls with a fixed timeout leave
// a write this large to that rule instead).
const LargeWrite = 256 << 10

// errBusy is wrapped by a large write's refusal (admit): it was not made.
var errBusy = errors.New("busy with other large writes")

// errBusyUnavailable is what a leader's refusal unwraps to on the caller.
var errBusyUnavailable = fmt.Errorf("%w: %w", ErrKVUnavailable, errBusy)

// largeWrites admits large commands up to a budget of bytes in flight
// (the comment above).
type largeWrites struct {
	budget int64
	sem    *semaphore.Weighted

	mu   sync.Mutex
	rate float64 // bytes a second, a moving average of the writes made
}

func newLargeWrites(budget int64) *largeWrites {
	return &largeWrites{budget: budget, sem: semaphore.NewWeighted(budget), rate: largeRate}
}

// allowance is how long a command of n bytes is given to be made: a
// second, and half as long again as the rate measured lately says (the
// rate moves while it is made).
func (l *largeWrites) allowance(n int) time.Duration {
	l.mu.Lock()
	rate := l.rate
	l.mu.Unlock()
	return time.Second + time.Duration(1.5*float64(n)/rate*float64(time.Second))
}

// made counts a large command of n bytes that took d to be made in the
// rate.
func (l *largeWrites) made(n int, d time.Duration) {
	if n < LargeWrite || d <= 0 {
		return
	}
	r := min(max(float64(n)/d.Seconds(), minRate), maxRate)
	l.mu.Lock()
	l.rate = (l.rate + r) / 2
	l.mu.Unlock()
}

// attemptTimeout is how long a caller waits for one attempt of a write
// whose command is n bytes: attemptTimeout for a small one; for a large
// one, as long again as its leader may wait for room (admit) and its
// allowance beside.
func (l *largeWrites) attemptTimeout(n int) time.Duration {
	if n < LargeWrite {
		return attemptTimeout
	}
	return attemptTimeout + l.allowance(n)
}

// writeDeadline is how long a write of n bytes may take in all when its
// caller set no deadline: kvDeadline, and a large one its allowance more.
func (l *largeWrites) writeDeadline(n int) time.Duration {
	if n < LargeWrite {
		return kvDeadline
	}
	return kvDeadline + l.allowance(n)
}

// admit returns once a command of n bytes may be proposed, with the func
// that gives its room back (call it once the command is made or failed:
// timed says that the time it took is a lower bound of what it needs, as
// when it was made or timed out, and counts it in the rate); at once, with
// a no-op, for a small command. A large one waits for room while ctx
// leaves its allowance after; past that it is refused with
// ErrKVUnavailable.
func (l *largeWrites) admit(ctx context.Context, node string, n int) (done func(timed bool), err error) {
	if n < LargeWrite {
		return func(bool) {}, nil
	}
	w := min(int64(n), l.budget)
	if !l.sem.TryAcquire(w) {
		wait := ctx
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			wait, cancel = context.WithDeadline(ctx, dl.Add(-l.allowance(n)))
			defer cancel()
		}
		if err := l.sem.Acquire(wait, w); err != nil {
			return nil, fmt.Errorf("%w: node %s is %w (at most %d MiB in flight): this write of %.1f MiB was not made; try again later", ErrKVUnavailable, node, errBusy, l.budget>>20, float64(n)/(1<<20))
		}
	}
	t0 := time.Now()
	return func(timed bool) {
		if timed {
			l.made(n, time.Since(t0))
		}
		l.sem.Release(w)
	}, nil
}
