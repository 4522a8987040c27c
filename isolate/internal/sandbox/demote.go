package sandbox

import (
	"sync"
	"time"
)

// Demotion of long calls: a call whose worker has used more than Config.DemoteAfter of
// CPU time since the call began runs on at a low CPU weight (its cpu cgroup's cpu.shares
// drop from 1024 to demotedShares, about what a nice-19 process weighs against a nice-0
// one), so that short calls on other workers, of this node or of any other process of the
// host, and the node's own threads take the CPU first; it still gets every cycle nobody
// else wants, and its CPU and wall limits are unchanged. The weight is restored when the
// call ends, before the worker takes another. Honest calls take well under a
// millisecond of CPU; a spinning guest is demoted within about DemoteAfter.
//
// The worker's CPU time is read from the kernel (the worker process's CPU clock) at the
// call's start and when a timer fires, DemoteAfter later and then each time the call
// could have used the rest; nothing runs in between, and a call that waits (on a
// subrequest, a timer) is not demoted.

const (
	defaultDemoteAfter = 20 * time.Millisecond
	// demotedShares is a demoted worker's cpu.shares; normalShares a worker's otherwise
	// (a process's weight).
	demotedShares = 16
	normalShares  = 1024
	// minDemoteCheck bounds how often the timer of one call reads its CPU time.
	minDemoteCheck = 2 * time.Millisecond
	// demoteWindow is how often a demoted call's progress is looked at.
	demoteWindow = 40 * time.Millisecond
	demoteLayer  = "cpu-demotion"
)

// demoter is one worker's demotion state.
type demoter struct {
	w     *worker
	after time.Duration
	timer *time.Timer

	mu      sync.Mutex
	inCall  bool
	cpu0    time.Duration // the worker's CPU time at the call's start
	demoted bool          // the worker runs at demotedShares now
	boosted bool          // a demoted call back at the normal weight for a window
	lastCPU time.Duration // the worker's CPU time at the window's start
	lastAt  time.Time     // the window's start
}

// newDemoter returns w's demoter, nil if the worker's CPU time cannot be read or it has
// no cpu cgroup to weigh.
func newDemoter(w *worker, after time.Duration) *demoter {
	if after <= 0 || w.cpuCg == nil || !w.cpuOn {
		return nil
	}
	if _, err := processCPUTime(w.pid); err != nil {
		w.p.log.Info("sandbox: no demotion of long calls: cannot read a worker's CPU time", "err", err)
		return nil
	}
	d := &demoter{w: w, after: after}
	d.timer = time.AfterFunc(time.Hour, d.check)
	d.timer.Stop()
	return d
}

// start begins a call.
func (d *demoter) start() {
	c, err := processCPUTime(d.w.pid)
	if err != nil {
		return // the worker is gone: the call fails
	}
	d.mu.Lock()
	d.inCall, d.cpu0 = true, c
	d.mu.Unlock()
	d.timer.Reset(d.after)
}

// check runs on the timer. Before the demotion it demotes the worker once the call has
// used d.after of CPU, else looks again when it could have. Demoted, it looks once a
// window: a call that got less than half a CPU over the window goes back to the normal
// weight for the next one (then down again), so that a demoted call never runs slower
// than at half a CPU where it could have had that at the normal weight.
func (d *demoter) check() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.inCall {
		return
	}
	c, err := processCPUTime(d.w.pid)
	if err != nil {
		return
	}
	now := time.Now()
	switch {
	case d.demoted:
		if 2*(c-d.lastCPU) >= now.Sub(d.lastAt) {
			break // it progresses: it stays demoted
		}
		if err := d.w.cpuCg.setShares(normalShares); err != nil {
			return
		}
		d.demoted, d.boosted = false, true
		d.w.p.boosts.Add(1)
	case d.boosted:
		if err := d.w.cpuCg.setShares(demotedShares); err != nil {
			return
		}
		d.demoted, d.boosted = true, false
	default:
		if used := c - d.cpu0; used < d.after {
			d.timer.Reset(max(d.after-used, minDemoteCheck))
			return
		}
		if err := d.w.cpuCg.setShares(demotedShares); err != nil {
			d.w.p.log.Warn("sandbox: demoting a worker", "pid", d.w.pid, "err", err)
			return
		}
		d.demoted = true
		d.w.p.demotions.Add(1)
	}
	d.lastCPU, d.lastAt = c, now
	d.timer.Reset(demoteWindow)
}

// end ends a call and restores the worker's weight; false if that failed (the worker
// must not take another call).
func (d *demoter) end() bool {
	d.timer.Stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inCall, d.boosted = false, false
	if !d.demoted {
		return true
	}
	if err := d.w.cpuCg.setShares(normalShares); err != nil {
		// Most often the worker is gone (killed at its deadline, out of memory)
		// and its cgroup with it.
		d.w.p.log.Debug("sandbox: restoring a demoted worker's CPU weight", "pid", d.w.pid, "err", err)
		return false
	}
	d.demoted = false
	return true
}
