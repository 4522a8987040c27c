//go:build unix

package quietio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Conn wraps a non-blocking socket connection (a *net.TCPConn or
// *net.UnixConn from the net package) so that its Read and Write use raw
// system calls; every other method is the wrapped connection's.
type Conn struct {
	net.Conn
	rc syscall.RawConn
	nw string

	// The state of the read and the write under way, each under its
	// lock (a net.Conn may be read and written from several goroutines
	// at once), and the functions that RawConn calls, bound once: a
	// closure per call would be an allocation per call.
	rmu    sync.Mutex
	rbuf   []byte
	rn     int
	rerrno syscall.Errno
	readFn func(fd uintptr) bool

	wmu     sync.Mutex
	wbuf    []byte
	wn      int
	werrno  syscall.Errno
	writeFn func(fd uintptr) bool
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
	q := &Conn{Conn: c, rc: rc, nw: c.LocalAddr().Network()}
	q.readFn, q.writeFn = q.read, q.write
	return q
}

// NetConn is the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Read reads like net.Conn's Read.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	c.rbuf, c.rn, c.rerrno = p, 0, 0
	err := c.rc.Read(c.readFn)
	n, errno := c.rn, c.rerrno
	c.rbuf = nil
	c.rmu.Unlock()
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

// read is the read RawConn makes: false when it would block.
func (c *Conn) read(fd uintptr) bool {
	for {
		r, e := sysRead(fd, c.rbuf)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rn, c.rerrno = max(r, 0), e
		return true
	}
}

// Write writes like net.Conn's Write: all of p, or an error.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	c.wbuf, c.wn, c.werrno = p, 0, 0
	err := c.rc.Write(c.writeFn)
	n, errno := c.wn, c.werrno
	c.wbuf = nil
	c.wmu.Unlock()
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case errno != 0:
		return n, c.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
}

// write is the write RawConn makes: false when it would block.
func (c *Conn) write(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		r, e := sysWrite(fd, c.wbuf[c.wn:])
		switch e {
		case 0:
			c.wn += r
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werrno = e
			return true
		}
	}
	return true
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
