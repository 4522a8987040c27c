//go:build linux && (amd64 || arm64)

package sandbox

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestSeccomp: a worker cannot open a socket or start a program, even in the
// host's network namespace; with NoSeccomp it can (so the test can fail).
func TestSeccomp(t *testing.T) {
	prog, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to start")
	}
	dial, run := "dial "+hostListener(t), "exec "+prog

	p := newTestPool(t, Config{Workers: 1, Spares: -1, HostNetwork: true})
	if !slices.Contains(p.Stats().Layers, seccompLayer) {
		// Only a kernel without seccomp filters excuses it.
		if status, _ := os.ReadFile("/proc/self/status"); !strings.Contains(string(status), "Seccomp_filters:") {
			t.Skipf("this kernel has no seccomp filters (layers %v)", p.Stats().Layers)
		}
		t.Fatalf("no seccomp layer: %v", p.Stats().Layers)
	}
	for _, req := range []string{dial, run} {
		if out := call(t, p, req); !strings.Contains(out, "operation not permitted") {
			t.Errorf("%s under seccomp: %s", req, out)
		}
	}
	// The worker still does its work afterwards.
	if out := call(t, p, "echo still-here"); out != "still-here" {
		t.Errorf("echo after refused calls: %q", out)
	}

	open := newTestPool(t, Config{Workers: 1, Spares: -1, HostNetwork: true, NoSeccomp: true})
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

// TestSeccompProgram: the filter's jumps land where they must.
func TestSeccompProgram(t *testing.T) {
	prog := seccompProgram()
	n := len(prog)
	allow, errno, kill := n-3, n-2, n-1
	if prog[allow].K != 0x7fff0000 || prog[kill].K != 0x80000000 || prog[errno].K&0xffff != 1 {
		t.Fatalf("returns: %+v", prog[n-3:])
	}
	if 1+1+int(prog[1].Jf) != kill {
		t.Errorf("a foreign architecture does not jump to kill")
	}
	for i := 3; i < allow; i++ {
		if i+1+int(prog[i].Jt) != errno || prog[i].Jf != 0 {
			t.Errorf("instruction %d (%+v) does not jump to errno", i, prog[i])
		}
	}
}
