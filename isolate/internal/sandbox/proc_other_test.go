//go:build !unix

package sandbox

import (
	"errors"
	"os"
)

// processGone reports an error unless pid no longer exists (FindProcess opens a handle,
// which fails for a process that is gone).
func processGone(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil
	}
	p.Release()
	return errors.New("still exists")
}

func killProcess(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func exitedUnreaped(pid int) bool { return false }
