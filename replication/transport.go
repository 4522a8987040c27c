package replication

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/warrenmesh/warren/mesh"
)

// The Raft stream protocol (mesh.ProtoRaft).
//
// Every group's Raft RPCs travel as raft.NetworkTransport traffic on mesh
// streams of one protocol byte; a short header names the group, so that
// one mesh handler serves all the groups of a node:
//
//	opener → peer:  version (1 byte, mesh.ProtoRaftVersion, or 1 to a
//	                peer that refused it: Transport.older)
//	                group id length (1 byte), group id
//	                then raft's own bytes
//	peer → opener:  status (1 byte): statusOK, then raft's own bytes;
//	                or another status, a message length (1 byte) and a
//	                message, and the end of the stream.
//
// The header goes out with the first RPC and the status with the first
// answer, so a stream costs no round trip of its own. In version 2 raft's
// AppendEntries travel in its compact encoding (third_party/raft patch
// 0008), in version 1 in msgpack; a node takes both. A peer that does not
// know the version, or has no such group, answers with a refusal whose
// message the opener's Read returns (wrapping ErrRefused), so the
// operator reads "n2 refused group "kv-7": no such group on n2" rather
// than a decoding error.
const (
	statusOK         byte = 0
	statusNoGroup    byte = 1
	statusBadVersion byte = 2
	statusBadHeader  byte = 3
)

// headerTimeout bounds the wait for an inbound stream's header.
const headerTimeout = 10 * time.Second

// maxGroupID is the longest group id (its length travels in one byte;
// ValidGroupID is stricter).
const maxGroupID = 64

var (
	// ErrRefused: the peer refused a Raft stream (no such group there, or
	// a version it does not speak).
	ErrRefused = errors.New("replication: peer refused the raft stream")
	// ErrClosed is returned by the operations of a closed Group or layer.
	ErrClosed = errors.New("replication: closed")
)

// Transport carries the Raft traffic of every group of a node over the
// node's mesh, on streams of protocol mesh.ProtoRaft. Create one per node,
// before the mesh joins others (the mesh refuses streams of a protocol it
// has no handler for yet; Raft retries), and give it to each Group.
//
// Raft addresses are mesh member names: a raft.ServerAddress is the name
// mesh.Open dials. Server ids are the mesh node ids (mesh.Config.ID),
// which stay with a node's data directory when its name or address
// changes.
type Transport struct {
	m   *mesh.Mesh
	log *slog.Logger

	mu     sync.Mutex
	groups map[string]*streamLayer
	// unknown, when set, is asked to start a group that a peer's stream
	// names and this node does not run; it reports whether it did.
	unknown func(group string) bool
	// answered, when set, is called after this node answered an RPC of a
	// peer (a leader's heartbeat, for one): the Cluster's leader watch
	// then moves its next check past the contact instead of waking up
	// for it.
	answered atomic.Pointer[func()]

	// version is the highest Raft stream version this node speaks
	// (mesh.ProtoRaftVersion; tests set a lower one to play a node of
	// an older release).
	version atomic.Uint32
	// older holds the peers that refused this node's version, each with
	// when that stops counting: streams to them go out in version 1, so
	// in msgpack alone, until then. An upgraded peer gets the current
	// version again within olderFor.
	older map[string]time.Time // under mu
	// downgrades counts the streams opened in version 1 because of older.
	downgrades atomic.Uint64
}

// olderFor is how long a peer that refused this node's stream version is
// sent the oldest one.
const olderFor = time.Minute

// compactVersion is the first Raft stream version whose AppendEntries
// travel in raft's compact encoding.
const compactVersion = 2

// onUnknownGroup sets the hook that may start a group a peer's stream names
// (a leader adding this node to a group reaches it before the node learns
// of the change from the meta group).
func (t *Transport) onUnknownGroup(f func(group string) bool) {
	t.mu.Lock()
	t.unknown = f
	t.mu.Unlock()
}

// NewTransport registers the Raft protocol handler on m. logger nil means
// slog.Default().
func NewTransport(m *mesh.Mesh, logger *slog.Logger) *Transport {
	if logger == nil {
		logger = slog.Default()
	}
	t := &Transport{m: m, log: logger, groups: map[string]*streamLayer{}, older: map[string]time.Time{}}
	t.version.Store(uint32(mesh.ProtoRaftVersion))
	m.Handle(mesh.ProtoRaft, t.serve)
	return t
}

// layer registers group and returns its stream layer; it fails if the
// group has one already.
func (t *Transport) layer(group string) (*streamLayer, error) {
	if err := ValidGroupID(group); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.groups[group] != nil {
		return nil, fmt.Errorf("replication: group %q is already running on this node", group)
	}
	hdr := make([]byte, 0, 1+len(group))
	hdr = append(hdr, byte(len(group)))
	hdr = append(hdr, group...)
	l := &streamLayer{
		t:      t,
		group:  group,
		hdr:    hdr,
		accept: make(chan *conn),
		closed: make(chan struct{}),
		conns:  map[*conn]struct{}{},
	}
	t.groups[group] = l
	return l, nil
}

// isOlder reports whether peer refused this node's stream version within
// olderFor.
func (t *Transport) isOlder(peer string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.older[peer]
	if ok && time.Now().After(until) {
		delete(t.older, peer)
		return false
	}
	return ok
}

func (t *Transport) markOlder(peer string, refused byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.older[peer]; !ok {
		t.log.Info("replication: a peer refused this node's raft stream version: sending it the oldest for a while", "peer", peer, "refused", refused, "sending", mesh.ProtoRaftMinVersion, "for", olderFor)
	}
	t.older[peer] = time.Now().Add(olderFor)
}

// serve is the mesh handler of mesh.ProtoRaft: it reads the header and
// hands the stream to its group's layer, or refuses it.
func (t *Transport) serve(from mesh.Peer, s *mesh.Stream) {
	s.SetReadDeadline(time.Now().Add(headerTimeout))
	var hdr [2]byte
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		return // the opener went away; nothing to tell it
	}
	if v := byte(t.version.Load()); hdr[0] < mesh.ProtoRaftMinVersion || hdr[0] > v {
		refuse(s, statusBadVersion, fmt.Sprintf("%s speaks raft stream versions %d to %d, not %d", t.m.Name(), mesh.ProtoRaftMinVersion, v, hdr[0]))
		return
	}
	if hdr[1] == 0 || hdr[1] > maxGroupID {
		refuse(s, statusBadHeader, fmt.Sprintf("group id of %d bytes", hdr[1]))
		return
	}
	gb := make([]byte, hdr[1])
	if _, err := io.ReadFull(s, gb); err != nil {
		return
	}
	s.SetReadDeadline(time.Time{})
	group := string(gb)

	t.mu.Lock()
	l, unknown := t.groups[group], t.unknown
	t.mu.Unlock()
	if l == nil && unknown != nil && unknown(group) {
		t.mu.Lock()
		l = t.groups[group]
		t.mu.Unlock()
	}
	if l == nil {
		t.log.Debug("raft stream for an unknown group", "group", group, "from", from.Name)
		refuse(s, statusNoGroup, fmt.Sprintf("no such group on %s", t.m.Name()))
		return
	}
	c := l.newConn(s, from.Name, false)
	if c == nil {
		refuse(s, statusNoGroup, fmt.Sprintf("group closing on %s", t.m.Name()))
		return
	}
	select {
	case l.accept <- c:
	case <-l.closed:
		c.Close()
		return
	}
	// The mesh closes the stream when this returns: wait for raft to be
	// done with it, or for the group or the connection to go.
	select {
	case <-c.done:
	case <-l.closed:
	case <-s.Context().Done():
	}
	c.Close()
}

// refuse tells the opener why its stream is refused and ends it.
func refuse(s *mesh.Stream, status byte, msg string) {
	if len(msg) > 255 {
		msg = msg[:255]
	}
	b := append([]byte{status, byte(len(msg))}, msg...)
	s.SetWriteDeadline(time.Now().Add(headerTimeout))
	s.Write(b)
	s.CloseWrite()
}

// Addr is a node in Raft's eyes: its mesh member name.
type Addr string

// Network is "warren".
func (Addr) Network() string { return "warren" }

func (a Addr) String() string { return string(a) }

// streamLayer is one group's raft.StreamLayer over the node's Transport.
type streamLayer struct {
	t      *Transport
	group  string
	hdr    []byte // the stream header of this group after its version byte (set per stream)
	accept chan *conn
	closed chan struct{}
	once   sync.Once

	mu    sync.Mutex
	conns map[*conn]struct{} // open ones, dialled and accepted: Close ends them
	shut  bool
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// Accept returns the next inbound stream of the group.
func (l *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.closed:
		return nil, fmt.Errorf("replication: group %q: %w", l.group, ErrClosed)
	}
}

// Close unregisters the group: its inbound streams are refused from now
// on, and every stream it has open ends.
func (l *streamLayer) Close() error {
	l.once.Do(func() {
		l.t.mu.Lock()
		if l.t.groups[l.group] == l {
			delete(l.t.groups, l.group)
		}
		l.t.mu.Unlock()
		l.mu.Lock()
		l.shut = true
		conns := make([]*conn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		close(l.closed)
		for _, c := range conns {
			c.Close()
		}
	})
	return nil
}

// Addr is this node's name.
func (l *streamLayer) Addr() net.Addr { return Addr(l.t.m.Name()) }

// Dial opens a stream of the group to the node named address. Nothing is
// sent until raft's first write, which carries the header.
func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	s, err := l.t.m.Open(ctx, string(address), mesh.ProtoRaft)
	if err != nil {
		return nil, fmt.Errorf("replication: group %q: dial %s: %w", l.group, address, err)
	}
	c := l.newConn(s, string(address), true)
	if c == nil {
		s.Abort()
		return nil, fmt.Errorf("replication: group %q: %w", l.group, ErrClosed)
	}
	c.version = byte(l.t.version.Load())
	if c.version > mesh.ProtoRaftMinVersion && l.t.isOlder(string(address)) {
		c.version = mesh.ProtoRaftMinVersion
		l.t.downgrades.Add(1)
	}
	c.hdr = append([]byte{c.version}, l.hdr...)
	return c, nil
}

// newConn wraps s; nil once the layer is closed.
func (l *streamLayer) newConn(s *mesh.Stream, peer string, dialled bool) *conn {
	c := &conn{s: s, l: l, peer: peer, done: make(chan struct{}), accepted: !dialled}
	if dialled {
		c.needStatus = true
	} else {
		c.sendStatus = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shut {
		return nil
	}
	l.conns[c] = struct{}{}
	return c
}

// conn is a Raft stream as raft.NetworkTransport sees it: a net.Conn whose
// addresses are node names. A dialled one sends the header with its first
// write and reads the peer's status before the first answer; an accepted
// one sends the status with its first write. raft reads and writes a conn
// from different goroutines (pipelining), never two at once on one side,
// so each side keeps its own state.
type conn struct {
	s    *mesh.Stream
	l    *streamLayer
	peer string

	hdr        []byte // dialled: not sent yet
	version    byte   // dialled: the stream's version
	sendStatus bool   // accepted: statusOK not sent yet
	needStatus bool   // dialled: the peer's status not read yet
	accepted   bool   // opened by the peer: its writes answer RPCs

	once sync.Once
	done chan struct{}
}

var (
	_ net.Conn         = (*conn)(nil)
	_ raft.CompactConn = (*conn)(nil)
)

func (c *conn) Write(p []byte) (int, error) {
	if c.accepted {
		if f := c.l.t.answered.Load(); f != nil {
			defer (*f)()
		}
	}
	var pre []byte
	switch {
	case c.hdr != nil:
		pre, c.hdr = c.hdr, nil
	case c.sendStatus:
		pre, c.sendStatus = []byte{statusOK}, false
	default:
		return c.s.Write(p)
	}
	// One write, so that the header and the first RPC share a packet.
	b := make([]byte, 0, len(pre)+len(p))
	b = append(append(b, pre...), p...)
	n, err := c.s.Write(b)
	return max(n-len(pre), 0), err
}

func (c *conn) Read(p []byte) (int, error) {
	if c.needStatus {
		if err := c.readStatus(); err != nil {
			return 0, err
		}
		c.needStatus = false
	}
	return c.s.Read(p)
}

func (c *conn) readStatus() error {
	var st [2]byte
	if _, err := io.ReadFull(c.s, st[:1]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("replication: group %q: reading %s's answer: %w", c.l.group, c.peer, err)
	}
	if st[0] == statusOK {
		return nil
	}
	if st[0] == statusBadVersion && c.version > mesh.ProtoRaftMinVersion {
		// A peer of an older release: raft dials again, in version 1.
		c.l.t.markOlder(c.peer, c.version)
	}
	msg := "(no reason given)"
	if _, err := io.ReadFull(c.s, st[1:]); err == nil {
		b := make([]byte, st[1])
		if _, err := io.ReadFull(c.s, b); err == nil {
			msg = string(b)
		}
	}
	return fmt.Errorf("%w: %s refused group %q: %s", ErrRefused, c.peer, c.l.group, msg)
}

// CompactAppendEntries tells raft's transport whether the peer reads
// AppendEntries in the compact encoding: streams of version 2 and later.
func (c *conn) CompactAppendEntries() bool { return c.version >= compactVersion }

// Close ends the stream both ways.
func (c *conn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.s.Close()
		close(c.done)
	})
	return nil
}

// LocalAddr is this node's name.
func (c *conn) LocalAddr() net.Addr { return Addr(c.l.t.m.Name()) }

// RemoteAddr is the peer's name.
func (c *conn) RemoteAddr() net.Addr { return Addr(c.peer) }

func (c *conn) SetDeadline(t time.Time) error      { return c.s.SetDeadline(t) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.s.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.s.SetWriteDeadline(t) }

// ValidGroupID checks a group id: 1 to 64 letters, digits, '-', '_' or
// '.', not starting with '.'. It names the group on the wire, its keys in
// the database and its snapshot directory.
func ValidGroupID(id string) error {
	if len(id) == 0 || len(id) > maxGroupID || id[0] == '.' {
		return fmt.Errorf("replication: group id %q: want 1-%d letters, digits, '-', '_' or '.', not starting with '.'", id, maxGroupID)
	}
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-', ch == '_', ch == '.':
		default:
			return fmt.Errorf("replication: group id %q: byte %q is not allowed (letters, digits, '-', '_', '.')", id, ch)
		}
	}
	return nil
}
