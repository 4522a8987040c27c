//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// A call that runs past DemoteAfter of CPU time is demoted (its worker's cpu cgroup goes
// to the low level: SCHED_IDLE where the kernel has cpu.idle, else cpu.shares 16) while it
// runs; its worker then waits at the background level and takes its next call at the
// normal one. Short calls are never demoted.
func TestDemoteLongCall(t *testing.T) {
	p, pid := demotingPool(t)
	level := func() string { return cpuLevelOf(t, pid) }
	if l := level(); l != "normal" {
		t.Fatalf("a worker that ran a call is at %s, want normal", l)
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
	for seen := false; !seen; {
		select {
		case err := <-done:
			t.Fatalf("the call ended (%v) before its worker was seen demoted (level %s, demoted %d)", err, level(), p.Stats().Demoted)
		default:
		}
		seen = level() == "low"
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().Demoted; n != 1 {
		t.Errorf("Demoted = %d, want 1", n)
	}
	if l := level(); !atBackground(l) {
		t.Errorf("after the call, the worker is at %s, want background", l)
	}
	if cpuIdleOf(t, pid) {
		// Idle for backgroundGrace, then at backgroundShares.
		deadline := time.Now().Add(10 * time.Second)
		for level() != "background" {
			if time.Now().After(deadline) {
				t.Fatalf("the remains of a demoted call still at %s after 10 s, want background", level())
			}
			time.Sleep(time.Millisecond)
		}
	}
	// The same worker takes the next call, at the normal weight.
	if again := call(t, p, "pid"); again != pid {
		t.Fatalf("worker %s replaced by %s", pid, again)
	}
	if l := level(); l != "normal" {
		t.Errorf("reused, the worker is at %s, want normal", l)
	}

	// A demoted call that makes no progress (it sleeps: as if it got no CPU) goes back
	// to the normal weight for a window now and then, and down again.
	if out := call(t, p, "burnsleep 40"); out != "slept" {
		t.Fatalf("burnsleep: %q", out)
	}
	if n := p.Stats().Demoted; n != 2 {
		t.Errorf("Demoted = %d, want 2", n)
	}
	if p.boosts.Load() == 0 {
		t.Error("a demoted call that made no progress for 400 ms was never back at the normal weight")
	}
	if l := level(); !atBackground(l) {
		t.Errorf("after the call, the worker is at %s, want background", l)
	}

	// Never, when turned off.
	off := newTestPool(t, Config{Workers: 1, Spares: -1, DemoteAfter: -1})
	call(t, off, "burn 60")
	if st := off.Stats(); st.Demoted != 0 || slices.Contains(st.Layers, demoteLayer) {
		t.Errorf("DemoteAfter -1: demoted %d, layers %v", st.Demoted, st.Layers)
	}
}

// Workers' cpu cgroups sit beside the host's threads (beside its own cgroup where it left
// its autogroup), warren-<pid>-<n>-w<id>; a dead pool's are removed when a pool starts, a
// live pool's are not, and Close removes its own.
func TestCPUCgroupsBesideTheHost(t *testing.T) {
	if _, err := ownCgroup("cpu", "cpu.cfs_quota_us"); err != nil {
		t.Skipf("no cgroup v1 cpu: %v", err)
	}
	newTestPool(t, Config{Workers: 1, Spares: -1}) // the host may leave its autogroup
	own, err := ownCgroup("cpu", "cpu.cfs_quota_us")
	if err != nil {
		t.Fatal(err)
	}
	if leftAutogroup != "" {
		own = leftAutogroup
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

// In the root cpu cgroup of a kernel with autogroups, the first pool moves the host into
// a cgroup of its own, warren-<pid>, weighted as its session was for its threads and as
// much again for each worker of its pools, and the workers stay at the root beside it:
// their levels weigh against every other task of the host.
func TestHostLeavesItsAutogroup(t *testing.T) {
	root, err := procCgroupPath("cpu")
	if err != nil {
		t.Skipf("no cgroup v1 cpu: %v", err)
	}
	if b, _ := os.ReadFile("/proc/sys/kernel/sched_autogroup_enabled"); strings.TrimSpace(string(b)) != "1" {
		t.Skip("no autogroups here")
	}
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	path, err := procCgroupPath("cpu")
	if err != nil {
		t.Fatal(err)
	}
	want := "/warren-" + strconv.Itoa(os.Getpid())
	if root != "/" && root != want {
		t.Skipf("the test process started in cpu cgroup %s, not the root", root)
	}
	if leaveAutogroupErr != nil {
		t.Skipf("cannot leave the autogroup here: %v", leaveAutogroupErr)
	}
	if path != want {
		t.Fatalf("host's cpu cgroup is %s, want %s", path, want)
	}
	own, err := ownCgroup("cpu", "cpu.cfs_quota_us")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(own, "cpu.shares"))
	if err != nil {
		t.Fatal(err)
	}
	hostMu.Lock()
	n := hostWorkers
	hostMu.Unlock()
	if n < 1 {
		t.Fatalf("%d workers weigh on the host's cgroup with a pool of one open", n)
	}
	if got, want := strings.TrimSpace(string(b)), strconv.Itoa(autogroupWeight()*(1+n)); got != want {
		t.Errorf("host's cpu.shares %s, want its autogroup's weight times 1+%d workers, %s", got, n, want)
	}
	more := newTestPool(t, Config{Workers: 3, Spares: -1})
	read := func() string {
		b, err := os.ReadFile(filepath.Join(own, "cpu.shares"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if got, want := read(), strconv.Itoa(autogroupWeight()*(4+n)); got != want {
		t.Errorf("with a second pool of 3 workers, host's cpu.shares %s, want %s", got, want)
	}
	more.Close()
	if got, want := read(), strconv.Itoa(autogroupWeight()*(1+n)); got != want {
		t.Errorf("the second pool closed, host's cpu.shares %s, want %s", got, want)
	}
	// Every thread moved, those started before the pool included.
	tasks, err := os.ReadFile(filepath.Join(own, "tasks"))
	if err != nil {
		t.Fatal(err)
	}
	threads, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Fields(string(tasks))
	for _, th := range threads {
		if !slices.Contains(in, th.Name()) {
			t.Errorf("thread %s is not in %s", th.Name(), own)
		}
	}
	if dir := workerCgroupDir(t, call(t, p, "pid"), "cpu"); filepath.Dir(dir) != filepath.Dir(own) {
		t.Errorf("worker's cpu cgroup %s is not a sibling of the host's %s", dir, own)
	}
}

func TestAutogroupWeight(t *testing.T) {
	if niceWeights[20] != 1024 || niceWeights[10] != 9548 || niceWeights[39] != 15 {
		t.Fatal("niceWeights is not the kernel's table")
	}
	if w := autogroupWeight(); w < 15 || w > 88761 {
		t.Fatalf("autogroupWeight() = %d", w)
	}
}

// demotingPool is a pool of one worker that demotes calls after 20 ms of CPU, with no
// grace before the floor, and the pid of its worker, which has run a call; it skips the
// test where calls cannot be demoted.
func demotingPool(t *testing.T) (*Pool, string) {
	t.Helper()
	p := newTestPool(t, Config{Workers: 1, Spares: -1, DemoteAfter: 20 * time.Millisecond, StarveAfter: -1})
	pid := call(t, p, "pid")
	if !slices.Contains(p.Stats().Layers, demoteLayer) {
		t.Skipf("no demotion here (layers %v)", p.Stats().Layers)
	}
	return p, pid
}

// atBackground reports whether a level cpuLevelOf read is the background level: idle
// (it reads "low") for backgroundGrace where the kernel has cpu.idle, then background.
func atBackground(l string) bool { return l == "low" || l == "background" }

// cpuIdleOf reports whether the cpu cgroup of worker pid has cpu.idle.
func cpuIdleOf(t *testing.T, pid string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(workerCgroupDir(t, pid, "cpu"), "cpu.idle"))
	return err == nil
}

// cpuLevelOf reads the level of the cpu cgroup of worker pid: "normal", "background",
// "low" (SCHED_IDLE where the kernel has cpu.idle, else cpu.shares 16) or what it finds.
func cpuLevelOf(t *testing.T, pid string) string {
	t.Helper()
	dir := workerCgroupDir(t, pid, "cpu")
	if b, err := os.ReadFile(filepath.Join(dir, "cpu.idle")); err == nil && strings.TrimSpace(string(b)) == "1" {
		return "low"
	}
	b, err := os.ReadFile(filepath.Join(dir, "cpu.shares"))
	if err != nil {
		t.Fatal(err)
	}
	switch s := strings.TrimSpace(string(b)); s {
	case strconv.Itoa(normalShares):
		return "normal"
	case strconv.Itoa(backgroundShares):
		return "background"
	case strconv.Itoa(demotedShares):
		return "low"
	default:
		return "shares " + s
	}
}

// A worker starts up at the background weight (a hot spare waits at it) and takes its
// first call at the normal one.
func TestWorkersStartInTheBackground(t *testing.T) {
	spawned := make(chan int, 8)
	p := newTestPool(t, Config{Workers: 1, Spares: 1, testHookSpawn: func(pid int) { spawned <- pid }})
	slot := call(t, p, "pid")
	if !slices.Contains(p.Stats().Layers, cpuCgroupLayer) {
		t.Skipf("no cpu cgroups here (layers %v)", p.Stats().Layers)
	}
	if l := cpuLevelOf(t, slot); l != "normal" {
		t.Fatalf("a worker that took a call is at %s, want normal", l)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Spares == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no hot spare started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var spare string
	for spare == "" {
		select {
		case pid := <-spawned:
			if s := strconv.Itoa(pid); s != slot {
				spare = s
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the spare's pid was never reported")
		}
	}
	if l := cpuLevelOf(t, spare); l != "background" { // the startup level: cpu.shares 128
		t.Errorf("a hot spare is at %s, want background", l)
	}
	// The slot's worker dies; the spare takes its place and, with its first call, the
	// normal weight.
	if _, err := p.Call(context.Background(), []byte("exit 3"), CallOptions{}, nil); err == nil {
		t.Fatal("exit 3: no error")
	}
	if got := call(t, p, "pid"); got != spare {
		t.Fatalf("after the slot's worker died, a call ran on %s, want the spare %s", got, spare)
	}
	if l := cpuLevelOf(t, spare); l != "normal" {
		t.Errorf("the promoted spare is at %s after a call, want normal", l)
	}
}

// A worker whose last call was demoted is the last idle worker to take a call: short
// calls go to the workers with no remains of a long call to clear.
func TestShortCallsPreferCleanWorkers(t *testing.T) {
	p := newTestPool(t, Config{Workers: 2, Spares: -1, DemoteAfter: 20 * time.Millisecond})
	if !slices.Contains(p.Stats().Layers, demoteLayer) {
		call(t, p, "pid")
		if !slices.Contains(p.Stats().Layers, demoteLayer) {
			t.Skipf("no demotion here (layers %v)", p.Stats().Layers)
		}
	}
	// Both workers busy at once: one burns (and is demoted), the other answers.
	burnt := make(chan string, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		resp, err := p.Call(context.Background(), []byte("burnpid 80"), CallOptions{}, nil)
		if err != nil {
			t.Error(err)
		}
		burnt <- string(resp)
	}()
	<-started
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Demoted == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the burning call was never demoted")
		}
		time.Sleep(time.Millisecond)
	}
	clean := call(t, p, "pid")
	long := <-burnt
	if long == clean {
		t.Fatalf("both calls ran on worker %s", long)
	}
	if l := cpuLevelOf(t, long); !atBackground(l) {
		t.Errorf("after its demoted call, worker %s is at %s, want background", long, l)
	}
	for i := range 5 {
		if got := call(t, p, "pid"); got != clean {
			t.Fatalf("call %d ran on %s, the worker with a demoted call's remains; want %s", i, got, clean)
		}
	}
	if l := cpuLevelOf(t, long); !atBackground(l) {
		t.Errorf("unused, worker %s is at %s, want background", long, l)
	}
}

// By default a demoted call runs on spare cycles alone for its first StarveAfter: one
// that makes no progress (it sleeps, as if it got no CPU) is not back at the normal
// weight before then.
func TestDemotedCallNotBoostedAtFirst(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1, DemoteAfter: 20 * time.Millisecond})
	call(t, p, "pid")
	if !slices.Contains(p.Stats().Layers, demoteLayer) {
		t.Skipf("no demotion here (layers %v)", p.Stats().Layers)
	}
	if out := call(t, p, fmt.Sprintf("burnnap %d", (defaultStarveAfter*2).Milliseconds())); out != "slept" {
		t.Fatalf("burnnap: %q", out)
	}
	if n := p.Stats().Demoted; n != 1 {
		t.Fatalf("Demoted = %d, want 1", n)
	}
	// Boosted it is, on a machine too busy to let it progress, but never earlier.
	if e := time.Duration(p.earliestBoost.Load()); e != 0 && e < defaultStarveAfter {
		t.Errorf("boosted %v after its demotion, before the %v of spare cycles alone", e, defaultStarveAfter)
	}
	t.Logf("%d boosts, the first %v after the demotion", p.boosts.Load(), time.Duration(p.earliestBoost.Load()))
}

// The floor boosts a demoted call that gets no CPU for short windows only: at most one
// boostWindow in every demoteWindow+boostWindow.
func TestDemotedCallBoostsAreShort(t *testing.T) {
	p, _ := demotingPool(t)
	// 30 ms of CPU, then 300 ms asleep: demoted, with no progress after.
	t0 := time.Now()
	if out := call(t, p, "burnsleep 30"); out != "slept" {
		t.Fatalf("burnsleep: %q", out)
	}
	took := time.Since(t0)
	n := p.boosts.Load()
	// Timers fire late on a busy machine, which only makes boosts fewer.
	most := uint64(took/(demoteWindow+boostWindow)) + 2
	if n == 0 || n > most {
		t.Errorf("%d boosts in %v with no progress, want 1 to %d", n, took, most)
	}
}

// The floor starts where the engines start to charge a starved call for its
// wait (contract.CountedCPU).
func TestStarveAfterIsTheGrace(t *testing.T) {
	if defaultStarveAfter != contract.StarveGrace {
		t.Errorf("defaultStarveAfter %v, contract.StarveGrace %v: the floor and the charge disagree", defaultStarveAfter, contract.StarveGrace)
	}
}

// The floor yields to the pool's own short calls, but only down to shortFloor: on a host
// whose processors are all busy, a demoted call beside a short call that never ends (a
// steady stream of them, as far as the floor can tell) still gets its CPU and completes.
// When the floor yielded entirely, its worker got nothing until its wall-time limit.
func TestDemotedCallBesideShortCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("saturates the machine for a second or two")
	}
	p := newTestPool(t, Config{Workers: 2, Spares: -1, DemoteAfter: 20 * time.Millisecond, StarveAfter: -1})
	call(t, p, "pid")
	if !slices.Contains(p.Stats().Layers, demoteLayer) {
		t.Skipf("no demotion here (layers %v)", p.Stats().Layers)
	}
	// A short call that lasts until the test ends it.
	napCtx, endNap := context.WithCancel(context.Background())
	defer endNap()
	napped := make(chan struct{})
	go func() {
		defer close(napped)
		p.Call(napCtx, []byte("nap 60000"), CallOptions{}, nil)
	}()
	// The nap has started once the pool counts a short call.
	deadline := time.Now().Add(10 * time.Second)
	for p.short.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the short call never started")
		}
		time.Sleep(time.Millisecond)
	}
	// Every processor busy at a process's weight (the test's own).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range runtime.NumCPU() + 1 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					for i := 0; i < 1e5; i++ {
					}
					runtime.Gosched()
				}
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	out, err := p.Call(ctx, []byte("burn 150"), CallOptions{}, nil)
	took := time.Since(t0)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("a demoted call beside a short one on a saturated host: %v after %v (%d boosts)", err, took, p.boosts.Load())
	}
	t.Logf("%q in %v, %d boosts", out, took.Round(time.Millisecond), p.boosts.Load())
	if p.boosts.Load() == 0 {
		t.Error("the demoted call was never boosted")
	}
	endNap()
	<-napped
	if n := p.short.Load(); n != 0 {
		t.Errorf("%d short calls counted once all ended", n)
	}
}

// boostDue keeps a demoted call at half a CPU on average, or at an eighth of one while
// the pool's short calls run.
func TestBoostDue(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		cpu, elapsed time.Duration
		short, want  bool
	}{
		{0, 10 * ms, false, true},
		{0, 10 * ms, true, true},
		{4 * ms, 10 * ms, false, true},  // 0.4 < 1/2
		{4 * ms, 10 * ms, true, false},  // 0.4 >= 1/8
		{5 * ms, 10 * ms, false, false}, // at the floor
		{12 * ms, 100 * ms, true, true}, // 0.12 < 1/8
		{13 * ms, 100 * ms, true, false},
		{60 * ms, 100 * ms, false, false},
	} {
		if got := boostDue(tc.cpu, tc.elapsed, tc.short); got != tc.want {
			t.Errorf("boostDue(%v, %v, short %v) = %v, want %v", tc.cpu, tc.elapsed, tc.short, got, tc.want)
		}
	}
}

// The floor yields to short calls that run or ran within shortRecent: a light stream of
// them has none running at most instants.
func TestShortLately(t *testing.T) {
	p := &Pool{born: time.Now().Add(-time.Hour)}
	now := time.Now()
	at := func(d time.Duration) { p.shortAt.Store(int64(now.Add(-d).Sub(p.born))) }
	at(time.Hour) // at the pool's birth
	if p.shortLately(now) {
		t.Error("short calls lately, with none for an hour")
	}
	at(shortRecent / 5)
	if !p.shortLately(now) {
		t.Errorf("no short calls lately, one ended %v ago", shortRecent/5)
	}
	at(2 * shortRecent)
	if p.shortLately(now) {
		t.Errorf("short calls lately, the last ended %v ago", 2*shortRecent)
	}
	p.short.Add(1) // one runs, started long ago
	if !p.shortLately(now) {
		t.Error("no short calls lately, with one running")
	}
	p.short.Add(-1)
	p.shortSeen()
	if !p.shortLately(time.Now()) {
		t.Error("no short calls lately, right after one ended")
	}
}

// A call started Low runs at the low weight from its start, short or not, is never
// counted as demoted (nor does it call OnDemote), and leaves its worker at the
// background level; the next call that is not Low runs at the normal weight. A call
// that is not Low calls OnDemote once when it is demoted.
func TestLowCall(t *testing.T) {
	p, pid := demotingPool(t)
	level := func() string { return cpuLevelOf(t, pid) }
	var demotes atomic.Int32
	onDemote := func() { demotes.Add(1) }
	done := make(chan error, 1)
	go func() {
		resp, err := p.Call(context.Background(), []byte("nap 300"), CallOptions{Low: true, OnDemote: onDemote}, nil)
		if err == nil && string(resp) != "slept" {
			err = fmt.Errorf("nap: %q", resp)
		}
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for level() != "low" {
		select {
		case err := <-done:
			t.Fatalf("the Low call ended (%v) before its worker was seen at the low level (it is at %s)", err, level())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("a Low call's worker is at %s, want low", level())
		}
		time.Sleep(time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.StartedLow != 1 || st.Demoted != 0 || demotes.Load() != 0 {
		t.Errorf("after a Low call: StartedLow %d, Demoted %d, OnDemote called %d times; want 1, 0, 0", st.StartedLow, st.Demoted, demotes.Load())
	}
	if l := level(); !atBackground(l) {
		t.Errorf("after a Low call, the worker is at %s, want background", l)
	}
	if p.shortLately(time.Now()) && p.short.Load() != 0 {
		t.Errorf("a Low call counted as a short one: %d running", p.short.Load())
	}
	if again := call(t, p, "pid"); again != pid {
		t.Fatalf("worker %s replaced by %s", pid, again)
	}
	if l := level(); l != "normal" {
		t.Errorf("a call after a Low one runs at %s, want normal", l)
	}
	if _, err := p.Call(context.Background(), []byte("burn 60"), CallOptions{OnDemote: onDemote}, nil); err != nil {
		t.Fatal(err)
	}
	if n, d := demotes.Load(), p.Stats().Demoted; n != 1 || d != 1 {
		t.Errorf("a call demoted: OnDemote called %d times, Demoted %d; want 1 and 1", n, d)
	}
}

// A call that starts on a worker still busy with its last call's remains (here a tidy
// that uses 200 ms of CPU) is demoted, since the worker's CPU clock counts that work,
// but its OnDemote is not called: the demotion says nothing of its caller.
func TestRemainsDoNotMarkTheCaller(t *testing.T) {
	p, _ := demotingPool(t)
	call(t, p, "leaveburn 200")
	var demotes atomic.Int32
	if _, err := p.Call(context.Background(), []byte("nap 100"), CallOptions{OnDemote: func() { demotes.Add(1) }}, nil); err != nil {
		t.Fatal(err)
	}
	if d := p.Stats().Demoted; d != 1 {
		t.Fatalf("Demoted = %d after a call behind 200 ms of a tidy's CPU, want 1 (the case this test is about did not happen)", d)
	}
	if n := demotes.Load(); n != 0 {
		t.Errorf("OnDemote called %d times for a call demoted for its worker's remains", n)
	}
}

// A worker whose answer says it has work to do before its next call (Engine.Tidy) waits
// for it at the background weight and is the last idle worker to take a call; its next
// call runs at the normal weight.
func TestTidyingWorker(t *testing.T) {
	p := newTestPool(t, Config{Workers: 2, Spares: -1, DemoteAfter: 20 * time.Millisecond, StarveAfter: -1})
	call(t, p, "pid")
	if !slices.Contains(p.Stats().Layers, demoteLayer) {
		t.Skipf("no CPU levels here (layers %v)", p.Stats().Layers)
	}
	// Both workers started and idle (under load the second may still be starting).
	deadline := time.Now().Add(20 * time.Second)
	for s := p.Stats(); s.Idle != 2; s = p.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("the pool's two workers not idle within 20 s: %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
	a := call(t, p, "leave 500")
	if n := p.Stats().Tidied; n != 1 {
		t.Fatalf("Tidied = %d after one answer that left work, want 1", n)
	}
	if l := cpuLevelOf(t, a); !atBackground(l) {
		t.Errorf("tidying, the worker is at %s, want background", l)
	}
	for range 5 {
		if pid := call(t, p, "pid"); pid == a {
			t.Fatalf("the tidying worker %s took a call while another was idle", a)
		}
	}
	if n := p.Stats().Tidied; n != 1 {
		t.Errorf("Tidied = %d after answers that left nothing, want 1", n)
	}
	// With the other worker busy, it takes a call (once its work is done) at the normal
	// weight.
	busy := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), []byte("nap 3000"), CallOptions{}, nil)
		busy <- err
	}()
	deadline = time.Now().Add(10 * time.Second)
	for p.Stats().Busy != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the napping call did not start within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	if pid := call(t, p, "pid"); pid != a {
		t.Errorf("with the other worker busy, the call went to %s, not the idle %s", pid, a)
	}
	if l := cpuLevelOf(t, a); l != "normal" {
		t.Errorf("after a call, the worker is at %s, want normal", l)
	}
	if err := <-busy; err != nil {
		t.Error(err)
	}
}

// A call that uses more CPU time than CallOptions.CPULimit, as the pool
// reads it from the worker's process clock (whatever the worker says), has
// its worker killed: Reason "cpu". One within it is untouched.
func TestCPULimitKills(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	if _, err := processCPUTime(os.Getpid()); err != nil {
		t.Skipf("no process CPU clock here: %v", err)
	}
	resp, err := p.Call(context.Background(), []byte("burn 30"), CallOptions{CPULimit: 500 * time.Millisecond, Deadline: time.Now().Add(20 * time.Second)}, nil)
	if err != nil || string(resp) != "burnt" {
		t.Fatalf("a call within its CPU limit: %q %v", resp, err)
	}
	t0 := time.Now()
	_, err = p.Call(context.Background(), []byte("spin"), CallOptions{CPULimit: 100 * time.Millisecond, Deadline: time.Now().Add(20 * time.Second)}, nil)
	var ce *CrashError
	if !errors.As(err, &ce) || ce.Reason != "cpu" {
		t.Fatalf("a spinning call: %v, want a CrashError of reason cpu", err)
	}
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("the spinning call ended after %v", took)
	}
	if out := call(t, p, "echo next"); out != "next" {
		t.Errorf("the next call: %q", out)
	}
}
