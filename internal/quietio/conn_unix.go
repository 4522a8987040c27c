//go:build unix

package quietio

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Conn wraps a non-blocking socket connection (a *net.TCPConn or
// *net.UnixConn from the net package) so that its Read and Write use raw
// system calls; every other method is the wrapped connection's.
type Conn struct {
	net.Conn
	rc syscall.RawConn
	nw string
}

// Wrap returns c with quiet reads and writes, or c itself when it gives
// no access to its file descriptor.
func Wrap(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &Conn{Conn: c, rc: rc, nw: c.LocalAddr().Network()}
}

// NetConn is the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Read reads like net.Conn's Read.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
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
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes like net.Conn's Write: all of p, or an error.
func (c *Conn) Write(p []byte) (int, error) {
	written := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for written < len(p) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[written])), uintptr(len(p)-written))
			switch e {
			case 0:
				written += int(r)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return written, c.opError("write", err)
	case errno != 0:
		return written, c.opError("write", os.NewSyscallError("write", errno))
	}
	return written, nil
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.nw, Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Listener wraps the connections a listener accepts.
type Listener struct{ net.Listener }

// Accept accepts the next connection and wraps it.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}
