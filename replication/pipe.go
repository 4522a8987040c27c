package replication

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/mesh"
)

// Writes forwarded to a group's leader on another node travel on one
// long-lived stream per pair of nodes (a pipe) rather than on a stream of
// their own: a stream costs each side a QUIC stream's state, its
// goroutine, four buffers and a handshake of frames, about as much CPU as
// the rest of the forwarding. On a pipe, the pipe's writer goroutine
// writes the requests queued meanwhile in one write (and so about one
// packet), the peer answers them in any order, and answers ready together
// share a flush too. A caller only queues its request, so it gives up at
// its own deadline even when the stream is stalled.
//
// A pipe is a ProtoRepl stream whose version byte is
// mesh.ProtoReplPipeVersion:
//
//	opener → peer:  version byte, then requests:
//	                uvarint id | uvarint n | n bytes of JSON rpcReq | uvarint m | m bytes of body
//	peer → opener:  pipeOK, then answers:
//	                uvarint id | uvarint n | n bytes of JSON rpcResp | uvarint m | m bytes of body
//
// Ids are the opener's, distinct on a pipe. A peer that does not speak
// pipes (an older node) answers the version byte with a one-shot refusal,
// whose first byte is never pipeOK (it is the length of a JSON object):
// the opener then sends that peer its requests one per stream again.
//
// Only writes take pipes (opApply, with commands of at most
// maxPipeBody): reads and lists may answer with megabytes, which would
// hold up the answers queued behind them on one stream.
const (
	pipeOK = 0
	// maxPipeBody is the largest command sent on a pipe, and
	// maxPipeHeader the largest header a pipe's peer reads: with
	// maxPipeInFlight requests at once, a pipe holds at most about 80 MiB
	// of requests on the peer.
	maxPipeBody   = 64 << 10
	maxPipeHeader = 16 << 10
	// maxPipeInFlight bounds the requests a peer serves at once for one
	// pipe: past it, it stops reading the pipe until one is answered.
	maxPipeInFlight = 1024
	// pipeIdle: a pipe with nothing in flight for this long is closed.
	pipeIdle = time.Minute
	// noPipeFor: after a peer refused a pipe, requests to it go one per
	// stream for this long before a pipe is tried again.
	noPipeFor = time.Minute
)

// errNoPipe: the peer does not speak pipes.
var errNoPipe = errors.New("the peer does not speak request pipes")

// pipeCall is a request waiting for its answer on a pipe.
type pipeCall struct {
	done  chan struct{}
	resp  *rpcResp
	rbody []byte
	err   error
}

// pipe is this node's stream of requests to one peer.
type pipe struct {
	c    *Cluster
	peer string
	s    *mesh.Stream

	mu sync.Mutex
	// out holds the encoded requests not yet written; the pipe's writer
	// writes all of them at once, so that a caller never waits on the
	// stream itself (a peer cut off stalls the stream's writes until
	// pipeWriteTimeout, while a caller gives up at its own deadline).
	out     []byte
	outCond *sync.Cond // signalled when out grows or the pipe breaks
	calls   map[uint64]*pipeCall
	nextID  uint64
	err     error // the pipe is broken: every call fails with it
	usedAt  time.Time
	retired bool // replaced: it closes once its calls are answered
	// answers counts the answers read, so that a call that gives up can
	// tell whether the pipe said anything since it was sent.
	answers atomic.Uint64
}

// pipes is a Cluster's pipes by peer, and the peers that refused one.
type pipes struct {
	mu     sync.Mutex
	byPeer map[string]*pipe
	all    map[*pipe]struct{} // open ones: those of byPeer and retired ones
	noPipe map[string]time.Time
	closed bool
	wg     sync.WaitGroup // the pipes' readers
}

// pipeTo returns the live pipe to peer, opening one if needed; errNoPipe
// when the peer refused one lately.
func (c *Cluster) pipeTo(ctx context.Context, peer string) (*pipe, error) {
	c.pipes.mu.Lock()
	if t, ok := c.pipes.noPipe[peer]; ok {
		if time.Since(t) < noPipeFor {
			c.pipes.mu.Unlock()
			return nil, errNoPipe
		}
		delete(c.pipes.noPipe, peer)
	}
	if p := c.pipes.byPeer[peer]; p != nil {
		c.pipes.mu.Unlock()
		if c.m.Preferred(p.s) {
			return p, nil
		}
		// The peer restarted, or its connection was replaced: the pipe's
		// calls may end on the old connection, new ones go on a new pipe.
		p.mu.Lock()
		p.retired = true
		p.mu.Unlock()
		c.dropPipe(p)
	} else {
		c.pipes.mu.Unlock()
	}
	s, err := c.m.Open(ctx, peer, mesh.ProtoRepl)
	if err != nil {
		return nil, err
	}
	p := &pipe{c: c, peer: peer, s: s, calls: map[uint64]*pipeCall{}, usedAt: time.Now(), out: []byte{mesh.ProtoReplPipeVersion}}
	p.outCond = sync.NewCond(&p.mu)
	c.pipes.mu.Lock()
	if c.pipes.byPeer == nil {
		c.pipes.byPeer = map[string]*pipe{}
	}
	if q := c.pipes.byPeer[peer]; q != nil { // another caller was quicker
		c.pipes.mu.Unlock()
		s.Abort()
		return q, nil
	}
	if c.pipes.closed {
		c.pipes.mu.Unlock()
		s.Abort()
		return nil, ErrClosed
	}
	c.pipes.byPeer[peer] = p
	if c.pipes.all == nil {
		c.pipes.all = map[*pipe]struct{}{}
	}
	c.pipes.all[p] = struct{}{}
	c.pipes.wg.Add(2)
	c.pipes.mu.Unlock()
	go p.read()
	go p.write()
	return p, nil
}

// drop forgets p (broken or idle), so that the next call opens another.
func (c *Cluster) dropPipe(p *pipe) {
	c.pipes.mu.Lock()
	if c.pipes.byPeer[p.peer] == p {
		delete(c.pipes.byPeer, p.peer)
	}
	c.pipes.mu.Unlock()
}

// closePipes ends every pipe and waits for their readers (the Cluster is
// closing); no pipe opens after it.
func (c *Cluster) closePipes() {
	c.pipes.mu.Lock()
	c.pipes.closed = true
	ps := make([]*pipe, 0, len(c.pipes.all))
	for p := range c.pipes.all {
		ps = append(ps, p)
	}
	c.pipes.byPeer = nil
	c.pipes.mu.Unlock()
	for _, p := range ps {
		p.fail(ErrClosed)
	}
	c.pipes.wg.Wait()
}

// callPiped is call on a pipe: the same answers and the same meaning of
// sent. errNoPipe (sent false) when the peer speaks no pipes.
func (c *Cluster) callPiped(ctx context.Context, peer string, req *rpcReq, body []byte) (resp *rpcResp, rbody []byte, sent bool, err error) {
	p, err := c.pipeTo(ctx, peer)
	if err != nil {
		return nil, nil, false, err
	}
	pc := &pipeCall{done: make(chan struct{})}
	frame, err := encodeFrame(req, body)
	if err != nil {
		return nil, nil, false, err
	}
	p.mu.Lock()
	if p.err != nil {
		err := p.err
		p.mu.Unlock()
		return nil, nil, false, err
	}
	p.nextID++
	id := p.nextID
	p.calls[id] = pc
	p.usedAt = time.Now()
	p.out = binary.AppendUvarint(p.out, id)
	p.out = append(p.out, frame...)
	p.outCond.Signal()
	p.mu.Unlock()
	answered := p.answers.Load()

	select {
	case <-pc.done:
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.calls, id)
		p.mu.Unlock()
		if p.answers.Load() == answered {
			// Not a word from the peer since: the pipe may be dead (a
			// connection that stopped carrying packets ends only at its
			// idle timeout). The calls still on it fail and are sent
			// again, on a new pipe.
			p.fail(fmt.Errorf("no answer on the pipe to %s since a call given up was sent", peer))
		}
		return nil, nil, true, c.ctxErr(ctx, ctx.Err())
	}
	if pc.err != nil {
		// A refused pipe reached no handler: nothing was sent.
		return nil, nil, !errors.Is(pc.err, errNoPipe), c.ctxErr(ctx, pc.err)
	}
	if err := pc.resp.err(peer); err != nil {
		return pc.resp, nil, true, err
	}
	return pc.resp, pc.rbody, true, nil
}

// pipeWriteTimeout bounds one write of the pipe's queued requests: past
// it, the pipe is taken for dead.
const pipeWriteTimeout = 5 * time.Second

// write writes the queued requests, all that wait at once in one write,
// until the pipe breaks.
func (p *pipe) write() {
	defer p.c.pipes.wg.Done()
	var buf []byte
	for {
		p.mu.Lock()
		for len(p.out) == 0 && p.err == nil {
			p.outCond.Wait()
		}
		if p.err != nil {
			p.mu.Unlock()
			return
		}
		buf, p.out = p.out, buf[:0]
		p.mu.Unlock()
		p.s.SetWriteDeadline(time.Now().Add(pipeWriteTimeout))
		if _, err := p.s.Write(buf); err != nil {
			p.fail(fmt.Errorf("writing to %s's pipe: %w", p.peer, err))
			return
		}
	}
}

// fail breaks the pipe: every call waiting on it fails with err, and the
// stream ends.
func (p *pipe) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	err = p.err
	calls := p.calls
	p.calls = map[uint64]*pipeCall{}
	p.outCond.Broadcast() // the writer stops
	p.mu.Unlock()
	p.c.dropPipe(p)
	p.s.Abort()
	for _, pc := range calls {
		pc.err = err
		close(pc.done)
	}
}

// read delivers the peer's answers to their calls until the pipe breaks
// or stays idle for pipeIdle.
func (p *pipe) read() {
	defer p.c.pipes.wg.Done()
	defer func() {
		p.c.pipes.mu.Lock()
		delete(p.c.pipes.all, p)
		p.c.pipes.mu.Unlock()
	}()
	r := bufio.NewReaderSize(p.s, 16<<10)
	first, err := r.ReadByte()
	if err == nil && first != pipeOK {
		// An older peer's one-shot refusal of the version byte.
		p.c.pipes.mu.Lock()
		if p.c.pipes.noPipe == nil {
			p.c.pipes.noPipe = map[string]time.Time{}
		}
		p.c.pipes.noPipe[p.peer] = time.Now()
		p.c.pipes.mu.Unlock()
		p.fail(errNoPipe)
		return
	}
	if err != nil {
		p.fail(fmt.Errorf("reading %s's pipe: %w", p.peer, err))
		return
	}
	// Idle check: a pipe that answered everything and has seen no call
	// for pipeIdle closes, so that peers no longer written to cost
	// nothing.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(pipeIdle / 4)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.mu.Lock()
				idle := len(p.calls) == 0 && (p.retired || time.Since(p.usedAt) > pipeIdle)
				p.mu.Unlock()
				if idle {
					p.fail(fmt.Errorf("the pipe to %s was idle", p.peer))
					return
				}
			}
		}
	}()
	for {
		id, err := binary.ReadUvarint(r)
		if err != nil {
			p.fail(fmt.Errorf("reading %s's pipe: %w", p.peer, err))
			return
		}
		resp := new(rpcResp)
		rbody, err := readFrame(r, resp)
		if err != nil {
			p.fail(fmt.Errorf("reading %s's pipe: %w", p.peer, err))
			return
		}
		p.answers.Add(1)
		p.mu.Lock()
		pc := p.calls[id]
		delete(p.calls, id)
		p.mu.Unlock()
		if pc != nil { // nil: its caller gave up
			pc.resp, pc.rbody = resp, rbody
			close(pc.done)
		}
	}
}

// servePipe serves a pipe a peer opened (its version byte read): each
// request in a goroutine of its own, at most maxPipeInFlight at once, the
// answers written as they come, those ready together in one flush.
func (c *Cluster) servePipe(from mesh.Peer, s *mesh.Stream, r *bufio.Reader, w *bufio.Writer) {
	c.servePipeWith(from, s, r, w, c.handle)
}

// servePipeWith is servePipe with handle serving each request.
func (c *Cluster) servePipeWith(from mesh.Peer, s *mesh.Stream, r *bufio.Reader, w *bufio.Writer, handle func(context.Context, mesh.Peer, *rpcReq, []byte) (*rpcResp, []byte)) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	stop := context.AfterFunc(s.Context(), cancel) // the opener went away
	defer stop()
	var (
		wmu     sync.Mutex
		waiting atomic.Int32
		werr    error
		wg      sync.WaitGroup
	)
	defer wg.Wait()
	sem := make(chan struct{}, maxPipeInFlight)
	answer := func(id uint64, resp *rpcResp, rbody []byte) {
		waiting.Add(1)
		wmu.Lock()
		defer wmu.Unlock()
		if werr != nil {
			waiting.Add(-1)
			return
		}
		var n [binary.MaxVarintLen64]byte
		w.Write(n[:binary.PutUvarint(n[:], id)])
		err := writeFrameNoFlush(w, resp, rbody)
		if waiting.Add(-1) == 0 && err == nil {
			s.SetWriteDeadline(time.Now().Add(rpcHeaderTimeout + time.Duration(len(rbody)>>16)*time.Millisecond))
			err = w.Flush()
		}
		if err != nil {
			werr = err
			cancel() // the opener hears no more: it fails its calls
		}
	}
	w.WriteByte(pipeOK) // goes out with the first answer
	for {
		id, err := binary.ReadUvarint(r)
		if err != nil {
			return
		}
		var req rpcReq
		body, err := readFrameMax(r, &req, maxPipeHeader, maxPipeBody)
		if err != nil {
			answer(id, &rpcResp{Code: codeBadRequest, Error: err.Error()}, nil)
			return // the stream is out of step: end it
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			timeout := time.Duration(req.TimeoutMs) * time.Millisecond
			if timeout <= 0 || timeout > maxRPCTimeout {
				timeout = maxRPCTimeout
			}
			rctx, rcancel := context.WithTimeout(ctx, timeout)
			resp, rbody := handle(rctx, from, &req, body)
			rcancel()
			answer(id, resp, rbody)
		}()
	}
}
