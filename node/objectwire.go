package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
)

// A call to a Durable Object crosses the mesh on a ProtoObject stream:
// the caller sends the version it speaks (mesh.ProtoObjectVersion) and
// one frame, the JSON of an objectWireCall; the owner answers one frame,
// the JSON of an objectReply, or objBadVersion and a frame of the versions
// it speaks. A reply that says NotOwner ran nothing, so the caller may try
// elsewhere; any other failure after the call was sent is reported, never
// retried: the object may have run it.

// objectOpenTimeout bounds opening a stream to an object's owner: a live
// peer's connection is up already, or is dialled in a round trip.
const objectOpenTimeout = 500 * time.Millisecond

// objectWatchEvery is how often a caller waiting on an object's owner
// checks that the owner still is one.
const objectWatchEvery = 50 * time.Millisecond

// probeFrame is the frame of a probe: a call of no kind, which a node
// answers at once with an empty reply (one from before probes answers
// it an error: an answer all the same).
var probeFrame = []byte(`{"kind":"probe"}`)

// maxDoubted bounds objects.doubted: past it, a lost owner is not
// remembered (its next call is sent as before).
const maxDoubted = 1024

// doubt notes that a call to peer was lost: its next calls wait until it
// answers a probe. A node that dies leaves its peers a connection that
// looks open until it times out, and the groups it led elect new leaders
// one by one (an idle group later than a busy one): a call sent to it on
// that connection in the meantime is lost, and, since the object may have
// run it, cannot be sent again. Probed first, it is not sent at all until
// the owner answers or the object has another.
func (o *objects) doubt(peer string) {
	o.doubtMu.Lock()
	if len(o.doubted) < maxDoubted {
		o.doubted[peer] = true
	}
	o.doubtMu.Unlock()
}

// trusted reports whether calls may go to peer without a probe first.
func (o *objects) trusted(peer string) bool {
	o.doubtMu.Lock()
	defer o.doubtMu.Unlock()
	return !o.doubted[peer]
}

// probe reports whether peer answers a probe within objectOpenTimeout, and
// trusts it again if so. The probe runs nothing.
func (o *objects) probe(ctx context.Context, peer string) bool {
	pctx, cancel := context.WithTimeout(ctx, objectOpenTimeout)
	defer cancel()
	s, err := o.n.mesh.Open(pctx, peer, mesh.ProtoObject)
	if err != nil {
		return false
	}
	defer s.Close()
	stop := context.AfterFunc(pctx, s.Abort)
	defer stop()
	if _, err := s.Write(appendFrame([]byte{mesh.ProtoObjectVersion}, probeFrame)); err != nil {
		return false
	}
	_ = s.CloseWrite()
	var b [1]byte
	if _, err := io.ReadFull(s, b[:]); err != nil {
		return false
	}
	o.doubtMu.Lock()
	delete(o.doubted, peer)
	o.doubtMu.Unlock()
	return true
}

// objBadVersion starts the answer of a node that does not speak the
// caller's version ('{' starts every reply).
const objBadVersion byte = 'V'

// objectWireCall is an objectCall with the time its caller gives it.
type objectWireCall struct {
	objectCall
	// TimeoutMs is what is left of the caller's deadline.
	TimeoutMs int64 `json:"timeoutMs"`
}

// forward sends a call to the node that owns the object.
func (o *objects) forward(ctx context.Context, peer string, c *objectCall) *objectReply {
	n := o.n
	dl, _ := ctx.Deadline()
	body, err := json.Marshal(&objectWireCall{objectCall: *c, TimeoutMs: max(time.Until(dl).Milliseconds(), 1)})
	if err != nil {
		return &objectReply{Error: fmt.Sprintf("encoding the call: %v", err)}
	}
	if len(body) > maxForwardFrame {
		return &objectReply{Error: fmt.Sprintf("the call is %d bytes, more than the %d a call to a Durable Object may carry", len(body), maxForwardFrame)}
	}
	if st, _ := n.mesh.PeerState(peer); (!o.trusted(peer) || st == mesh.StateSuspect) && !o.probe(ctx, peer) {
		// A call was lost to it, or the mesh's probe of it failed, and
		// it does not answer: nothing is sent; look again (doubt).
		return &objectReply{NotOwner: true}
	}
	// A dead owner must not hold the call until its deadline: the stream
	// opens within objectOpenTimeout or the owner is looked up again.
	octx, cancel := context.WithTimeout(ctx, objectOpenTimeout)
	s, err := n.mesh.Open(octx, peer, mesh.ProtoObject)
	cancel()
	if err != nil {
		// Nothing was sent: the owner may be gone; look again.
		n.log.Debug("object: opening a stream", "peer", peer, "err", err)
		return &objectReply{NotOwner: true}
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, s.Abort)
	defer stop()
	if _, err := s.Write(appendFrame([]byte{mesh.ProtoObjectVersion}, body)); err != nil {
		return &objectReply{NotOwner: true}
	}
	_ = s.CloseWrite()
	type answer struct {
		out        []byte
		badVersion bool
		err        error
	}
	answered := make(chan answer, 1)
	go func() {
		r := bufio.NewReaderSize(s, fwdReadBuf)
		first, err := r.Peek(1)
		if err == nil && first[0] == objBadVersion {
			_, _ = r.ReadByte()
			speaks, _ := readFrame(r)
			n.log.Warn("object: refused", "peer", peer, "err", versionRefusal(peer, mesh.ProtoObjectVersion, speaks))
			answered <- answer{badVersion: true}
			return
		}
		out, err := readFrame(r)
		answered <- answer{out: out, err: err}
	}()
	// The owner may die with the call: a stream to a dead peer stays open
	// until its connection times out. Once the object's group has another
	// leader, or the mesh has marked the peer dead, the call ends with an
	// error rather than wait; it is not sent again, since the old owner
	// may have run it.
	watch := time.NewTicker(objectWatchEvery)
	defer watch.Stop()
	var a answer
wait:
	for {
		select {
		case a = <-answered:
			break wait
		case <-watch.C:
			now, _ := o.n.cluster.ObjectOwner(c.Ref.Key())
			st, known := n.mesh.PeerState(peer)
			if (now != "" && now != peer) || (known && (st == mesh.StateDead || st == mesh.StateLeft)) {
				s.Abort()
				o.doubt(peer)
				return &objectReply{Error: fmt.Sprintf("node %s, the Durable Object's owner, was lost during the call (the object is moving to another node): the call may or may not have run", peer)}
			}
		}
	}
	if a.badVersion {
		return &objectReply{Error: fmt.Sprintf("node %s does not speak this node's version of Durable Object calls", peer)}
	}
	out, err := a.out, a.err
	if err != nil {
		if ctx.Err() != nil {
			return &objectReply{Error: fmt.Sprintf("the call to the Durable Object on %s was canceled: %v", peer, context.Cause(ctx))}
		}
		n.log.Info("object: the owner failed during the call", "peer", peer, "err", err)
		o.doubt(peer)
		return &objectReply{Error: fmt.Sprintf("node %s, the Durable Object's owner, failed during the call: the connection to it was lost", peer)}
	}
	var rep objectReply
	if err := json.Unmarshal(out, &rep); err != nil {
		return &objectReply{Error: fmt.Sprintf("node %s answered an unreadable reply", peer)}
	}
	return &rep
}

// decodeObjectCall decodes a peer's call frame and checks what can be
// checked before the object is looked at: the kind, the object's name,
// the chain of callers.
func decodeObjectCall(body []byte) (*objectWireCall, error) {
	var c objectWireCall
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("a bad call frame: %w", err)
	}
	if c.Kind != isolate.ObjectFetch && c.Kind != isolate.ObjectCall {
		return nil, fmt.Errorf("a bad call frame: kind %q", c.Kind)
	}
	if err := validRef(c.Ref); err != nil {
		return nil, err
	}
	if err := checkChain(c.Chain, c.Ref.Key()); err != nil {
		return nil, err
	}
	return &c, nil
}

// serveObject answers a peer's call to an object this node should own.
func (n *Node) serveObject(from mesh.Peer, s *mesh.Stream) {
	defer s.Close()
	r := bufio.NewReaderSize(s, fwdReadBuf)
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
	v, err := r.ReadByte()
	if err != nil {
		return
	}
	if v != mesh.ProtoObjectVersion {
		n.log.Warn("object: refused a version it does not speak", "peer", from.Name, "version", v)
		_, _ = s.Write(appendFrame([]byte{objBadVersion}, []byte{mesh.ProtoObjectVersion}))
		return
	}
	body, err := readFrame(r)
	if err != nil {
		return
	}
	_ = s.SetReadDeadline(time.Time{})
	var rep *objectReply
	if bytes.Equal(body, probeFrame) {
		rep = &objectReply{} // alive (objects.probe)
	} else if c, err := decodeObjectCall(body); err != nil {
		rep = &objectReply{Error: err.Error()}
	} else {
		timeout := min(time.Duration(max(c.TimeoutMs, 1))*time.Millisecond, objectCallTimeout)
		ctx, cancel := context.WithTimeout(s.Context(), timeout)
		stopLife := context.AfterFunc(n.life, cancel)
		rep = n.objects.runHere(ctx, &c.objectCall, from.Name)
		stopLife()
		cancel()
	}
	out, err := json.Marshal(rep)
	if err != nil {
		out, _ = json.Marshal(&objectReply{Error: "encoding the reply: " + err.Error()})
	}
	if len(out) > maxForwardFrame {
		out, _ = json.Marshal(&objectReply{Error: errors.New("the Durable Object's reply is too large to send").Error()})
	}
	_ = s.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_ = writeFrame(s, out)
}
