package replication

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmesh/warren/mesh"
)

// pipeClient is a Cluster reduced to what call needs, on mesh m.
func pipeClient(t *testing.T, m *mesh.Mesh) *Cluster {
	c := &Cluster{m: m, log: testLogger()}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	t.Cleanup(func() { c.cancel(); c.closePipes() })
	return c
}

// Forwarded writes share one stream: concurrent calls go on one pipe,
// their answers come back in any order, and a pipe that breaks fails its
// calls as sent (their outcome unknown) and is replaced by the next call.
func TestPipe(t *testing.T) {
	cl := newCluster(t, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	srv := pipeClient(t, b.m)
	var streams atomic.Int32
	release := make(chan struct{})
	var cur atomic.Pointer[mesh.Stream]
	handle := func(ctx context.Context, from mesh.Peer, req *rpcReq, body []byte) (*rpcResp, []byte) {
		switch string(body) {
		case "first": // answered only once "second" has been
			select {
			case <-release:
			case <-ctx.Done():
				return &rpcResp{Code: codeUnavail, Error: "released by nobody"}, nil
			}
		case "break":
			cur.Load().Abort()
			return &rpcResp{}, nil
		case "invalid":
			return &rpcResp{Code: codeNotLeader, Error: "not the leader", Leader: "n9"}, nil
		}
		return &rpcResp{Leader: from.Name}, append([]byte(req.Group+":"), body...)
	}
	b.m.Handle(mesh.ProtoRepl, func(from mesh.Peer, s *mesh.Stream) {
		streams.Add(1)
		cur.Store(s)
		r, w := bufio.NewReader(s), bufio.NewWriter(s)
		if v, err := r.ReadByte(); err != nil || v != mesh.ProtoReplPipeVersion {
			t.Errorf("a stream of version %d (%v), not a pipe", v, err)
			return
		}
		srv.servePipeWith(from, s, r, w, handle)
	})
	c := pipeClient(t, a.m)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call := func(group, body string) (*rpcResp, []byte, bool, error) {
		return c.call(ctx, "n1", &rpcReq{Op: opApply, Group: group}, []byte(body))
	}

	// Out of order: "first" waits for "second"'s answer.
	firstDone := make(chan error, 1)
	go func() {
		_, rb, _, err := call("g1", "first")
		if err == nil && string(rb) != "g1:first" {
			err = fmt.Errorf("answer %q", rb)
		}
		firstDone <- err
	}()
	waitFor(t, 10*time.Second, "the first call in flight", func() bool {
		p, _ := c.pipeTo(ctx, "n1")
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.calls) == 1
	})
	if _, rb, sent, err := call("g2", "second"); err != nil || string(rb) != "g2:second" || !sent {
		t.Fatalf("second: %q, sent %v, %v", rb, sent, err)
	}
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatalf("first: %v", err)
	}

	// Many at once, one stream.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf("w%d", i)
			resp, rb, _, err := call("g3", body)
			switch {
			case err != nil:
				errs <- err
			case string(rb) != "g3:"+body || resp.Leader != "n0":
				errs <- fmt.Errorf("call %d: answer %q from %+v", i, rb, resp)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := streams.Load(); n != 1 {
		t.Fatalf("%d streams for 66 calls, want 1", n)
	}

	// An error answer is the caller's, and the pipe lives on.
	var re *rpcError
	if _, _, _, err := call("g4", "invalid"); !errors.As(err, &re) || re.Code != codeNotLeader || re.Leader != "n9" {
		t.Fatalf("error answer: %v", err)
	}

	// A broken pipe: the call's outcome is unknown (sent), the next call
	// opens another pipe.
	if _, _, sent, err := call("g5", "break"); err == nil || !sent {
		t.Fatalf("a call whose pipe broke: sent %v, %v", sent, err)
	}
	if _, rb, _, err := call("g6", "after"); err != nil || string(rb) != "g6:after" {
		t.Fatalf("after the break: %q, %v", rb, err)
	}
	if n := streams.Load(); n != 2 {
		t.Fatalf("%d streams, want 2 (one pipe, then its replacement)", n)
	}
}

// A peer that speaks no pipes (an older node) refuses the pipe's version;
// the write goes to it on a stream of its own, and so do the next ones
// for a while, without another try at a pipe.
func TestPipeOlderPeer(t *testing.T) {
	cl := newCluster(t, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	var pipes, oneShots atomic.Int32
	b.m.Handle(mesh.ProtoRepl, func(from mesh.Peer, s *mesh.Stream) { // as before pipes
		r, w := bufio.NewReader(s), bufio.NewWriter(s)
		v, err := r.ReadByte()
		if err != nil {
			return
		}
		if v != mesh.ProtoReplVersion {
			pipes.Add(1)
			writeFrame(w, &rpcResp{Code: codeBadVersion, Error: fmt.Sprintf("n1 speaks replication requests version 1, not %d", v)}, nil)
			return
		}
		oneShots.Add(1)
		var req rpcReq
		body, err := readFrame(r, &req)
		if err != nil {
			return
		}
		writeFrame(w, &rpcResp{}, append([]byte("old:"), body...))
	})
	c := pipeClient(t, a.m)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 3 {
		_, rb, _, err := c.call(ctx, "n1", &rpcReq{Op: opApply, Group: "g1"}, []byte("x"))
		if err != nil || string(rb) != "old:x" {
			t.Fatalf("call %d: %q, %v", i, rb, err)
		}
	}
	if p, o := pipes.Load(), oneShots.Load(); p != 1 || o != 3 {
		t.Fatalf("%d pipes tried and %d one-shot requests, want 1 and 3", p, o)
	}
}

// A pipe's opener is a peer, and a peer may be hostile or broken: the
// serving end runs at most maxPipeInFlight requests at once (the rest
// wait in the stream), and a command over maxPipeBody gets a bad-request
// answer and ends the pipe.
func TestPipeBounds(t *testing.T) {
	cl := newCluster(t, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	srv := pipeClient(t, b.m)
	var running, most atomic.Int32
	release := make(chan struct{})
	handle := func(ctx context.Context, _ mesh.Peer, _ *rpcReq, body []byte) (*rpcResp, []byte) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return &rpcResp{}, body
	}
	b.m.Handle(mesh.ProtoRepl, func(from mesh.Peer, s *mesh.Stream) {
		r, w := bufio.NewReader(s), bufio.NewWriter(s)
		if _, err := r.ReadByte(); err != nil {
			return
		}
		srv.servePipeWith(from, s, r, w, handle)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func() (*mesh.Stream, *bufio.Reader, *bufio.Writer) {
		s, err := a.m.Open(ctx, "n1", mesh.ProtoRepl)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Abort() })
		w := bufio.NewWriter(s)
		w.WriteByte(mesh.ProtoReplPipeVersion)
		return s, bufio.NewReader(s), w
	}
	send := func(w *bufio.Writer, id uint64, body []byte) error {
		var n [binary.MaxVarintLen64]byte
		w.Write(n[:binary.PutUvarint(n[:], id)])
		return writeFrameNoFlush(w, &rpcReq{Op: opApply, Group: "g"}, body)
	}

	_, r, w := open()
	const sent = maxPipeInFlight + 50
	for i := range sent {
		if err := send(w, uint64(i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the pipe's requests running", func() bool { return running.Load() == maxPipeInFlight })
	close(release)
	if ok, _ := r.ReadByte(); ok != pipeOK {
		t.Fatalf("first byte %d, want pipeOK", ok)
	}
	for i := range sent {
		if _, err := binary.ReadUvarint(r); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if _, err := readFrame(r, new(rpcResp)); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	if m := most.Load(); m != maxPipeInFlight {
		t.Fatalf("%d requests ran at once, want at most (and here exactly) %d", m, maxPipeInFlight)
	}

	_, r, w = open()
	// The serving end may stop reading as soon as it has the header: the
	// rest of the body may not go out.
	if send(w, 7, make([]byte, maxPipeBody+1)) == nil {
		w.Flush()
	}
	if ok, _ := r.ReadByte(); ok != pipeOK {
		t.Fatalf("first byte %d, want pipeOK", ok)
	}
	id, err := binary.ReadUvarint(r)
	var resp rpcResp
	if err == nil {
		_, err = readFrame(r, &resp)
	}
	if err != nil || id != 7 || resp.Code != codeBadRequest {
		t.Fatalf("an oversize command: answer %d %+v, %v; want a bad request", id, resp, err)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the pipe goes on after an oversize command")
	}
}
