package isolate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// objectWorkers is how many sandbox workers a runtime keeps the live
// Durable Objects of one deployed Worker in: 1, or 2 when it has more than
// 3 workers (and up to extraObjectWorkers more, for nested calls: see
// place). Each is a leased worker (sandbox.Lease) beyond Options.Workers,
// taken on first use, so objects never take a slot from one-shot calls;
// objects are spread over them by a hash of their key, and each runs one
// event at a time.
func objectWorkers(workers int) int { return min(2, max(1, workers/2)) }

// maxObjectSets bounds the deployed Workers whose objects a runtime keeps
// live at once, each in workers of their own (objectSet); past it, the
// least recently used set with no event running ends, and its objects are
// made again from storage at their next event.
const maxObjectSets = 8

// objectSet is the workers that keep the live objects of one deployed
// Worker. A deployed Worker is a tenant (its objects run with its
// deployment's grants), and no two tenants' objects share a process
// (docs/security.md, "One tenant to a worker").
type objectSet struct {
	objw  []*objectWorker // the workers its live objects are kept in
	homes int             // objw[:homes] are the objects' homes; the rest take nested events

	movedMu sync.Mutex
	moved   map[string]int // objects whose instance is away from home, by worker index

	// Under sandboxed.setsMu:
	busy int       // events in progress, or waiting for a worker of the set
	used time.Time // when the last event began
}

func newObjectSet(homes int) *objectSet {
	set := &objectSet{homes: homes, moved: map[string]int{}, objw: make([]*objectWorker, homes+extraObjectWorkers)}
	for i := range set.objw {
		set.objw[i] = &objectWorker{sem: make(chan struct{}, 1)}
	}
	return set
}

// maxBusyObjectSets bounds the object sets a runtime keeps at once, busy
// ones included: each holds leased workers beyond Options.Workers (up to
// objectWorkers+extraObjectWorkers processes), so without it one event
// for each of a few hundred deployed Workers at once (a fan-out of stub
// calls, peers' calls, alarms) started a few hundred worker processes.
// An event for another Worker waits, within its context, for a set to
// fall idle; one called from an event of this runtime (which holds its
// own set meanwhile: waiting, a few such chains could hold every set)
// may go up to twice the bound, and past that fails at once.
const maxBusyObjectSets = 2 * maxObjectSets

// objectEventKey marks the context of an event's calls out: an event for
// an object that such a call makes is nested.
type objectEventKey struct{}

// errObjectSetsFull is acquireSet's refusal of a nested event.
var errObjectSetsFull = fmt.Errorf("this runtime keeps the objects of %d deployed Workers at once, all busy, and a call between objects does not wait for one", 2*maxBusyObjectSets)

// acquireSet returns the object set of the deployed Worker named worker,
// made if need be, counting the caller's event in it until releaseSet. It
// waits, until ctx ends, while maxBusyObjectSets sets are busy (see there
// for a nested event).
func (s *sandboxed) acquireSet(ctx context.Context, worker string) (*objectSet, error) {
	nested := ctx.Value(objectEventKey{}) != nil
	s.setsMu.Lock()
	for {
		set := s.sets[worker]
		if set == nil {
			for len(s.sets) >= maxObjectSets {
				if !s.endIdleSet() {
					break
				}
			}
			if n := len(s.sets); n < maxBusyObjectSets || nested && n < 2*maxBusyObjectSets {
				set = newObjectSet(s.homes)
				s.sets[worker] = set
			} else if nested {
				s.setsMu.Unlock()
				return nil, errObjectSetsFull
			}
		}
		if set != nil {
			set.busy++
			set.used = time.Now()
			s.setsMu.Unlock()
			return set, nil
		}
		if s.setIdle == nil {
			s.setIdle = make(chan struct{})
		}
		idle := s.setIdle
		s.setsMu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.setsMu.Lock()
	}
}

func (s *sandboxed) releaseSet(set *objectSet) {
	s.setsMu.Lock()
	set.busy--
	if set.busy == 0 && s.setIdle != nil {
		close(s.setIdle) // a set may end now: the waiters look again
		s.setIdle = nil
	}
	s.setsMu.Unlock()
}

// endIdleSet ends the least recently used set with no event in progress,
// and reports whether there was one (a busy runtime may keep more than
// maxObjectSets for a while). setsMu held.
func (s *sandboxed) endIdleSet() bool {
	var victim string
	for name, set := range s.sets {
		if set.busy == 0 && (victim == "" || set.used.Before(s.sets[victim].used)) {
			victim = name
		}
	}
	if victim == "" {
		return false
	}
	set := s.sets[victim]
	delete(s.sets, victim)
	// Nobody holds the set now (no event, and new ones make a new set).
	go func() {
		for _, w := range set.objw {
			if w.lease != nil {
				w.lease.Release()
			}
		}
	}()
	return true
}

// objectSetOf is the set of the deployed Worker of the object key, nil if
// the runtime keeps none.
func (s *sandboxed) objectSetOf(key string) *objectSet {
	worker, _, _ := strings.Cut(key, "\x00")
	s.setsMu.Lock()
	defer s.setsMu.Unlock()
	return s.sets[worker]
}

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

// heldWorkersKey is the context key of the workers of set that an event's
// chain of calls holds: a bit mask of indexes into set.objw.
type heldWorkersKey struct{ set *objectSet }

// home is the index of the worker key's instance normally lives in.
func (set *objectSet) home(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(set.homes))
}

// place picks the worker for an event of key, given the workers the
// calling chain holds (an object calling another, synchronously, through
// the node, holds its worker while the callee runs): the instance's
// worker when it is free of the chain, else the first worker the chain
// does not hold, the instance moving there (it is evicted where it was).
// It returns -1 when the chain holds every worker.
func (set *objectSet) place(key string, held uint64) int {
	set.movedMu.Lock()
	defer set.movedMu.Unlock()
	home := set.home(key)
	cur, moved := set.moved[key]
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
		for i := range set.objw {
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
	set.objw[cur].evict(key)
	if pick == home {
		delete(set.moved, key)
	} else {
		if len(set.moved) >= maxPendingEvictions {
			for k, i := range set.moved { // forget them: their workers drop them
				set.objw[set.home(k)].evict(k)
				set.objw[i].evict(k)
			}
			clear(set.moved)
		}
		set.moved[key] = pick
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
	set, err := s.acquireSet(ctx, r.Object.Worker)
	if errors.Is(err, errObjectSetsFull) {
		return contract.ObjectFailure(OutcomeInternalError, err.Error())
	}
	if err != nil {
		return contract.ObjectFailure(OutcomeCanceled, fmt.Sprintf("the event was canceled while waiting for a worker: this runtime keeps the objects of %d deployed Workers at once, all busy", maxBusyObjectSets))
	}
	defer s.releaseSet(set)
	held, _ := ctx.Value(heldWorkersKey{set}).(uint64)
	idx := set.place(r.Object.Key(), held)
	if idx < 0 {
		return contract.ObjectFailure(OutcomeInternalError, fmt.Sprintf("a chain of Durable Object calls holds all %d object workers of this runtime", len(set.objw)))
	}
	ctx = context.WithValue(context.WithValue(ctx, heldWorkersKey{set}, held|1<<idx), objectEventKey{}, true)
	w := set.objw[idx]
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
	set := s.objectSetOf(key)
	if set == nil {
		return // not live here: its set ended, with every instance in it
	}
	set.movedMu.Lock()
	if i, ok := set.moved[key]; ok {
		set.objw[i].evict(key)
	}
	set.movedMu.Unlock()
	set.objw[set.home(key)].evict(key)
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
