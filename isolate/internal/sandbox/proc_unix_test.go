//go:build unix

package sandbox

import (
	"fmt"
	"syscall"
)

// processGone reports an error unless pid no longer exists. A reaped child is gone
// entirely: kill(pid, 0) fails with ESRCH (a zombie would still accept it).
func processGone(pid int) error {
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		return fmt.Errorf("still exists (kill 0: %v)", err)
	}
	return nil
}
