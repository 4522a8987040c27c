//go:build linux

package sandbox

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A call that runs past DemoteAfter of CPU time is demoted (its worker's cpu.shares drop)
// while it runs, and its worker takes its next call at the normal weight; short calls are
// never demoted.
func TestDemoteLongCall(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1, DemoteAfter: 20 * time.Millisecond})
	pid := call(t, p, "pid")
	if !slices.Contains(p.Stats().Layers, demoteLayer) {
		t.Skipf("no demotion here (layers %v)", p.Stats().Layers)
	}
	shares := func() string {
		b, err := os.ReadFile(filepath.Join(workerCgroupDir(t, pid, "cpu"), "cpu.shares"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if s := shares(); s != strconv.Itoa(normalShares) {
		t.Fatalf("a fresh worker's cpu.shares = %s, want 1024", s)
	}
	for range 20 {
		call(t, p, "echo x")
	}
	if n := p.Stats().Demoted; n != 0 {
		t.Fatalf("short calls: %d demoted", n)
	}

	// 80 ms of CPU: demoted from about 20 ms on, until it ends.
	done := make(chan error, 1)
	go func() {
		resp, err := p.Call(context.Background(), []byte("burn 80"), CallOptions{}, nil)
		if err == nil && string(resp) != "burnt" {
			t.Errorf("burn: %q", resp)
		}
		done <- err
	}()
	seen := false
	for !seen {
		select {
		case err := <-done:
			t.Fatalf("the call ended (%v) before its worker was seen demoted (cpu.shares %s, demoted %d)", err, shares(), p.Stats().Demoted)
		default:
		}
		if shares() == strconv.Itoa(demotedShares) {
			seen = true
		}
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().Demoted; n != 1 {
		t.Errorf("Demoted = %d, want 1", n)
	}
	if s := shares(); s != strconv.Itoa(normalShares) {
		t.Errorf("after the call, cpu.shares = %s, want 1024", s)
	}
	// The same worker takes the next call, at the normal weight.
	if again := call(t, p, "pid"); again != pid {
		t.Fatalf("worker %s replaced by %s", pid, again)
	}
	if s := shares(); s != strconv.Itoa(normalShares) {
		t.Errorf("reused, cpu.shares = %s, want 1024", s)
	}

	// A demoted call that makes no progress (it sleeps: as if it got no CPU) goes back
	// to the normal weight for a window, and then down again.
	if out := call(t, p, "burnsleep 40"); out != "slept" {
		t.Fatalf("burnsleep: %q", out)
	}
	if n := p.Stats().Demoted; n != 2 {
		t.Errorf("Demoted = %d, want 2", n)
	}
	if p.boosts.Load() == 0 {
		t.Error("a demoted call that made no progress for 400 ms was never back at the normal weight")
	}
	if s := shares(); s != strconv.Itoa(normalShares) {
		t.Errorf("after the call, cpu.shares = %s, want %d", s, normalShares)
	}

	// Never, when turned off.
	off := newTestPool(t, Config{Workers: 1, Spares: -1, DemoteAfter: -1})
	call(t, off, "burn 60")
	if st := off.Stats(); st.Demoted != 0 || slices.Contains(st.Layers, demoteLayer) {
		t.Errorf("DemoteAfter -1: demoted %d, layers %v", st.Demoted, st.Layers)
	}
}

// Workers' cpu cgroups sit beside the host's threads, warren-<pid>-<n>-w<id>; a dead
// pool's are removed when a pool starts, a live pool's are not, and Close removes its own.
func TestCPUCgroupsBesideTheHost(t *testing.T) {
	own, err := ownCgroup("cpu", "cpu.cfs_quota_us")
	if err != nil {
		t.Skipf("no cgroup v1 cpu: %v", err)
	}
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	stale := filepath.Join(own, "warren-"+strconv.Itoa(dead.Process.Pid)+"-3-w1")
	if err := os.Mkdir(stale, 0o755); err != nil {
		t.Skipf("cgroup not writable: %v", err)
	}
	live := newTestPool(t, Config{Workers: 1, Spares: -1})
	pid := call(t, live, "pid")
	liveDir := workerCgroupDir(t, pid, "cpu")
	if filepath.Dir(liveDir) != own || !strings.HasPrefix(filepath.Base(liveDir), "warren-"+strconv.Itoa(os.Getpid())+"-") {
		t.Fatalf("worker's cpu cgroup %s, want warren-<pid>-<n>-w<id> in %s", liveDir, own)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale cpu cgroup %s still there (stat: %v)", stale, err)
	}
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	if _, err := os.Stat(liveDir); err != nil {
		t.Fatalf("a live pool's worker cpu cgroup removed: %v", err)
	}
	if got := call(t, live, "pid"); got != pid {
		t.Fatalf("live pool's worker %s replaced by %s", pid, got)
	}
	dir := workerCgroupDir(t, call(t, p, "pid"), "cpu")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cpu cgroup %s left after Close", dir)
	}
}
