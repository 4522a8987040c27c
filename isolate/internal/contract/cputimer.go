package contract

import (
	"sync"
	"time"
)

// CPUMeter counts the CPU time of a call from its start, in a process
// that runs the call alone, as CountedCPU counts it; without a clock (the
// zero CPUMeter, the node's own process) the busy time alone counts.
type CPUMeter struct {
	clock func() time.Duration
	cpu0  time.Duration
}

// NewCPUMeter starts a CPUMeter on clock (nil: the busy time alone).
func NewCPUMeter(clock func() time.Duration) CPUMeter {
	m := CPUMeter{clock: clock}
	if clock != nil {
		m.cpu0 = clock()
	}
	return m
}

// Used is the call's CPU time, its busy time since the start being busy.
func (m CPUMeter) Used(busy time.Duration) time.Duration {
	if m.clock == nil {
		return busy
	}
	return CountedCPU(busy, m.clock()-m.cpu0)
}

// CPUTimer bounds the CPU time of a call that does not wait (a WASI
// command) or that pauses it while it waits (Python, on a host call): its
// busy time is the wall time since the start less the pauses, counted by
// a CPUMeter. When limit has passed on the busy clock with less counted,
// the timer is set again for the rest: a call that waited for a processor
// on a busy host (a demoted one) runs on, within StarveGrace plus 8/7 of
// its limit.
type CPUTimer struct {
	meter  CPUMeter
	limit  time.Duration
	expire func()
	start  time.Time

	mu       sync.Mutex
	t        *time.Timer
	paused   time.Duration // the pauses that ended
	pausedAt time.Time     // when the current pause began; zero while running
	done     bool          // expired or stopped
}

// StartCPUTimer starts a CPUTimer that calls expire once the call has
// used limit.
func StartCPUTimer(clock func() time.Duration, limit time.Duration, expire func()) *CPUTimer {
	c := &CPUTimer{meter: NewCPUMeter(clock), limit: limit, expire: expire, start: time.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = time.AfterFunc(limit, c.fire)
	return c
}

func (c *CPUTimer) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || !c.pausedAt.IsZero() {
		return
	}
	if used := c.usedLocked(); used < c.limit {
		c.t.Reset(c.limit - used)
		return
	}
	c.done = true
	c.expire()
}

// Pause stops the busy clock while the call waits (a host call); Resume
// starts it again.
func (c *CPUTimer) Pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done || !c.pausedAt.IsZero() {
		return
	}
	c.t.Stop()
	c.pausedAt = time.Now()
}

// Resume ends a pause.
func (c *CPUTimer) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pausedAt.IsZero() {
		return
	}
	c.paused += time.Since(c.pausedAt)
	c.pausedAt = time.Time{}
	if !c.done {
		c.t.Reset(max(c.limit-c.usedLocked(), 0))
	}
}

// Stop ends the timer: expire is not called after it returns.
func (c *CPUTimer) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	c.t.Stop()
}

// Used is the CPU time of the call so far (pauses excluded).
func (c *CPUTimer) Used() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usedLocked()
}

func (c *CPUTimer) usedLocked() time.Duration {
	busy := time.Since(c.start) - c.paused
	if !c.pausedAt.IsZero() {
		busy -= time.Since(c.pausedAt)
	}
	return c.meter.Used(busy)
}
