//go:build linux

package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	cgroupLayer     = "cgroup-v1-memory"
	cpuCgroupLayer  = "cgroup-v1-cpu"
	pidsCgroupLayer = "cgroup-v1-pids"
)

// cgroupPeriod is the CFS period of a worker's CPU cgroup, in microseconds.
const cgroupPeriod = 100_000

// openCPUCgroup prepares the pool's place in the cgroup v1 cpu hierarchy. Unlike the
// memory and pids controllers, workers get no pool directory here: each worker's cpu
// cgroup, warren-<pid>-<n>-w<id>, is a child of this process's own cpu cgroup, a sibling
// of the node's threads, of other pools' workers and of the other processes of the host.
// The scheduler thus weighs each worker as one process (cpu.shares 1024): an idle pool
// weighs nothing, and a demoted worker's low weight (demote.go) counts against every
// other task of the host, not only against its own pool's workers, as it would inside a
// pool directory whose weight is fixed.
//
// One case needs more: a process in the root cpu cgroup of a kernel that groups the root's
// tasks by session (autogroup, on by default in most distributions). There the scheduler
// weighs the whole session, the node with every thread it has (and whatever else the session
// runs, a shell or a load generator), as one task, while each worker's cgroup beside it weighs
// as much: three busy workers left the node a quarter of the CPU, and calls through its API
// waited for their turn (hello at 16 clients went from 2.5 to 12–20 ms at p99). So the
// process first moves into a cpu cgroup of its own (leaveAutogroup), warren-<pid>.
//
// The workers stay at the root beside it, not inside it: a cgroup's weight counts only
// against its siblings, so inside the host's cgroup a demoted worker would be idle only
// to the host's own threads and workers, and its background weight would weigh nothing
// against anyone else. Wherever a waking task of another process met it (another node of
// a testnet, the client calling them, any other process of the host) it would weigh as
// the host's whole cgroup: with the workers inside, honest calls under the memory cases
// of the hostile corpus had a p99 19 to 33 times an idle mesh's instead of 2 to 6 (3-node
// testnet, docs/performance.md). The host's cgroup instead weighs as its session did for
// its threads plus as much again for each of its workers (weighHost): the node's threads
// feed every worker, and busy workers no longer leave them a fraction of the CPU.
func openCPUCgroup(workers int) (*cgroupPool, []string, error) {
	own, err := ownCgroup("cpu", "cpu.cfs_quota_us")
	if err != nil {
		return nil, nil, err
	}
	var cleaned []string
	leaveAutogroupOnce.Do(func() {
		if inRootAutogroup() {
			cleaned, leaveAutogroupErr = leaveAutogroup(own)
		}
	})
	weighed := 0
	if leftAutogroup != "" {
		if err := weighHost(workers); err != nil {
			return nil, cleaned, err
		}
		own, weighed = leftAutogroup, workers
	}
	cleaned = append(cleaned, cleanStaleCgroups(own)...)
	name := fmt.Sprintf("warren-%d-%d", os.Getpid(), cgroupSeq.Add(1))
	key := filepath.Join(own, name)
	// Probe: can we create cgroups here?
	if err := os.Mkdir(key, 0o755); err != nil {
		if weighed != 0 {
			weighHost(-weighed)
		}
		return nil, cleaned, fmt.Errorf("sandbox: creating cpu cgroup: %w", err)
	}
	syscall.Rmdir(key)
	ownedCgroups.Store(key, true)
	return &cgroupPool{dir: own, prefix: name + "-", weighed: weighed}, cleaned, nil
}

var (
	leaveAutogroupOnce sync.Once
	leaveAutogroupErr  error // why the process stayed in its autogroup, if it had to leave
	// leftAutogroup is the root of the cpu hierarchy, once the process left it for
	// hostCgroup, which weighs hostWeight for each of hostWorkers (the host's threads
	// count as one more).
	leftAutogroup, hostCgroup string
	hostWeight                int
	hostMu                    sync.Mutex
	hostWorkers               int
)

// weighHost adds n workers to the weight of the host's cgroup (n < 0 takes them away):
// hostWeight for its threads and as much for each worker, within the kernel's bound.
func weighHost(n int) error {
	hostMu.Lock()
	defer hostMu.Unlock()
	if err := writeCgroupFile(hostCgroup, "cpu.shares", strconv.Itoa(min(hostWeight*(1+hostWorkers+n), 262144))); err != nil {
		return err // the count stays what the cgroup says
	}
	hostWorkers += n
	return nil
}

// inRootAutogroup reports whether this process is in the root cgroup of the cpu hierarchy
// while the kernel groups that cgroup's tasks by session.
func inRootAutogroup() bool {
	b, err := os.ReadFile("/proc/sys/kernel/sched_autogroup_enabled")
	if err != nil || strings.TrimSpace(string(b)) != "1" {
		return false
	}
	path, err := procCgroupPath("cpu")
	return err == nil && path == "/"
}

// leaveAutogroup moves this process, every thread of it, from root, the root cgroup of
// the cpu hierarchy, into a cgroup of its own beneath it, warren-<pid>, weighted as the
// process's session was (the weight of its autogroup's nice value), so that the session's
// nice still counts. A node leaves it only by exiting: the next pool to start on the host
// removes the empty directory (cleanStaleCgroups), as it does those of dead workers.
func leaveAutogroup(root string) (cleaned []string, err error) {
	cleaned = cleanStaleCgroups(root)
	dir := filepath.Join(root, fmt.Sprintf("warren-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return cleaned, fmt.Errorf("sandbox: creating the host's cpu cgroup: %w", err)
	}
	ownedCgroups.Store(dir, true)
	if err = writeCgroupFile(dir, "cpu.shares", strconv.Itoa(autogroupWeight())); err != nil {
		err = fmt.Errorf("sandbox: weighting the host's cpu cgroup: %w", err)
	} else if err = writeCgroupFile(dir, "cgroup.procs", strconv.Itoa(os.Getpid())); err != nil {
		err = fmt.Errorf("sandbox: moving the host into its cpu cgroup: %w", err)
	}
	if err != nil {
		syscall.Rmdir(dir)
		ownedCgroups.Delete(dir)
		return cleaned, err
	}
	leftAutogroup, hostCgroup, hostWeight = root, dir, autogroupWeight()
	return cleaned, nil
}

// niceWeights is the kernel's sched_prio_to_weight: the CFS weight of nice -20 to 19.
var niceWeights = [40]int{
	88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916,
	9548, 7620, 6100, 4904, 3906, 3121, 2501, 1991, 1586, 1277,
	1024, 820, 655, 526, 423, 335, 272, 215, 172, 137,
	110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
}

// autogroupWeight is the weight of this process's autogroup ("/autogroup-N nice K" in
// /proc/self/autogroup), 1024 (nice 0) when it cannot be read.
func autogroupWeight() int {
	b, err := os.ReadFile("/proc/self/autogroup")
	if err != nil {
		return 1024
	}
	f := strings.Fields(string(b))
	if len(f) != 3 || f[1] != "nice" {
		return 1024
	}
	nice, err := strconv.Atoi(f[2])
	if err != nil || nice < -20 || nice > 19 {
		return 1024
	}
	return niceWeights[nice+20]
}

// openPidsCgroup prepares the pool's directory in the cgroup v1 pids hierarchy.
func openPidsCgroup() (*cgroupPool, []string, error) {
	// The root of the hierarchy has no pids.max; its children do.
	return openController("", "pids", "cgroup.procs", "pids.max")
}

// newCPUWorker creates a worker's cpu cgroup: at most cpus CPUs (CFS quota over
// cgroupPeriod), at the startup level (its first call raises it to the normal one).
func (c *cgroupPool) newCPUWorker(name string, cpus float64) (*workerCgroup, error) {
	d := filepath.Join(c.dir, c.prefix+name)
	if err := os.Mkdir(d, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: creating worker cpu cgroup: %w", err)
	}
	quota := int64(cpus * cgroupPeriod)
	err := writeCgroupFile(d, "cpu.cfs_period_us", strconv.Itoa(cgroupPeriod))
	if err == nil {
		err = writeCgroupFile(d, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
	}
	w := &workerCgroup{dir: d, shares: normalShares}
	if _, serr := os.Stat(filepath.Join(d, "cpu.idle")); serr == nil {
		w.idleOK = true
	}
	if err == nil {
		err = w.setLevel(levelStartup)
	}
	if err != nil {
		syscall.Rmdir(d)
		return nil, fmt.Errorf("sandbox: setting the CPU quota: %w", err)
	}
	return w, nil
}

// newPidsWorker creates a worker's pids cgroup: at most max tasks (threads).
func (c *cgroupPool) newPidsWorker(name string, max int) (*workerCgroup, error) {
	d := filepath.Join(c.dir, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: creating worker pids cgroup: %w", err)
	}
	if err := writeCgroupFile(d, "pids.max", strconv.Itoa(max)); err != nil {
		syscall.Rmdir(d)
		return nil, fmt.Errorf("sandbox: setting pids.max: %w", err)
	}
	return &workerCgroup{dir: d}, nil
}

// cgroupPool is the per-pool cgroup v1 directory of a controller; each worker gets a
// child. With a prefix (the cpu controller), dir is the host's own cgroup and the
// workers' directories are prefix+name in it.
type cgroupPool struct {
	dir    string
	prefix string
	// weighed is how many workers this pool added to the weight of the host's cpu
	// cgroup (weighHost), taken away when it closes.
	weighed int
}

type workerCgroup struct {
	dir string
	// The cpu controller's settings (setLevel), for a worker's cpu cgroup.
	idleOK bool // cpu.idle is there (linux 5.15 and later): the low level is SCHED_IDLE
	mu     sync.Mutex
	shares int      // cpu.shares as last written
	idle   bool     // cpu.idle as last written
	level  cpuLevel // as last set
	// late: the worker has been at the background level for backgroundGrace and is
	// at backgroundShares (graceOver, which grace runs; grace is nil until the worker
	// is first at the background level).
	late  bool
	grace *time.Timer
}

var (
	// ownedCgroups holds the pool directories this process created, so that a
	// warren-<our pid>-* directory that is not ours (pid reuse) is recognised as stale.
	ownedCgroups sync.Map
	cgroupSeq    atomic.Uint64
	staleName    = regexp.MustCompile(`^warren-(\d+)(?:-\d+)?(-w\d+)?$`)
)

// openCgroup prepares the pool's cgroup directory. root: "" autodetects this process's
// cgroup v1 memory directory and uses a fresh warren-<pid>-<n> child of it; anything else is
// the pool directory itself. Leftover directories of dead pools beside it are removed first.
func openCgroup(root string) (*cgroupPool, []string, error) {
	return openController(root, "memory", "memory.limit_in_bytes", "memory.limit_in_bytes")
}

// openController is openCgroup for the v1 controller ctl: this process's directory holds
// the file ownProbe, the pool's directory (a child) probe.
func openController(root, ctl, ownProbe, probe string) (*cgroupPool, []string, error) {
	var dir string
	if root == "" {
		own, err := ownCgroup(ctl, ownProbe)
		if err != nil {
			return nil, nil, err
		}
		dir = filepath.Join(own, fmt.Sprintf("warren-%d-%d", os.Getpid(), cgroupSeq.Add(1)))
	} else {
		dir = filepath.Clean(root)
	}
	cleaned := cleanStaleCgroups(filepath.Dir(dir))
	if _, owned := ownedCgroups.Load(dir); owned {
		return nil, cleaned, fmt.Errorf("sandbox: cgroup %s is in use by another pool", dir)
	}
	if _, err := os.Stat(dir); err == nil {
		// Left over from an earlier pool of the same name: empty it.
		removeCgroupTree(dir, false)
		cleaned = append(cleaned, dir)
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, cleaned, fmt.Errorf("sandbox: creating cgroup: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, probe)); err != nil {
		os.Remove(dir)
		return nil, cleaned, fmt.Errorf("sandbox: %s is not a cgroup v1 %s directory", dir, ctl)
	}
	ownedCgroups.Store(dir, true)
	return &cgroupPool{dir: dir}, cleaned, nil
}

// ownCgroup finds this process's directory in the cgroup v1 hierarchy of controller ctl,
// one holding the file probe.
func ownCgroup(ctl, probe string) (string, error) {
	path, err := procCgroupPath(ctl)
	if err != nil {
		return "", err
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(mi))
	for sc.Scan() {
		left, right, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		lf, rf := strings.Fields(left), strings.Fields(right)
		if len(lf) < 5 || len(rf) < 3 || rf[0] != "cgroup" {
			continue
		}
		found := false
		for _, o := range strings.Split(rf[2], ",") {
			if o == ctl {
				found = true
			}
		}
		if !found {
			continue
		}
		mroot, mpoint := lf[3], lf[4]
		rel := path
		if mroot != "/" {
			var ok bool
			if rel, ok = strings.CutPrefix(path, mroot); !ok || (rel != "" && rel[0] != '/') {
				continue
			}
		}
		dir := filepath.Join(mpoint, rel)
		if _, err := os.Stat(filepath.Join(dir, probe)); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("sandbox: cgroup v1 %s hierarchy not mounted", ctl)
}

// procCgroupPath is this process's path in the cgroup v1 hierarchy of controller ctl, as
// /proc/self/cgroup gives it ("/" for the root).
func procCgroupPath(ctl string) (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var path string
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == ctl {
				path = parts[2]
			}
		}
	}
	if path == "" {
		return "", fmt.Errorf("sandbox: no cgroup v1 %s controller for this process", ctl)
	}
	return path, nil
}

// cleanStaleCgroups removes warren-<pid>[-n] directories in parent whose pool process is
// gone (or that carry our pid but were not created by this process). Returns what it removed.
func cleanStaleCgroups(parent string) []string {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var removed []string
	self := os.Getpid()
	for _, e := range ents {
		m := staleName.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		pool := strings.TrimSuffix(dir, m[2]) // a cpu worker's pool: warren-<pid>-<n>
		if _, owned := ownedCgroups.Load(pool); owned {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		if pid != self {
			if err := syscall.Kill(pid, 0); err == nil || err == syscall.EPERM {
				continue // that pool is alive
			}
		}
		if removeCgroupTree(dir, true) == nil {
			removed = append(removed, dir)
		}
	}
	return removed
}

// removeCgroupTree kills every process left in dir's subtree and removes the child
// directories (and dir itself if self).
func removeCgroupTree(dir string, self bool) error {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			removeCgroupTree(filepath.Join(dir, e.Name()), true)
		}
	}
	if !self {
		return nil
	}
	return rmdirCgroup(dir, true)
}

// rmdirCgroup removes one cgroup directory, killing its processes first if kill is set,
// and polls for up to two seconds while the kernel finishes tearing them down.
func rmdirCgroup(dir string, kill bool) error {
	deadline := time.Now().Add(2 * time.Second)
	wait := 100 * time.Microsecond
	for {
		if kill {
			if b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
		}
		err := syscall.Rmdir(dir)
		if err == nil || err == syscall.ENOENT {
			return nil
		}
		if err != syscall.EBUSY || time.Now().After(deadline) {
			return fmt.Errorf("sandbox: removing cgroup %s: %w", dir, err)
		}
		time.Sleep(wait)
		wait = min(wait*2, 50*time.Millisecond)
	}
}

// newWorker creates a worker's cgroup with the hard memory limit.
func (c *cgroupPool) newWorker(name string, limit int64) (*workerCgroup, error) {
	d := filepath.Join(c.dir, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: creating worker cgroup: %w", err)
	}
	if err := writeCgroupFile(d, "memory.limit_in_bytes", strconv.FormatInt(limit, 10)); err != nil {
		syscall.Rmdir(d)
		return nil, fmt.Errorf("sandbox: setting memory limit: %w", err)
	}
	// Best effort: no swapping past the limit, and charge the worker's start-up pages
	// (allocated before it was moved in) to its own cgroup.
	writeCgroupFile(d, "memory.memsw.limit_in_bytes", strconv.FormatInt(limit, 10))
	writeCgroupFile(d, "memory.swappiness", "0")
	writeCgroupFile(d, "memory.move_charge_at_immigrate", "3")
	return &workerCgroup{dir: d}, nil
}

func (w *workerCgroup) add(pid int) error {
	return writeCgroupFile(w.dir, "cgroup.procs", strconv.Itoa(pid))
}

// memoryEvidence reports whether the cgroup's OOM killer fired (oom_kill > 0) and whether
// the usage ever hit the limit (failcnt > 0).
func (w *workerCgroup) memoryEvidence() (oomKilled, hitLimit bool) {
	if b, err := os.ReadFile(filepath.Join(w.dir, "memory.oom_control")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				oomKilled = n > 0
			}
			if v, ok := strings.CutPrefix(line, "under_oom "); ok && strings.TrimSpace(v) == "1" {
				oomKilled = true
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(w.dir, "memory.failcnt")); err == nil {
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		hitLimit = n > 0
	}
	return
}

func (w *workerCgroup) remove() error { return rmdirCgroup(w.dir, true) }

func (c *cgroupPool) close() error {
	if c.prefix != "" {
		// The workers' directories beside the host's threads (their reapers removed
		// them already, unless a removal failed).
		var err error
		ents, _ := os.ReadDir(c.dir)
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), c.prefix) {
				err = errors.Join(err, rmdirCgroup(filepath.Join(c.dir, e.Name()), true))
			}
		}
		ownedCgroups.Delete(filepath.Join(c.dir, strings.TrimSuffix(c.prefix, "-")))
		if c.weighed != 0 {
			err = errors.Join(err, weighHost(-c.weighed))
		}
		return err
	}
	err := removeCgroupTree(c.dir, true)
	ownedCgroups.Delete(c.dir)
	return err
}

func writeCgroupFile(dir, name, value string) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if err2 := f.Close(); err == nil {
		err = err2
	}
	return err
}
