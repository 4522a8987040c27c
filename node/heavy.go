package node

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// heavyClients remembers the clients (shares: a token's name, or an address
// without one; shareOf) whose calls ran long on this node lately: a call that
// was demoted (it used 20 ms of CPU and went on at the low CPU weight) or
// ended having used as much. For heavyFor after that, each new call of the
// client starts at the low weight (isolate.Sched.Low): where the host's CPU is
// contended, the calls of clients whose calls are short go first, and a client
// sending long calls back to back no longer has each of them take its first
// 20 ms at the normal weight beside them. Its calls keep every limit, and on
// an idle host the low weight costs them nothing; on a busy one the floor of
// a demoted call applies to them (docs/security.md, "Long calls yield to short
// ones").
//
// The memory is bounded: at most maxHeavy clients, those whose mark lapsed
// dropped first; a client that finds it full is not remembered.
type heavyClients struct {
	n     atomic.Int32 // len(until), read without the lock on every call
	mu    sync.Mutex
	until map[string]time.Time
	// prep holds, for the clients whose calls prepared code lately, how
	// long their preparations took in the current window.
	prep map[string]prepUse
}

// prepUse is a client's time spent preparing its code since start.
type prepUse struct {
	start time.Time
	used  time.Duration
}

const (
	// heavyFor is how long a client's calls start low after one of them ran
	// long: a second, so that a client whose long calls follow one another
	// stays low, and one that sent a single long call is back at the normal
	// weight soon after.
	heavyFor = time.Second
	// heavyCPU is the CPU time past which an ended call marks its client,
	// the demotion threshold: a call that started low is never demoted, and
	// marks its client by its CPU time when it ends.
	heavyCPU = isolate.DemoteAfter
	maxHeavy = 4096
	// prepBudget is how long a client's preparations (bundling new code)
	// may take in prepWindow before the client is marked: a client sending
	// new code back to back keeps a preparer busy at the normal weight
	// with work no one else waits for, a few milliseconds at a time, and
	// its calls never run long enough to be demoted. An agent sending new
	// code with each of a few calls a second stays well under it (a
	// preparation takes 1 to 5 ms here). Marked, its calls and its
	// preparations start at the low weight, which on an idle host costs
	// nothing.
	prepBudget = 50 * time.Millisecond
	prepWindow = time.Second
)

func newHeavyClients() *heavyClients {
	return &heavyClients{until: map[string]time.Time{}, prep: map[string]prepUse{}}
}

// prepared notes that a call of client prepared its code in d at now, and
// marks the client once its preparations passed prepBudget in prepWindow.
func (h *heavyClients) prepared(client string, d time.Duration, now time.Time) {
	h.mu.Lock()
	u, ok := h.prep[client]
	if !ok || now.Sub(u.start) >= prepWindow {
		lapsed := func(o prepUse) bool { return now.Sub(o.start) >= prepWindow }
		if !roomFor(h.prep, client, lapsed) {
			h.mu.Unlock()
			return
		}
		u = prepUse{start: now}
	}
	u.used += d
	h.prep[client] = u
	h.mu.Unlock()
	if u.used > prepBudget {
		h.mark(client, now)
	}
}

// mark notes that a call of client ran long at now.
func (h *heavyClients) mark(client string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !roomFor(h.until, client, func(u time.Time) bool { return !now.Before(u) }) {
		return
	}
	h.until[client] = now.Add(heavyFor)
	h.n.Store(int32(len(h.until)))
}

// roomFor says whether m, one of the maps of clients, may hold client: it
// does already, or has fewer than maxHeavy entries once those lapsed are
// dropped. A client that finds it full is not remembered.
func roomFor[V any](m map[string]V, client string, lapsed func(V) bool) bool {
	if _, ok := m[client]; ok || len(m) < maxHeavy {
		return true
	}
	for c, v := range m {
		if lapsed(v) {
			delete(m, c)
		}
	}
	return len(m) < maxHeavy
}

// low reports whether client's calls start low at now.
func (h *heavyClients) low(client string, now time.Time) bool {
	if h.n.Load() == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.until[client]
	if ok && !now.Before(u) {
		delete(h.until, client)
		h.n.Store(int32(len(h.until)))
		return false
	}
	return ok
}

// sched is how a call of client shares the CPU: low if the client's calls ran
// long lately, and marking the client if this one is demoted, or if its
// preparations took their budget.
func (h *heavyClients) sched(client string) isolate.Sched {
	return isolate.Sched{
		Low:        h.low(client, time.Now()),
		OnDemote:   func() { h.mark(client, time.Now()) },
		OnPrepared: func(d time.Duration) { h.prepared(client, d, time.Now()) },
	}
}

// ended marks client if the call's result says it used heavyCPU or more.
func (h *heavyClients) ended(client string, res *isolate.Result) {
	if res != nil && res.Telemetry.CPUTime*float64(time.Millisecond) >= float64(heavyCPU) {
		h.mark(client, time.Now())
	}
}
