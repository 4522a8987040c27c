package mesh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// Stream protocol bytes: the first byte of every QUIC stream says what it
// carries. Bytes below FirstUserProto are the mesh's own.
const (
	protoGossip    byte = 0x01 // memberlist's stream operations (push/pull, fallback ping)
	FirstUserProto byte = 16   // the lowest protocol byte callers may use
)

// QUIC error codes the mesh uses.
const (
	codeStreamClosed quic.StreamErrorCode = 0x100 // we are done reading (Close)
	codeNoHandler    quic.StreamErrorCode = 0x101 // no handler for the protocol byte
	codeAbort        quic.StreamErrorCode = 0x102 // Abort

	codeShutdown quic.ApplicationErrorCode = 0x200 // node closing
	codePeerGone quic.ApplicationErrorCode = 0x201 // peer declared dead, left, or restarted
	codeBadPeer  quic.ApplicationErrorCode = 0x202 // certificate names no node
	codeIdle     quic.ApplicationErrorCode = 0x203 // nothing on the connection for connIdleClose
)

// streamHeaderTimeout bounds the wait for an inbound stream's protocol byte.
const streamHeaderTimeout = 10 * time.Second

// dialTimeout bounds one QUIC dial (handshake included).
const dialTimeout = 10 * time.Second

var (
	// ErrClosed is returned by operations on a closed Mesh.
	ErrClosed = errors.New("mesh: closed")
	// ErrUnknownPeer: the peer table has no member of that name.
	ErrUnknownPeer = errors.New("mesh: unknown peer")
	// ErrPeerDown: the peer is dead or has left.
	ErrPeerDown = errors.New("mesh: peer is down")
	// ErrNoHandler: the peer serves no handler for the stream's protocol.
	ErrNoHandler = errors.New("mesh: peer has no handler for the protocol")
)

// Handler serves one inbound stream. from is the peer as its verified
// certificate names it (Name, ID) completed from the peer table. The stream
// is closed when the handler returns.
type Handler func(from Peer, s *Stream)

// Connection liveness. QUIC's own keep-alives are off: on a quiet mesh a
// node would otherwise ping every peer it ever talked to, forever. Instead
// idleLoop looks at every connection about every connCheckEvery:
//
//   - while a handler serves one of the peer's streams on it and nothing
//     was sent or received for connKeepAliveAfter, it sends a one-byte
//     QUIC datagram, which the peer acknowledges: a call in progress keeps
//     its connection (and the peer's end of it) open however long it is
//     silent. Every stream has a handler at the accepting end, so this
//     covers the opener too.
//   - a connection on which nothing at all was sent or received for
//     connIdleClose, and on which no handler runs, carries no stream
//     (a live stream's peer handler would have sent keep-alives): it is
//     closed, telling the peer, and the next Open dials again (a
//     handshake, about 2 ms). Its minimum RTT is remembered for ranking.
//
// Connections that carry traffic (Raft heartbeats, calls) send nothing
// extra, and quicIdleTimeout still closes a connection that hears nothing
// at all (a cut link) while the peer is alive to gossip.
//
// idleLoop has no timer of its own while gossip flows: the gossip reader
// wakes it on the first packet at least connCheckEvery after its last look
// (a node is probed and probes every ProbeInterval, so the node is awake
// then anyway), and connCheckLate after its last look it looks anyway (a
// mesh of one, or a node cut off). Packet counts are all it sees, so a
// connection's silence is known to within the time between two looks (at
// most connCheckLate): a keep-alive goes out after at most
// connKeepAliveAfter plus twice that, well inside quicIdleTimeout, and
// the sleeping Raft groups' heartbeats (every 3-6 s) seldom need one.
// (Variables for tests; set them before Start.)
var (
	connCheckEvery     = time.Second
	connCheckLate      = 2 * time.Second
	connKeepAliveAfter = 3 * time.Second
	connIdleClose      = 5 * time.Second
	quicIdleTimeout    = 8 * time.Second
)

const (
	// rttMemory is how long the minimum RTT of a closed connection ranks
	// its peer (a path's latency seldom changes; Vivaldi takes over after).
	rttMemory = 10 * time.Minute
)

// meshConn is one QUIC connection to a peer, dialled or accepted.
type meshConn struct {
	c        *quic.Conn
	name, id string // from the peer's verified certificate
	addr     string // remote address
	outbound bool

	serving atomic.Int32 // handlers running on the peer's streams
	// picked counts the times connTo handed it out (under Mesh.mu), so
	// that idleLoop never closes a connection a stream is being opened on.
	picked uint64

	// idleLoop's view (its goroutine only): the packet counts it last saw
	// and when they last moved.
	seenSent, seenRecv, seenPicked uint64
	activeAt                       time.Time
}

type dialCall struct {
	done chan struct{}
	mc   *meshConn
	err  error
}

// Stream is a bidirectional QUIC stream to a peer. It is a net.Conn:
// Close ends both directions (FIN after what was written, and telling the
// peer we read no more), CloseWrite only the sending one. An opened stream
// sends nothing until its first Write (or Read or Close): its protocol
// byte travels with the first data.
type Stream struct {
	qs    *quic.Stream
	conn  *quic.Conn
	peer  string
	proto byte

	hdrPending atomic.Bool // the protocol byte is not sent yet
	hdrMu      sync.Mutex
}

var _ net.Conn = (*Stream)(nil)

// Peer is the name of the node at the other end (from its certificate).
func (s *Stream) Peer() string { return s.peer }

// Proto is the stream's protocol byte.
func (s *Stream) Proto() byte { return s.proto }

// firstChunk caps the data written together with the protocol byte while
// holding hdrMu, so that a concurrent Read never waits long (a write that
// large cannot block on flow control at the start of a stream).
const firstChunk = 16 << 10

// flushHeader sends the pending protocol byte followed by (a first chunk
// of) p. wrote is false when the byte had been sent already and nothing
// was written. The pending flag drops only after the write, so no other
// write can overtake or overlap the header (quic-go forbids concurrent
// writes).
func (s *Stream) flushHeader(p []byte) (n int, wrote bool, err error) {
	s.hdrMu.Lock()
	defer s.hdrMu.Unlock()
	if !s.hdrPending.Load() {
		return 0, false, nil
	}
	first := p[:min(len(p), firstChunk)]
	buf := make([]byte, 1+len(first))
	buf[0] = s.proto
	copy(buf[1:], first)
	n, err = s.qs.Write(buf)
	s.hdrPending.Store(false)
	return max(n-1, 0), true, err
}

// Read reads from the stream; a peer without a handler for the protocol
// shows up as an error wrapping ErrNoHandler.
func (s *Stream) Read(p []byte) (int, error) {
	if s.hdrPending.Load() {
		if _, _, err := s.flushHeader(nil); err != nil {
			return 0, s.mapErr(err)
		}
	}
	n, err := s.qs.Read(p)
	if err != nil && err != io.EOF {
		err = s.mapErr(err)
	}
	return n, err
}

// Write writes to the stream.
func (s *Stream) Write(p []byte) (n int, err error) {
	if s.hdrPending.Load() {
		var wrote bool
		n, wrote, err = s.flushHeader(p)
		if wrote && err == nil && n < len(p) {
			var m int
			m, err = s.qs.Write(p[n:])
			n += m
		}
		if wrote {
			return n, s.mapErr(err)
		}
	}
	n, err = s.qs.Write(p)
	return n, s.mapErr(err)
}

// mapErr names a refusal by the peer: which peer, which protocol.
func (s *Stream) mapErr(err error) error {
	if err == nil {
		return nil
	}
	var se *quic.StreamError
	if errors.As(err, &se) && se.ErrorCode == codeNoHandler && se.Remote {
		return fmt.Errorf("%w %s (byte %d) on %s: %w", ErrNoHandler, ProtoName(s.proto), s.proto, s.peer, err)
	}
	return err
}

// CloseWrite closes the sending side: the peer reads EOF after what was
// written. Reading goes on.
func (s *Stream) CloseWrite() error {
	if s.hdrPending.Load() {
		s.flushHeader(nil)
	}
	return s.qs.Close()
}

// Close closes both directions.
func (s *Stream) Close() error {
	if s.hdrPending.Load() {
		s.flushHeader(nil)
	}
	s.qs.CancelRead(codeStreamClosed)
	return s.qs.Close()
}

// CancelRead tells the peer we read no more (STOP_SENDING).
func (s *Stream) CancelRead(code quic.StreamErrorCode) { s.qs.CancelRead(code) }

// CancelWrite resets the sending side; unsent data is dropped.
func (s *Stream) CancelWrite(code quic.StreamErrorCode) { s.qs.CancelWrite(code) }

// SetDeadline sets the read and write deadlines.
func (s *Stream) SetDeadline(t time.Time) error { return s.qs.SetDeadline(t) }

// SetReadDeadline sets the read deadline.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.qs.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.qs.SetWriteDeadline(t) }

// Context is done when the sending side is closed or reset, or the
// connection ends.
func (s *Stream) Context() context.Context { return s.qs.Context() }

// Abort resets both directions at once; unsent data is dropped.
func (s *Stream) Abort() {
	s.qs.CancelRead(codeAbort)
	s.qs.CancelWrite(codeAbort)
}

// LocalAddr is this node's socket address.
func (s *Stream) LocalAddr() net.Addr { return s.conn.LocalAddr() }

// RemoteAddr is the peer's address.
func (s *Stream) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// Handle serves inbound streams whose protocol byte is proto with h
// (each in its own goroutine), replacing any previous handler. Register
// handlers before Join: a stream for a protocol without a handler is
// refused, and the opener's Read or Write fails with ErrNoHandler. It
// panics when proto is reserved (below FirstUserProto) or h is nil.
func (m *Mesh) Handle(proto byte, h Handler) {
	if proto < FirstUserProto {
		panic(fmt.Sprintf("mesh: protocol byte %d is reserved (use %d or more)", proto, FirstUserProto))
	}
	if h == nil {
		panic("mesh: nil handler")
	}
	m.mu.Lock()
	m.handlers[proto] = h
	m.mu.Unlock()
}

// Open opens a stream of protocol proto to the peer named peerName (this
// node's own name works too). It reuses the one QUIC connection kept per
// peer, dialling it on demand and once more when the kept one has failed.
// It fails at once, wrapping ErrUnknownPeer or ErrPeerDown, for a peer the
// table does not have or has as dead or left. Nothing is sent before the
// first Write (or Read or Close) on the stream.
func (m *Mesh) Open(ctx context.Context, peerName string, proto byte) (*Stream, error) {
	if proto < FirstUserProto {
		return nil, fmt.Errorf("mesh: protocol byte %d is reserved (use %d or more)", proto, FirstUserProto)
	}
	var lastErr error
	for range 2 {
		mc, err := m.connTo(ctx, peerName)
		if err != nil {
			return nil, err
		}
		s, err := m.openOn(ctx, mc, proto)
		if err == nil {
			return s, nil
		}
		lastErr = fmt.Errorf("mesh: open stream to %s: %w", peerName, err)
		if ctx.Err() != nil || mc.c.Context().Err() == nil {
			return nil, lastErr // not the connection's fault
		}
		m.removeConn(mc)
	}
	return nil, lastErr
}

// openOn opens a stream on mc; the protocol byte goes out with the first
// write.
func (m *Mesh) openOn(ctx context.Context, mc *meshConn, proto byte) (*Stream, error) {
	qs, err := mc.c.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	s := &Stream{qs: qs, conn: mc.c, peer: mc.name, proto: proto}
	s.hdrPending.Store(true)
	return s, nil
}

// connTo returns a live connection to the named peer, dialling it if
// needed (one dial per peer at a time; concurrent callers share it).
func (m *Mesh) connTo(ctx context.Context, name string) (*meshConn, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	var addr string
	if name == m.cfg.Name {
		addr = m.addr.String()
	} else {
		// The table first: a dead peer's connections are closed by a
		// goroutine of their own, and may not be yet.
		e := m.peers[name]
		if e == nil {
			m.mu.Unlock()
			return nil, fmt.Errorf("%w: %q", ErrUnknownPeer, name)
		}
		if st := e.state; st == StateDead || st == StateLeft {
			m.mu.Unlock()
			return nil, fmt.Errorf("%w: %s is %s", ErrPeerDown, name, st)
		}
		addr = e.addr
	}
	if mc := m.byName[name]; mc != nil && mc.c.Context().Err() == nil {
		mc.picked++
		m.mu.Unlock()
		return mc, nil
	}
	dc := m.dialing[name]
	if dc == nil {
		dc = &dialCall{done: make(chan struct{})}
		m.dialing[name] = dc
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			dctx, cancel := context.WithTimeout(m.ctx, dialTimeout)
			defer cancel()
			mc, err := m.dialAddr(dctx, addr, name)
			m.mu.Lock()
			delete(m.dialing, name)
			dc.mc, dc.err = mc, err
			m.mu.Unlock()
			close(dc.done)
		}()
	}
	m.mu.Unlock()
	select {
	case <-dc.done:
		return dc.mc, dc.err
	case <-ctx.Done():
		return nil, fmt.Errorf("mesh: connecting to %s: %w", name, ctx.Err())
	}
}

// connToAddr is connTo for memberlist, which may know only an address.
func (m *Mesh) connToAddr(ctx context.Context, name string, ua *net.UDPAddr) (*meshConn, error) {
	as := ua.String()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if mc := m.byName[name]; name != "" && mc != nil && mc.addr == as && mc.c.Context().Err() == nil {
		mc.picked++
		m.mu.Unlock()
		return mc, nil
	}
	if name == "" {
		for _, mc := range m.conns {
			if mc.addr == as && mc.c.Context().Err() == nil {
				mc.picked++
				m.mu.Unlock()
				return mc, nil
			}
		}
	}
	m.mu.Unlock()
	return m.dialAddr(ctx, as, name)
}

// dialAddr dials a QUIC connection to addr; when name is not empty the
// peer's certificate must name it.
func (m *Mesh) dialAddr(ctx context.Context, addr, name string) (*meshConn, error) {
	ua, err := resolveUDP(addr)
	if err != nil {
		return nil, err
	}
	c, err := m.tr.Dial(ctx, ua, m.secret.ClientTLSConfig(m.cert, name), m.qconf)
	if err != nil {
		if name == "" {
			name = "?"
		}
		return nil, fmt.Errorf("mesh: dial %s at %s: %w", name, addr, err)
	}
	pname, pid, err := PeerIdentity(c.ConnectionState().TLS)
	if err != nil { // verified in the handshake already
		c.CloseWithError(codeBadPeer, "bad certificate")
		return nil, err
	}
	mc := m.addConn(c, pname, pid, true)
	if mc == nil {
		return nil, ErrClosed
	}
	return mc, nil
}

// acceptConns accepts inbound QUIC connections (mutual TLS already
// verified them against the mesh CA).
func (m *Mesh) acceptConns() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept(m.ctx)
		if err != nil {
			return
		}
		name, id, err := PeerIdentity(c.ConnectionState().TLS)
		if err != nil {
			c.CloseWithError(codeBadPeer, "bad certificate")
			continue
		}
		m.addConn(c, name, id, false)
	}
}

// addConn registers c (the newest connection to a peer is the one Open
// uses) and serves the streams the peer opens on it. It returns nil, having
// closed c, when the Mesh is closed.
func (m *Mesh) addConn(c *quic.Conn, name, id string, outbound bool) *meshConn {
	mc := &meshConn{c: c, name: name, id: id, addr: c.RemoteAddr().String(), outbound: outbound, activeAt: time.Now()}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		c.CloseWithError(codeShutdown, "node shutting down")
		return nil
	}
	m.conns[c] = mc
	m.byName[name] = mc
	m.wg.Add(1)
	m.mu.Unlock()
	go m.acceptStreams(mc)
	return mc
}

// removeConn forgets mc (closing it if it is still open).
func (m *Mesh) removeConn(mc *meshConn) {
	m.mu.Lock()
	m.forgetConnLocked(mc)
	m.mu.Unlock()
	if mc.c.Context().Err() == nil {
		mc.c.CloseWithError(codePeerGone, "connection failed")
	}
}

// forgetConnLocked removes mc from the tables, remembering its RTT.
func (m *Mesh) forgetConnLocked(mc *meshConn) {
	if _, ok := m.conns[mc.c]; !ok {
		return // forgotten already
	}
	if e := m.peers[mc.name]; e != nil {
		if rtt := quicRTT(mc.c.ConnectionStats()); rtt > 0 {
			e.lastRTT, e.lastRTTAt = rtt, time.Now()
		}
	}
	delete(m.conns, mc.c)
	if m.byName[mc.name] == mc {
		delete(m.byName, mc.name)
		for _, o := range m.conns { // fall back to another live one
			if o.name == mc.name && o.c.Context().Err() == nil {
				m.byName[mc.name] = o
				break
			}
		}
	}
}

// Preferred reports whether s runs on the connection that Open would
// use for its peer now. A peer that restarted dials in anew, and Open
// moves to that connection at once, while the old one lingers until its
// idle timeout: a long-lived stream on it is one to replace.
func (m *Mesh) Preferred(s *Stream) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	mc := m.bestConnLocked(s.peer)
	return mc != nil && mc.c == s.conn
}

// connsToLocked returns every connection to name.
func (m *Mesh) connsToLocked(name string) []*quic.Conn {
	var out []*quic.Conn
	for c, mc := range m.conns {
		if mc.name == name {
			out = append(out, c)
		}
	}
	return out
}

// bestConnLocked is the live connection Open would use for name, else any
// live one to it.
func (m *Mesh) bestConnLocked(name string) *meshConn {
	if mc := m.byName[name]; mc != nil && mc.c.Context().Err() == nil {
		return mc
	}
	return nil
}

// acceptStreams serves the streams the peer opens on mc until it closes.
func (m *Mesh) acceptStreams(mc *meshConn) {
	defer m.wg.Done()
	defer m.removeConn(mc)
	for {
		qs, err := mc.c.AcceptStream(m.ctx)
		if err != nil {
			return
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			qs.CancelRead(codeAbort)
			qs.CancelWrite(codeAbort)
			return
		}
		m.wg.Add(1)
		m.mu.Unlock()
		go m.serveStream(mc, qs)
	}
}

// serveStream reads an inbound stream's protocol byte and dispatches it.
func (m *Mesh) serveStream(mc *meshConn, qs *quic.Stream) {
	defer m.wg.Done()
	s := &Stream{qs: qs, conn: mc.c, peer: mc.name}
	var hdr [1]byte
	qs.SetReadDeadline(time.Now().Add(streamHeaderTimeout))
	if _, err := io.ReadFull(qs, hdr[:]); err != nil {
		s.Abort()
		return
	}
	qs.SetReadDeadline(time.Time{})
	s.proto = hdr[0]
	if s.proto == protoGossip {
		select {
		case m.gt.streamCh <- s: // memberlist closes it
		case <-m.gt.down:
			s.Abort()
		case <-m.ctx.Done():
			s.Abort()
		}
		return
	}
	m.mu.Lock()
	h := m.handlers[s.proto]
	from := Peer{Name: mc.name, ID: mc.id, Addr: mc.addr, State: StateAlive}
	if e := m.peers[mc.name]; e != nil {
		from = m.peerLocked(e)
		from.Name, from.ID = mc.name, mc.id // the certificate says who it is
	} else if mc.name == m.cfg.Name {
		from = m.localPeerLocked()
		from.Name, from.ID = mc.name, mc.id
	}
	m.mu.Unlock()
	if h == nil {
		qs.CancelRead(codeNoHandler)
		qs.CancelWrite(codeNoHandler)
		return
	}
	mc.serving.Add(1)
	defer mc.serving.Add(-1)
	h(from, s)
	s.Close()
}

// pokeConnCheck wakes idleLoop if it last looked at the connections at
// least connCheckEvery before now.
func (m *Mesh) pokeConnCheck(now time.Time) {
	if now.UnixNano()-m.connCheckedAt.Load() < int64(connCheckEvery) {
		return
	}
	select {
	case m.connCheck <- struct{}{}:
	default:
	}
}

// idleLoop keeps connections with calls in progress alive and closes the
// ones nothing uses (see connCheckEvery).
func (m *Mesh) idleLoop() {
	defer m.wg.Done()
	m.connCheckedAt.Store(time.Now().UnixNano())
	late := time.NewTimer(connCheckLate)
	defer late.Stop()
	var conns []*meshConn
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.connCheck:
			if time.Now().UnixNano()-m.connCheckedAt.Load() < int64(connCheckEvery) {
				continue // a stale poke
			}
		case <-late.C:
		}
		m.connCheckedAt.Store(time.Now().UnixNano())
		late.Reset(connCheckLate)
		conns = conns[:0]
		m.mu.Lock()
		for _, mc := range m.conns {
			conns = append(conns, mc)
		}
		m.mu.Unlock()
		now := time.Now()
		for _, mc := range conns {
			if mc.c.Context().Err() != nil {
				continue // acceptStreams removes it
			}
			st := mc.c.ConnectionStats()
			if st.PacketsSent != mc.seenSent || st.PacketsReceived != mc.seenRecv {
				mc.seenSent, mc.seenRecv, mc.activeAt = st.PacketsSent, st.PacketsReceived, now
				continue
			}
			quiet := now.Sub(mc.activeAt)
			switch {
			case mc.serving.Load() > 0:
				if quiet >= connKeepAliveAfter {
					// A peer that did not negotiate datagrams (an older
					// node) keeps the connection alive itself.
					_ = mc.c.SendDatagram([]byte{0})
				}
			case quiet >= connIdleClose:
				// Forget it first, under the lock connTo takes, unless a
				// stream is being opened on it: a caller gets either this
				// connection, still open, or a new one.
				m.mu.Lock()
				if mc.picked != mc.seenPicked {
					mc.seenPicked, mc.activeAt = mc.picked, now
					m.mu.Unlock()
					continue
				}
				m.forgetConnLocked(mc)
				m.mu.Unlock()
				m.log.Debug("closing an idle connection", "peer", mc.name, "quiet", quiet.Round(time.Millisecond))
				mc.c.CloseWithError(codeIdle, "idle")
			}
		}
	}
}
