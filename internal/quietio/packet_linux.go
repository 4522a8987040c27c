//go:build linux

package quietio

import (
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// PacketConn wraps a UDP socket so that ReadFrom and WriteTo use raw
// system calls (recvfrom and sendto), parking in the netpoller only when
// they would block.
//
// It deliberately is not a *net.UDPConn and has no ReadMsgUDP: quic-go
// then reads and writes one datagram a call through ReadFrom and WriteTo
// (its "basic" connection) instead of batches through golang.org/x/net,
// whose recvmmsg and sendmsg go through the scheduler's system-call path.
// What that gives up: reading several datagrams in one call, segmentation
// offload (GSO) and ECN. It keeps the socket's Don't-Fragment setting
// (SyscallConn), so quic-go still discovers the path's MTU.
type PacketConn struct {
	uc  *net.UDPConn
	rc  syscall.RawConn
	six bool // an AF_INET6 socket: IPv4 peers are written as ::ffff:a.b.c.d

	// The read and the write under way, each under its lock, and the
	// functions RawConn calls, bound once (as Conn's: no allocation per
	// datagram but the sender's address).
	rmu    sync.Mutex
	rbuf   []byte
	rone   [1]byte // rbuf for an empty p: recvfrom needs somewhere to put a byte
	rsa    syscall.RawSockaddrAny
	rn     int
	rerrno syscall.Errno
	readFn func(fd uintptr) bool

	wmu     sync.Mutex
	wbuf    []byte
	wsa     unsafe.Pointer // &wsa4 or &wsa6
	wsl     uintptr
	wsa4    syscall.RawSockaddrInet4
	wsa6    syscall.RawSockaddrInet6
	wn      int
	werrno  syscall.Errno
	writeFn func(fd uintptr) bool
}

// WrapPacket returns pc with quiet reads and writes when it is a UDP
// socket, else pc itself.
func WrapPacket(pc net.PacketConn) net.PacketConn {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return pc
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return pc
	}
	var sa syscall.Sockaddr
	var serr error
	if err := rc.Control(func(fd uintptr) { sa, serr = syscall.Getsockname(int(fd)) }); err != nil || serr != nil {
		return pc
	}
	_, six := sa.(*syscall.SockaddrInet6)
	c := &PacketConn{uc: uc, rc: rc, six: six}
	c.readFn, c.writeFn = c.read, c.write
	return c
}

// ReadFrom reads one datagram.
func (c *PacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rbuf, c.rn, c.rerrno = p, 0, 0
	if len(p) == 0 {
		c.rbuf = c.rone[:] // the datagram is consumed all the same
	}
	err := c.rc.Read(c.readFn)
	c.rbuf = nil
	if err == nil && c.rerrno != 0 {
		err = os.NewSyscallError("recvfrom", c.rerrno)
	}
	if err != nil {
		return 0, nil, c.opError("read", nil, err)
	}
	return min(c.rn, len(p)), udpAddr(&c.rsa), nil
}

// read is the recvfrom RawConn makes: false when it would block.
func (c *PacketConn) read(fd uintptr) bool {
	for {
		l := uint32(syscall.SizeofSockaddrAny)
		r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.rbuf[0])), uintptr(len(c.rbuf)),
			0, uintptr(unsafe.Pointer(&c.rsa)), uintptr(unsafe.Pointer(&l)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rn, c.rerrno = int(r), e
		return true
	}
}

// datagramsSent counts the datagrams every PacketConn of the process
// wrote: DatagramsSent.
var datagramsSent atomic.Uint64

// DatagramsSent reports how many datagrams the PacketConns of this
// process have written since it started (a benchmark's diagnostic: the
// datagrams a replicated write costs).
func DatagramsSent() uint64 { return datagramsSent.Load() }

// WriteTo writes one datagram to addr, a *net.UDPAddr.
func (c *PacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil {
		return 0, c.opError("write", addr, syscall.EINVAL)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ip4 := ua.IP.To4()
	switch {
	case ip4 != nil && !c.six:
		c.wsa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET}
		putPort(&c.wsa4.Port, ua.Port)
		copy(c.wsa4.Addr[:], ip4)
		c.wsa, c.wsl = unsafe.Pointer(&c.wsa4), syscall.SizeofSockaddrInet4
	case c.six:
		c.wsa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Scope_id: zoneIndex(ua.Zone)}
		putPort(&c.wsa6.Port, ua.Port)
		copy(c.wsa6.Addr[:], ua.IP.To16())
		c.wsa, c.wsl = unsafe.Pointer(&c.wsa6), syscall.SizeofSockaddrInet6
	default:
		return 0, c.opError("write", addr, syscall.EAFNOSUPPORT)
	}
	c.wbuf, c.wn, c.werrno = p, 0, 0
	err := c.rc.Write(c.writeFn)
	c.wbuf = nil
	if err == nil && c.werrno != 0 {
		err = os.NewSyscallError("sendto", c.werrno)
	}
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	return c.wn, nil
}

// write is the sendto RawConn makes: false when it would block.
func (c *PacketConn) write(fd uintptr) bool {
	for {
		// An empty datagram is a valid one: SliceData of an empty slice
		// may be nil, which sendto takes with a length of 0.
		r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.wbuf))), uintptr(len(c.wbuf)), 0, uintptr(c.wsa), c.wsl)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.wn, c.werrno = int(r), e
		if e == 0 {
			datagramsSent.Add(1)
		}
		return true
	}
}

func (c *PacketConn) opError(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.uc.LocalAddr(), Addr: addr, Err: err}
}

// Close closes the socket.
func (c *PacketConn) Close() error { return c.uc.Close() }

// LocalAddr is the socket's address.
func (c *PacketConn) LocalAddr() net.Addr { return c.uc.LocalAddr() }

// SetDeadline sets the socket's read and write deadlines.
func (c *PacketConn) SetDeadline(t time.Time) error { return c.uc.SetDeadline(t) }

// SetReadDeadline sets the socket's read deadline.
func (c *PacketConn) SetReadDeadline(t time.Time) error { return c.uc.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline.
func (c *PacketConn) SetWriteDeadline(t time.Time) error { return c.uc.SetWriteDeadline(t) }

// SetReadBuffer sets the socket's receive buffer.
func (c *PacketConn) SetReadBuffer(n int) error { return c.uc.SetReadBuffer(n) }

// SetWriteBuffer sets the socket's send buffer.
func (c *PacketConn) SetWriteBuffer(n int) error { return c.uc.SetWriteBuffer(n) }

// SyscallConn gives the socket's file descriptor, for its options.
func (c *PacketConn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// putPort stores port in network byte order.
func putPort(dst *uint16, port int) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(src *uint16) int {
	b := (*[2]byte)(unsafe.Pointer(src))
	return int(b[0])<<8 | int(b[1])
}

// udpAddr is the address recvfrom wrote, as the net package gives it.
func udpAddr(rsa *syscall.RawSockaddrAny) *net.UDPAddr {
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return &net.UDPAddr{IP: net.IPv4(sa.Addr[0], sa.Addr[1], sa.Addr[2], sa.Addr[3]), Port: getPort(&sa.Port)}
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(rsa))
		ip := make(net.IP, net.IPv6len)
		copy(ip, sa.Addr[:])
		return &net.UDPAddr{IP: ip, Port: getPort(&sa.Port), Zone: zoneName(sa.Scope_id)}
	}
	return nil
}

func zoneName(index uint32) string {
	if index == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(index), 10)
}

func zoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.ParseUint(zone, 10, 32)
	return uint32(n)
}
