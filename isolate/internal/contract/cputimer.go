package contract

import (
	"sync"
	"time"
)

// CPUTimer bounds the CPU time of a call that does not wait (a WASI
// command) or whose timer is stopped while it waits (Python): on the wall
// clock alone where clock is nil, and otherwise as CountedCPU counts it,
// the wall time since the start standing for the busy time. When limit
// has passed on the wall clock with less counted, the timer is set again
// for the rest: a call that waited for a processor on a busy host (a
// demoted one) runs on, within StarveGrace plus 8/7 of its limit.
type CPUTimer struct {
	// T is the timer; its owner may Stop and Reset it (Python stops it
	// while a host call waits).
	T *time.Timer

	clock func() time.Duration
	cpu0  time.Duration
	start time.Time
}

// StartCPUTimer starts a CPUTimer that calls expire once the call has
// used limit.
func StartCPUTimer(clock func() time.Duration, limit time.Duration, expire func()) *CPUTimer {
	c := &CPUTimer{clock: clock, start: time.Now()}
	if clock != nil {
		c.cpu0 = clock()
	}
	var mu sync.Mutex // T is set before the timer's first look
	mu.Lock()
	defer mu.Unlock()
	c.T = time.AfterFunc(limit, func() {
		mu.Lock()
		defer mu.Unlock()
		if used := c.Used(time.Since(c.start)); used < limit {
			c.T.Reset(limit - used)
			return
		}
		expire()
	})
	return c
}

// Used is the CPU time of the call since the timer started, its busy time
// being busy: busy itself where there is no clock, else as CountedCPU
// counts it.
func (c *CPUTimer) Used(busy time.Duration) time.Duration {
	if c.clock == nil {
		return busy
	}
	return CountedCPU(busy, c.clock()-c.cpu0)
}
