//go:build linux && (amd64 || arm64)

package sandbox

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompLayer names the seccomp layer in Stats.Layers.
const seccompLayer = "seccomp"

// seccompSupported reports whether applySeccomp does anything here.
const seccompSupported = true

// deniedSyscalls are refused with EPERM once a worker has started. A worker needs
// none of them: it talks to its host over a descriptor it inherited, reads and writes
// files only in its caches, and never starts a program. Guest code cannot call them
// either (it has no way to make a system call); the filter is a second wall for the
// day a bug in an engine gives it one. A deny list rather than an allow list: the Go
// runtime's own needs change between releases, these do not.
var deniedSyscalls = append([]uint32{
	// new network endpoints (there is no network in the worker's namespace anyway)
	unix.SYS_SOCKET, unix.SYS_SOCKETPAIR, unix.SYS_CONNECT, unix.SYS_BIND, unix.SYS_LISTEN,
	unix.SYS_ACCEPT, unix.SYS_ACCEPT4,
	// starting programs, reading or writing other processes
	unix.SYS_EXECVE, unix.SYS_EXECVEAT, unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV,
	unix.SYS_PROCESS_VM_WRITEV, unix.SYS_KCMP, unix.SYS_PIDFD_GETFD,
	// namespaces, mounts and file handles
	unix.SYS_UNSHARE, unix.SYS_SETNS, unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT,
	unix.SYS_CHROOT, unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT, unix.SYS_FSPICK,
	unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_MOUNT_SETATTR,
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
	// the kernel's larger attack surfaces, and io_uring, which seccomp cannot see into
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD, unix.SYS_IO_URING_SETUP,
	unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER, unix.SYS_KEYCTL, unix.SYS_ADD_KEY,
	unix.SYS_REQUEST_KEY, unix.SYS_FANOTIFY_INIT,
	// administration
	unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE, unix.SYS_KEXEC_LOAD,
	unix.SYS_KEXEC_FILE_LOAD, unix.SYS_REBOOT, unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_ACCT,
	unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME, unix.SYS_CLOCK_ADJTIME, unix.SYS_ADJTIMEX,
	unix.SYS_SETHOSTNAME, unix.SYS_SETDOMAINNAME, unix.SYS_QUOTACTL, unix.SYS_SYSLOG,
	unix.SYS_VHANGUP, unix.SYS_PERSONALITY,
}, archDeniedSyscalls...)

// Argument rules, checked before the deny list:
//   - ioctl TIOCSTI and TIOCLINUX: pushing input into a terminal (a worker left in its
//     node's session could type commands into the shell that started it; workers now
//     have a session of their own, and this is the second wall);
//   - clone with a CLONE_NEW* flag: new namespaces, whose user namespace would give a
//     full capability set inside (unshare and setns are denied, and clone was the way
//     around them);
//   - clone3 fails with ENOSYS: seccomp cannot read its flags (they are in memory), and
//     the Go runtime and C libraries fall back to clone on ENOSYS.
const (
	tiocsti   = 0x5412
	tioclinux = 0x541c
	// cloneNewFlags are CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	// CLONE_NEWUSER, CLONE_NEWPID and CLONE_NEWNET.
	cloneNewFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET
)

// The filter's exits, as jump targets of insn; a jump target below them is a
// number of the body's instructions to skip (0: none).
const (
	toAllow = 1000 + iota
	toErrno
	toENOSYS
	toKill
)

// insn is a filter instruction whose jumps name exits or skips.
type insn struct {
	code   uint16
	k      uint32
	jt, jf int
}

// seccompProgram builds the filter: other architectures' calls kill the process, x32
// calls, denied calls and denied arguments fail with EPERM (clone3 with ENOSYS), the
// rest pass.
func seccompProgram() []unix.SockFilter {
	const (
		ldAbs   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq     = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge     = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset    = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret     = unix.BPF_RET | unix.BPF_K
		offNr   = 0  // offsetof(struct seccomp_data, nr)
		offArch = 4  // offsetof(struct seccomp_data, arch)
		offArg0 = 16 // args[0], its low 32 bits (little-endian)
		offArg1 = 24 // args[1], its low 32 bits
	)
	body := []insn{
		{code: ldAbs, k: offArch},
		{code: jeq, k: auditArch, jf: toKill},
		{code: ldAbs, k: offNr},
		// x32 calls on amd64 (and nothing on arm64) carry this bit: deny them all.
		{code: jge, k: 0x40000000, jt: toErrno},
		// ioctl's request is an unsigned int: the kernel reads the low 32 bits.
		{code: jeq, k: unix.SYS_IOCTL, jf: 3},
		{code: ldAbs, k: offArg1},
		{code: jeq, k: tiocsti, jt: toErrno},
		{code: jeq, k: tioclinux, jt: toErrno, jf: toAllow},
		{code: jeq, k: unix.SYS_CLONE, jf: 2},
		{code: ldAbs, k: offArg0},
		{code: jset, k: cloneNewFlags, jt: toErrno, jf: toAllow},
		{code: jeq, k: unix.SYS_CLONE3, jt: toENOSYS},
	}
	for _, nr := range deniedSyscalls {
		body = append(body, insn{code: jeq, k: nr, jt: toErrno})
	}
	exits := []unix.SockFilter{
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{Code: ret, K: unix.SECCOMP_RET_KILL_PROCESS},
	}
	// A jump is relative to the next instruction: an exit lies past the body.
	n := len(body)
	jump := func(i, to int) uint8 {
		if to >= toAllow {
			return uint8(n - i - 1 + to - toAllow)
		}
		return uint8(to)
	}
	prog := make([]unix.SockFilter, 0, n+len(exits))
	for i, in := range body {
		f := unix.SockFilter{Code: in.code, K: in.k}
		if in.code&0x07 == unix.BPF_JMP {
			f.Jt, f.Jf = jump(i, in.jt), jump(i, in.jf)
		}
		prog = append(prog, f)
	}
	return append(prog, exits...)
}

// applySeccomp installs the filter on every thread of this process, for good.
func applySeccomp() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	prog := seccompProgram()
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&fprog)))
	switch {
	case errno != 0:
		return fmt.Errorf("seccomp: %w", errno)
	case r != 0:
		return fmt.Errorf("seccomp: thread %d could not be synchronised", r)
	}
	return nil
}
