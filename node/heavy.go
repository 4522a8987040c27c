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
)

func newHeavyClients() *heavyClients { return &heavyClients{until: map[string]time.Time{}} }

// mark notes that a call of client ran long at now.
func (h *heavyClients) mark(client string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.until[client]; !ok && len(h.until) >= maxHeavy {
		for c, u := range h.until {
			if !now.Before(u) {
				delete(h.until, c)
			}
		}
		if len(h.until) >= maxHeavy {
			return
		}
	}
	h.until[client] = now.Add(heavyFor)
	h.n.Store(int32(len(h.until)))
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
// long lately, and marking the client if this one is demoted.
func (h *heavyClients) sched(client string) isolate.Sched {
	return isolate.Sched{Low: h.low(client, time.Now()), OnDemote: func() { h.mark(client, time.Now()) }}
}

// ended marks client if the call's result says it used heavyCPU or more.
func (h *heavyClients) ended(client string, res *isolate.Result) {
	if res != nil && res.Telemetry.CPUTime*float64(time.Millisecond) >= float64(heavyCPU) {
		h.mark(client, time.Now())
	}
}
