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

// setLevel puts a worker's cpu cgroup at level l (see cpuLevel), writing only what
// differs from its present settings: nothing when it is there already.
func (w *workerCgroup) setLevel(l cpuLevel) error {
	switch {
	case l == levelBackground:
		return w.setWeight(backgroundShares, false)
	case l == levelLow && w.idleOK:
		return w.setWeight(0, true)
	case l == levelLow:
		return w.setWeight(demotedShares, false)
	}
	return w.setWeight(normalShares, false)
}

// setBoost puts a demoted worker's cgroup at cpu.shares shares, not idle, for a boost.
func (w *workerCgroup) setBoost(shares int) error { return w.setWeight(shares, false) }

// setWeight writes cpu.idle and cpu.shares (0: leave them as they are, for an idle
// cgroup, where they do not count) where they differ from what was last written.
func (w *workerCgroup) setWeight(shares int, idle bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Leaving idle before changing the weight, entering it after: never a moment at a
	// weight the level does not have.
	if !idle && w.idle {
		if err := writeCgroupFile(w.dir, "cpu.idle", "0"); err != nil {
			return err
		}
		w.idle = false
	}
	if shares != 0 && shares != w.shares {
		if err := writeCgroupFile(w.dir, "cpu.shares", strconv.Itoa(shares)); err != nil {
			return err
		}
		w.shares = shares
	}
	if idle && !w.idle {
		if err := writeCgroupFile(w.dir, "cpu.idle", "1"); err != nil {
			return err
		}
		w.idle = true
	}
	return nil
}
