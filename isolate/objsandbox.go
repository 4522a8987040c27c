package isolate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// objectWorkers is how many sandbox workers a runtime keeps live Durable
// Objects in: 1, or 2 when it has more than 3 workers (and up to
// extraObjectWorkers more, for nested calls: see place). Each is a leased
// worker (sandbox.Lease) beyond Options.Workers, taken on first use, so
// objects never take a slot from one-shot calls; objects are spread over
// them by a hash of their key, and each runs one event at a time.
func objectWorkers(workers int) int { return min(2, max(1, workers/2)) }

// objectWorker is one leased worker holding live objects; sem serialises
// its events.
type objectWorker struct {
	sem   chan struct{}
	lease *sandbox.Lease // nil until the first event, and after the worker is lost

	mu      sync.Mutex
	evicted map[string]struct{} // objects evicted since their last event
	replace bool                // too many evictions: a new worker at the next event
}

// extraObjectWorkers are the object workers beyond objectWorkers that
// nested events use (see place).
const extraObjectWorkers = 2

// heldWorkersKey is the context key of the object workers an event's
// chain of calls holds: a bit mask of indexes into sandboxed.objw.
type heldWorkersKey struct{}

// home is the index of the worker key's instance normally lives in.
func (s *sandboxed) home(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(s.homes))
}

// place picks the worker for an event of key, given the workers the
// calling chain holds (an object calling another, synchronously, through
// the node, holds its worker while the callee runs): the instance's
// worker when it is free of the chain, else the first worker the chain
// does not hold, the instance moving there (it is evicted where it was).
// It returns -1 when the chain holds every worker.
func (s *sandboxed) place(key string, held uint64) int {
	s.movedMu.Lock()
	defer s.movedMu.Unlock()
	home := s.home(key)
	cur, moved := s.moved[key]
	if !moved {
		cur = home
	}
	pick := -1
	switch {
	case held&(1<<home) == 0:
		pick = home
	case held&(1<<cur) == 0:
		pick = cur
	default:
		for i := range s.objw {
			if held&(1<<i) == 0 {
				pick = i
				break
			}
		}
	}
	if pick < 0 || pick == cur {
		return pick
	}
	// The instance moves: the one where it was is stale from now on.
	s.objw[cur].evict(key)
	if pick == home {
		delete(s.moved, key)
	} else {
		if len(s.moved) >= maxPendingEvictions {
			for k, i := range s.moved { // forget them: their workers drop them
				s.objw[s.home(k)].evict(k)
				s.objw[i].evict(k)
			}
			clear(s.moved)
		}
		s.moved[key] = pick
	}
	return pick
}

func (w *objectWorker) lock(ctx context.Context) error {
	select {
	case w.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *objectWorker) unlock() { <-w.sem }

func (s *sandboxed) runObject(ctx context.Context, r *contract.ObjectRequest, host contract.HostFunc) *ObjectResult {
	held, _ := ctx.Value(heldWorkersKey{}).(uint64)
	idx := s.place(r.Object.Key(), held)
	if idx < 0 {
		return contract.ObjectFailure(OutcomeInternalError, fmt.Sprintf("a chain of Durable Object calls holds all %d object workers of this runtime", len(s.objw)))
	}
	ctx = context.WithValue(ctx, heldWorkersKey{}, held|1<<idx)
	w := s.objw[idx]
	if err := w.lock(ctx); err != nil {
		return contract.ObjectFailure(OutcomeCanceled, "the event was canceled while waiting for its object's worker")
	}
	defer w.unlock()
	evicted, replace := w.takeEviction(r.Object.Key())
	if replace && w.lease != nil {
		w.lease.Release()
		w.lease = nil
	}
	r.Fresh = evicted
	req, err := contract.EncodeObject(r)
	if err != nil {
		return contract.ObjectFailure(OutcomeInternalError, fmt.Sprintf("encoding the event: %v", err))
	}
	for attempt := 0; ; attempt++ {
		if w.lease == nil {
			l, err := s.pool.Lease(ctx)
			for try := 0; errors.Is(err, sandbox.ErrLeaseLost) && try < 3; try++ {
				l, err = s.pool.Lease(ctx) // the worker died as it was handed over
			}
			if err != nil {
				if ctx.Err() != nil {
					return contract.ObjectFailure(OutcomeCanceled, "the event was canceled while waiting for a worker")
				}
				s.log.Warn("leasing a sandbox worker for objects failed", "err", err)
				return contract.ObjectFailure(OutcomeInternalError, "the sandbox failed to run the event")
			}
			w.lease = l
		}
		deadline := time.Now().Add(contract.LimitWall(r.Limits) + killGrace)
		hctx, cancel := context.WithDeadline(ctx, deadline)
		onCall, done := relayHostCalls(hctx, host, nil)
		out, err := w.lease.Call(ctx, req, sandbox.CallOptions{Deadline: deadline}, onCall)
		done()
		cancel()
		if err == nil {
			res, err := contract.DecodeObjectResult(out)
			if err != nil {
				return contract.ObjectFailure(OutcomeInternalError, fmt.Sprintf("decoding the worker's result: %v", err))
			}
			return res
		}
		// The worker is gone, and every instance in it.
		w.lease = nil
		if errors.Is(err, sandbox.ErrLeaseLost) && attempt == 0 {
			continue // nothing ran: on a new worker
		}
		return &ObjectResult{Result: *s.crashResult(ctx, &r.ExecRequest, err), Reset: true}
	}
}

// maxPendingEvictions bounds the evictions an object worker remembers
// until their objects' next events; past it, the worker is replaced (which
// drops every instance in it) at its next event.
const maxPendingEvictions = 4096

// evictObject records the eviction: the instance is dropped in the worker
// when its object's next event arrives (and, unused, it goes by the
// worker's idle sweep). It never waits for a running event.
func (s *sandboxed) evictObject(key string) {
	s.movedMu.Lock()
	if i, ok := s.moved[key]; ok {
		s.objw[i].evict(key)
	}
	s.movedMu.Unlock()
	s.objw[s.home(key)].evict(key)
}

func (w *objectWorker) evict(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.evicted == nil {
		w.evicted = map[string]struct{}{}
	}
	w.evicted[key] = struct{}{}
	if len(w.evicted) > maxPendingEvictions {
		w.evicted, w.replace = nil, true
	}
}

// takeEviction reports whether key was evicted since its last event, and
// whether the worker is to be replaced.
func (w *objectWorker) takeEviction(key string) (evicted, replace bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, evicted = w.evicted[key]
	delete(w.evicted, key)
	replace, w.replace = w.replace, false
	return evicted, replace
}
