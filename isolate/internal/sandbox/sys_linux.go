//go:build linux

package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Process layers this platform provides to every worker.
var platformLayers = []string{"process", "process-group", "pdeathsig"}

// netnsLayer names the network-namespace layer in Stats.Layers.
const netnsLayer = "netns"

// netnsSupported reports whether prepareCmd can give workers a network namespace.
const netnsSupported = true

// prepareCmd puts the worker in its own process group and has the kernel SIGKILL it when
// the thread that started it dies (Pdeathsig). With netns it also starts the worker in a
// new, empty network namespace (only a loopback device, down): guest code has no network
// of its own; its egress goes through the host. Without root that needs a user namespace
// too, which maps the worker's uid and gid to ours.
func prepareCmd(cmd *exec.Cmd, netns bool) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Cloneflags &^= syscall.CLONE_NEWNET | syscall.CLONE_NEWUSER
	cmd.SysProcAttr.UidMappings, cmd.SysProcAttr.GidMappings = nil, nil
	if !netns {
		return
	}
	cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNET
	if uid := os.Geteuid(); uid != 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		gid := os.Getegid()
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	}
}

// netnsRefused reports whether a failed start is the kernel refusing namespaces (no
// privilege, user namespaces disabled or exhausted), so the pool goes on without them.
func netnsRefused(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EUSERS) || errors.Is(err, syscall.EACCES)
}

// killGroup SIGKILLs the worker's process group. Only call it while the worker has not
// been reaped (its pid, and so the group id, cannot have been reused).
func killGroup(pid int) {
	if pid > 0 {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// waitExited blocks until the process has exited, without reaping it (WNOWAIT), so that its
// process group can still be killed safely afterwards.
func waitExited(pid int) bool {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != syscall.EINTR {
			return err == nil
		}
	}
}

// exitSignal returns the name of the signal that ended the process ("" if none).
func exitSignal(st *os.ProcessState) (string, bool) {
	ws, ok := st.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return "", false
	}
	sig := ws.Signal()
	name := unix.SignalName(sig)
	if name == "" {
		name = sig.String()
	}
	return name, sig == syscall.SIGKILL
}

// systemOOMKills reads the kernel's global OOM-kill counter (-1 if unknown).
func systemOOMKills() int64 {
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("oom_kill ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// rlimitASSupported reports whether applyRlimitAS does anything here.
const rlimitASSupported = true

// applyRlimitAS caps this process's address space at its current virtual size plus limit.
// It returns the virtual size it measured and the cap it set.
func applyRlimitAS(limit int64) (vsz, cap int64, err error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, 0, err
	}
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, 0, fmt.Errorf("sandbox: malformed /proc/self/statm")
	}
	pages, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return 0, 0, err
	}
	vsz = pages * int64(os.Getpagesize())
	cap = vsz + limit
	rl := unix.Rlimit{Cur: uint64(cap), Max: uint64(cap)}
	if err := unix.Setrlimit(unix.RLIMIT_AS, &rl); err != nil {
		return vsz, cap, err
	}
	return vsz, cap, nil
}

// rlimitsLayer names the rlimits layer in Stats.Layers.
const rlimitsLayer = "rlimits"

// maxWorkerFiles bounds the files a worker may hold open: its channel,
// stdio, the Go runtime's own and the wasm cache's, with room to spare.
const maxWorkerFiles = 256

// applyRlimits sets the worker's own limits: no core files (a crash must
// not write guest memory to disk) and at most maxWorkerFiles open files.
func applyRlimits() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("RLIMIT_CORE: %w", err)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	rl.Cur = min(rl.Cur, maxWorkerFiles)
	rl.Max = min(rl.Max, maxWorkerFiles)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	return nil
}
