package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/semaphore"
)

// Large writes. A put of a value of several MiB (KV takes up to 25 MiB)
// costs its group's leader and both followers seconds of network, disk and
// CPU on a small host, and several at once starve what the nodes' other
// groups need in the meantime: heartbeats arrive late, leaders are deposed,
// and every write in flight outlives its caller's deadline with an unknown
// outcome. So a leader proposes large commands only while those it has in
// flight total at most largeBudget bytes (one 25 MiB value and some
// smaller ones); the others wait their turn in arrival order. Commands
// under largeWrite bytes, nearly every write, never wait here.
//
// The node a client sends its write to bounds the large writes it sends
// on likewise (forwardBudget bytes, leaders elsewhere or not), so that the
// values waiting for a leader's room do not crowd the network that the
// admitted ones are replicated over.
//
// A write that cannot start while there is still time to commit it is
// refused before it is proposed (or sent), an unambiguous "unavailable"
// that the caller may retry, instead of being proposed late and ending
// unknown. The caller's attempt lasts long enough for the leader's wait
// and the commit (attemptTimeoutFor).
const (
	largeWrite    = 256 << 10
	leadBudget    = 32 << 20
	forwardBudget = 64 << 20

	// largeRate is the rate a large command is assumed to commit at, at
	// worst, on a small host: sent to two followers, written and synced
	// on three disks, applied three times. Three nodes on one 2-core VM
	// commit a 25 MiB put in 0.8-1.2 s when nothing else runs.
	largeRate = 8 << 20 // bytes a second
)

// errBusy is wrapped by a large write's refusal (admit): it was not made.
var errBusy = errors.New("busy with other large writes")

// errBusyUnavailable is what a leader's refusal unwraps to on the caller.
var errBusyUnavailable = fmt.Errorf("%w: %w", ErrKVUnavailable, errBusy)

// largeWrites admits large commands up to a budget of bytes in flight
// (the comment above).
type largeWrites struct {
	budget int64
	sem    *semaphore.Weighted
}

func newLargeWrites(budget int64) *largeWrites {
	return &largeWrites{budget: budget, sem: semaphore.NewWeighted(budget)}
}

// commitAllowance is how long a command of n bytes may take to commit once
// proposed.
func commitAllowance(n int) time.Duration {
	return time.Second + time.Duration(n)*time.Second/largeRate
}

// attemptTimeoutFor is how long a caller waits for one attempt of a write
// whose command is n bytes: attemptTimeout for a small one; for a large
// one, as long again as its leader may wait for room (admit) and its
// commit's allowance beside.
func attemptTimeoutFor(n int) time.Duration {
	if n < largeWrite {
		return attemptTimeout
	}
	return attemptTimeout + commitAllowance(n)
}

// admit returns once a command of n bytes may be proposed, with the func
// that gives its room back; at once, with a no-op, for a small command. A
// large one waits for room while ctx leaves time to commit it after
// (commitAllowance); past that it is refused with ErrKVUnavailable.
func (l *largeWrites) admit(ctx context.Context, node string, n int) (release func(), err error) {
	if n < largeWrite {
		return func() {}, nil
	}
	w := min(int64(n), l.budget)
	if l.sem.TryAcquire(w) {
		return func() { l.sem.Release(w) }, nil
	}
	wait := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithDeadline(ctx, dl.Add(-commitAllowance(n)))
		defer cancel()
	}
	if err := l.sem.Acquire(wait, w); err != nil {
		return nil, fmt.Errorf("%w: node %s is %w (at most %d MiB in flight): this write of %.1f MiB was not made; try again later", ErrKVUnavailable, node, errBusy, l.budget>>20, float64(n)/(1<<20))
	}
	return func() { l.sem.Release(w) }, nil
}
