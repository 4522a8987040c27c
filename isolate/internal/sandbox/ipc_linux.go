//go:build linux

package sandbox

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readableSoon waits up to d for fd to have data to read, with a raw ppoll
// the scheduler does not see, and reports whether it has. A signal, or an
// error, counts as not yet.
func readableSoon(fd int, d time.Duration) bool {
	pfd := unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	ts := unix.NsecToTimespec(int64(d))
	n, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	return errno == 0 && n == 1
}
