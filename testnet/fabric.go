package testnet

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// fabricPort is the port of the endpoint Listen opens on each host,
	// warren's default mesh port.
	fabricPort = 7946
	// firstEphemeralPort is where ListenPort(name, 0) starts looking.
	firstEphemeralPort = 49152
	// maxDatagram is the largest UDP payload over IPv4.
	maxDatagram = 65507
	// defaultReadBuffer bounds the bytes waiting to be read on one endpoint
	// until SetReadBuffer changes it; past it, arriving datagrams are dropped.
	defaultReadBuffer = 1 << 20
	// linkQueueBytes bounds the backlog of a bandwidth-limited link; past
	// it, datagrams are dropped as a router's full queue would.
	linkQueueBytes = 256 << 10
)

// Fabric is an in-process network of virtual hosts exchanging UDP datagrams.
// Each host has a name and a unique IPv4 address (10.77.x.y); the links
// between hosts have a one-way latency, a loss probability and optionally a
// bandwidth, and can be cut in one or both directions. All methods are safe
// for concurrent use. The zero value is not usable: call NewFabric.
//
// Faults are decided per datagram when it is sent; a cut (Partition,
// PartitionOneWay, Isolate) is also checked when a delayed datagram
// arrives, so nothing crosses a cut after the call that made it returns.
// Traffic between endpoints of the same host is never cut.
type Fabric struct {
	mu        sync.Mutex
	rng       *rand.Rand
	closed    bool
	hosts     map[string]*fabricHost
	endpoints map[netip.AddrPort]*fabricConn
	latency   map[fabricPair]time.Duration
	loss      map[fabricPair]float64
	bandwidth map[fabricPair]int64 // bytes per second
	busyUntil map[fabricLink]time.Time
	cut       map[fabricLink]bool
	isolated  map[string]bool
}

// fabricPair is an unordered pair of hosts (a <= b).
type fabricPair struct{ a, b string }

func pairOf(a, b string) fabricPair {
	if b < a {
		a, b = b, a
	}
	return fabricPair{a, b}
}

// fabricLink is one direction between two hosts.
type fabricLink struct{ from, to string }

type fabricHost struct {
	name  string
	ip    netip.Addr
	conns map[*fabricConn]struct{} // open endpoints

	sent, received, dropped atomic.Uint64
	receivedBytes           atomic.Uint64
}

// NewFabric returns an empty fabric. seed drives the loss decisions; log it
// in tests so that a failure can be replayed (the decisions also depend on
// the order in which concurrent senders reach the fabric).
func NewFabric(seed int64) *Fabric {
	return &Fabric{
		rng:       rand.New(rand.NewPCG(uint64(seed), 0x7761727265)),
		hosts:     make(map[string]*fabricHost),
		endpoints: make(map[netip.AddrPort]*fabricConn),
		latency:   make(map[fabricPair]time.Duration),
		loss:      make(map[fabricPair]float64),
		bandwidth: make(map[fabricPair]int64),
		busyUntil: make(map[fabricLink]time.Time),
		cut:       make(map[fabricLink]bool),
		isolated:  make(map[string]bool),
	}
}

// Listen opens the endpoint of host name on port 7946, the address Addr
// returns. name identifies the host in the latency matrix and the fault
// settings. Only one endpoint per address may be open at a time; after Kill
// or Close, Listen opens a fresh one on the same address (a restart).
//
// The returned conn is a net.PacketConn over *net.UDPAddr; it also has
// SetReadBuffer (bounds the bytes queued for reading, 1 MiB by default) and
// SetWriteBuffer (accepted, no effect: writes never block). quic-go and
// memberlist accept it in place of a *net.UDPConn.
func (f *Fabric) Listen(name string) (net.PacketConn, error) {
	return f.ListenPort(name, fabricPort)
}

// ListenPort is Listen on another port of the same host; port 0 picks a
// free port from 49152 up. Use it for a second socket on one host.
func (f *Fabric) ListenPort(name string, port int) (net.PacketConn, error) {
	if name == "" {
		return nil, errors.New("testnet: listen: empty host name")
	}
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("testnet: listen %q: port %d out of range", name, port)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, fmt.Errorf("testnet: listen %q: fabric closed: %w", name, net.ErrClosed)
	}
	h := f.hostLocked(name)
	if port == 0 {
		for p := firstEphemeralPort; p <= 65535; p++ {
			if f.endpoints[netip.AddrPortFrom(h.ip, uint16(p))] == nil {
				port = p
				break
			}
		}
		if port == 0 {
			return nil, fmt.Errorf("testnet: listen %q: no free port: %w", name, syscall.EADDRINUSE)
		}
	}
	ap := netip.AddrPortFrom(h.ip, uint16(port))
	if f.endpoints[ap] != nil {
		return nil, fmt.Errorf("testnet: listen %q on %v: %w", name, ap, syscall.EADDRINUSE)
	}
	c := &fabricConn{
		f:       f,
		host:    h,
		addr:    ap,
		wake:    make(chan struct{}),
		readBuf: defaultReadBuffer,
	}
	f.endpoints[ap] = c
	h.conns[c] = struct{}{}
	return c, nil
}

// Addr returns the address of host name's Listen endpoint, assigning the
// host its IP if it has none yet, so addresses can be handed out (as join
// addresses, say) before the hosts listen. The caller may modify the result.
func (f *Fabric) Addr(name string) *net.UDPAddr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(f.hostLocked(name).ip, fabricPort))
}

func (f *Fabric) hostLocked(name string) *fabricHost {
	h := f.hosts[name]
	if h == nil {
		n := len(f.hosts) + 1 // 10.77.0.1, 10.77.0.2, ...
		if n > 0xffff {
			panic("testnet: more than 65535 hosts")
		}
		h = &fabricHost{
			name:  name,
			ip:    netip.AddrFrom4([4]byte{10, 77, byte(n >> 8), byte(n)}),
			conns: make(map[*fabricConn]struct{}),
		}
		f.hosts[name] = h
	}
	return h
}

// SetLatency sets the one-way delay between hosts a and b, both ways.
// Datagrams already in flight keep the delay they were sent with, so
// lowering it can reorder a link. Negative means zero.
func (f *Fabric) SetLatency(a, b string, oneWay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency[pairOf(a, b)] = max(oneWay, 0)
}

// SetLoss sets the probability, clamped to [0, 1], that a datagram between
// hosts a and b is dropped, both ways.
func (f *Fabric) SetLoss(a, b string, p float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !(p > 0) { // also NaN
		p = 0
	}
	f.loss[pairOf(a, b)] = min(p, 1)
}

// SetBandwidth limits each direction between hosts a and b to bytesPerSec
// (0 or less: unlimited). A datagram waits for the ones queued before it on
// its direction, then takes len/bytesPerSec to cross, then the latency.
// When more than 256 KiB is queued on a direction, new datagrams are dropped.
func (f *Fabric) SetBandwidth(a, b string, bytesPerSec int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bandwidth[pairOf(a, b)] = max(bytesPerSec, 0)
}

// Partition cuts hosts a and b apart in both directions until Heal.
func (f *Fabric) Partition(a, b string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut[fabricLink{a, b}] = true
	f.cut[fabricLink{b, a}] = true
}

// PartitionOneWay drops datagrams from host from to host to until Heal;
// the other direction keeps working.
func (f *Fabric) PartitionOneWay(from, to string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut[fabricLink{from, to}] = true
}

// Isolate cuts host name off from every other host until Heal.
func (f *Fabric) Isolate(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.isolated[name] = true
}

// Heal removes every partition and isolation. Latency, loss and bandwidth
// stay as set.
func (f *Fabric) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.cut)
	clear(f.isolated)
}

func (f *Fabric) cutLocked(from, to string) bool {
	if from == to {
		return false
	}
	return f.isolated[from] || f.isolated[to] || f.cut[fabricLink{from, to}]
}

// Kill closes every open endpoint of host name, as if its process died:
// blocked and later reads return net.ErrClosed, datagrams in flight to it
// and sent to it later vanish. Listen on the same name restarts it.
func (f *Fabric) Kill(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h := f.hosts[name]; h != nil {
		for c := range h.conns {
			f.closeConnLocked(c)
		}
	}
}

// Stats returns counts of datagrams for host name since the fabric was
// made, across restarts: sent by it, delivered into its endpoints' receive
// queues, and sent by it but discarded by the fabric (loss, cut, unknown or
// closed destination, full link or receive queue). So, summed over all
// hosts, sent = received + dropped + in flight.
func (f *Fabric) Stats(name string) (sent, received, dropped uint64) {
	f.mu.Lock()
	h := f.hosts[name]
	f.mu.Unlock()
	if h == nil {
		return 0, 0, 0
	}
	return h.sent.Load(), h.received.Load(), h.dropped.Load()
}

// ReceivedBytes is the payload delivered into host name's receive queues
// since the fabric was made (the bytes of the datagrams Stats counts as
// received).
func (f *Fabric) ReceivedBytes(name string) uint64 {
	f.mu.Lock()
	h := f.hosts[name]
	f.mu.Unlock()
	if h == nil {
		return 0
	}
	return h.receivedBytes.Load()
}

// Close closes every endpoint; Listen fails afterwards. Close is idempotent
// and leaves no goroutines behind.
func (f *Fabric) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for _, c := range f.endpoints {
		f.closeConnLocked(c)
	}
	return nil
}

// send routes one datagram from src to dst. It never blocks on the
// receiver: delayed datagrams wait in the receiver's pending heap.
func (f *Fabric) send(src *fabricConn, dst netip.AddrPort, b []byte) {
	p := fabricPacket{data: bytes.Clone(b), from: src.host, src: src.addr}
	now := time.Now()

	f.mu.Lock()
	defer f.mu.Unlock()
	p.from.sent.Add(1)
	to := f.endpoints[dst]
	if f.closed || to == nil || f.cutLocked(p.from.name, to.host.name) {
		p.from.dropped.Add(1)
		return
	}
	pair := pairOf(p.from.name, to.host.name)
	if loss := f.loss[pair]; loss > 0 && f.rng.Float64() < loss {
		p.from.dropped.Add(1)
		return
	}
	p.at = now
	if bw := f.bandwidth[pair]; bw > 0 {
		link := fabricLink{p.from.name, to.host.name}
		start := now
		if busy := f.busyUntil[link]; busy.After(now) {
			if float64(busy.Sub(now))*float64(bw)/float64(time.Second) > linkQueueBytes {
				p.from.dropped.Add(1)
				return
			}
			start = busy
		}
		p.at = start.Add(time.Duration(float64(len(p.data)) * float64(time.Second) / float64(bw)))
		f.busyUntil[link] = p.at
	}
	p.at = p.at.Add(f.latency[pair])
	to.pushLocked(p, now)
}

func (f *Fabric) closeConnLocked(c *fabricConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	for _, p := range c.pending {
		p.from.dropped.Add(1)
	}
	c.pending = nil
	c.queue = nil
	c.queued = 0
	c.broadcastLocked()
	delete(f.endpoints, c.addr)
	delete(c.host.conns, c)
}

// fabricPacket is one datagram on its way.
type fabricPacket struct {
	data []byte
	from *fabricHost
	src  netip.AddrPort
	at   time.Time // when it reaches the receiver
	seq  uint64    // arrival order among equal at
}

// fabricHeap is a min-heap of pending packets by (at, seq), so datagrams
// with equal delays on one link arrive in the order they were sent.
type fabricHeap []fabricPacket

func (h fabricHeap) less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}

func (h *fabricHeap) push(p fabricPacket) {
	*h = append(*h, p)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if !s.less(i, parent) {
			break
		}
		s[i], s[parent] = s[parent], s[i]
		i = parent
	}
}

func (h *fabricHeap) pop() fabricPacket {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = fabricPacket{}
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s.less(l, m) {
			m = l
		}
		if r < len(s) && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
