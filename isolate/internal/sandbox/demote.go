package sandbox

import (
	"sync"
	"time"
)

// A worker's CPU weight: the weight of its cpu cgroup among the host's other tasks
// (the node's threads, other workers, other processes). There are three levels:
//
//   - normal (cpu.shares 1024, a process's weight): a worker running a call that has
//     used less than Config.DemoteAfter of CPU time. Every call starts at it.
//   - low: a demoted call (below). Where the kernel has cpu.idle (5.15 and later, in
//     the v1 cpu controller too) the cgroup is SCHED_IDLE: any other task that wakes up
//     takes the CPU from it at once, and it gets the cycles nobody else wants. Elsewhere
//     it is cpu.shares 16, about a nice-19 process against a nice-0 one.
//   - startup (cpu.shares 128, not idle): a worker starting up (a hot spare or a
//     refill). A caller may be waiting for it, so it is not idle first: a start-up
//     SCHED_IDLE for its first quarter second gave more slow honest calls under the
//     hostile corpus (1.5 % past twice the idle p99 in three runs, against 1.0-1.4 %).
//   - background: work that must get done but that no caller waits for: the remains
//     of a demoted call in its worker between calls (the collector and the memory
//     trimmer giving back what the call held), a worker collecting a call's garbage
//     (Engine.Tidy) and a killed worker's exit (the kernel freeing its memory). Where the kernel has cpu.idle it
//     is SCHED_IDLE for its first backgroundGrace, then cpu.shares 128 (not idle), so
//     that the work makes progress on a busy host too, where an idle one could wait
//     for minutes with memory held; elsewhere it is cpu.shares 128 throughout. A waking
//     call on another worker takes the CPU from an idle one at once, but waits for the
//     slice of one at 128: hellos beside three busy workers at cpu.shares 128 had their
//     p99 go from 0.8-1.0 ms to 2.2-3.2 ms, beside three idle ones it stayed
//     (0.9-1.3 ms).
//
// A worker leaves the startup or background level when its next call starts (one cgroup
// write, only after a demoted call or for a fresh worker's first call).
type cpuLevel uint8

const (
	levelNormal cpuLevel = iota
	levelLow
	levelBackground
	levelStartup
)

// Demotion of long calls: a call whose worker has used more than Config.DemoteAfter of
// CPU time since the call began runs on at the low level, so that short calls on other
// workers, of this node or of any other process of the host, and the node's own threads
// take the CPU first; its CPU and wall limits are unchanged. When the call ends its
// worker goes to the background level until its next call. Honest calls take well under a
// millisecond of CPU; a spinning guest is demoted within about DemoteAfter.
//
// The floor: a demoted call on a host busy with other work could wait for minutes. Its
// cpuMs does not run out meanwhile (in a worker a call's CPU time is read from the
// process's CPU clock: the engines count what it used, contract.CountedCPU), but a
// caller waits for it. So once a call has been demoted for Config.StarveAfter
// (contract.StarveGrace, 0.25 s, by default), the demoter keeps its average since the demotion at demoteFloor of
// a CPU: whenever the average is below, the call runs one boostWindow at the normal
// weight, then goes back down. Before that it gets only the cycles nobody else wants:
// most demoted calls end there (a memory bomb, a stream that enqueues for ever) and
// never take the CPU from a short call. A boost is short, so that a short call that
// wakes meanwhile waits little, and only as frequent as the floor needs (half the time
// at most): on an idle host a demoted call has every spare cycle and is never boosted.
// And the floor yields to the pool's own short calls: while any call of the pool that is
// not demoted runs, or one ran within shortRecent, a demoted call is boosted only below
// shortFloor (an eighth of a CPU). Recently, not only at the instant of the check: a
// node serving a light stream of short calls has none running at most instants, and a
// boost at the higher floor in a gap between two of them takes the CPU from the next
// one for a whole window. The floor is for a host busy with work that is not the node's (a laptop
// compiling, other services); what one of the node's short calls takes from a demoted
// one passes within milliseconds, but a steady stream of them would starve it until its
// wall-time limit (seen: 4.4 s for a call of the hostile corpus whose bound is 1.39 s,
// its worker never given the cycles to see its CPU time run out).
//
// A call may also start demoted (CallOptions.Low): the caller knows its client's calls
// ran long lately (a node remembers such clients for a second). It runs at the low level
// from its first instruction, the floor applies to it from StarveAfter on as to any
// demoted call, it never counts as a short call, and its worker waits at the background
// level after it.
//
// The worker's CPU time is read from the kernel (the worker process's CPU clock) at the
// call's start and when a timer fires, DemoteAfter later and then each time the call
// could have used the rest; nothing runs in between, and a call that waits (on a
// subrequest, a timer) is not demoted.

// DefaultDemoteAfter is Config.DemoteAfter's default.
const DefaultDemoteAfter = 20 * time.Millisecond

const (
	// defaultStarveAfter is how long a demoted call runs on spare cycles alone before
	// the floor applies (Config.StarveAfter): the grace of waiting that the engines
	// never charge a call for. Past it, a call that gets less than seven eighths of a
	// CPU is charged seven eighths of its busy time (contract.CountedCPU).
	// It equals contract.StarveGrace (TestStarveAfterIsTheGrace; contract's tests
	// import this package).
	defaultStarveAfter = 250 * time.Millisecond
	// normalShares is a worker's cpu.shares (a process's weight); demotedShares a
	// demoted one's where the kernel has no cpu.idle; backgroundShares the background
	// level's.
	normalShares     = 1024
	demotedShares    = 16
	backgroundShares = 128
	// minDemoteCheck bounds how often the timer of one call reads its CPU time.
	minDemoteCheck = 2 * time.Millisecond
	// demoteWindow is how often a demoted call's progress is looked at; boostWindow how
	// long one boost lasts; demoteFloor the share of a CPU a demoted call keeps on
	// average (numerator over denominator).
	demoteWindow = 10 * time.Millisecond
	boostWindow  = 10 * time.Millisecond
	demoteFloorN = 1
	demoteFloorD = 2
	// shortFloor is the floor while short calls of the pool run (numerator over
	// denominator): they come first, but a steady stream of them does not starve a
	// demoted call for ever. It is enough for the call's worker to see its CPU time
	// run out (contract.CountedCPU charges a starved call most of its wait anyway).
	shortFloorN = 1
	shortFloorD = 8
	// shortRecent is how long after the pool's last short call ended (or was demoted)
	// the floor still yields to short calls: a few of an honest client's round trips.
	shortRecent = 50 * time.Millisecond
	demoteLayer = "cpu-demotion"
	// backgroundGrace is how long a worker at the background level is idle before it
	// goes to backgroundShares: the floor's grace for a demoted call (StarveAfter's
	// default).
	backgroundGrace = defaultStarveAfter
)

// demoter is one worker's demotion state.
type demoter struct {
	w      *worker
	after  time.Duration
	starve time.Duration // Config.StarveAfter (0: the floor applies at once)
	timer  *time.Timer

	mu      sync.Mutex
	inCall  bool
	cpu0    time.Duration // the worker's CPU time at the call's start
	demoted bool          // the call was demoted (it may be boosted now)
	boosted bool          // a demoted call back at the normal weight for a window
	downCPU time.Duration // the worker's CPU time when the call was demoted
	downAt  time.Time     // when it was demoted
	// onDemote is the call's CallOptions.OnDemote.
	onDemote func()
}

// newDemoter returns w's demoter, nil if the worker's CPU time cannot be read or it has
// no cpu cgroup to weigh.
func newDemoter(w *worker, after, starve time.Duration) *demoter {
	if after <= 0 || w.cpuCg == nil || !w.cpuOn {
		return nil
	}
	if _, err := processCPUTime(w.pid); err != nil {
		w.p.log.Info("sandbox: no demotion of long calls: cannot read a worker's CPU time", "err", err)
		return nil
	}
	d := &demoter{w: w, after: after, starve: starve}
	d.timer = time.AfterFunc(time.Hour, d.check)
	d.timer.Stop()
	return d
}

// start begins a call: its worker is at the normal level already, or at the low one if
// low, a call demoted from its start (CallOptions.Low). onDemote is called if the call
// is demoted. It returns the worker's CPU time at the start, if it could read it.
func (d *demoter) start(low bool, onDemote func()) (cpu0 time.Duration, read bool) {
	c, err := processCPUTime(d.w.pid)
	if err != nil {
		return 0, false // the worker is gone: the call fails
	}
	d.mu.Lock()
	d.inCall, d.cpu0, d.demoted, d.boosted, d.onDemote = true, c, low, false, onDemote
	next := d.after
	if low {
		d.downCPU, d.downAt = c, time.Now()
		d.w.p.lowStarts.Add(1)
		next = d.starve
		if next <= 0 {
			next = demoteWindow
		}
	} else {
		d.w.p.short.Add(1) // counted while it runs: shortSeen when it ends or is demoted
	}
	d.mu.Unlock()
	d.timer.Reset(next)
	return c, true
}

// check runs on the timer. Before the demotion it demotes the worker once the call has
// used d.after of CPU, else looks again when it could have. Demoted, it boosts the call
// for a window whenever its average since the demotion is under the floor.
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
	cg := d.w.cpuCg
	switch {
	case d.boosted:
		if err := cg.setLevel(levelLow); err != nil {
			return
		}
		d.boosted = false
	case d.demoted:
		if wait := d.starve - now.Sub(d.downAt); wait > 0 {
			d.timer.Reset(wait) // spare cycles alone until then
			return
		}
		if !boostDue(c-d.downCPU, now.Sub(d.downAt), d.w.p.shortLately(now)) {
			break
		}
		if err := cg.setLevel(levelNormal); err != nil {
			return
		}
		d.boosted = true
		d.w.p.boosts.Add(1)
		for since := int64(now.Sub(d.downAt)); ; {
			e := d.w.p.earliestBoost.Load()
			if (e != 0 && e <= since) || d.w.p.earliestBoost.CompareAndSwap(e, since) {
				break
			}
		}
		d.timer.Reset(boostWindow)
		return
	default:
		if used := c - d.cpu0; used < d.after {
			d.timer.Reset(max(d.after-used, minDemoteCheck))
			return
		}
		if err := cg.setLevel(levelLow); err != nil {
			d.w.p.log.Warn("sandbox: demoting a worker", "pid", d.w.pid, "err", err)
			return
		}
		d.demoted, d.downCPU, d.downAt = true, c, now
		d.w.p.demotions.Add(1)
		d.w.p.short.Add(-1)
		d.w.p.shortSeen()
		if d.onDemote != nil {
			d.onDemote()
		}
		if d.starve > 0 {
			d.timer.Reset(d.starve)
			return
		}
	}
	d.timer.Reset(demoteWindow)
}

// boostDue reports whether a demoted call that has used cpu of CPU time in the elapsed
// time since its demotion is boosted now: when it has had less than demoteFloor of a
// CPU on average, or less than shortFloor while short calls of the pool run.
func boostDue(cpu, elapsed time.Duration, shortCalls bool) bool {
	if shortCalls {
		return shortFloorD*cpu < shortFloorN*elapsed
	}
	return demoteFloorD*cpu < demoteFloorN*elapsed
}

// shortSeen notes that a short call ended now, or was demoted (while one runs, short
// counts it).
func (p *Pool) shortSeen() { p.shortAt.Store(int64(time.Since(p.born))) }

// shortLately reports whether a short call of the pool runs at now or ran within
// shortRecent of it.
func (p *Pool) shortLately(now time.Time) bool {
	return p.short.Load() > 0 || time.Duration(int64(now.Sub(p.born))-p.shortAt.Load()) < shortRecent
}

// end ends a call. A demoted call leaves its worker at the background level until its
// next call starts.
func (d *demoter) end() {
	d.timer.Stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.inCall {
		return
	}
	d.inCall = false
	if !d.demoted {
		d.w.p.short.Add(-1)
		d.w.p.shortSeen()
	} else {
		// Most often an error means the worker is gone (killed at its deadline, out
		// of memory) and its cgroup with it.
		if err := d.w.cpuCg.setLevel(levelBackground); err != nil {
			d.w.p.log.Debug("sandbox: a demoted worker to the background weight", "pid", d.w.pid, "err", err)
		}
	}
}

// leftDemoted reports whether the worker's last call was demoted (its remains run at the
// background level until its next call).
func (d *demoter) leftDemoted() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.demoted && !d.inCall
}
