package testnet

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// fabricConn is one virtual UDP endpoint. Lock order: Fabric.mu before
// fabricConn.mu.
type fabricConn struct {
	f    *Fabric
	host *fabricHost
	addr netip.AddrPort

	mu            sync.Mutex
	closed        bool
	queue         []fabricPacket // arrived, unread, FIFO
	queued        int            // bytes in queue
	readBuf       int            // bound on queued
	readDeadline  time.Time
	writeDeadline time.Time
	waiters       int
	wake          chan struct{} // closed and replaced to wake blocked readers

	pending fabricHeap  // in flight to this endpoint
	seq     uint64      // next fabricPacket.seq
	timer   *time.Timer // fires deliver at timerAt; nil until first needed
	timerAt time.Time   // zero: not armed
}

var _ net.PacketConn = (*fabricConn)(nil)

// ReadFrom reads the next datagram, truncating it to len(b) as UDP does.
// It blocks until one arrives, the read deadline passes (an error with
// Timeout() true, wrapping os.ErrDeadlineExceeded) or the conn is closed
// (an error wrapping net.ErrClosed). An expired deadline wins over queued
// data, as with a *net.UDPConn.
func (c *fabricConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			return 0, nil, c.opError("read", nil, net.ErrClosed)
		}
		deadline := c.readDeadline
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			c.mu.Unlock()
			return 0, nil, c.opError("read", nil, os.ErrDeadlineExceeded)
		}
		if len(c.queue) > 0 {
			p := c.queue[0]
			c.queue[0] = fabricPacket{}
			c.queue = c.queue[1:]
			c.queued -= len(p.data)
			c.mu.Unlock()
			return copy(b, p.data), net.UDPAddrFromAddrPort(p.src), nil
		}
		wake := c.wake
		c.waiters++
		c.mu.Unlock()
		if deadline.IsZero() {
			<-wake
		} else {
			t := time.NewTimer(time.Until(deadline))
			select {
			case <-wake:
			case <-t.C:
			}
			t.Stop()
		}
		c.mu.Lock()
		c.waiters--
	}
}

// WriteTo sends one datagram to addr, a *net.UDPAddr (or any net.Addr whose
// String is ip:port). It never blocks; a datagram to an address nobody
// listens on is dropped silently, as with UDP.
func (c *fabricConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	dst, err := fabricAddrPort(addr)
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	if len(b) > maxDatagram {
		return 0, c.opError("write", addr, syscall.EMSGSIZE)
	}
	c.mu.Lock()
	closed, deadline := c.closed, c.writeDeadline
	c.mu.Unlock()
	if closed {
		return 0, c.opError("write", addr, net.ErrClosed)
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return 0, c.opError("write", addr, os.ErrDeadlineExceeded)
	}
	c.f.send(c, dst, b)
	return len(b), nil
}

func fabricAddrPort(addr net.Addr) (netip.AddrPort, error) {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.UDPAddr:
		if a == nil {
			return ap, fmt.Errorf("testnet: nil address")
		}
		ap = a.AddrPort()
	case nil:
		return ap, fmt.Errorf("testnet: nil address")
	default:
		var err error
		if ap, err = netip.ParseAddrPort(addr.String()); err != nil {
			return ap, fmt.Errorf("testnet: address %q: %w", addr.String(), err)
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// Close closes the endpoint: blocked reads return, datagrams queued or in
// flight to it are discarded and its address is free for Listen again.
// Closing twice returns an error wrapping net.ErrClosed, like *net.UDPConn.
func (c *fabricConn) Close() error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return c.opError("close", nil, net.ErrClosed)
	}
	c.f.closeConnLocked(c)
	return nil
}

// LocalAddr returns a *net.UDPAddr the caller may modify.
func (c *fabricConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.addr) }

func (c *fabricConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline, c.writeDeadline = t, t
	c.broadcastLocked()
	return nil
}

func (c *fabricConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	c.broadcastLocked()
	return nil
}

func (c *fabricConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeDeadline = t
	return nil
}

// SetReadBuffer bounds the bytes of datagrams waiting to be read; past it,
// arriving datagrams are dropped. quic-go calls it to ask for 7 MiB.
func (c *fabricConn) SetReadBuffer(bytes int) error {
	if bytes <= 0 {
		return c.opError("set", nil, syscall.EINVAL)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readBuf = bytes
	return nil
}

// SetWriteBuffer is accepted and has no effect: writes never block.
func (c *fabricConn) SetWriteBuffer(bytes int) error {
	if bytes <= 0 {
		return c.opError("set", nil, syscall.EINVAL)
	}
	return nil
}

func (c *fabricConn) opError(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: err}
}

// pushLocked takes a datagram from the fabric: straight into the receive
// queue when it is due and nothing is pending, else into the pending heap.
// The caller holds f.mu.
func (c *fabricConn) pushLocked(p fabricPacket, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		p.from.dropped.Add(1)
		return
	}
	if !p.at.After(now) && len(c.pending) == 0 {
		c.enqueueLocked(p)
		return
	}
	p.seq = c.seq
	c.seq++
	c.pending.push(p)
	if c.timerAt.IsZero() || p.at.Before(c.timerAt) {
		c.armLocked(p.at, now)
	}
}

func (c *fabricConn) armLocked(at, now time.Time) {
	c.timerAt = at
	if c.timer == nil {
		c.timer = time.AfterFunc(at.Sub(now), c.deliver)
	} else {
		c.timer.Reset(at.Sub(now))
	}
}

// deliver moves due datagrams from the pending heap to the receive queue,
// dropping those whose link was cut meanwhile, and re-arms the timer. Runs
// on the timer's goroutine; a spurious or concurrent run is harmless.
func (c *fabricConn) deliver() {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timerAt = time.Time{}
	if c.closed {
		return
	}
	now := time.Now()
	for len(c.pending) > 0 && !c.pending[0].at.After(now) {
		p := c.pending.pop()
		if c.f.cutLocked(p.from.name, c.host.name) {
			p.from.dropped.Add(1)
			continue
		}
		c.enqueueLocked(p)
	}
	if len(c.pending) > 0 {
		c.armLocked(c.pending[0].at, now)
	}
}

func (c *fabricConn) enqueueLocked(p fabricPacket) {
	if c.queued+len(p.data) > c.readBuf {
		p.from.dropped.Add(1)
		return
	}
	c.queue = append(c.queue, p)
	c.queued += len(p.data)
	c.host.received.Add(1)
	c.host.receivedBytes.Add(uint64(len(p.data)))
	c.broadcastLocked()
}

func (c *fabricConn) broadcastLocked() {
	if c.waiters > 0 {
		close(c.wake)
		c.wake = make(chan struct{})
	}
}
