//go:build !linux

package sandbox

import "errors"

const (
	cgroupLayer     = "cgroup-v1-memory"
	cpuCgroupLayer  = "cgroup-v1-cpu"
	pidsCgroupLayer = "cgroup-v1-pids"
)

// leaveAutogroupErr is why the process could not leave its autogroup (linux only).
var leaveAutogroupErr error

func openCPUCgroup(int) (*cgroupPool, []string, error) {
	return nil, nil, errors.New("sandbox: cgroups are linux-only")
}

func openPidsCgroup() (*cgroupPool, []string, error) {
	return nil, nil, errors.New("sandbox: cgroups are linux-only")
}

func (c *cgroupPool) newCPUWorker(name string, cpus float64) (*workerCgroup, error) {
	return nil, errors.New("sandbox: cgroups are linux-only")
}

func (c *cgroupPool) newPidsWorker(name string, max int) (*workerCgroup, error) {
	return nil, errors.New("sandbox: cgroups are linux-only")
}

type cgroupPool struct{ dir string }

type workerCgroup struct{}

func openCgroup(root string) (*cgroupPool, []string, error) {
	return nil, nil, errors.New("sandbox: cgroups are linux-only")
}

func (c *cgroupPool) newWorker(name string, limit int64) (*workerCgroup, error) {
	return nil, errors.New("sandbox: cgroups are linux-only")
}

func (w *workerCgroup) add(pid int) error                          { return nil }
func (w *workerCgroup) memoryEvidence() (oomKilled, hitLimit bool) { return false, false }
func (w *workerCgroup) remove() error                              { return nil }
func (c *cgroupPool) close() error                                 { return nil }
