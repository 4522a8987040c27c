package node

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"

	"github.com/warrenmesh/warren/policy"
)

// clientOf names the client of an API request by its address, for the
// budgets of bytes it may hold (bodies, answers) and the audit log: its IP
// address, or its /64 for IPv6, where one host commonly has a whole /64 to
// pick addresses from.
func clientOf(r *http.Request) string { return clientOfRemote(r.RemoteAddr) }

// shareOf names the client of an API call for its share of a node's slots
// and queue places (RunRequest.Client): the name of the token it
// presented, which says whom the mesh's operator issued it to, or, with
// none (a node without auth), its address. So the calls of one agent hold
// one share from whatever addresses they come, and two agents on one host
// (or behind one NAT) hold two: one's hostile or heavy calls do not take
// the other's share.
func shareOf(r *http.Request, tok *policy.Token) string {
	if tok == nil || tok == noAuthToken || tok.Name == "" {
		return clientOf(r)
	}
	return "token " + strconv.Quote(tok.Name)
}

// clientOfRemote is clientOf for a remote address as net/http spells it.
func clientOfRemote(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return remote
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// clientShare is the part of n (a node's slots or queue places) one client
// may hold: three quarters, rounded down, and at least one; so with two or
// more there is always one left for the others.
func clientShare(n int) int { return max(1, n-(n+3)/4) }

// shares tracks what each client holds of a node: slots and queue places.
// A call of a client that holds its share of the slots waits for one of
// its own calls to end (or goes to a peer), even if other slots are free:
// calls cannot be preempted, so a slot left free is the only way to keep
// one for the next client.
type shares struct {
	mu      sync.Mutex
	clients map[string]*clientState
	slots   int // per client
	queued  int // per client
}

// clientState is one client's part of a node. It lives while calls of the
// client are placed, waiting or running here.
type clientState struct {
	name   string
	slots  chan struct{} // a token per slot the client holds here
	queued int           // under shares.mu
	refs   int           // under shares.mu
}

func newShares(slots, queued int) *shares {
	return &shares{clients: map[string]*clientState{}, slots: slots, queued: queued}
}

// get returns client's state, held until put. The empty client, a caller
// of the Go API that names none, is held to no share (nil).
func (s *shares) get(client string) *clientState {
	if client == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.clients[client]
	if cs == nil {
		cs = &clientState{name: client, slots: make(chan struct{}, s.slots)}
		s.clients[client] = cs
	}
	cs.refs++
	return cs
}

func (s *shares) put(cs *clientState) {
	if cs == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs.refs--; cs.refs == 0 {
		delete(s.clients, cs.name)
	}
}

// enqueue takes one of the client's queue places, if it has one left.
func (s *shares) enqueue(cs *clientState) bool {
	if cs == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs.queued >= s.queued {
		return false
	}
	cs.queued++
	return true
}

func (s *shares) dequeue(cs *clientState) {
	if cs == nil {
		return
	}
	s.mu.Lock()
	cs.queued--
	s.mu.Unlock()
}

// room is how many more slots the client may take here.
func (cs *clientState) room() int {
	if cs == nil {
		return math.MaxInt
	}
	return cap(cs.slots) - len(cs.slots)
}

// takeToken takes one of the client's slot tokens, if it has one left.
func (cs *clientState) takeToken() bool {
	if cs == nil {
		return true
	}
	select {
	case cs.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (cs *clientState) putToken() {
	if cs != nil {
		<-cs.slots
	}
}
