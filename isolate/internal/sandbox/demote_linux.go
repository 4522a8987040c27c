//go:build linux

package sandbox

import (
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

// processCPUTime is the CPU time process pid has used, all its threads, from its
// process CPU clock (the kernel's MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)): one
// system call, nanoseconds.
func processCPUTime(pid int) (time.Duration, error) {
	clock := (^int32(pid))<<3 | 2
	var ts syscall.Timespec
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(&ts)), 0)
	if e != 0 {
		return 0, e
	}
	return time.Duration(ts.Nano()), nil
}

// setShares sets the cgroup's cpu.shares.
func (w *workerCgroup) setShares(n int) error {
	return writeCgroupFile(w.dir, "cpu.shares", strconv.Itoa(n))
}
