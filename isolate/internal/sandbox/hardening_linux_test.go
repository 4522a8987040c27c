package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestWorkerHardening: by default a worker runs in its own mount and PID namespaces (its
// /proc shows it alone, as process 1); of a root host, as DefaultWorkerUID with
// RLIMIT_NPROC, and so it cannot read a file only root may; the pool lists each layer.
// With SharedNamespaces and NoDropPrivileges it runs as before.
func TestWorkerHardening(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("mesh secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	writable := filepath.Join(t.TempDir(), "cache")
	p := newTestPool(t, Config{Workers: 1, Spares: -1, NoLandlock: true, WritableDirs: []string{writable}})
	layers := p.Stats().Layers
	t.Logf("layers: %v", layers)
	if !slices.Contains(layers, mountnsLayer) || !slices.Contains(layers, pidnsLayer) {
		t.Skipf("the kernel refused mount or PID namespaces here (layers %v)", layers)
	}
	if procs := call(t, p, "procs"); procs != "1" {
		t.Errorf("the worker's /proc shows %q, want only itself (1)", procs)
	}
	if os.Geteuid() != 0 {
		t.Skip("the rest needs a root host: workers drop privileges only from root")
	}
	for _, l := range []string{uidLayer, nprocLayer} {
		if !slices.Contains(layers, l) {
			t.Errorf("layers %v lack %q", layers, l)
		}
	}
	want := strconv.Itoa(DefaultWorkerUID)
	if ids := call(t, p, "uid"); ids != want+" "+want+" "+want {
		t.Errorf("uid, euid, gid %q, want %s", ids, want)
	}
	if out := call(t, p, "read "+secret); !strings.Contains(out, "permission denied") {
		t.Errorf("reading a root-only file: %q", out)
	}
	if st, err := os.Stat(writable); err != nil || st.Sys().(*syscall.Stat_t).Uid != DefaultWorkerUID {
		t.Errorf("WritableDirs: %v %v, want it created and given to the worker uid", st, err)
	}
	if out := call(t, p, "write "+filepath.Join(writable, "x")); out != "wrote" {
		t.Errorf("writing in a WritableDir: %q", out)
	}
	pid := call(t, p, "pid")
	b, err := os.ReadFile("/proc/" + pid + "/limits")
	if err != nil {
		t.Fatalf("the worker's limits (pid %s): %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max processes"); ok {
			f := strings.Fields(rest)
			if n, err := strconv.Atoi(f[0]); err != nil || n != maxWorkerThreads*maxHostWorkers {
				t.Errorf("Max processes %v, want %d", f, maxWorkerThreads*maxHostWorkers)
			}
		}
	}
	// Its cpu and pids cgroups, where the controllers are writable.
	for _, c := range []struct{ ctl, layer, probe, file, want string }{
		{"cpu", cpuCgroupLayer, "cpu.cfs_quota_us", "cpu.cfs_quota_us", strconv.Itoa(cgroupPeriod)},
		{"pids", pidsCgroupLayer, "cgroup.procs", "pids.max", strconv.Itoa(maxWorkerThreads)},
	} {
		if _, err := ownCgroup(c.ctl, c.probe); err != nil {
			t.Logf("no %s cgroup here: %v", c.ctl, err)
			continue
		}
		if !slices.Contains(layers, c.layer) {
			t.Errorf("layers %v lack %q", layers, c.layer)
			continue
		}
		dir := workerCgroupDir(t, pid, c.ctl)
		if b, err := os.ReadFile(filepath.Join(dir, c.file)); err != nil || strings.TrimSpace(string(b)) != c.want {
			t.Errorf("%s/%s = %q %v, want %s", dir, c.file, b, err, c.want)
		}
	}

	// A worker that multiplies its threads dies at the pids cgroup's bound
	// (or RLIMIT_NPROC's), not at the host's.
	if slices.Contains(layers, pidsCgroupLayer) {
		_, err := p.Call(t.Context(), []byte("threads 200"), CallOptions{}, nil)
		var ce *CrashError
		if !errors.As(err, &ce) || !strings.Contains(ce.Stderr, "Resource temporarily unavailable") {
			t.Errorf("200 threads in a worker: %v, want it to die creating one (stderr %q)", err, ce.Stderr)
		} else {
			t.Logf("200 threads in a worker: %v", err)
		}
	}

	shared := newTestPool(t, Config{Workers: 1, Spares: -1, NoLandlock: true, SharedNamespaces: true, NoDropPrivileges: true})
	layers = shared.Stats().Layers
	for _, l := range []string{mountnsLayer, pidnsLayer, uidLayer, nprocLayer} {
		if slices.Contains(layers, l) {
			t.Errorf("SharedNamespaces, NoDropPrivileges: layers %v list %q", layers, l)
		}
	}
	if ids := call(t, shared, "uid"); ids != "0 0 0" {
		t.Errorf("NoDropPrivileges: uid, euid, gid %q", ids)
	}
	if out := call(t, shared, "read "+secret); out != "read 11" {
		t.Errorf("NoDropPrivileges: reading a root-only file: %q", out)
	}
	// Room for 200 thread stacks (8 MiB each) under RLIMIT_AS, the memory
	// bound without a cgroup.
	unbounded := newTestPool(t, Config{Workers: 1, Spares: -1, NoLandlock: true, SharedNamespaces: true, NoDropPrivileges: true, CgroupRoot: "-", MemoryLimitBytes: 4 << 30})
	if out := call(t, unbounded, "threads 200"); out != "threads 200" {
		t.Errorf("200 threads without the bounds: %q", out)
	}
}

// workerCgroupDir is the directory of process pid in the v1 hierarchy of ctl.
func workerCgroupDir(t *testing.T, pid, ctl string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), ctl) {
			return filepath.Join("/sys/fs/cgroup", ctl, parts[2])
		}
	}
	t.Fatalf("process %s has no %s cgroup: %s", pid, ctl, b)
	return ""
}

// A directory of Config.ReadOnlyDirs is read by the workers and never
// changed by them, even where its permissions would let them (here it
// belongs to the worker uid, as a cache another pool writes does).
func TestReadOnlyDirs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "entry"), []byte("compiled"), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := giveDir(dir, DefaultWorkerUID); err != nil {
			t.Fatal(err)
		}
	}
	p := newTestPool(t, Config{Workers: 1, Spares: -1, ReadOnlyDirs: []string{dir}})
	layers := p.Stats().Layers
	if !slices.Contains(layers, mountnsLayer) {
		t.Skipf("the kernel refused mount namespaces here (layers %v)", layers)
	}
	if !slices.Contains(layers, readOnlyLayer) {
		t.Fatalf("layers %v lack %q", layers, readOnlyLayer)
	}
	if out := call(t, p, "read "+filepath.Join(dir, "entry")); out != "read 8" {
		t.Errorf("reading in a ReadOnlyDir: %q", out)
	}
	if out := call(t, p, "write "+filepath.Join(dir, "planted")); !strings.Contains(out, "read-only file system") {
		t.Errorf("writing in a ReadOnlyDir: %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "planted")); err == nil {
		t.Error("the worker planted a file in a ReadOnlyDir")
	}
	// The node's own view of it is unchanged: it may still write there.
	if err := os.WriteFile(filepath.Join(dir, "by-the-host"), nil, 0o644); err != nil {
		t.Errorf("the host writing in the directory: %v", err)
	}
}
