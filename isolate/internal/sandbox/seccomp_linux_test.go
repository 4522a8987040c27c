//go:build linux && (amd64 || arm64)

package sandbox

import (
	"encoding/binary"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSeccomp: a worker cannot open a socket or start a program, even in the
// host's network namespace; with NoSeccomp it can (so the test can fail).
func TestSeccomp(t *testing.T) {
	prog, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to start")
	}
	dial, run := "dial "+hostListener(t), "exec "+prog

	p := newTestPool(t, Config{Workers: 1, Spares: -1, NoLandlock: true, HostNetwork: true})
	if !slices.Contains(p.Stats().Layers, seccompLayer) {
		// Only a kernel without seccomp filters excuses it.
		if status, _ := os.ReadFile("/proc/self/status"); !strings.Contains(string(status), "Seccomp_filters:") {
			t.Skipf("this kernel has no seccomp filters (layers %v)", p.Stats().Layers)
		}
		t.Fatalf("no seccomp layer: %v", p.Stats().Layers)
	}
	for _, req := range []string{dial, run, "clonens"} {
		if out := call(t, p, req); !strings.Contains(out, "operation not permitted") {
			t.Errorf("%s under seccomp: %s", req, out)
		}
	}
	// The worker still does its work afterwards.
	if out := call(t, p, "echo still-here"); out != "still-here" {
		t.Errorf("echo after refused calls: %q", out)
	}

	open := newTestPool(t, Config{Workers: 1, Spares: -1, NoLandlock: true, HostNetwork: true, NoSeccomp: true})
	if slices.Contains(open.Stats().Layers, seccompLayer) {
		t.Errorf("NoSeccomp pool reports layers %v", open.Stats().Layers)
	}
	if out := call(t, open, dial); out != "connected" {
		t.Errorf("dial without seccomp: %s", out)
	}
	if out := call(t, open, run); out != "ran" {
		t.Errorf("exec without seccomp: %s", out)
	}
}

// runFilter evaluates a seccomp program on one call, as the kernel would (the
// instructions the program uses only).
func runFilter(t *testing.T, prog []unix.SockFilter, arch, nr uint32, args ...uint64) uint32 {
	t.Helper()
	var data [64]byte
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var ok bool
			switch in.Code & 0xf0 {
			case unix.BPF_JEQ:
				ok = acc == in.K
			case unix.BPF_JGE:
				ok = acc >= in.K
			case unix.BPF_JSET:
				ok = acc&in.K != 0
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: unknown code %#x", pc, in.Code)
		}
	}
	t.Fatal("the program ran off its end")
	return 0
}

// TestSeccompProgram: the filter decides each kind of call as it must.
func TestSeccompProgram(t *testing.T) {
	prog := seccompProgram()
	if len(prog) > 255 {
		t.Fatalf("%d instructions: jumps reach 255 at most", len(prog))
	}
	const (
		allow  = unix.SECCOMP_RET_ALLOW
		eperm  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		enosys = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		kill   = unix.SECCOMP_RET_KILL_PROCESS
	)
	threadFlags := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD)
	for _, tc := range []struct {
		what string
		arch uint32
		nr   uint32
		args []uint64
		want uint32
	}{
		{"read", auditArch, unix.SYS_READ, nil, allow},
		{"another architecture's call", auditArch + 1, unix.SYS_READ, nil, kill},
		{"an x32 call", auditArch, unix.SYS_READ | 0x40000000, nil, eperm},
		{"socket", auditArch, unix.SYS_SOCKET, nil, eperm},
		{"execve", auditArch, unix.SYS_EXECVE, nil, eperm},
		{"unshare", auditArch, unix.SYS_UNSHARE, nil, eperm},
		{"ioctl TCGETS", auditArch, unix.SYS_IOCTL, []uint64{0, unix.TCGETS}, allow},
		{"ioctl TIOCSTI", auditArch, unix.SYS_IOCTL, []uint64{0, tiocsti}, eperm},
		{"ioctl TIOCSTI, high bits set", auditArch, unix.SYS_IOCTL, []uint64{0, 1<<32 | tiocsti}, eperm},
		{"ioctl TIOCLINUX", auditArch, unix.SYS_IOCTL, []uint64{0, tioclinux}, eperm},
		{"clone of a thread", auditArch, unix.SYS_CLONE, []uint64{threadFlags}, allow},
		{"clone of a process", auditArch, unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, allow},
		{"clone into a new user namespace", auditArch, unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
		{"clone into a new network namespace", auditArch, unix.SYS_CLONE, []uint64{unix.CLONE_NEWNET}, eperm},
		{"clone3", auditArch, unix.SYS_CLONE3, nil, enosys},
	} {
		if got := runFilter(t, prog, tc.arch, tc.nr, tc.args...); got != tc.want {
			t.Errorf("%s: %#x, want %#x", tc.what, got, tc.want)
		}
	}
	for _, nr := range deniedSyscalls {
		if got := runFilter(t, prog, auditArch, nr); got != eperm {
			t.Errorf("denied call %d: %#x", nr, got)
		}
	}
}

// A worker leads a session of its own, so it has no controlling terminal (in
// its node's session, it had the node's, and could type into it).
func TestWorkerSession(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	sid, pid, _ := strings.Cut(call(t, p, "session"), " ")
	if sid != pid {
		t.Errorf("the worker's session is %s, its pid %s", sid, pid)
	}
}

// A descriptor the host inherited without close-on-exec (a shell's redirection, a
// supervisor's socket) does not pass to its workers.
func TestWorkerInheritsNoDescriptors(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "inherited")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := unix.Dup(int(f.Fd())) // dup's copy is not close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	inheritedOnce = sync.Once{} // as if this process had just started
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	out := call(t, p, "fds")
	if strings.Contains(out, f.Name()) {
		t.Errorf("the worker holds the host's inherited descriptor %d of %s: %s", fd, f.Name(), out)
	}
	fds := strings.Split(out, ",")
	if len(fds) > 12 {
		t.Errorf("the worker holds %d descriptors: %v", len(fds), fds)
	}
}
