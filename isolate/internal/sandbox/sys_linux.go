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
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Process layers this platform provides to every worker.
var platformLayers = []string{"process", "process-group", "pdeathsig"}

// netnsLayer names the network-namespace layer in Stats.Layers.
const netnsLayer = "netns"

// netnsSupported reports whether prepareCmd can give workers a network namespace.
const netnsSupported = true

// procnsSupported reports whether prepareCmd can give workers mount and PID namespaces.
const procnsSupported = true

// prepareCmd puts the worker in a session of its own and has the kernel SIGKILL it when
// the thread that started it dies (Pdeathsig). With netns it also starts the worker in a
// new, empty network namespace (only a loopback device, down): guest code has no network
// of its own; its egress goes through the host. With procns it starts it in new mount and
// PID namespaces too: the worker is process 1 of its own PID namespace and mounts a /proc
// of it (setupMounts), so it sees no other process. Without root either needs a user
// namespace too, which maps the worker's uid and gid to ours.
func prepareCmd(cmd *exec.Cmd, netns, procns bool) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// A session of its own, not only a process group: a worker left in the node's
	// session kept the terminal that started the node as its controlling terminal,
	// and could push input into it (TIOCSTI) for the shell there to run. Its session
	// leads a process group of its pid, killed as a whole as before.
	cmd.SysProcAttr.Setsid = true
	cmd.SysProcAttr.Setpgid = false
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Cloneflags &^= syscall.CLONE_NEWNET | syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
		syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
	cmd.SysProcAttr.UidMappings, cmd.SysProcAttr.GidMappings = nil, nil
	if netns {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNET
	}
	if procns {
		// IPC and UTS too: System V shared memory and message queues a worker made
		// outlived it in the host's IPC namespace, beyond every cgroup and kill.
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
	}
	if !netns && !procns {
		return
	}
	if uid := os.Geteuid(); uid != 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		gid := os.Getegid()
		// Our uid and gid are the worker's; with procns they are 0 inside its
		// namespace, so that it keeps, past exec, the capabilities over its
		// own namespaces it needs to mount its /proc (none over the host's).
		inUID, inGID := uid, gid
		if procns {
			inUID, inGID = 0, 0
		}
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: inUID, HostID: uid, Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: inGID, HostID: gid, Size: 1}}
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

// maxWorkerFileSize bounds a file a worker writes: the largest entry of the
// compiled wasm cache (CPython's) is a few tens of MiB.
const maxWorkerFileSize = 1 << 30

// applyRlimits sets the worker's own limits: no core files (a crash must
// not write guest memory to disk), at most maxWorkerFiles open files, and
// no file larger than maxWorkerFileSize.
func applyRlimits() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("RLIMIT_CORE: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: maxWorkerFileSize, Max: maxWorkerFileSize}); err != nil {
		return fmt.Errorf("RLIMIT_FSIZE: %w", err)
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

// setupMounts runs in a worker started with procns, in its new mount namespace: it makes
// every mount private (nothing it does reaches the host's mounts) and mounts a /proc of its
// own PID namespace over the host's, so that no other process (the node, its other
// workers) is visible to it, nor their environment or command lines. pidns reports whether
// it did: the worker is process 1 of a PID namespace of its own, with a /proc of it.
func setupMounts() (pidns bool, err error) {
	// The host's /proc still shows both pids: the host's is the first of NSpid.
	if b, err := os.ReadFile("/proc/self/status"); os.Getpid() == 1 && err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					hostPID, _ = strconv.Atoi(f[0])
				}
			}
		}
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return false, fmt.Errorf("making mounts private: %w", err)
	}
	if os.Getpid() != 1 {
		return false, nil
	}
	// Only with its own /proc does the PID namespace hide the other
	// processes: the host's would show them all.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return false, fmt.Errorf("mounting /proc: %w", err)
	}
	return true, nil
}

// mountReadOnly runs in a worker after setupMounts, in its own mount namespace: it mounts
// each of dirs onto itself read-only, keeping the flags the kernel locks in a user
// namespace (nosuid, nodev, noexec, the atime ones).
func mountReadOnly(dirs []string) error {
	for _, d := range dirs {
		var st unix.Statfs_t
		if err := unix.Statfs(d, &st); err != nil {
			return fmt.Errorf("mounting %s read-only: %w", d, err)
		}
		if err := unix.Mount(d, d, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mounting %s read-only: bind: %w", d, err)
		}
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
		for _, f := range [][2]uintptr{{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
			{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME}} {
			if uintptr(st.Flags)&f[0] != 0 {
				flags |= f[1]
			}
		}
		if err := unix.Mount("", d, "", flags, ""); err != nil {
			return fmt.Errorf("mounting %s read-only: %w", d, err)
		}
	}
	return nil
}

// dropSupported reports whether dropPrivileges does anything here.
const dropSupported = true

// dropPrivileges switches a worker that runs as root to uid and gid, with no
// supplementary groups, and caps the processes (threads, for the kernel) of that uid at
// nproc. The kernel then holds it to ordinary file permissions: it cannot read files only
// root may (the mesh secret, the node's data), signal processes of other uids, or raise
// its limits again.
func dropPrivileges(uid, gid int, nproc uint64) error {
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: nproc, Max: nproc}); err != nil {
		return fmt.Errorf("RLIMIT_NPROC: %w", err)
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setresgid %d: %w", gid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid %d: %w", uid, err)
	}
	// Changed credentials make the process not dumpable, which closes its own
	// /proc/self/fd to it (WritablePath); it dumps no core anyway (RLIMIT_CORE 0), and
	// ptrace is refused by its seccomp filter.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_DUMPABLE: %w", err)
	}
	// The kernel clears the parent-death signal when the credentials change: set it
	// again. A parent that died in between is seen in the handshake that follows (its
	// end of the channel is closed).
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_PDEATHSIG: %w", err)
	}
	return nil
}

// closeOnExecInherited marks every descriptor of this process past stdio close-on-exec:
// the ones it inherited from whatever started it (a shell's redirection, a supervisor's
// socket, a test harness's pipe) would otherwise pass to every worker, which could read
// or write them. Go opens its own with close-on-exec already, and a worker's descriptors
// are handed over explicitly (exec.Cmd.ExtraFiles), which the marks do not affect.
func closeOnExecInherited() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}
