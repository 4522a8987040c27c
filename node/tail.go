package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
)

// The live tail: GET /v1/tail streams, as server-sent events, every
// invocation that ends among those that entered the mesh through this
// node (POST /v1/run, /w/, cron runs) and the Durable Object events this
// node ran, as TailEvents. With ?scope=mesh the node also follows every
// live peer's stream (their APIs, found in the mesh; new peers within
// tailRefresh) and merges them, so that one connection to any node sees
// the whole mesh: each invocation once, from the node it entered
// through. A client that reads too slowly never slows invocations: the
// events that find its buffer full are dropped, and the next event says
// how many. A client that stops reading altogether loses its tail once a
// write has waited tailStall. A client holds at most maxTailsPerClient
// tails of a node at once, and a node serves at most maxTails.

const (
	// tailBuffer is the events a subscriber may have waiting, and
	// tailBufferBytes their size (their logs and exceptions, roughly as
	// JSON): an event that would take a subscriber past it is dropped,
	// unless the subscriber has none waiting.
	tailBuffer      = 256
	tailBufferBytes = 8 << 20
	// maxTails bounds the tails a node serves to its clients at once, and
	// maxTailsPerClient those of one client (an IP address, or an IPv6
	// /64). A peer following this node for a mesh-wide tail of its own is
	// counted apart: it holds at most maxTails, one per tail it serves.
	maxTails          = 64
	maxTailsPerClient = 8
	// tailRefresh is how often a mesh-wide tail looks for new peers.
	tailRefresh = 2 * time.Second
	// tailKeepAlive is how often an idle stream sends a comment.
	tailKeepAlive = 15 * time.Second
)

// tailStall is how long one write of a tail may wait for its client to
// read; tailPeerSilence how long a peer's tail may send nothing, not even
// a keep-alive (variables the tests shorten).
var tailStall, tailPeerSilence = durationVar(bodyStall), durationVar(3 * tailKeepAlive)

// durationVarT is a duration that tests may set while other goroutines
// read it.
type durationVarT struct{ v atomic.Int64 }

func durationVar(d time.Duration) *durationVarT {
	var v durationVarT
	v.set(d)
	return &v
}

func (v *durationVarT) get() time.Duration  { return time.Duration(v.v.Load()) }
func (v *durationVarT) set(d time.Duration) { v.v.Store(int64(d)) }

// TailEvent is one finished invocation, as GET /v1/tail streams it.
type TailEvent struct {
	Time time.Time `json:"time"`
	// Node is the node that reports it: the one the call entered
	// through, or the owner that ran an object's event.
	Node string `json:"node"`
	// Entry is how it came: "run", "worker", "cron", "mcp" or "object".
	Entry   string          `json:"entry"`
	Worker  string          `json:"worker,omitempty"`
	Hops    []string        `json:"hops"`
	Outcome isolate.Outcome `json:"outcome"`
	Error   string          `json:"error,omitempty"`
	CPUMs   float64         `json:"cpuMs"`
	WallMs  float64         `json:"wallMs"`
	// Logs and Exceptions are the invocation's, as in its result.
	Logs       []isolate.Log       `json:"logs"`
	Exceptions []isolate.Exception `json:"exceptions"`
	// Dropped counts the events this subscriber missed before this one.
	Dropped int64 `json:"dropped,omitempty"`
}

// tailHub hands finished invocations to the tail's subscribers.
type tailHub struct {
	n    atomic.Int64 // subscribers, read without the lock on every call
	mu   sync.Mutex
	subs map[*tailSub]bool
	// streams counts the open GET /v1/tail streams by holder (a client,
	// or "node NAME" for a peer), and own those of clients.
	streams map[string]int
	own     int
}

type tailSub struct {
	ch      chan tailItem
	dropped atomic.Int64
	held    atomic.Int64 // the size of the events in ch
	worker  string
	outcome string
}

// tailItem is an event waiting for its subscriber, with its size and its
// JSON, which the subscribers of one event share: it is encoded once
// however many tails show it.
type tailItem struct {
	TailEvent
	size int64
	enc  *tailJSON
}

// tailJSON is an event's JSON, encoded on first use.
type tailJSON struct {
	once sync.Once
	b    []byte
	err  error
}

func (j *tailJSON) of(e *TailEvent) ([]byte, error) {
	j.once.Do(func() { j.b, j.err = json.Marshal(e) })
	return j.b, j.err
}

// size estimates e's size as JSON: what a waiting event holds.
func (e *TailEvent) size() int64 {
	n := 256 + len(e.Node) + len(e.Entry) + len(e.Worker) + len(e.Error)
	for _, h := range e.Hops {
		n += len(h) + 3
	}
	for _, l := range e.Logs {
		n += 48 + len(l.Level) + len(l.Message)
	}
	for _, x := range e.Exceptions {
		n += 64 + len(x.Name) + len(x.Message) + len(x.Stack)
	}
	return int64(n)
}

// open counts a new stream of holder (a peer's if peer), or answers why
// the node refuses it: the holder holds its share, or the node all it
// serves.
func (h *tailHub) open(holder string, peer bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.streams == nil {
		h.streams = map[string]int{}
	}
	switch {
	case peer && h.streams[holder] >= maxTails:
		return &apiError{status: http.StatusTooManyRequests, code: "too_many_tails",
			msg: fmt.Sprintf("%s already follows %d tails of this node, as many as it serves itself", holder, maxTails)}
	case !peer && h.streams[holder] >= maxTailsPerClient:
		return &apiError{status: http.StatusTooManyRequests, code: "too_many_tails",
			msg: fmt.Sprintf("this client (%s) already has %d tails of this node open, the most one client may; close one first", holder, maxTailsPerClient)}
	case !peer && h.own >= maxTails:
		return &apiError{status: http.StatusServiceUnavailable, code: "busy",
			msg: fmt.Sprintf("this node already serves %d tails, the most it serves at once; retry later or on another node", maxTails)}
	}
	h.streams[holder]++
	if !peer {
		h.own++
	}
	return nil
}

// close ends a stream that open counted.
func (h *tailHub) close(holder string, peer bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.streams[holder]--; h.streams[holder] <= 0 {
		delete(h.streams, holder)
	}
	if !peer {
		h.own--
	}
}

func (h *tailHub) subscribe(worker, outcome string) *tailSub {
	s := &tailSub{ch: make(chan tailItem, tailBuffer), worker: worker, outcome: outcome}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[*tailSub]bool{}
	}
	h.subs[s] = true
	h.n.Add(1)
	h.mu.Unlock()
	return s
}

func (h *tailHub) unsubscribe(s *tailSub) {
	h.mu.Lock()
	if h.subs[s] {
		delete(h.subs, s)
		h.n.Add(-1)
	}
	h.mu.Unlock()
}

// publish offers e to every subscriber whose filters it passes.
func (h *tailHub) publish(e TailEvent) {
	if h.n.Load() == 0 {
		return
	}
	size, enc := e.size(), &tailJSON{}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.put(e, size, enc)
	}
}

// offer offers s an event of its own (a peer's).
func (s *tailSub) offer(e TailEvent) { s.put(e, e.size(), &tailJSON{}) }

// put offers s an event of size bytes whose JSON is enc, if it passes
// s's filters.
func (s *tailSub) put(e TailEvent, size int64, enc *tailJSON) {
	if s.worker != "" && e.Worker != s.worker || s.outcome != "" && string(e.Outcome) != s.outcome {
		return
	}
	// Offers may race (a mesh-wide tail's peers each offer): each takes
	// its room before it sends, and gives it back if there is none.
	if held := s.held.Add(size); held > tailBufferBytes && held != size {
		s.held.Add(-size)
		s.dropped.Add(1)
		return
	}
	select {
	case s.ch <- tailItem{e, size, enc}:
	default:
		s.held.Add(-size)
		s.dropped.Add(1)
	}
}

// next takes a waiting item: its event's JSON, with the count of those
// dropped before it.
func (s *tailSub) next(it tailItem) ([]byte, error) {
	s.held.Add(-it.size)
	d := s.dropped.Swap(0)
	if d > 0 && it.Dropped != 0 { // a peer's count, and this tail's: encode the sum
		e := it.TailEvent
		e.Dropped += d
		return json.Marshal(&e)
	}
	b, err := it.enc.of(&it.TailEvent)
	if err != nil || d == 0 {
		return b, err
	}
	// "dropped" is the last field, and absent (omitempty) from the
	// shared encoding: add it before the closing brace.
	out := make([]byte, 0, len(b)+32)
	out = append(out, b[:len(b)-1]...)
	out = strconv.AppendInt(append(out, `,"dropped":`...), d, 10)
	return append(out, '}'), nil
}

// tail reports a finished invocation to the tail.
func (n *Node) tail(entry, worker string, res *isolate.Result) {
	if n.tails.n.Load() == 0 {
		return
	}
	hops := res.Telemetry.Hops
	if len(hops) == 0 {
		hops = []string{n.id.Name}
	}
	n.tails.publish(TailEvent{
		Time: time.Now().UTC(), Node: n.id.Name, Entry: entry, Worker: worker, Hops: hops,
		Outcome: res.Outcome, Error: res.Error, CPUMs: res.Telemetry.CPUTime, WallMs: res.Telemetry.WallTime,
		Logs: res.Logs, Exceptions: res.Exceptions,
	})
}

// tailOutcomes are the outcomes GET /v1/tail filters on.
var tailOutcomes = map[string]bool{}

func init() {
	for _, o := range isolate.Outcomes {
		tailOutcomes[string(o)] = true
	}
}

// tailQuery reads GET /v1/tail's parameters, or answers a 400: each at
// most once, none other, scope "node" or "mesh", worker a Worker's name,
// outcome one of the results' outcomes.
func tailQuery(r *http.Request) (mesh bool, worker, outcome string, err error) {
	bad := func(format string, args ...any) error {
		return &apiError{status: http.StatusBadRequest, code: "bad_request", msg: fmt.Sprintf(format, args...)}
	}
	q, perr := url.ParseQuery(r.URL.RawQuery)
	if perr != nil {
		return false, "", "", bad("the query: %v", perr)
	}
	for k, v := range q {
		switch {
		case k != "scope" && k != "worker" && k != "outcome":
			return false, "", "", bad("unknown parameter %s: the tail takes scope, worker and outcome", quote(k))
		case len(v) > 1:
			return false, "", "", bad("%s is given %d times", k, len(v))
		}
	}
	scope, worker, outcome := q.Get("scope"), q.Get("worker"), q.Get("outcome")
	if scope != "" && scope != "node" && scope != "mesh" {
		return false, "", "", bad(`scope: "node" (default) or "mesh"`)
	}
	if worker != "" {
		if err := ValidateWorkerName(worker); err != nil {
			return false, "", "", bad("worker: %v", err)
		}
	}
	if outcome != "" && !tailOutcomes[outcome] {
		return false, "", "", bad("outcome %s: one of ok, exception, exceededCpu, exceededMemory, exceededWallTime, canceled, loadShed, internalError, denied", quote(outcome))
	}
	return scope == "mesh", worker, outcome, nil
}

// tailHolder is who holds a tail stream, for its limits: a live peer that
// follows this node for a mesh-wide tail (its node token), or the client.
func (n *Node) tailHolder(r *http.Request) (holder string, peer bool) {
	tok := callerOf(r).tok
	if n.cfg.NoAuth { // the caller's token was not read; a peer sends one
		if raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			tok, _ = n.parseToken(strings.TrimSpace(raw), time.Now())
		}
	}
	if tok != nil && tok.Admin {
		if name, ok := strings.CutPrefix(tok.Name, "node "); ok && name != n.id.Name {
			for _, p := range n.mesh.Members() {
				if p.Name == name && p.State == mesh.StateAlive {
					return tok.Name, true
				}
			}
		}
	}
	return clientOf(r), false
}

// handleTail is GET /v1/tail[?scope=mesh][&worker=NAME][&outcome=X]: an
// admin's stream of finished invocations.
func (n *Node) handleTail(w http.ResponseWriter, r *http.Request) {
	if err := needAdmin(r, "tailing the mesh's invocations"); err != nil {
		writeError(w, err)
		return
	}
	meshScope, worker, outcome, err := tailQuery(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, ok := w.(http.Flusher); !ok {
		writeError(w, &apiError{status: http.StatusInternalServerError, code: "internal", msg: "streaming is not supported here"})
		return
	}
	holder, peer := n.tailHolder(r)
	if err := n.tails.open(holder, peer); err != nil {
		writeError(w, err)
		return
	}
	defer n.tails.close(holder, peer)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	if r.Method == http.MethodHead {
		// The head alone: a body would be thrown away, and the handler
		// must end for the connection to serve the client's next request.
		w.WriteHeader(http.StatusOK)
		return
	}
	sub := n.tails.subscribe(worker, outcome)
	defer n.tails.unsubscribe(sub)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(n.life, cancel)
	defer stop()
	if meshScope {
		go n.followPeers(ctx, sub, worker, outcome)
	}
	w.WriteHeader(http.StatusOK)
	// Every write waits at most tailStall for the client to read: one
	// that stops reading ends its tail.
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	send := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(tailStall.get()))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(": warren tail of %s (scope %s)\n\n", n.id.Name, map[bool]string{true: "mesh", false: "node"}[meshScope]) {
		return
	}
	keep := time.NewTicker(tailKeepAlive)
	defer keep.Stop()
	// The token that opened the tail must stay valid while it runs: a tail
	// ends when its token expires or is revoked (a leaked token's tail
	// would otherwise read every invocation for as long as it stays open).
	tok := callerOf(r).tok
	lapsed := func() bool {
		if tok == nil || tok == noAuthToken || tok.ValidAt(time.Now()) == nil && !errors.Is(n.checkRevoked(ctx, tok), errRevoked) {
			return false
		}
		send(": the tail's token expired or was revoked\n\n")
		return true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-keep.C:
			if lapsed() || !send(": keep-alive\n\n") {
				return
			}
		case it := <-sub.ch:
			if lapsed() {
				return
			}
			b, err := sub.next(it)
			if err != nil {
				continue
			}
			if !send("data: %s\n\n", b) {
				return
			}
		}
	}
}

// followPeers feeds sub the node-scoped tails of every live peer until
// ctx ends.
func (n *Node) followPeers(ctx context.Context, sub *tailSub, worker, outcome string) {
	following := map[string]bool{}
	var mu sync.Mutex
	tick := time.NewTicker(tailRefresh)
	defer tick.Stop()
	for {
		for _, p := range n.mesh.Members() {
			mu.Lock()
			skip := p.Name == n.id.Name || p.API == "" || following[p.Name] || p.State != mesh.StateAlive
			if !skip {
				following[p.Name] = true
			}
			mu.Unlock()
			if skip {
				continue
			}
			go func(name, api string) {
				n.followPeer(ctx, sub, api, worker, outcome)
				mu.Lock()
				delete(following, name) // gone: look again on the next round
				mu.Unlock()
			}(p.Name, p.API)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// tailClient reads peers' tails: no timeout (a stream lasts), but dials
// and headers are bounded.
var tailClient = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 10 * time.Second, IdleConnTimeout: time.Minute}}

// followPeer feeds sub one peer's node-scoped tail until it ends.
func (n *Node) followPeer(ctx context.Context, sub *tailSub, api, worker, outcome string) {
	tok, err := n.nodeToken()
	if err != nil {
		return
	}
	q := url.Values{"scope": {"node"}}
	if worker != "" {
		q.Set("worker", worker)
	}
	if outcome != "" {
		q.Set("outcome", outcome)
	}
	// A peer's stream that says nothing for tailPeerSilence (it sends a
	// keep-alive every tailKeepAlive) is given up: the peer is gone, or
	// cut off without a word, and is followed afresh once it is back.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	silent := time.AfterFunc(tailPeerSilence.get(), cancel)
	defer silent.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v1/tail?"+q.Encode(), nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := tailClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxTailEvent)
	for sc.Scan() {
		silent.Reset(tailPeerSilence.get())
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e TailEvent
		if json.Unmarshal([]byte(data), &e) == nil {
			sub.offer(e)
		}
	}
}

// maxTailEvent bounds one event read from a peer's tail: a result's
// logs and exceptions are bounded (isolate.MaxLogBytes and the rest).
const maxTailEvent = 8 << 20
