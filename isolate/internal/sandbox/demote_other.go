//go:build !linux

package sandbox

import (
	"errors"
	"time"
)

func processCPUTime(int) (time.Duration, error) {
	return 0, errors.New("sandbox: no process CPU clock here")
}

func (w *workerCgroup) setLevel(cpuLevel) error { return errors.New("sandbox: cgroups are linux-only") }
