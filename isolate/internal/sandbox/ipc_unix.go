//go:build unix

package sandbox

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/warrenmesh/warren/internal/quietio"
)

// hostConn wraps the host end; on unix it is a *net.UnixConn read and written
// with raw system calls that park in the netpoller only when they would block
// (quietio.Conn), so a deadline or Close unblocks a pending read.
type hostConn = net.Conn

// newIPC creates a socketpair, attaches the worker's end to cmd as an extra fd and returns
// the host end plus a function to call after Start (closes the worker's end in the host).
func newIPC(cmd *exec.Cmd) (hostConn, func(), error) {
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: socketpair: %w", err)
	}
	hostFile := os.NewFile(uintptr(fds[0]), "sandbox-host")
	childFile := os.NewFile(uintptr(fds[1]), "sandbox-worker")
	conn, err := net.FileConn(hostFile) // dups the fd
	hostFile.Close()
	if err != nil {
		childFile.Close()
		return nil, nil, fmt.Errorf("sandbox: socket conn: %w", err)
	}
	conn = quietio.Wrap(conn) // see package quietio: no sysmon per frame
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, childFile)
	cmd.Env = append(cmd.Env, envFD+"="+strconv.Itoa(fd))
	return conn, func() { childFile.Close() }, nil
}

// workerConn opens the worker's end of the channel: the fd os/exec handed
// over, in blocking mode, read and written with raw system calls while the
// worker is busy (see rawFD).
func workerConn() (io.ReadWriter, error) {
	fd, err := strconv.Atoi(os.Getenv(envFD))
	if err != nil || fd < 3 {
		return nil, errors.New("sandbox: " + envFD + " missing or invalid")
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		return nil, fmt.Errorf("sandbox: IPC fd: %w", err)
	}
	return rawFD(fd), nil
}

// rawFD reads and writes a blocking fd with raw system calls while the
// worker is busy, and waits for a request in an ordinary read.
//
// Why raw: a worker runs one goroutine that matters (GOMAXPROCS=1) and waits
// for the node almost all the time. Through the netpoller or os.File, every
// read and write enters the scheduler's syscall path, which wakes the
// runtime's sysmon thread whenever it sleeps (entersyscall): two extra
// context switches per call, and on a paravirtualised VM a context switch
// costs more than the invocation. A raw blocking read parks the thread in the
// kernel with the scheduler unaware.
//
// Why not only raw: to the scheduler, a goroutine in a raw read is running.
// sysmon then never sleeps, and asks it to yield (SIGURG, which the kernel
// answers by restarting the read) every 10 ms: an idle worker woke up about
// 200 times a second, half a percent of a core for doing nothing. So a read
// first waits up to hotWait for data with a raw ppoll (the next request of a
// burst, a host call's reply) and reads it raw; when none came, it blocks in
// an ordinary read (syscall.Syscall), which tells the scheduler the thread
// is blocked: sysmon takes the P back and sleeps, and nothing in the process
// wakes until the node writes. A request after a pause pays the two context
// switches.
type rawFD int

// hotWait is how long a read waits for data unseen by the scheduler: well
// under sysmon's 10 ms preemption period.
const hotWait = 2 * time.Millisecond

func (f rawFD) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	read := syscall.RawSyscall
	if !readableSoon(int(f), hotWait) {
		read = syscall.Syscall
	}
	for {
		n, _, errno := read(syscall.SYS_READ, uintptr(f), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return 0, errno
		case n == 0:
			return 0, io.EOF
		}
		return int(n), nil
	}
}

func (f rawFD) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(f), uintptr(unsafe.Pointer(&p[written])), uintptr(len(p)-written))
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return written, errno
		}
		written += int(n)
	}
	return written, nil
}
