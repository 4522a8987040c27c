package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
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
// how many.

const (
	// tailBuffer is the events a subscriber may have waiting.
	tailBuffer = 256
	// tailRefresh is how often a mesh-wide tail looks for new peers.
	tailRefresh = 2 * time.Second
	// tailKeepAlive is how often an idle stream sends a comment.
	tailKeepAlive = 15 * time.Second
)

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
}

type tailSub struct {
	ch      chan TailEvent
	dropped atomic.Int64
	worker  string
	outcome string
}

func (h *tailHub) subscribe(worker, outcome string) *tailSub {
	s := &tailSub{ch: make(chan TailEvent, tailBuffer), worker: worker, outcome: outcome}
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
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.offer(e)
	}
}

func (s *tailSub) offer(e TailEvent) {
	if s.worker != "" && e.Worker != s.worker || s.outcome != "" && string(e.Outcome) != s.outcome {
		return
	}
	select {
	case s.ch <- e:
	default:
		s.dropped.Add(1)
	}
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

// handleTail is GET /v1/tail[?scope=mesh][&worker=NAME][&outcome=X]: an
// admin's stream of finished invocations.
func (n *Node) handleTail(w http.ResponseWriter, r *http.Request) {
	if err := needAdmin(r, "tailing the mesh's invocations"); err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	scope := q.Get("scope")
	if scope != "" && scope != "node" && scope != "mesh" {
		writeError(w, &apiError{status: http.StatusBadRequest, code: "bad_request", msg: `scope: "node" (default) or "mesh"`})
		return
	}
	worker, outcome := q.Get("worker"), q.Get("outcome")
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, &apiError{status: http.StatusInternalServerError, code: "internal", msg: "streaming is not supported here"})
		return
	}
	sub := n.tails.subscribe(worker, outcome)
	defer n.tails.unsubscribe(sub)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(n.life, cancel)
	defer stop()
	if scope == "mesh" {
		go n.followPeers(ctx, sub, worker, outcome)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprintf(w, ": warren tail of %s (scope %s)\n\n", n.id.Name, map[bool]string{true: "mesh", false: "node"}[scope == "mesh"])
	flusher.Flush()
	keep := time.NewTicker(tailKeepAlive)
	defer keep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case e := <-sub.ch:
			e.Dropped += sub.dropped.Swap(0)
			b, err := json.Marshal(&e)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			flusher.Flush()
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
