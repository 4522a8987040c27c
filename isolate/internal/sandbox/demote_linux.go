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
// system call, nanoseconds. The call never blocks, so it is made raw, unseen by the
// scheduler (see package quietio: an ordinary one woke the runtime's sysmon thread
// on every call the node relayed).
func processCPUTime(pid int) (time.Duration, error) {
	clock := (^int32(pid))<<3 | 2
	var ts syscall.Timespec
	_, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(&ts)), 0)
	if e != 0 {
		return 0, e
	}
	return time.Duration(ts.Nano()), nil
}

// setLevel puts a worker's cpu cgroup at level l (see cpuLevel), writing only what
// differs from its present settings: nothing when it is there already.
func (w *workerCgroup) setLevel(l cpuLevel) error {
	// Locked before reading w.shares: the demoter's check and a call's
	// abort set levels from two goroutines.
	w.mu.Lock()
	defer w.mu.Unlock()
	w.level, w.late = l, false
	if l == levelBackground && w.idleOK {
		// Idle for backgroundGrace, then backgroundShares, unless the level changes
		// meanwhile.
		if w.grace == nil {
			w.grace = time.AfterFunc(backgroundGrace, w.graceOver)
		} else {
			w.grace.Reset(backgroundGrace)
		}
	}
	return w.setLocked(l)
}

// graceOver moves a worker that is still at the background level after
// backgroundGrace from idle to backgroundShares: the work it does (a collection, the
// kernel freeing a killed worker's memory) makes progress on a busy host.
func (w *workerCgroup) graceOver() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.level == levelBackground && !w.late {
		w.late = true
		_ = w.setLocked(levelBackground) // a worker gone meanwhile: its cgroup with it
	}
}

// setLocked writes level l's settings; w.mu is held.
func (w *workerCgroup) setLocked(l cpuLevel) error {
	shares, idle := normalShares, false
	switch {
	case l == levelStartup, l == levelBackground && (w.late || !w.idleOK):
		shares = backgroundShares
	case (l == levelLow || l == levelBackground) && w.idleOK:
		idle = true
		shares = w.shares // ignored while idle: left as it is
	case l == levelLow:
		shares = demotedShares
	}
	// Leaving idle before changing the weight, entering it after: never a moment at a
	// weight the level does not have.
	if !idle && w.idle {
		if err := writeCgroupFile(w.dir, "cpu.idle", "0"); err != nil {
			return err
		}
		w.idle = false
	}
	if shares != w.shares {
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
