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
)

// hostConn wraps the host end; on unix it is a *net.UnixConn driven by the netpoller,
// so a deadline or Close unblocks a pending read.
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
	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, childFile)
	cmd.Env = append(cmd.Env, envFD+"="+strconv.Itoa(fd))
	return conn, func() { childFile.Close() }, nil
}

// workerConn opens the worker's end of the channel. The fd is in blocking mode (os/exec
// hands it over that way), so reads are plain blocking syscalls: no netpoller round trip.
func workerConn() (io.ReadWriter, error) {
	fd, err := strconv.Atoi(os.Getenv(envFD))
	if err != nil || fd < 3 {
		return nil, errors.New("sandbox: " + envFD + " missing or invalid")
	}
	f := os.NewFile(uintptr(fd), "sandbox-ipc")
	if f == nil {
		return nil, errors.New("sandbox: invalid IPC fd")
	}
	return f, nil
}
