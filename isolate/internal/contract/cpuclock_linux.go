//go:build linux

package contract

import (
	"time"

	"golang.org/x/sys/unix"
)

// ProcessCPUClock returns a reader of this process's CPU time (every
// thread's, user and system), or nil where the platform has none.
func ProcessCPUClock() func() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts) != nil {
		return nil
	}
	return func() time.Duration {
		var ts unix.Timespec
		if unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts) != nil {
			return 0
		}
		return time.Duration(ts.Nano())
	}
}
