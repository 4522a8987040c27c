//go:build linux

package sandbox

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A dead pool's cgroups (and any process left in them) are removed when a pool starts.
func TestStaleCgroupsRemoved(t *testing.T) {
	own, err := ownCgroup("memory", "memory.limit_in_bytes")
	if err != nil {
		t.Skipf("no cgroup v1 memory: %v", err)
	}
	// A pid that is surely dead: a child we started and reaped.
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	deadPid := dead.Process.Pid
	stale := filepath.Join(own, "warren-"+strconv.Itoa(deadPid)+"-7")
	worker := filepath.Join(stale, "w1")
	if err := os.MkdirAll(worker, 0o755); err != nil {
		t.Skipf("cgroup not writable: %v", err)
	}
	// Leave a process inside, as a worker that outlived its pool would be.
	leftover := exec.Command("/bin/sleep", "600")
	if err := leftover.Start(); err != nil {
		t.Fatal(err)
	}
	if err := writeCgroupFile(worker, "cgroup.procs", strconv.Itoa(leftover.Process.Pid)); err != nil {
		leftover.Process.Kill()
		leftover.Wait()
		t.Fatal(err)
	}
	// A live pool's directory (ours, registered) must survive.
	live := newTestPool(t, Config{Workers: 1, Spares: -1})
	liveDir := live.cg.dir

	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale cgroup %s still there (stat: %v)", stale, err)
	}
	err = leftover.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("leftover process: %v, want killed", err)
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Fatalf("live pool's cgroup removed: %v", err)
	}
	call(t, live, "echo x")
	call(t, p, "echo y")

	// Close removes the pool's own directory.
	dir := p.cg.dir
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cgroup %s left after Close", dir)
	}
}

// Workers die with their host (Pdeathsig), and the dead host's cgroup is removed by the
// next pool.
func TestWorkersDieWithParent(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(exe)
	parent.Env = append(os.Environ(), envTestParent+"=1")
	parent.Stderr = os.Stderr
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	var cgDir string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if line == "ready" {
			break
		}
		if v, ok := strings.CutPrefix(line, "pid "); ok {
			pid, _ := strconv.Atoi(v)
			pids = append(pids, pid)
		} else if v, ok := strings.CutPrefix(line, "cgroup "); ok {
			cgDir = v
		} else {
			t.Logf("parent: %s", line)
		}
	}
	if len(pids) != 3 {
		parent.Process.Kill()
		parent.Wait()
		t.Fatalf("parent reported workers %v", pids)
	}
	for _, pid := range pids {
		if processAlive(pid) != nil {
			t.Fatalf("worker %d not running", pid)
		}
	}
	t.Cleanup(func() { // never leave a spinning orphan behind, even on failure
		for _, pid := range pids {
			if processAlive(pid) == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	parent.Process.Kill()
	parent.Wait()
	waitFor(t, 10*time.Second, "workers to die with their parent", func() bool {
		for _, pid := range pids {
			if processAlive(pid) == nil {
				return false
			}
		}
		return true
	})
	if cgDir == "" {
		return // no cgroups here
	}
	if _, err := os.Stat(cgDir); err != nil {
		t.Fatalf("dead parent's cgroup %s vanished by itself: %v", cgDir, err)
	}
	newTestPool(t, Config{Workers: 1, Spares: -1})
	if _, err := os.Stat(cgDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dead parent's cgroup %s not removed", cgDir)
	}
}

// processAlive returns nil if pid exists and is not a zombie.
func processAlive(pid int) error {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return err
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 && s[i+2] == 'Z' {
		return errors.New("zombie")
	}
	return nil
}
