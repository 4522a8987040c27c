package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/internal/sizedlru"
	"github.com/warrenmesh/warren/internal/stagetime"
	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/policy"
)

// queuePoll is how often a queued invocation looks for room again.
const queuePoll = 20 * time.Millisecond

// peerWait bounds how long a full peer holds a retried forward waiting for a
// slot: gossiped free-slot counts are up to a second old, so a queued call
// asks peers to wait for a slot instead of polling them.
const peerWait = 50 * time.Millisecond

// RunRequest is the body of POST /v1/run and of a forwarded invocation.
type RunRequest struct {
	Code     json.RawMessage            `json:"code,omitempty"`
	Request  *isolate.Request           `json:"request,omitempty"`
	Bindings map[string]isolate.Binding `json:"bindings,omitempty"`
	// Hops lists the nodes the invocation went through (set by nodes).
	Hops []string `json:"hops,omitempty"`
	// WaitMs lets a peer that is full wait this long for a slot before it
	// answers "full" (set by nodes on their retries).
	WaitMs int64 `json:"waitMs,omitempty"`
	// CodeRef, set by nodes in place of a large code object, is the hex
	// SHA-256 of its JSON: the peer runs the code it decoded under that
	// hash before, or asks for the code.
	CodeRef string `json:"codeRef,omitempty"`
	// Client names the client the invocation came from, for the share of
	// slots and queue it may hold on each node (Config.ClientSlots): the
	// API sets the name of the caller's token (its address on a node
	// without auth, and for a deployed Worker's visitors), and it travels
	// with a forwarded invocation so that a peer counts the client, not
	// the node that forwarded it. A caller of Node.Run may name one; with
	// none, a call is held to no share.
	Client string `json:"client,omitempty"`
	// Scheduled, when set, runs the Worker's scheduled handler instead of
	// fetch (a cron trigger's tick, or one run by hand); Request is then
	// not needed.
	Scheduled *isolate.ScheduledEvent `json:"scheduled,omitempty"`
	// CF is request.cf as the node that took the call knows it (set by
	// nodes from the API call's connection; the colo is the running
	// node's).
	CF *isolate.RequestCF `json:"cf,omitempty"`
	// Token is the caller's token, which a forwarded invocation carries
	// so that the peer verifies it again and applies the same grants (set
	// by nodes from the API call's Authorization header).
	Token string `json:"token,omitempty"`
	// Stream, in a forwarded invocation, asks the peer to send a streamed
	// response's body as it is produced (fwdChunk frames after the
	// result). Nodes set it from pipe; a client's value is ignored.
	Stream bool `json:"stream,omitempty"`
	// SetCookie, in a forwarded invocation, says the caller reads a
	// result's Set-Cookie values apart (Response.SetCookie, a trailing
	// field of the binary result that a node from before it refuses):
	// a peer keeps them only when asked. Nodes set it; a client's value
	// is ignored.
	SetCookie bool `json:"setCookie,omitempty"`
	// Depth is how many Worker invocations led to this call: set by nodes
	// from the API call's WorkerDepthHeader (a Worker that calls /v1/run
	// through its egress), and carried by a forwarded call, so that the
	// Worker fetches of the code it runs count on from there and /v1/run
	// cannot restart a loop's count. A peer refuses one past
	// maxWorkerDepth.
	Depth int `json:"depth,omitempty"`

	key  [32]byte          // SHA-256 of Code, set by decode (or before, from a Deployment's codeKey)
	pipe *isolate.BodyPipe // where a streamed body goes (nil: buffer it)
	addr string            // the API caller's address (clientOf), for the audit log
}

// codeCache holds decoded code objects by the SHA-256 of their JSON,
// bounded by count and by the bytes of that JSON: 256 MiB in all, and none
// over a quarter of it.
type codeCache = sizedlru.Cache[[32]byte, *isolate.Code]

func newCodeCache() *codeCache { return sizedlru.New[[32]byte, *isolate.Code](256, 256<<20) }

// codeHash is the key of a code object's JSON. bigCodeHashes counts
// those of over 1 MiB hashed (the tests count them).
func codeHash(code []byte) [32]byte {
	if len(code) > 1<<20 {
		bigCodeHashes.Add(1)
	}
	return sha256.Sum256(code)
}

var bigCodeHashes atomic.Int64

// errCodeMissing: a CodeRef this node holds no code for.
var errCodeMissing = errors.New("node: no code under this codeRef")

// decode validates a run request into an invocation: the API's, a peer's
// and an embedder's alike. Decoded code objects are cached by the hash of
// their JSON (agents resend the same code), and shared: nothing downstream
// mutates a Code.
func (r *RunRequest) decode(cache *codeCache) (*isolate.Invocation, error) {
	if err := validateRequest(r.Request); err != nil {
		return nil, err
	}
	if err := ApplyHost(r.Request); err != nil {
		return nil, &apiError{status: http.StatusBadRequest, code: "bad_request", msg: "request.headers: " + err.Error()}
	}
	// The guest reads the URL with the URL Standard's parser, which
	// refuses many a URL that validateRequest's net/url takes (a port past
	// 65535, a host with "<" or "%"): refused there, the call ended as the
	// node's internal error (a /w/ client's Host: x:99999 was a 502).
	if r.Request != nil && r.Request.URL != "" {
		if err := isolate.CheckRequestURL(r.Request.URL); err != nil {
			return nil, &apiError{status: http.StatusBadRequest, code: "bad_request", msg: fmt.Sprintf("request.url: %s is not a URL: %v", quote(r.Request.URL), err)}
		}
	}
	key := r.key
	switch {
	case key != [32]byte{}: // the caller hashed Code already (a deployment's)
	case len(r.Code) > 0:
		key = codeHash(r.Code)
	case r.CodeRef != "":
		if len(r.CodeRef) != hex.EncodedLen(len(key)) {
			return nil, &apiError{status: 400, code: "invalid_code", msg: "codeRef: not a hex SHA-256"}
		}
		if _, err := hex.Decode(key[:], []byte(r.CodeRef)); err != nil {
			return nil, &apiError{status: 400, code: "invalid_code", msg: "codeRef: not a hex SHA-256"}
		}
	default:
		return nil, &apiError{status: 400, code: "invalid_code", msg: "code: missing"}
	}
	r.key = key
	c, ok := cache.Get(key)
	if !ok && len(r.Code) == 0 {
		return nil, errCodeMissing
	}
	if !ok {
		var err error
		if c, err = isolate.DecodeCode(r.Code); err != nil {
			return nil, &apiError{status: 400, code: "invalid_code", msg: err.Error()}
		}
		cache.Add(key, c, int64(len(r.Code)))
	}
	if err := isolate.ValidateBindings(r.Bindings, c.Env); err != nil {
		return nil, &apiError{status: 400, code: "invalid_bindings", msg: err.Error()}
	}
	for _, name := range sortedNames(r.Bindings) {
		if err := reservedNamespace(r.Bindings[name].KV); err != nil {
			return nil, &apiError{status: 400, code: "invalid_bindings", msg: fmt.Sprintf("bindings[%q]: %v", name, kvRuleError{err})}
		}
		// What validRef will ask of every call on the binding.
		if do := r.Bindings[name].DurableObject; do != nil {
			if err := ValidateWorkerName(do.Worker); err != nil {
				return nil, &apiError{status: 400, code: "invalid_bindings", msg: fmt.Sprintf("bindings[%q]: durableObject worker: %v", name, err)}
			}
			if len(do.Class) > maxObjectClass {
				return nil, &apiError{status: 400, code: "invalid_bindings", msg: fmt.Sprintf("bindings[%q]: durableObject class is %d bytes, more than %d", name, len(do.Class), maxObjectClass)}
			}
		}
	}
	inv := &isolate.Invocation{Code: c, Request: r.Request, Bindings: r.Bindings, Scheduled: r.Scheduled, StreamTo: r.pipe}
	if r.CF != nil && r.Request != nil {
		rq := *r.Request
		rq.CF = r.CF
		inv.Request = &rq
	}
	return inv, nil
}

// Run routes one invocation: here when a slot is free, else to the nearest
// peer with room, else it waits up to QueueTimeout and is shed. raw is the
// request as received, forwarded verbatim to a peer.
func (n *Node) Run(ctx context.Context, raw *RunRequest) *isolate.Result {
	inv, err := raw.decode(n.codes)
	if err != nil {
		return &isolate.Result{Outcome: isolate.OutcomeException, Error: err.Error(), Logs: []isolate.Log{},
			Exceptions: []isolate.Exception{{Timestamp: time.Now().UnixMilli(), Name: "Error", Message: err.Error()}}}
	}
	return n.route(ctx, inv, raw, nil)
}

// route runs inv where there is room (see Run), as who's grants allow
// (nil: all).
// Every result says where it ended: a call that ran carries its route from
// the node that ran it; a call shed or canceled while queued ended here.
func (n *Node) route(ctx context.Context, inv *isolate.Invocation, raw *RunRequest, who *policy.Token) *isolate.Result {
	start := time.Now()
	ctx = withDepth(ctx, raw.Depth)
	var res *isolate.Result
	// Ceilings are checked here as well as by the runtime: a call
	// forwarded to a peer must not escape this node's.
	switch l := inv.Code.Limits; {
	case l != nil && l.WallMs > n.cfg.MaxWallMs:
		res = denied(fmt.Sprintf("limits.wallMs %d exceeds this node's maximum of %d (warren node --max-wall-ms)", l.WallMs, n.cfg.MaxWallMs))
	case l != nil && l.MemoryMB > n.cfg.MaxMemoryMB:
		res = denied(fmt.Sprintf("limits.memoryMb %d exceeds this node's maximum of %d; its operator can raise that up to %d (warren node --max-memory-mb)",
			l.MemoryMB, n.cfg.MaxMemoryMB, isolate.MaxLimits.MemoryMB))
	default:
		granted, refused := n.grant(inv, who)
		if refused != nil {
			res = refused
			break
		}
		res = n.place(ctx, granted, raw)
		n.forgetFailed(raw.key, inv, res)
	}
	// runHere counted a call run here (its final result); the rest are
	// counted here.
	where := whereRan(res)
	n.metrics.took(start, where)
	if where != whereLocal {
		n.metrics.ended(res, where)
	}
	if len(res.Telemetry.Hops) == 0 {
		res.Telemetry.Hops = []string{n.id.Name}
	}
	if res.Telemetry.Node == "" {
		res.Telemetry.Node = res.Telemetry.Hops[len(res.Telemetry.Hops)-1]
	}
	return res
}

func (n *Node) place(ctx context.Context, inv *isolate.Invocation, raw *RunRequest) *isolate.Result {
	tPlace := stagetime.Now()
	cs := n.share.get(raw.Client)
	defer n.share.put(cs)
	if n.tryAcquire(cs) {
		stagetime.Since("3-slot-wait", tPlace)
		return n.runHere(ctx, inv, cs, whereLocal)
	}
	if n.queued.Add(1) > int64(n.cfg.MaxQueued) {
		n.queued.Add(-1)
		return shed(fmt.Sprintf("node %s is full and already has %d invocations waiting for room", n.id.Name, n.cfg.MaxQueued))
	}
	defer n.queued.Add(-1)
	if !n.share.enqueue(cs) {
		return shed(fmt.Sprintf("client %s already has %d invocations waiting for room on node %s", raw.Client, n.cfg.ClientQueued, n.id.Name))
	}
	defer n.share.dequeue(cs)
	deadline := time.Now().Add(n.cfg.QueueTimeout)
	var ticker *time.Ticker
	var expire *time.Timer
	for pass := 0; ; pass++ {
		// The first pass trusts gossip and asks peers not to wait, but for
		// its last (there is nothing else to try); later passes try every
		// alive peer and let a full one wait briefly.
		names := n.ranked(pass > 0, cs)
		for i, name := range names {
			if name == n.id.Name {
				if n.tryAcquire(cs) {
					return n.runHere(ctx, inv, cs, whereLocal)
				}
				continue
			}
			wait := time.Duration(0)
			if pass > 0 || i == len(names)-1 {
				wait = min(peerWait, time.Until(deadline))
			}
			if res, started := n.forward(ctx, name, raw, wait, deadline); started {
				return res
			}
		}
		if pass == 0 {
			// Gossip was stale: ask again at once, letting peers wait.
			continue
		}
		left := time.Until(deadline)
		if left <= 0 {
			return shed(fmt.Sprintf("no node of the mesh had room for %v", n.cfg.QueueTimeout))
		}
		if ticker == nil {
			ticker, expire = time.NewTicker(queuePoll), time.NewTimer(left)
			defer ticker.Stop()
			defer expire.Stop()
		}
		if n.waitSlot(cs, ticker.C, expire.C, ctx.Done()) {
			stagetime.Since("3-slot-wait", tPlace)
			return n.runHere(ctx, inv, cs, whereLocal)
		}
		if err := ctx.Err(); err != nil {
			return &isolate.Result{Outcome: isolate.OutcomeCanceled, Error: "canceled while waiting for room: " + err.Error(), Logs: []isolate.Log{}, Exceptions: []isolate.Exception{}}
		}
		if !time.Now().Before(deadline) {
			return shed(fmt.Sprintf("no node of the mesh had room for %v", n.cfg.QueueTimeout))
		}
	}
}

// waitSlot waits for a slot for a call of cs, until tick, expire or done:
// first for one of the client's own (the wait of a client at its share),
// then for one of the node's.
func (n *Node) waitSlot(cs *clientState, tick, expire <-chan time.Time, done <-chan struct{}) bool {
	if cs != nil {
		select {
		case cs.slots <- struct{}{}:
		case <-tick:
			return false
		case <-expire:
			return false
		case <-done:
			return false
		}
	}
	select {
	case n.slots <- struct{}{}:
		if n.admitted() {
			return true
		}
	case <-tick:
	case <-expire:
	case <-done:
	}
	cs.putToken()
	return false
}

// denied is the denied result, saying why.
func denied(why string) *isolate.Result {
	return &isolate.Result{Outcome: isolate.OutcomeDenied, Error: why, Logs: []isolate.Log{}, Exceptions: []isolate.Exception{}}
}

// shed is the loadShed result, saying why.
func shed(why string) *isolate.Result {
	return &isolate.Result{Outcome: isolate.OutcomeLoadShed, Error: why, Logs: []isolate.Log{}, Exceptions: []isolate.Exception{}}
}

// runHere runs an invocation of cs on this node; the caller holds a slot.
//
// The result returns as soon as the response is ready. When ctx.waitUntil
// work is still pending then, it goes on after the caller has its answer,
// detached from the caller's cancellation and still holding the slot (its
// worker is busy), until it ends (isolate.BackgroundLimit at most); its
// final result, with the background's logs and exceptions, goes to
// Config.OnFinish and the node's log.
//
// where is whereLocal or whereForwardedIn, for the metrics.
func (n *Node) runHere(ctx context.Context, inv *isolate.Invocation, cs *clientState, where string) *isolate.Result {
	n.running.Add(1)
	n.ran.Add(1)
	// The call's own context: canceled by the caller until the response
	// is out, and by the node's end always; under the chain of objects
	// its request names, if it came from an object's fetch, and at the
	// depth it names, if it came from a Worker's.
	run, cancel := context.WithCancel(context.WithoutCancel(withCallers(ctx, inv.Request)))
	detach := context.AfterFunc(ctx, cancel)
	stopLife := context.AfterFunc(n.life, cancel)
	early := make(chan *isolate.Result, 1)
	call := *inv
	call.OnResponse = func(r *isolate.Result) { early <- r }
	if cs != nil {
		call.Sched = n.heavy.sched(cs.name)
	}
	final := make(chan *isolate.Result, 1)
	tGo := stagetime.Now()
	var tRan time.Time // when Run returned (stagetime)
	go func() {
		if stagetime.On {
			stagetime.Since("4-to-run-goroutine", tGo)
		}
		res := n.rt.Run(run, &call)
		res.Telemetry.Hops = []string{n.id.Name}
		if cs != nil {
			n.heavy.ended(cs.name, res)
		}
		stopLife()
		cancel()
		n.release(cs)
		n.running.Add(-1)
		if stagetime.On {
			tRan = stagetime.Now()
		}
		final <- res
	}()
	select {
	case res := <-final:
		if stagetime.On {
			stagetime.Since("7-back-to-handler", tRan)
		}
		detach()
		n.finished(res, false, where)
		return res
	case res := <-early:
		detach()
		res.Telemetry.Hops = []string{n.id.Name}
		go func() { n.finished(<-final, true, where) }()
		return res
	}
}

// finished reports the final result of an invocation run here.
// background says its ctx.waitUntil work outlived the response, so the
// caller has not seen this result.
func (n *Node) finished(res *isolate.Result, background bool, where string) {
	n.metrics.ended(res, where)
	if background {
		// Nobody but the live tail sees this result: a background that
		// was cut short or threw is worth the log, at most once per
		// backgroundLogEvery (a client cuts a stream by going away).
		level, skipped := slog.LevelDebug, 0
		if res.Error != "" || len(res.Exceptions) > 0 {
			var ok bool
			if ok, skipped = n.backgroundLog.allow(time.Now()); ok {
				level = slog.LevelInfo
			}
		}
		n.log.Log(context.Background(), level, "an invocation ended after its response went out (ctx.waitUntil work, a streamed body)", "outcome", res.Outcome, "cut", res.Error,
			"logs", len(res.Logs), "exceptions", len(res.Exceptions), "moreNotLogged", skipped)
	}
	if n.cfg.OnFinish != nil {
		n.cfg.OnFinish(res, background)
	}
}

// backgroundLogEvery is how often a node logs, at most, a background
// that was cut short or threw: a client decides how often a deployed
// Worker's stream is cut (it goes away mid-body), and a line for each
// call let any client set the rate at which the node wrote its log.
const backgroundLogEvery = time.Second

// rateLog lets a line through at most once per backgroundLogEvery, and
// counts those it holds back.
type rateLog struct {
	mu      sync.Mutex
	last    time.Time
	skipped int // since the last line let through
	total   int // asked about, for tests
}

// allow reports whether a line may be logged at now, and how many were
// held back since the last one.
func (r *rateLog) allow(now time.Time) (ok bool, skipped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	if !r.last.IsZero() && now.Sub(r.last) < backgroundLogEvery {
		r.skipped++
		return false, 0
	}
	r.last, skipped, r.skipped = now, r.skipped, 0
	return true, skipped
}

func (r *rateLog) seen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// whereRan says where a result of place ran, by its hops (before route
// fills them in for a call that ran nowhere).
func whereRan(res *isolate.Result) string {
	switch len(res.Telemetry.Hops) {
	case 0:
		return whereNone
	case 1:
		return whereLocal
	default:
		return whereForwardedOut
	}
}

// ranked orders the nodes that may take an invocation of cs now. optimistic
// treats every alive peer as having room (their gossiped counts are stale).
func (n *Node) ranked(optimistic bool, cs *clientState) []string {
	members := n.mesh.Members()
	cands := make([]mesh.Candidate, 0, len(members))
	for _, p := range members {
		c := p.Candidate()
		switch {
		case p.Local:
			c.Free = min(n.cfg.Slots-len(n.slots), cs.room())
		case optimistic:
			c.Free = max(c.Free, 1)
		}
		cands = append(cands, c)
	}
	return mesh.Rank(cands)
}

func internalError(msg string) *isolate.Result {
	return &isolate.Result{Outcome: isolate.OutcomeInternalError, Error: msg, Logs: []isolate.Log{}, Exceptions: []isolate.Exception{}}
}

// appendFrame appends b with its length prefix.
func appendFrame(dst, b []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(b))), b...)
}

func writeFrame(w io.Writer, b []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(hdr[:k]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readFrame(r *bufio.Reader) ([]byte, error) {
	size, err := readFrameSize(r, maxForwardFrame)
	if err != nil {
		return nil, err
	}
	return readFrameBody(r, size)
}

// readFrameSize reads a frame's length, at most max.
func readFrameSize(r *bufio.Reader, max uint64) (uint64, error) {
	size, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, err
	}
	if size > max {
		return 0, fmt.Errorf("frame of %d bytes exceeds %d", size, max)
	}
	return size, nil
}

// readFrameBody reads a frame's size bytes from r.
func readFrameBody(r *bufio.Reader, size uint64) ([]byte, error) {
	// Memory grows with the bytes that arrive, not with what the header
	// claims.
	var buf bytes.Buffer
	buf.Grow(int(min(size, 64<<10)))
	if _, err := buf.ReadFrom(io.LimitReader(r, int64(size))); err != nil {
		return nil, err
	}
	if uint64(buf.Len()) != size {
		return nil, io.ErrUnexpectedEOF
	}
	return buf.Bytes(), nil
}

// waitSlotFor waits up to d for a free slot for a call of cs and takes it.
func (n *Node) waitSlotFor(cs *clientState, d time.Duration) bool {
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	return n.waitSlot(cs, nil, t.C, n.done)
}

// forgetFailed drops code whose preparation failed from the code cache:
// the runtime remembers the failure by hash, and hostile code (up to
// 64 MiB a time) must not stay resident after its call. A call that ran
// on a peer failed there if it ended in an exception before any of its
// JavaScript ran (no CPU time, no response).
func (n *Node) forgetFailed(key [32]byte, inv *isolate.Invocation, res *isolate.Result) {
	if res.Outcome != isolate.OutcomeException {
		return
	}
	onPeer := res.Telemetry.Node != n.id.Name && res.Response == nil && res.Telemetry.CPUTime == 0
	if onPeer || n.rt.PrepareFailed(inv.Code) {
		n.codes.Remove(key)
	}
}
