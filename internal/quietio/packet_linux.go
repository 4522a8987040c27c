//go:build linux

package quietio

import (
	"net"
	"os"
	"strconv"
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
	return &PacketConn{uc: uc, rc: rc, six: six}
}

// ReadFrom reads one datagram.
func (c *PacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	var one [1]byte
	buf := p
	if len(buf) == 0 {
		buf = one[:] // recvfrom needs somewhere to put a byte; the datagram is consumed
	}
	var (
		n     int
		rsa   syscall.RawSockaddrAny
		errno syscall.Errno
	)
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			l := uint32(syscall.SizeofSockaddrAny)
			r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
				0, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			}
			n, errno = int(r), e
			return true
		}
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("recvfrom", errno)
	}
	if err != nil {
		return 0, nil, c.opError("read", nil, err)
	}
	return min(n, len(p)), udpAddr(&rsa), nil
}

// WriteTo writes one datagram to addr, a *net.UDPAddr.
func (c *PacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil {
		return 0, c.opError("write", addr, syscall.EINVAL)
	}
	var (
		sa  unsafe.Pointer
		sl  uintptr
		sa4 syscall.RawSockaddrInet4
		sa6 syscall.RawSockaddrInet6
	)
	ip4 := ua.IP.To4()
	switch {
	case ip4 != nil && !c.six:
		sa4.Family = syscall.AF_INET
		putPort(&sa4.Port, ua.Port)
		copy(sa4.Addr[:], ip4)
		sa, sl = unsafe.Pointer(&sa4), syscall.SizeofSockaddrInet4
	case c.six:
		sa6.Family = syscall.AF_INET6
		putPort(&sa6.Port, ua.Port)
		copy(sa6.Addr[:], ua.IP.To16())
		sa6.Scope_id = zoneIndex(ua.Zone)
		sa, sl = unsafe.Pointer(&sa6), syscall.SizeofSockaddrInet6
	default:
		return 0, c.opError("write", addr, syscall.EAFNOSUPPORT)
	}
	var one [1]byte
	buf := p
	if len(buf) == 0 {
		buf = one[:0:1]
	}
	var (
		n     int
		errno syscall.Errno
	)
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)), 0, uintptr(sa), sl)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			}
			n, errno = int(r), e
			return true
		}
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("sendto", errno)
	}
	if err != nil {
		return 0, c.opError("write", addr, err)
	}
	return n, nil
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
