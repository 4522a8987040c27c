package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
)

// protoInvoke is the mesh stream protocol that forwards an invocation
// (registered with the others in mesh).
const protoInvoke = mesh.ProtoInvoke

// Forwarding an invocation, and why it never runs twice.
//
// The caller sends the version it speaks (mesh.ProtoInvokeVersion, one
// byte) and the invocation in one frame. A peer that does not speak that
// version answers fwdBadVersion and a frame listing the versions it speaks,
// one byte each, and runs nothing; the caller tries the next peer, as for
// fwdRefused, and logs versionRefusal's error. The refusal's format is the
// same in every version.
//
// The peer answers fwdFull or fwdRefused (the caller tries the next peer),
// or takes a slot and runs it at once, holding back its effects: the first subrequest, KV write or
// Durable Object call first asks the caller (fwdPermit) and waits for its
// go-ahead (fwdGo). The peer tells the caller it has started with the first
// of fwdStarted (sent once the invocation has run for announceAfter),
// fwdPermit, or fwdResult and the result frame.
//
// Until the caller hears one of those, it may give up on the peer (no
// answer in time, a dead connection) and try the next one: the
// peer can have run only the effect-free part of the invocation, because
// its go-ahead never comes, and the caller's reset cancels it. Once it has
// heard one, the invocation is started: a failure is reported as
// internalError naming the peer, never retried. An effect-free call, the
// common case, costs one packet each way.
//
// A code object over inlineCode goes by reference: the request carries the
// SHA-256 of its JSON (codeRef), and a peer that has not decoded that code
// before answers fwdNeed; the caller then sends it again with the code. An
// agent resending the same 50 KB Worker pays for the transfer once per peer.
const (
	fwdFull    byte = 'F' // no slot: try the next peer
	fwdRefused byte = 'E' // a bad frame; a message follows
	fwdStarted byte = 'A' // it has been running for announceAfter
	fwdPermit  byte = 'P' // it wants to make its first effect
	fwdResult  byte = 'R' // the result frame follows
	fwdGo      byte = 'G' // the caller's go-ahead for effects
	fwdNeed    byte = 'C' // it holds no code under the request's codeRef: send it
	// fwdBadVersion: it does not speak the caller's version; a frame
	// listing the versions it speaks follows.
	fwdBadVersion byte = 'V'
	// fwdChunk and fwdEnd follow the result of a streamed response (see
	// streamed responses below): a frame with the next chunk of its body;
	// a frame ending the body, empty when it is complete, else saying why
	// it failed.
	fwdChunk byte = 'B'
	fwdEnd   byte = 'Z'
)

// Streamed responses.
//
// A caller that can send a body on as it comes (a /w/ call) sets Stream.
// When the Worker's response body is a stream, the peer's result comes as
// soon as the response's head is known, with Response.Streamed set and no
// body; fwdChunk frames carry the body as the Worker writes it, and a
// fwdEnd frame ends it, before the peer's FIN. QUIC's flow control holds
// the Worker back when the caller's client reads slowly.
//
// A caller that hears a streamed result sends the go-ahead for effects at
// once if it has not yet: the call is started and never retried, and the
// Worker may need a subrequest to produce its body, which cannot wait for
// the caller's FIN (see permit) as that comes after the body.

// inlineCode is the largest code object a forward always carries; a larger
// one goes by reference (codeRef), and travels only to a peer that asks.
const inlineCode = 8 << 10

const (
	// announceAfter is how long a forwarded invocation runs before the
	// peer says it has started (a quicker one just returns its result).
	announceAfter = 5 * time.Millisecond
	// minAnswer is the least time a caller gives a peer to answer, beyond
	// the time it let the peer wait for a slot; otherwise the call's queue
	// deadline bounds it. It matters only for a peer that is alive to
	// gossip but does not answer (a one-way partition, a wedged process):
	// a dead one is noticed sooner. A healthy peer answers within a few
	// milliseconds; one that answers too late has its run canceled,
	// without effects.
	minAnswer = 250 * time.Millisecond
	// callerFINWait bounds how long a peer waits for the caller to close its
	// side after the result.
	callerFINWait = 5 * time.Second
	// finWait bounds how long a caller waits for the peer's FIN after the
	// result (it comes in the same packet).
	finWait = 100 * time.Millisecond
)

// bodyStall bounds how long a streamed body's next chunk may wait for its
// reader (the caller, the HTTP client) before the body is given up.
const bodyStall = 30 * time.Second

// oneWrite is the largest frame a caller sends in a single write.
const oneWrite = 64 << 10

// fwdReadBuf sizes the buffered readers of a forwarded invocation's stream:
// they read single bytes and frame headers, and a frame's body bigger than
// the buffer is read past it, straight into the frame.
const fwdReadBuf = 512

// maxForwardFrame caps a forwarded frame (the code object, the request, the result).
const maxForwardFrame = MaxRunBody

// errNoGoAhead is what a held effect fails with when the caller never
// allowed it.
var errNoGoAhead = errors.New("the node that forwarded this invocation did not allow its effects")

// forward hands the invocation to peer. started reports whether the peer
// has started it; from then on it is never retried elsewhere, and a failure
// is reported as internalError naming the peer.
// The peer must answer by answerBy (but it gets at least minAnswer plus
// wait).
func (n *Node) forward(ctx context.Context, peer string, raw *RunRequest, wait time.Duration, answerBy time.Time) (res *isolate.Result, started bool) {
	res, started, needCode := n.forwardOnce(ctx, peer, raw, wait, answerBy, len(raw.Code) <= inlineCode)
	if needCode {
		res, started, _ = n.forwardOnce(ctx, peer, raw, wait, answerBy, true)
	}
	return res, started
}

// forwardOnce is one attempt of forward, carrying the code or a reference
// to it; needCode reports that the peer asked for the code.
func (n *Node) forwardOnce(ctx context.Context, peer string, raw *RunRequest, wait time.Duration, answerBy time.Time, withCode bool) (res *isolate.Result, started, needCode bool) {
	s, err := n.mesh.Open(ctx, peer, protoInvoke)
	if err != nil {
		n.log.Debug("forward: open", "peer", peer, "err", err)
		return nil, false, false
	}
	stop := context.AfterFunc(ctx, s.Abort)
	handedOff := false // a streamed body's reader owns the stream
	defer func() {
		if !handedOff {
			stop()
			s.Close()
		}
	}()
	fr := *raw
	fr.Stream = raw.pipe != nil
	fr.SetCookie = true
	fr.Hops = append(append([]string(nil), raw.Hops...), n.id.Name)
	fr.WaitMs = wait.Milliseconds()
	fr.Depth = depthOf(ctx)
	if fr.Token == "" {
		// A call without a caller's token (an embedder's Node.Run, a
		// node without auth) goes as this node's administrator.
		tok, err := n.nodeToken()
		if err != nil {
			return internalError(fmt.Sprintf("a token for %s: %v", peer, err)), true, false
		}
		fr.Token = tok
	}
	if !withCode {
		fr.Code, fr.CodeRef = nil, hex.EncodeToString(raw.key[:])
	}
	body, err := encodeForward(&fr)
	if err != nil {
		return internalError(fmt.Sprintf("encoding the invocation for %s: %v", peer, err)), true, false
	}
	// One write, so that the version and the frame leave in one packet
	// (a write of its own would send the length ahead of the body).
	if len(body) <= oneWrite {
		msg := append(make([]byte, 0, 1+binary.MaxVarintLen64+len(body)), mesh.ProtoInvokeVersion)
		body = appendFrame(msg, body)
		_, err = s.Write(body)
	} else if _, err = s.Write([]byte{mesh.ProtoInvokeVersion}); err == nil {
		err = writeFrame(s, body)
	}
	if err != nil {
		n.log.Debug("forward: send", "peer", peer, "err", err)
		s.Abort()
		return nil, false, false
	}
	r := bufio.NewReaderSize(s, fwdReadBuf)
	wentAhead := false
	// A big code object takes the peer a while to read and decode before
	// it can answer: allow for it at a slow 8 MB/s.
	if least := time.Now().Add(wait + minAnswer); answerBy.Before(least) {
		answerBy = least
	}
	_ = s.SetReadDeadline(answerBy.Add(time.Duration(len(body)) * time.Second / (8 << 20)))
	failed := func(err error) *isolate.Result {
		// A transport error names addresses and sockets: the node's log
		// keeps it, the caller learns which peer failed and how. A caller
		// that went away reset the stream itself: the peer did not fail,
		// and a line for each such call would let a client set the
		// rate of the node's log.
		level := slog.LevelInfo
		if ctx.Err() != nil {
			level = slog.LevelDebug
		}
		n.log.Log(context.Background(), level, "forward: the peer failed during the invocation", "peer", peer, "err", err)
		why := "the connection to it was lost"
		if errors.Is(err, errPeerProtocol) {
			why = err.Error()
		}
		res := internalError(fmt.Sprintf("node %s failed during the invocation: %s", peer, why))
		if ctx.Err() != nil {
			res.Outcome, res.Error = isolate.OutcomeCanceled, "canceled while running on "+peer
		}
		res.Telemetry.Node, res.Telemetry.Hops = peer, []string{n.id.Name, peer}
		return res
	}
	for {
		msg, err := r.ReadByte()
		if err != nil {
			if !started {
				// The peer may hold the invocation, but without our
				// go-ahead it made no effect; the reset cancels it.
				n.log.Debug("forward: no answer", "peer", peer, "err", err)
				s.Abort()
				return nil, false, false
			}
			return failed(err), true, false
		}
		switch msg {
		case fwdFull:
			return nil, false, false
		case fwdNeed:
			return nil, false, !withCode
		case fwdRefused:
			why, _ := readSmallFrame(r, maxRefusal)
			n.log.Warn("forward: refused", "peer", peer, "why", string(why))
			return nil, false, false
		case fwdBadVersion:
			speaks, _ := readSmallFrame(r, maxVersions)
			n.log.Warn("forward: refused", "peer", peer, "err", versionRefusal(peer, mesh.ProtoInvokeVersion, speaks))
			return nil, false, false
		case fwdStarted:
		case fwdPermit:
			wentAhead = true
			if _, err := s.Write([]byte{fwdGo}); err != nil {
				return failed(err), true, false
			}
		case fwdResult:
			out, err := readFrame(r)
			if err != nil {
				return failed(err), true, false
			}
			var result isolate.Result
			if err := result.UnmarshalBinary(out); err != nil { // an unknown outcome too
				return failed(fmt.Errorf("%w: an unreadable result", errPeerProtocol)), true, false
			}
			if len(result.Telemetry.Hops) == 0 {
				result.Telemetry.Hops = []string{peer}
			}
			result.Telemetry.Hops = append([]string{n.id.Name}, result.Telemetry.Hops...)
			if result.Response != nil && result.Response.Streamed {
				if raw.pipe == nil {
					return failed(fmt.Errorf("%w: a streamed body nobody asked for", errPeerProtocol)), true, false
				}
				if !wentAhead {
					if _, err := s.Write([]byte{fwdGo}); err != nil {
						return failed(err), true, false
					}
				}
				// The body's reader takes the stream over; the caller's
				// cancellation no longer ends it, its consumer does.
				stop()
				handedOff = true
				go n.readStreamedBody(peer, s, r, raw.pipe)
				return &result, true, false
			}
			// Close both sides cleanly: our FIN, then the peer's (which
			// came with the result), so that no reset follows.
			_ = s.CloseWrite()
			_ = s.SetReadDeadline(time.Now().Add(finWait))
			_, _ = r.ReadByte()
			return &result, true, false
		default:
			if !started {
				s.Abort()
				n.log.Warn("forward: bad answer", "peer", peer, "byte", msg)
				return nil, false, false
			}
			return failed(fmt.Errorf("%w: unexpected message %q", errPeerProtocol, msg)), true, false
		}
		if !started {
			started = true
			// The peer runs the call now: its answer comes within the
			// longest call this node lets in, and its background work.
			_ = s.SetReadDeadline(time.Now().Add(n.longestCall()))
			n.remote.Add(1)
			defer n.remote.Add(-1)
		}
	}
}

// readStreamedBody passes a streamed body from a peer's stream to pipe, and
// then closes both sides of the stream. A consumer that goes away resets
// the stream, which cancels the body at the peer.
func (n *Node) readStreamedBody(peer string, s *mesh.Stream, r *bufio.Reader, pipe *isolate.BodyPipe) {
	defer s.Close()
	_ = s.SetReadDeadline(time.Time{})
	// A consumer that goes away unblocks a read of the stream.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-pipe.Gone():
			s.Abort()
		case <-done:
		}
	}()
	fail := func(err error) {
		select {
		case <-pipe.Gone(): // our consumer went away, and we reset the stream
			return
		default:
		}
		n.log.Info("forward: the peer failed during a streamed body", "peer", peer, "err", err)
		pipe.Close(fmt.Errorf("%w: node %s failed while sending it", isolate.ErrBodyIncomplete, peer))
		s.Abort()
	}
	for {
		msg, err := r.ReadByte()
		if err != nil {
			fail(err)
			return
		}
		frame, err := readFrame(r)
		if err != nil {
			fail(err)
			return
		}
		switch msg {
		case fwdChunk:
			if len(frame) == 0 {
				continue
			}
			if err := pipe.Write(context.Background(), frame); err != nil {
				s.Abort() // the consumer went away: cancel the body at the peer
				return
			}
		case fwdEnd:
			if len(frame) > 0 {
				pipe.Close(fmt.Errorf("%w: %s", isolate.ErrBodyIncomplete, frame))
			} else {
				pipe.Close(nil)
			}
			_ = s.CloseWrite()
			_ = s.SetReadDeadline(time.Now().Add(finWait))
			_, _ = r.ReadByte()
			return
		default:
			fail(fmt.Errorf("%w: unexpected message %q in a body", errPeerProtocol, msg))
			return
		}
	}
}

// encodeForward encodes a forwarded invocation's frame as json.Marshal
// does, but for the code object, which goes verbatim: json.Marshal would
// compact it and escape its <, > and &, at a cost that grows with the code,
// and the peer would cache it under the hash of those other bytes, which
// a later codeRef (the hash of the code as received) would never name.
func encodeForward(fr *RunRequest) ([]byte, error) {
	code := fr.Code
	if len(code) == 0 || !json.Valid(code) {
		return json.Marshal(fr)
	}
	rest := *fr
	rest.Code = nil
	tail, err := json.Marshal(&rest)
	if err != nil {
		return nil, err
	}
	// tail is an object, "{}" at least; "code" is the first field.
	const head = `{"code":`
	b := make([]byte, 0, len(head)+len(code)+len(tail))
	b = append(append(b, head...), code...)
	if len(tail) > 2 {
		b = append(b, ',')
	}
	return append(b, tail[1:]...), nil
}

// errInvokeVersion marks a peer's refusal of the caller's version of the
// forwarding protocol.
var errInvokeVersion = errors.New("a version of the forwarding protocol the peer does not speak")

// versionRefusal is the error for peer's fwdBadVersion answer to version
// sent: "peer n2 speaks invoke version 1, not 2". speaks is the answer's
// frame, the versions the peer speaks. It wraps errInvokeVersion.
func versionRefusal(peer string, sent byte, speaks []byte) error {
	if len(speaks) == 0 {
		return &versionError{fmt.Sprintf("peer %s refused invoke version %d", peer, sent)}
	}
	vs := make([]string, len(speaks))
	for i, v := range speaks {
		vs[i] = strconv.Itoa(int(v))
	}
	noun := "version"
	if len(vs) > 1 {
		noun = "versions"
	}
	return &versionError{fmt.Sprintf("peer %s speaks invoke %s %s, not %d", peer, noun, strings.Join(vs, ", "), sent)}
}

// versionError is versionRefusal's error.
type versionError struct{ msg string }

func (e *versionError) Error() string        { return e.msg }
func (e *versionError) Is(target error) bool { return target == errInvokeVersion }

// How long a peer has to send a forwarded call: its version byte and the
// frame's length within fwdHeadTimeout, the frame at fwdMinRate after that.
// (A variable for tests.)
var fwdHeadTimeout = 10 * time.Second

const fwdMinRate = 1 << 20 // bytes a second

// Caps of a peer's refusals: its reason, and the versions it speaks.
const (
	maxRefusal  = 4 << 10
	maxVersions = 16
)

// readFrameIn reads a frame from r, a reader of s, within fwdHeadTimeout
// for its length and at fwdMinRate for the rest.
func readFrameIn(r *bufio.Reader, s *mesh.Stream) ([]byte, error) {
	_ = s.SetReadDeadline(time.Now().Add(fwdHeadTimeout))
	size, err := readFrameSize(r, maxForwardFrame)
	if err != nil {
		return nil, err
	}
	_ = s.SetReadDeadline(time.Now().Add(fwdHeadTimeout + time.Duration(size)*time.Second/fwdMinRate))
	return readFrameBody(r, size)
}

// readSmallFrame reads a frame of at most max bytes (longer: an error, and
// what is left of it unread).
func readSmallFrame(r *bufio.Reader, max uint64) ([]byte, error) {
	size, err := readFrameSize(r, max)
	if err != nil {
		return nil, err
	}
	return readFrameBody(r, size)
}

// longestCall bounds how long a call this node lets in runs, on any node:
// its longest wall time, the background work after it, and a margin.
func (n *Node) longestCall() time.Duration {
	wall := n.cfg.MaxWallMs
	if wall <= 0 {
		wall = DefaultMaxWallMs
	}
	return time.Duration(wall)*time.Millisecond + isolate.BackgroundLimit + time.Minute
}

// errPeerProtocol marks a peer that answered what the protocol does not
// allow (as opposed to a lost connection).
var errPeerProtocol = errors.New("it broke the forwarding protocol")

// serveForward runs an invocation a peer forwarded, here or not at all: a
// forwarded invocation is never forwarded again.
func (n *Node) serveForward(from mesh.Peer, s *mesh.Stream) {
	start := time.Now()
	r := bufio.NewReaderSize(s, fwdReadBuf)
	// The frame must come: a peer that stalls in it would hold this
	// goroutine and what it read, before any token or slot bounds them.
	_ = s.SetReadDeadline(time.Now().Add(fwdHeadTimeout))
	v, err := r.ReadByte()
	if err != nil {
		return
	}
	if v != mesh.ProtoInvokeVersion {
		n.log.Warn("forward: refused a version it does not speak", "peer", from.Name, "version", v, "speaks", mesh.ProtoInvokeVersion)
		_, _ = s.Write(appendFrame([]byte{fwdBadVersion}, []byte{mesh.ProtoInvokeVersion}))
		return
	}
	body, err := readFrameIn(r, s)
	if err != nil {
		return
	}
	_ = s.SetReadDeadline(time.Time{})
	var raw RunRequest
	if err := json.Unmarshal(body, &raw); err != nil {
		_, _ = s.Write([]byte{fwdRefused})
		_ = writeFrame(s, []byte("bad frame: "+err.Error()))
		return
	}
	// The caller's token, verified again here: a peer trusts no grant it
	// cannot check itself.
	tok, err := n.parseToken(raw.Token, time.Now())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), revokedReadTimeout)
		err = n.checkRevoked(ctx, tok)
		cancel()
	}
	if err != nil {
		n.log.Warn("forward: refused a call without a valid token", "peer", from.Name, "err", err)
		_, _ = s.Write([]byte{fwdRefused})
		_ = writeFrame(s, []byte(fmt.Sprintf("%v: %v", errNoToken, err)))
		return
	}
	if raw.Depth > maxWorkerDepth {
		_, _ = s.Write([]byte{fwdRefused})
		_ = writeFrame(s, []byte(errWorkerLoop.msg))
		return
	}
	if raw.Stream {
		raw.pipe = isolate.NewBodyPipe()
	}
	inv, err := raw.decode(n.codes)
	if errors.Is(err, errCodeMissing) {
		_, _ = s.Write([]byte{fwdNeed})
		return
	}
	if err != nil {
		_, _ = s.Write([]byte{fwdRefused})
		_ = writeFrame(s, []byte(err.Error()))
		return
	}
	inv, refused := n.grant(inv, tok)
	if refused != nil {
		_, _ = s.Write([]byte{fwdRefused})
		_ = writeFrame(s, []byte(refused.Error))
		return
	}
	// The share is the originating client's, wherever the call came from.
	cs := n.share.get(raw.Client)
	defer n.share.put(cs)
	if !n.tryAcquire(cs) && !n.waitSlotFor(cs, time.Duration(max(0, min(raw.WaitMs, peerWait.Milliseconds())))*time.Millisecond) {
		_, _ = s.Write([]byte{fwdFull})
		return
	}
	fc := &fwdCall{s: s, goAhead: make(chan struct{}), drained: make(chan struct{})}
	ctx, cancel := context.WithCancel(withDepth(context.Background(), raw.Depth))
	defer cancel()
	go fc.read(r, cancel)
	inner := inv.Host // the grants'
	if inner == nil {
		inner = n.host
	}
	inv.Host = &gatedHost{inner: inner, permit: fc.permit}
	announce := time.AfterFunc(announceAfter, func() { fc.announce(fwdStarted) })
	res := n.runHere(ctx, inv, cs, whereForwardedIn)
	announce.Stop()
	n.metrics.took(start, whereForwardedIn)
	n.forgetFailed(raw.key, inv, res)
	if res.Response != nil && res.Response.SetCookie != nil && !raw.SetCookie {
		// A caller from before Response.SetCookie gets the joined header
		// only, as it always did.
		r := *res.Response
		r.SetCookie = nil
		joined := *res
		joined.Response = &r
		res = &joined
	}
	out, _ := res.MarshalBinary()
	streamed := res.Response != nil && res.Response.Streamed
	if err := fc.sendResult(out, streamed); err != nil {
		n.log.Debug("forward: returning the result", "peer", from.Name, "err", err)
		if streamed {
			raw.pipe.Abort(err)
		}
		return
	}
	if streamed {
		if err := fc.sendBody(ctx, raw.pipe); err != nil {
			n.log.Debug("forward: sending a streamed body", "peer", from.Name, "err", err)
			return
		}
	}
	// Wait for the caller's FIN, so that closing the stream sends nothing more.
	select {
	case <-fc.drained:
	case <-time.After(callerFINWait):
	}
}

// fwdCall is the peer's side of one forwarded invocation.
type fwdCall struct {
	s         *mesh.Stream
	mu        sync.Mutex // serialises writes
	announced bool       // the caller knows it started
	asked     bool       // fwdPermit was sent
	goAhead   chan struct{}
	goErr     error // set before goAhead closes
	sent      bool  // the result went out (under mu)
	drained   chan struct{}
	finClean  bool // the caller ended its side with a FIN, not a reset; set before drained closes
	streamed  bool // the result was a streamed response's head (under mu)
}

// read reads what the caller sends after the invocation: the go-ahead (or
// a refusal), then its FIN. A reset means the caller went away: cancel.
func (f *fwdCall) read(r *bufio.Reader, cancel context.CancelFunc) {
	defer close(f.drained)
	b, err := r.ReadByte()
	if err != nil || b != fwdGo {
		f.goErr = errNoGoAhead
	}
	close(f.goAhead)
	if err == nil || errors.Is(err, io.EOF) {
		_, err = io.Copy(io.Discard, r) // nil at the caller's FIN
	}
	if err != nil && !errors.Is(err, io.EOF) {
		cancel()
		return
	}
	f.finClean = true
}

// announce sends msg unless the caller already knows the call started.
func (f *fwdCall) announce(msg byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.announced {
		f.announced = true
		_, _ = f.s.Write([]byte{msg})
	}
}

// permit holds an effect until the caller allows it.
//
// After the result (ctx.waitUntil work goes on past the response), the
// stream can carry no more questions. The caller retries a call on
// another peer only when it heard nothing from this one, and then it
// resets the stream; a caller that ends its side with a FIN has heard
// from this peer and never retries. So an effect after the result waits
// for the caller's end of the stream, and a FIN allows it.
func (f *fwdCall) permit(ctx context.Context) error {
	f.mu.Lock()
	if f.sent && !f.asked && f.streamed {
		// The caller sends the go-ahead on hearing a streamed result.
		f.mu.Unlock()
		select {
		case <-f.goAhead:
			return f.goErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.sent && !f.asked {
		f.mu.Unlock()
		select {
		case <-f.drained:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !f.finClean {
			return fmt.Errorf("%w: the caller went away", errNoGoAhead)
		}
		return nil
	}
	if !f.asked {
		f.asked, f.announced = true, true
		if _, err := f.s.Write([]byte{fwdPermit}); err != nil {
			f.mu.Unlock()
			return errNoGoAhead // the stream is gone; its error names sockets
		}
	}
	f.mu.Unlock()
	// No timeout of its own: the caller, having heard fwdPermit, counts
	// the call as started and always answers; QUIC delivers the answer
	// unless the stream or connection dies, which cancels the invocation
	// (ctx). The wall-time limit bounds the rest.
	select {
	case <-f.goAhead:
		return f.goErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendResult sends the result and our FIN; the FIN of a streamed
// response's head waits for the end of its body (sendBody).
func (f *fwdCall) sendResult(out []byte, streamed bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.announced, f.sent, f.streamed = true, true, streamed
	buf := make([]byte, 0, 1+10+len(out))
	buf = append(buf, fwdResult)
	buf = appendFrame(buf, out)
	if _, err := f.s.Write(buf); err != nil {
		return err
	}
	if streamed {
		return nil
	}
	return f.s.CloseWrite()
}

// sendBody sends a streamed body from pipe as it comes, its end, and our
// FIN. A caller that goes away (ctx) or a stream that fails tells the
// Worker, through the pipe, to stop.
func (f *fwdCall) sendBody(ctx context.Context, pipe *isolate.BodyPipe) error {
	for {
		chunk, err := pipe.Next(ctx)
		var buf []byte
		switch {
		case err == nil:
			buf = appendFrame([]byte{fwdChunk}, chunk)
		case errors.Is(err, io.EOF):
			buf = appendFrame([]byte{fwdEnd}, nil)
		case ctx.Err() != nil:
			pipe.Abort(ctx.Err())
			return ctx.Err()
		default:
			buf = appendFrame([]byte{fwdEnd}, []byte(err.Error()))
		}
		f.mu.Lock()
		_ = f.s.SetWriteDeadline(time.Now().Add(bodyStall))
		_, werr := f.s.Write(buf)
		f.mu.Unlock()
		if werr != nil {
			pipe.Abort(werr)
			return werr
		}
		if buf[0] == fwdEnd {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.s.CloseWrite()
		}
	}
}

// gatedHost holds a forwarded invocation's effects (subrequests, KV writes,
// Durable Object calls) until its caller allows them; reads pass.
type gatedHost struct {
	inner  isolate.Host
	permit func(context.Context) error
}

func (g *gatedHost) Fetch(ctx context.Context, req *isolate.Request) (*isolate.Response, error) {
	if err := g.permit(ctx); err != nil {
		return nil, err
	}
	return g.inner.Fetch(ctx, req)
}

func (g *gatedHost) KV(namespace string) (isolate.KVNamespace, error) {
	ns, err := g.inner.KV(namespace)
	if err != nil {
		return nil, err
	}
	return &gatedKV{inner: ns, permit: g.permit}, nil
}

func (g *gatedHost) DurableObjects(b isolate.DurableObjectBinding) (isolate.DurableObjectNamespace, error) {
	ns, err := g.inner.DurableObjects(b)
	if err != nil {
		return nil, err
	}
	return &gatedDO{inner: ns, permit: g.permit}, nil
}

// gatedKV holds a namespace's writes until the caller allows them; reads
// pass. It spells out every method of isolate.KVNamespace rather than
// embedding it, so that a method added there does not compile here until it
// is gated (or let through) on purpose.
type gatedKV struct {
	inner  isolate.KVNamespace
	permit func(context.Context) error
}

var _ isolate.KVNamespace = (*gatedKV)(nil)

// allow asks the caller for the go-ahead; a refusal is the guest's
// KVCodeDenied error.
func (g *gatedKV) allow(ctx context.Context) error {
	err := g.permit(ctx)
	if errors.Is(err, errNoGoAhead) {
		return &isolate.KVError{Code: isolate.KVCodeDenied, Err: err}
	}
	return err
}

func (g *gatedKV) Get(ctx context.Context, key string, opts isolate.KVGetOptions) (*isolate.KVEntry, error) {
	return g.inner.Get(ctx, key, opts)
}

func (g *gatedKV) Put(ctx context.Context, key string, value []byte, opts isolate.KVPutOptions) error {
	if err := g.allow(ctx); err != nil {
		return err
	}
	return g.inner.Put(ctx, key, value, opts)
}

func (g *gatedKV) Delete(ctx context.Context, key string) error {
	if err := g.allow(ctx); err != nil {
		return err
	}
	return g.inner.Delete(ctx, key)
}

func (g *gatedKV) List(ctx context.Context, opts isolate.KVListOptions) (*isolate.KVList, error) {
	return g.inner.List(ctx, opts)
}

type gatedDO struct {
	inner  isolate.DurableObjectNamespace
	permit func(context.Context) error
}

func (g *gatedDO) Fetch(ctx context.Context, obj isolate.ObjectRef, req *isolate.Request) (*isolate.Response, error) {
	if err := g.permit(ctx); err != nil {
		return nil, err
	}
	return g.inner.Fetch(ctx, obj, req)
}

func (g *gatedDO) Call(ctx context.Context, obj isolate.ObjectRef, method string, args []byte) ([]byte, error) {
	if err := g.permit(ctx); err != nil {
		return nil, err
	}
	return g.inner.Call(ctx, obj, method, args)
}
