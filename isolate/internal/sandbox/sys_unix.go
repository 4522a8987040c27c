//go:build unix && !linux

package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

var platformLayers = []string{"process", "process-group"}

const netnsLayer = "netns"

const netnsSupported = false

func netnsRefused(error) bool { return false }

func prepareCmd(cmd *exec.Cmd, _, _ bool) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
}

func killGroup(pid int) {
	if pid > 0 {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// waitExited has no non-reaping wait here; the reaper relies on stderr EOF instead.
func waitExited(pid int) bool { return false }

func exitSignal(st *os.ProcessState) (string, bool) {
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return "", false
	}
	return ws.Signal().String(), ws.Signal() == syscall.SIGKILL
}

func systemOOMKills() int64 { return -1 }

// RLIMIT_AS is not reliably enforced on darwin and the BSDs differ; only the Go soft
// memory limit applies there.
const rlimitASSupported = false

var errNoRlimit = errors.New("sandbox: RLIMIT_AS not supported on this platform")

func applyRlimitAS(limit int64) (int64, int64, error) { return 0, 0, errNoRlimit }

// rlimitsLayer names the rlimits layer in Stats.Layers.
const rlimitsLayer = "rlimits"

// applyRlimits sets no core files and bounded open files.
func applyRlimits() error {
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{}); err != nil {
		return err
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	rl.Cur = min(rl.Cur, 256)
	rl.Max = min(rl.Max, 256)
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

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

// closeOnExecInherited: only linux lists a process's descriptors (/proc/self/fd).
func closeOnExecInherited() {}
