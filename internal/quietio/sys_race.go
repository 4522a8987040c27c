//go:build unix && race

package quietio

import "syscall"

// Under the race detector reads and writes go through syscall.Read and
// syscall.Write: besides the system call, they tell the detector that
// what one goroutine wrote to any file descriptor happens before what
// another reads, which is how it sees a client's request and the
// server's handling of it in order. A raw call would hide that and
// report races that are not there. The scheduler's system-call path
// costs nothing that matters in a race build.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return n, errnoOf(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return n, errnoOf(err)
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return err.(syscall.Errno)
}
