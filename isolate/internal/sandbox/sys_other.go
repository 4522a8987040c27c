//go:build !unix

package sandbox

import (
	"errors"
	"os"
	"os/exec"
)

var platformLayers = []string{"process"}

const netnsLayer = "netns"

const netnsSupported = false

func netnsRefused(error) bool { return false }

func prepareCmd(cmd *exec.Cmd, _, _ bool) {}

// killGroup is a no-op: there are no process groups; the pool kills the process itself.
func killGroup(pid int) {}

func waitExited(pid int) bool { return false }

func exitSignal(st *os.ProcessState) (string, bool) { return "", false }

func systemOOMKills() int64 { return -1 }

const rlimitASSupported = false

var errNoRlimit = errors.New("sandbox: RLIMIT_AS not supported on this platform")

func applyRlimitAS(limit int64) (int64, int64, error) { return 0, 0, errNoRlimit }

// rlimitsLayer names the rlimits layer in Stats.Layers.
const rlimitsLayer = "rlimits"

// applyRlimits: no rlimits on this platform.
func applyRlimits() error { return errors.New("sandbox: rlimits not supported on this platform") }

const procnsSupported = false

func mountReadOnly([]string) error {
	return errors.New("sandbox: mount namespaces are linux only")
}

func setupMounts() (bool, error) {
	return false, errors.New("sandbox: mount namespaces are linux only")
}

const dropSupported = false

func dropPrivileges(uid, gid int, nproc uint64) error {
	return errors.New("sandbox: dropping privileges is linux only")
}

// closeOnExecInherited: nothing on this platform.
func closeOnExecInherited() {}
