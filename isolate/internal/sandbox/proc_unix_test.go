//go:build unix

package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func killProcess(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// exitedUnreaped reports whether pid has exited, with all its files closed, but is not
// reaped yet (linux; false elsewhere). A zombie leader alone is not enough: the other
// threads may still be exiting and hold the files.
func exitedUnreaped(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || len(s) <= i+2 || s[i+2] != 'Z' {
		return false
	}
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	return err == nil && len(tasks) == 1
}

// processGone reports an error unless pid no longer exists. A reaped child is gone
// entirely: kill(pid, 0) fails with ESRCH (a zombie would still accept it).
func processGone(pid int) error {
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		return fmt.Errorf("still exists (kill 0: %v)", err)
	}
	return nil
}
