package mesh

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// gossipMarker is the first byte of every gossip datagram on the shared
// socket. quic-go hands a datagram to ReadNonQUICPacket only when its first
// byte has neither 0x80 (long header) nor 0x40 (fixed bit) set; the marker
// keeps that true whatever memberlist puts first, and lets us drop stray
// non-QUIC datagrams cheaply.
const gossipMarker = 0x01

// gossipTransport is memberlist's Transport over the node's one socket:
// datagrams through quic.Transport.WriteTo / ReadNonQUICPacket, streams as
// QUIC streams of protocol protoGossip.
type gossipTransport struct {
	m        *Mesh
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	down     chan struct{} // closed by Shutdown
	downOnce sync.Once
}

var _ memberlist.NodeAwareTransport = (*gossipTransport)(nil)

func newGossipTransport(m *Mesh) *gossipTransport {
	return &gossipTransport{
		m:        m,
		packetCh: make(chan *memberlist.Packet, 256),
		streamCh: make(chan net.Conn, 16),
		down:     make(chan struct{}),
	}
}

// FinalAdvertiseAddr returns the address Start settled on.
func (t *gossipTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.m.addr.IP, t.m.addr.Port, nil
}

func (t *gossipTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	ua, err := resolveUDP(addr)
	if err != nil {
		return time.Time{}, err
	}
	buf := make([]byte, 1+len(b))
	buf[0] = gossipMarker
	copy(buf[1:], b)
	_, err = t.m.tr.WriteTo(buf, ua)
	return time.Now(), err
}

func (t *gossipTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *gossipTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

func (t *gossipTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a gossip stream to a over QUIC, reusing a
// connection to that node when there is one.
func (t *gossipTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	ua, err := resolveUDP(a.Addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.m.ctx, timeout)
	defer cancel()
	mc, err := t.m.connToAddr(ctx, a.Name, ua)
	if err != nil {
		return nil, err
	}
	s, err := t.m.openOn(ctx, mc, protoGossip)
	if err != nil {
		return nil, fmt.Errorf("mesh: gossip stream to %s: %w", a.String(), err)
	}
	return s, nil
}

func (t *gossipTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// Shutdown stops handing packets and streams to memberlist; the socket
// stays open until Mesh.Close.
func (t *gossipTransport) Shutdown() error {
	t.downOnce.Do(func() { close(t.down) })
	return nil
}

// readGossipPackets drains the non-QUIC datagrams of the shared socket
// (quic-go queues only 32) into memberlist.
func (m *Mesh) readGossipPackets() {
	defer m.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := m.tr.ReadNonQUICPacket(m.ctx, buf)
		if err != nil {
			return // closed
		}
		if n < 2 || buf[0] != gossipMarker {
			continue
		}
		now := time.Now()
		m.pokeConnCheck(now)
		p := &memberlist.Packet{Buf: bytes.Clone(buf[1:n]), From: from, Timestamp: now}
		select {
		case m.gt.packetCh <- p:
		case <-m.gt.down:
		case <-m.ctx.Done():
			return
		}
	}
}

// resolveUDP turns memberlist's "host:port" into a UDP address.
func resolveUDP(addr string) (*net.UDPAddr, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())), nil
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("mesh: address %q: %w", addr, err)
	}
	return ua, nil
}
