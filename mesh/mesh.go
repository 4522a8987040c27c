package mesh

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/coordinate"
	"github.com/quic-go/quic-go"

	"github.com/warrenmesh/warren/internal/quietio"
)

// DefaultBind is the UDP address a node listens on when Config.Bind and
// Config.PacketConn are both empty.
const DefaultBind = "0.0.0.0:7946"

// Peer states.
const (
	StateAlive   = "alive"
	StateSuspect = "suspect" // this node's own probe of it failed; not yet declared dead
	StateDead    = "dead"
	StateLeft    = "left"
	// StateDraining is an alive member finishing its invocations before it
	// stops: it takes no new ones.
	StateDraining = "draining"
)

// RTT sources.
const (
	RTTQUIC    = "quic"    // minimum RTT of an open QUIC connection
	RTTVivaldi = "vivaldi" // estimated from Vivaldi network coordinates
)

// Default tuning (see the package doc for why).
const (
	DefaultProbeInterval           = 400 * time.Millisecond
	DefaultProbeTimeout            = 150 * time.Millisecond
	DefaultSuspicionMult           = 3
	DefaultSuspicionMaxTimeoutMult = 2
	DefaultRetransmitMult          = 8
	DefaultGossipInterval          = 200 * time.Millisecond
	DefaultPushPullInterval        = 30 * time.Second
	DefaultRefreshInterval         = time.Second
	DefaultReconnectInterval       = 10 * time.Second
	DefaultReapAfter               = 10 * time.Minute

	// minUpdateGap rate-limits re-gossiping the local state.
	minUpdateGap = 200 * time.Millisecond
	// streamTimeout bounds memberlist's stream operations (push/pull, the
	// fallback ping over a stream) and dials made for it.
	streamTimeout = 5 * time.Second
)

// Config configures a node's mesh endpoint.
type Config struct {
	Name   string  // unique node name (required)
	ID     string  // stable node id (required; a DNS label: letters, digits, hyphens)
	Secret *Secret // required

	// Bind is the UDP address to listen on when PacketConn is nil
	// (default DefaultBind).
	Bind string
	// PacketConn, when set, is the socket to use (any net.PacketConn whose
	// addresses are *net.UDPAddr; tests inject fault-injecting ones). Start
	// takes ownership: Close closes it, and so does a failed Start.
	PacketConn net.PacketConn
	// Advertise is the "host:port" others should use to reach this node;
	// default: the socket's address (a private IP of this host when bound
	// to the unspecified address).
	Advertise string

	Tags map[string]string // gossiped with the node
	API  string            // this node's HTTP API address, gossiped

	Logger *slog.Logger // default slog.Default()

	// OnChange, if set, is called (from one goroutine, never concurrently,
	// coalesced) after the peer table changed: a member joined, left, died,
	// came back, or changed its state.
	OnChange func()

	// Tuning; zero means the default.
	ProbeInterval           time.Duration
	ProbeTimeout            time.Duration
	SuspicionMult           int
	SuspicionMaxTimeoutMult int
	RetransmitMult          int
	GossipInterval          time.Duration
	PushPullInterval        time.Duration
	// RefreshInterval is how long after a failed broadcast of the local
	// state it is tried again (SetLoad triggers one, rate-limited).
	RefreshInterval time.Duration
	// ReconnectInterval is how often one dead (not left) peer is re-joined,
	// so that a healed partition merges again; negative disables.
	ReconnectInterval time.Duration
	// ReapAfter is how long dead and left peers stay in the table.
	ReapAfter time.Duration
}

// LocalState is the load a node gossips about itself.
type LocalState struct {
	Slots, Free int     // concurrent invocations it accepts / has free
	Load        float64 // utilisation, 0..1 (may exceed 1)
	Draining    bool    // it is stopping: peers must send it no work
	// Retiring: it is being decommissioned: its replicated state is to
	// move to other nodes before it stops (Peer.Retiring). Unlike
	// Draining, which every stop goes through, it does not end its work.
	Retiring bool
}

// Peer is one member in the peer table.
type Peer struct {
	Name, ID, Addr, API string
	State               string // StateAlive, StateSuspect, StateDraining, StateDead, StateLeft
	// Retiring: the node is being decommissioned (LocalState.Retiring).
	Retiring    bool
	Tags        map[string]string
	RTT         time.Duration // from this node; valid when RTTSource != ""
	RTTSource   string        // RTTQUIC, RTTVivaldi or "" (unknown)
	Slots, Free int
	Load        float64
	Updated     time.Time // when this entry last changed from gossip
	Local       bool      // this node
}

// Candidate returns what the ranking function needs of p.
func (p Peer) Candidate() Candidate {
	return Candidate{
		Name:   p.Name,
		Local:  p.Local,
		Alive:  p.State == StateAlive,
		Free:   p.Free,
		Load:   p.Load,
		RTT:    p.RTT,
		HasRTT: p.RTTSource != "",
	}
}

// peerEntry is the table's record of one member.
type peerEntry struct {
	nodeMeta
	name    string
	addr    string
	state   string
	updated time.Time
	deadAt  time.Time
	coord   *coordinate.Coordinate // its Vivaldi coordinate, from our pings
	// lastRTT is the minimum RTT of the last QUIC connection to it, closed
	// at lastRTTAt (idle, or failed).
	lastRTT   time.Duration
	lastRTTAt time.Time
	// marks are its marks (SetMark), from its metadata's reserved tags.
	marks map[string]uint64
}

// Mesh is a node's endpoint in the mesh. Its methods are safe for
// concurrent use.
type Mesh struct {
	cfg    Config
	log    *slog.Logger
	secret *Secret
	cert   tls.Certificate
	boot   uint32

	pc    net.PacketConn
	tr    *quic.Transport
	ln    *quic.Listener
	qconf *quic.Config
	gt    *gossipTransport
	ml    *memberlist.Memberlist
	viv   *coordinate.Client
	addr  *net.UDPAddr // advertised

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	dirty chan struct{} // local state changed
	// connCheck wakes idleLoop; connCheckedAt (UnixNano) is when it last
	// looked at the connections (see pokeConnCheck).
	connCheck     chan struct{}
	connCheckedAt atomic.Int64
	changed       chan struct{} // peer table changed (OnChange)
	// subs are signalled when the peer table changes (NotifyChanges).
	subsMu sync.Mutex
	subs   []chan<- struct{}

	mu        sync.Mutex
	local     LocalState
	marks     map[string]uint64 // this node's (SetMark)
	leaving   bool
	announced []byte // the metadata memberlist last gossiped for us
	peers     map[string]*peerEntry
	conns     map[*quic.Conn]*meshConn
	byName    map[string]*meshConn
	dialing   map[string]*dialCall
	handlers  map[byte]Handler
	closed    bool

	closeOnce sync.Once
	closeErr  error
}

// Start opens the socket, starts QUIC and gossip and returns the running
// node, alone in its mesh until Join. ctx bounds the start only; the node
// runs until Close.
func Start(ctx context.Context, cfg Config) (m *Mesh, err error) {
	if cfg.PacketConn != nil {
		defer func() {
			if err != nil {
				cfg.PacketConn.Close() // ours from the start, also on failure
			}
		}()
	}
	if cfg.Name == "" {
		return nil, errors.New("mesh: Config.Name is required")
	}
	if cfg.Secret == nil {
		return nil, errors.New("mesh: Config.Secret is required")
	}
	if !validNodeID(cfg.ID) {
		return nil, fmt.Errorf("mesh: Config.ID %q must be a DNS label (1-63 letters, digits or hyphens)", cfg.ID)
	}
	setDefaults(&cfg)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mesh: %w", err)
	}
	cert, err := cfg.Secret.IssueNodeCert(cfg.ID, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("mesh: %w", err)
	}
	var bootb [4]byte
	rand.Read(bootb[:])

	m = &Mesh{
		cfg:       cfg,
		log:       cfg.Logger.With("mesh", cfg.Name),
		secret:    cfg.Secret,
		cert:      cert,
		boot:      binary.BigEndian.Uint32(bootb[:]),
		dirty:     make(chan struct{}, 1),
		changed:   make(chan struct{}, 1),
		connCheck: make(chan struct{}, 1),
		peers:     map[string]*peerEntry{},
		conns:     map[*quic.Conn]*meshConn{},
		byName:    map[string]*meshConn{},
		dialing:   map[string]*dialCall{},
		handlers:  map[byte]Handler{},
	}
	m.cfg.Tags = cloneTags(cfg.Tags)
	for k := range m.cfg.Tags {
		if strings.HasPrefix(k, markPrefix) {
			return nil, fmt.Errorf("mesh: tag %q: tags starting with %q are reserved", k, markPrefix)
		}
	}
	// The metadata must fit whatever the load numbers and marks become.
	worst := m.metaLocked()
	worst.Slots, worst.Free, worst.Leaving = math.MaxInt64, math.MaxInt64, true
	if n := len(worst.encode()) + maxMarks*(2+markPrefixLen+maxMarkName+20); n > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("mesh: node metadata (id, API address, tags) takes %d bytes, the limit is %d", n, memberlist.MetaMaxSize)
	}

	m.pc = cfg.PacketConn
	if m.pc == nil {
		m.pc, err = net.ListenPacket("udp", cfg.Bind)
		if err != nil {
			return nil, fmt.Errorf("mesh: listen %s: %w", cfg.Bind, err)
		}
		if uc, ok := m.pc.(*net.UDPConn); ok { // as quic-go asks; best effort
			uc.SetReadBuffer(7 << 20)
			uc.SetWriteBuffer(7 << 20)
		}
		// Datagrams in and out with raw system calls (package quietio):
		// through the scheduler's system-call path each packet woke the
		// runtime's sysmon thread from its sleep, most of an idle node's
		// context switches.
		m.pc = quietio.WrapPacket(m.pc)
	}
	m.addr, err = advertiseAddr(cfg.Advertise, m.pc.LocalAddr())
	if err != nil {
		m.pc.Close()
		return nil, fmt.Errorf("mesh: %w", err)
	}
	m.cfg.API = routableAPI(m.cfg.API, m.addr.IP)
	m.ctx, m.cancel = context.WithCancel(context.Background())

	var resetKey quic.StatelessResetKey
	copy(resetKey[:], cfg.Secret.DeriveKey("quic stateless reset/"+cfg.ID))
	m.tr = &quic.Transport{Conn: m.pc, StatelessResetKey: &resetKey}
	m.qconf = &quic.Config{
		HandshakeIdleTimeout: 3 * time.Second,
		// A connection that hears nothing for this long is closed, and the
		// calls in flight on it end. Gossip notices a dead peer sooner (and
		// closes its connections); this bounds the gray failure, a peer alive
		// to gossip through others whose link to us is cut. QUIC's
		// keep-alives are off: idleLoop keeps a connection alive while a
		// call is in progress (a datagram after connKeepAliveAfter of
		// silence) and closes it after connIdleClose when nothing uses it,
		// so that a quiet mesh does not ping every peer forever.
		MaxIdleTimeout:        quicIdleTimeout,
		EnableDatagrams:       true,
		MaxIncomingStreams:    1 << 14,
		MaxIncomingUniStreams: -1,
	}
	m.ln, err = m.tr.Listen(cfg.Secret.ServerTLSConfig(cert), m.qconf)
	if err != nil {
		m.shutdownTransport()
		return nil, fmt.Errorf("mesh: QUIC listen: %w", err)
	}

	m.gt = newGossipTransport(m)
	m.wg.Add(1)
	go m.readGossipPackets() // before memberlist: packets sent to us are not lost
	m.wg.Add(1)
	go m.acceptConns()

	m.viv, err = coordinate.NewClient(coordinate.DefaultConfig())
	if err != nil {
		m.shutdownTransport()
		return nil, fmt.Errorf("mesh: %w", err)
	}

	mlc := memberlist.DefaultLANConfig()
	mlc.Name = cfg.Name
	mlc.Transport = m.gt
	mlc.BindAddr = m.addr.IP.String()
	mlc.BindPort = m.addr.Port
	mlc.AdvertiseAddr = m.addr.IP.String()
	mlc.AdvertisePort = m.addr.Port
	mlc.SecretKey = cfg.Secret.GossipKey
	mlc.Label = "" // a label would add a first byte 244 (QUIC bits set)
	mlc.ProbeInterval = cfg.ProbeInterval
	mlc.ProbeTimeout = cfg.ProbeTimeout
	mlc.SuspicionMult = cfg.SuspicionMult
	mlc.SuspicionMaxTimeoutMult = cfg.SuspicionMaxTimeoutMult
	mlc.RetransmitMult = cfg.RetransmitMult
	mlc.GossipInterval = cfg.GossipInterval
	mlc.QuietGossip = true // the delegate queues no broadcasts of its own
	// memberlist's LZW compression allocates and clears a 64 KiB table
	// for every packet it sends, to shrink probes of a few dozen bytes
	// (kept only when smaller). Messages still decompress when received.
	mlc.EnableCompression = false
	mlc.PushPullInterval = cfg.PushPullInterval
	mlc.TCPTimeout = streamTimeout
	mlc.DeadNodeReclaimTime = 5 * time.Second // a restarted node may come back at a new address
	mlc.Delegate = (*delegate)(m)
	mlc.Events = (*delegate)(m)
	mlc.Ping = (*delegate)(m)
	mlc.Logger = log.New(&mlLogWriter{m: m}, "", 0)
	mlc.LogOutput = nil
	m.ml, err = memberlist.Create(mlc)
	if err != nil {
		m.shutdownTransport()
		return nil, fmt.Errorf("mesh: starting gossip: %w", err)
	}

	m.wg.Add(1)
	go m.publishLoop()
	m.wg.Add(1)
	go m.maintainLoop()
	m.wg.Add(1)
	go m.idleLoop()
	if cfg.OnChange != nil {
		m.wg.Add(1)
		go m.notifyLoop()
	}
	m.log.Debug("mesh started", "addr", m.addr.String(), "id", cfg.ID)
	return m, nil
}

func setDefaults(c *Config) {
	if c.Bind == "" {
		c.Bind = DefaultBind
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setInt := func(i *int, def int) {
		if *i == 0 {
			*i = def
		}
	}
	setDur(&c.ProbeInterval, DefaultProbeInterval)
	setDur(&c.ProbeTimeout, DefaultProbeTimeout)
	setDur(&c.GossipInterval, DefaultGossipInterval)
	setDur(&c.PushPullInterval, DefaultPushPullInterval)
	setDur(&c.RefreshInterval, DefaultRefreshInterval)
	setDur(&c.ReconnectInterval, DefaultReconnectInterval)
	setDur(&c.ReapAfter, DefaultReapAfter)
	setInt(&c.SuspicionMult, DefaultSuspicionMult)
	setInt(&c.SuspicionMaxTimeoutMult, DefaultSuspicionMaxTimeoutMult)
	setInt(&c.RetransmitMult, DefaultRetransmitMult)
}

// advertiseAddr picks the address gossiped for this node.
func advertiseAddr(adv string, local net.Addr) (*net.UDPAddr, error) {
	if adv != "" {
		ap, err := netip.ParseAddrPort(adv)
		if err != nil {
			ua, rerr := net.ResolveUDPAddr("udp", adv)
			if rerr != nil {
				return nil, fmt.Errorf("advertise address %q: %w", adv, rerr)
			}
			return ua, nil
		}
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())), nil
	}
	ua, ok := local.(*net.UDPAddr)
	if !ok {
		var err error
		ua, err = net.ResolveUDPAddr("udp", local.String())
		if err != nil {
			return nil, fmt.Errorf("socket address %s is not a UDP address: %w", local, err)
		}
	}
	ua = &net.UDPAddr{IP: ua.IP, Port: ua.Port}
	if ua.IP == nil || ua.IP.IsUnspecified() {
		ip, err := privateIP()
		if err != nil {
			return nil, err
		}
		ua.IP = ip
	}
	if v4 := ua.IP.To4(); v4 != nil {
		ua.IP = v4
	}
	return ua, nil
}

// privateIP returns an address of this host others can likely reach: the
// first private (RFC 1918 / ULA) unicast address, else the first global
// one, else loopback.
func privateIP() (net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("finding an address to advertise: %w", err)
	}
	var global net.IP
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() || !ipn.IP.IsGlobalUnicast() {
			continue
		}
		if ipn.IP.IsPrivate() {
			return ipn.IP, nil
		}
		if global == nil {
			global = ipn.IP
		}
	}
	if global != nil {
		return global, nil
	}
	return net.IPv4(127, 0, 0, 1), nil
}

// routableAPI is an API URL others can reach: one whose host is the
// unspecified address (an API listening on every address, 0.0.0.0 or [::])
// takes the node's advertised IP instead. Peers that dialled the URL as it
// was reached their own host, and a node asking for its peers' views sent
// its token there.
func routableAPI(api string, ip net.IP) string {
	u, err := url.Parse(api)
	if err != nil || u.Host == "" {
		return api
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return api
	}
	if a := net.ParseIP(host); a == nil || !a.IsUnspecified() || ip == nil {
		return api
	}
	u.Host = net.JoinHostPort(ip.String(), port)
	return u.String()
}

// Addr is the UDP address this node advertises (QUIC and gossip alike).
func (m *Mesh) Addr() net.Addr { return &net.UDPAddr{IP: m.addr.IP, Port: m.addr.Port} }

// Name is this node's name.
func (m *Mesh) Name() string { return m.cfg.Name }

// Join contacts the given "host:port" addresses of existing members and
// merges their view of the mesh. It returns how many it reached; the error
// is nil when at least one was.
func (m *Mesh) Join(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, errors.New("mesh: join: no addresses")
	}
	n, err := m.ml.Join(addrs)
	// A node that restarts on its old address may find its join's own
	// connection closed by a peer that just learned of the restart and
	// drops every connection to the old process. The peer knows the new
	// one by then: asking again succeeds.
	for try := 0; err != nil && try < 2 && peerGone(err); try++ {
		n, err = m.ml.Join(addrs)
	}
	if err != nil {
		return n, fmt.Errorf("mesh: join: %w", err)
	}
	return n, nil
}

// peerGone reports whether err is a connection a peer closed because it
// learned we restarted. memberlist flattens its join errors to text
// ("failed to join ...: %v"), so the reason we close with is matched.
func peerGone(err error) bool {
	return strings.Contains(err.Error(), reasonRestarted)
}

// SetLoad sets the load this node gossips. It is cheap; changes reach the
// others within about RefreshInterval (re-gossiped at most every 200 ms).
func (m *Mesh) SetLoad(s LocalState) {
	m.mu.Lock()
	m.local = s
	m.mu.Unlock()
	select {
	case m.dirty <- struct{}{}:
	default:
	}
}

// Local returns this node's entry.
func (m *Mesh) Local() Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.localPeerLocked()
}

func (m *Mesh) localPeerLocked() Peer {
	st := StateAlive
	switch {
	case m.leaving:
		st = StateLeft
	case m.local.Draining:
		st = StateDraining
	}
	return Peer{
		Name: m.cfg.Name, ID: m.cfg.ID, Addr: m.addr.String(), API: m.cfg.API,
		State: st, Retiring: m.local.Retiring, Tags: cloneTags(m.cfg.Tags),
		Slots: m.local.Slots, Free: m.local.Free, Load: m.local.Load,
		Updated: time.Now(), Local: true,
	}
}

// Members returns the peer table: this node first, then the others sorted
// by name, including dead and left ones until they are reaped.
func (m *Mesh) Members() []Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Peer, 0, len(m.peers)+1)
	out = append(out, m.localPeerLocked())
	names := make([]string, 0, len(m.peers))
	for n := range m.peers {
		if n != m.cfg.Name {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, m.peerLocked(m.peers[n]))
	}
	return out
}

// Peer returns the entry for name, if the table has it.
func (m *Mesh) Peer(name string) (Peer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == m.cfg.Name {
		return m.localPeerLocked(), true
	}
	e, ok := m.peers[name]
	if !ok {
		return Peer{}, false
	}
	return m.peerLocked(e), true
}

// PeerState is Peer(name).State, without the copy of the entry and the
// look at its connection's round trip that Peer makes: for a caller on a
// call's path that needs only the state.
func (m *Mesh) PeerState(name string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == m.cfg.Name {
		return m.localPeerLocked().State, true
	}
	e, ok := m.peers[name]
	if !ok {
		return "", false
	}
	return m.stateLocked(e), true
}

// stateLocked is e's state as Peer reports it.
func (m *Mesh) stateLocked(e *peerEntry) string {
	state := e.state
	if state == StateSuspect && time.Since(e.updated) > m.suspectExpiry(len(m.peers)+1) {
		state = StateAlive // memberlist would have declared it dead by now
	}
	if state == StateAlive && e.Draining {
		state = StateDraining
	}
	return state
}

func (m *Mesh) peerLocked(e *peerEntry) Peer {
	p := Peer{
		Name: e.name, ID: e.ID, Addr: e.addr, API: e.API, State: m.stateLocked(e), Retiring: e.Retiring,
		Tags: cloneTags(e.Tags), Slots: e.Slots, Free: e.Free, Load: e.Load,
		Updated: e.updated,
	}
	if mc := m.bestConnLocked(e.name); mc != nil {
		if rtt := quicRTT(mc.c.ConnectionStats()); rtt > 0 {
			p.RTT, p.RTTSource = rtt, RTTQUIC
			return p
		}
	}
	if e.lastRTT > 0 && time.Since(e.lastRTTAt) < rttMemory {
		p.RTT, p.RTTSource = e.lastRTT, RTTQUIC // the path's, measured before its connection idled out
		return p
	}
	if e.coord != nil {
		if d := m.viv.DistanceTo(e.coord); d >= 0 {
			p.RTT, p.RTTSource = d, RTTVivaldi
		}
	}
	return p
}

// quicRTT is the RTT of a connection for ranking: the minimum observed,
// which is the path's latency. The smoothed RTT starts from the handshake's
// samples, which include certificate signing and verification (milliseconds,
// far more than a LAN's RTT), and converges slowly on a quiet connection.
// Load is ranked separately, so queueing delay need not show here.
func quicRTT(st quic.ConnectionStats) time.Duration {
	if st.MinRTT > 0 {
		return st.MinRTT
	}
	return st.SmoothedRTT
}

// Leave tells the mesh this node is leaving (others mark it "left", not
// "dead") and waits up to timeout for the news to go out. The node keeps
// serving streams until Close.
func (m *Mesh) Leave(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errors.New("mesh: leave after close")
	}
	m.leaving = true
	m.mu.Unlock()
	deadline := time.Now().Add(timeout)
	// Gossip the leaving flag first, so that the others can tell a leave
	// from a death when the dead message follows.
	if err := m.ml.UpdateNode(timeout / 2); err != nil {
		m.log.Debug("leave: metadata broadcast", "err", err)
	}
	if err := m.ml.Leave(time.Until(deadline)); err != nil {
		return fmt.Errorf("mesh: leave: %w", err)
	}
	return nil
}

// Close stops the node at once: gossip, every QUIC connection, the socket
// (an injected PacketConn too). Others see it die unless Leave came first.
func (m *Mesh) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		err := m.ml.Shutdown()
		m.shutdownTransport()
		m.closeErr = err
	})
	return m.closeErr
}

// shutdownTransport closes QUIC and the socket and waits for every
// goroutine of ours.
func (m *Mesh) shutdownTransport() {
	if m.cancel != nil {
		m.cancel()
	}
	if m.ln != nil {
		m.ln.Close()
	}
	m.mu.Lock()
	conns := make([]*quic.Conn, 0, len(m.conns))
	for c := range m.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	for _, c := range conns {
		c.CloseWithError(codeShutdown, "node shutting down")
	}
	m.pc.Close() // first: Transport.Close then needs no read deadline support
	if m.tr != nil {
		m.tr.Close()
	}
	m.wg.Wait()
}

// metaLocked is the local node's metadata.
func (m *Mesh) metaLocked() nodeMeta {
	tags := m.cfg.Tags
	if len(m.marks) > 0 {
		tags = make(map[string]string, len(m.cfg.Tags)+len(m.marks))
		maps.Copy(tags, m.cfg.Tags)
		for k, v := range m.marks {
			tags[markPrefix+k] = strconv.FormatUint(v, 10)
		}
	}
	return nodeMeta{
		ID: m.cfg.ID, API: m.cfg.API, Boot: m.boot, Leaving: m.leaving, Draining: m.local.Draining, Retiring: m.local.Retiring,
		Slots: m.local.Slots, Free: m.local.Free, Load: m.local.Load,
		Tags: tags,
	}
}

// Marks: a node's few numbered marks (SetMark) travel in its gossiped
// metadata as tags under markPrefix, so that nodes of older versions see
// them as tags and nothing breaks; Peer.Tags leaves them out.
const (
	markPrefix    = "~"
	markPrefixLen = len(markPrefix)
	maxMarks      = 4
	maxMarkName   = 16
)

// SetMark sets one of the numbered marks this node gossips (at most 4,
// names of at most 16 bytes): a version of something it holds, that its
// peers can compare with theirs without asking (Marks). A change goes out
// as SetLoad's do, and wakes the peers' Config.OnChange and NotifyChanges.
// Marks cost nothing while they do not change.
func (m *Mesh) SetMark(name string, v uint64) error {
	if name == "" || len(name) > maxMarkName {
		return fmt.Errorf("mesh: mark name %q: want 1-%d bytes", name, maxMarkName)
	}
	m.mu.Lock()
	if old, ok := m.marks[name]; ok && old == v {
		m.mu.Unlock()
		return nil
	}
	if _, ok := m.marks[name]; !ok && len(m.marks) == maxMarks {
		m.mu.Unlock()
		return fmt.Errorf("mesh: mark %q: a node has at most %d marks", name, maxMarks)
	}
	if m.marks == nil {
		m.marks = map[string]uint64{}
	}
	m.marks[name] = v
	m.mu.Unlock()
	select {
	case m.dirty <- struct{}{}:
	default:
	}
	return nil
}

// Marks returns the mark name of this node and of every peer that is
// alive (or suspect) and gossips one, by node name.
func (m *Mesh) Marks(name string) map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]uint64{}
	if v, ok := m.marks[name]; ok {
		out[m.cfg.Name] = v
	}
	for n, e := range m.peers {
		if v, ok := e.marks[name]; ok && n != m.cfg.Name && (e.state == StateAlive || e.state == StateSuspect) {
			out[n] = v
		}
	}
	return out
}

// splitMarks separates a peer's gossiped tags into its own tags and its
// marks.
func splitMarks(tags map[string]string) (map[string]string, map[string]uint64) {
	var own map[string]string
	var marks map[string]uint64
	for k, v := range tags {
		if name, ok := strings.CutPrefix(k, markPrefix); ok {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil && len(marks) < maxMarks {
				if marks == nil {
					marks = map[string]uint64{}
				}
				marks[name] = n
			}
			continue
		}
		if own == nil {
			own = map[string]string{}
		}
		own[k] = v
	}
	return own, marks
}

// publishLoop re-gossips the local state when it changed: at once after
// SetLoad (but at most every minUpdateGap). It sleeps while nothing
// changes; a broadcast that failed is tried again after RefreshInterval.
func (m *Mesh) publishLoop() {
	defer m.wg.Done()
	retry := time.NewTimer(m.cfg.RefreshInterval)
	retry.Stop()
	defer retry.Stop()
	var last time.Time
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-retry.C:
		case <-m.dirty:
		}
		if wait := minUpdateGap - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-m.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		m.mu.Lock()
		same := bytes.Equal(m.metaLocked().encode(), m.announced)
		stop := m.leaving || m.closed
		m.mu.Unlock()
		if stop || same {
			continue
		}
		last = time.Now()
		// UpdateNode asks NodeMeta again, which records what it announced.
		if err := m.ml.UpdateNode(time.Second); err != nil {
			m.log.Debug("gossiping local state", "err", err)
			retry.Reset(m.cfg.RefreshInterval)
		}
	}
}

// maintainLoop reaps old dead peers and re-joins dead ones (partitions).
func (m *Mesh) maintainLoop() {
	defer m.wg.Done()
	every := m.cfg.ReconnectInterval
	if every < 0 {
		every = time.Minute
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		var retry []string
		m.mu.Lock()
		for n, e := range m.peers {
			if e.state != StateDead && e.state != StateLeft {
				continue
			}
			if now.Sub(e.deadAt) > m.cfg.ReapAfter {
				delete(m.peers, n)
				continue
			}
			if e.state == StateDead {
				retry = append(retry, e.addr)
			}
		}
		m.mu.Unlock()
		if m.cfg.ReconnectInterval > 0 && len(retry) > 0 {
			addr := retry[int(uint64(now.UnixNano())%uint64(len(retry)))]
			if _, err := m.ml.Join([]string{addr}); err == nil {
				m.log.Debug("reconnected to a dead peer", "addr", addr)
			}
		}
	}
}

func (m *Mesh) notifyChanged() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
	m.subsMu.Lock()
	for _, ch := range m.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	m.subsMu.Unlock()
}

// NotifyChanges has ch signalled, without blocking (give it a buffer),
// whenever the peer table changes: when Config.OnChange would be called.
func (m *Mesh) NotifyChanges(ch chan<- struct{}) {
	m.subsMu.Lock()
	m.subs = append(m.subs, ch)
	m.subsMu.Unlock()
}

// Vouches reports whether the mesh takes the node named name to be up: it
// is alive or draining in the peer table, and this node's own probe of it
// has not failed since (a suspect is not vouched for while others may
// still refute the suspicion). Its failure detection is what a caller
// may trust instead of a heartbeat of its own: a node that stops answering
// probes stops being vouched for within the detection time (mesh/detect).
func (m *Mesh) Vouches(name string) bool {
	if name == m.cfg.Name {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.peers[name]
	switch {
	case e == nil:
		return false
	case e.state == StateSuspect:
		// As in Peer: past this, memberlist would have declared it dead,
		// so the suspicion was refuted.
		return time.Since(e.updated) > m.suspectExpiry(len(m.peers)+1)
	}
	return e.state == StateAlive
}

func (m *Mesh) notifyLoop() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.changed:
			m.cfg.OnChange()
		}
	}
}

func cloneTags(t map[string]string) map[string]string {
	if len(t) == 0 {
		return nil
	}
	c := make(map[string]string, len(t))
	for k, v := range t {
		c[k] = v
	}
	return c
}
