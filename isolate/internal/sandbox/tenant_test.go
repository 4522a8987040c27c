package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// tenantCall runs req for tenant and returns the answering worker's pid.
func tenantCall(t *testing.T, p *Pool, tenant, req string) int {
	t.Helper()
	out, err := p.Call(context.Background(), []byte(req), CallOptions{Tenant: tenant}, nil)
	if err != nil {
		t.Errorf("Call(%q) of %q: %v", req, tenant, err)
		return 0
	}
	pid, err := strconv.Atoi(string(out))
	if err != nil {
		t.Errorf("Call(%q) of %q answered %q", req, tenant, out)
	}
	return pid
}

// served records which tenants each worker (by pid) ran calls of.
type served struct {
	mu  sync.Mutex
	by  map[int]map[string]bool
	all []int
}

func (s *served) add(pid int, tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.by == nil {
		s.by = map[int]map[string]bool{}
	}
	if s.by[pid] == nil {
		s.by[pid] = map[string]bool{}
	}
	s.by[pid][tenant] = true
	s.all = append(s.all, pid)
}

// check fails t for every worker that ran calls of more than one tenant.
func (s *served) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, ts := range s.by {
		if len(ts) > 1 {
			t.Errorf("worker %d ran calls of %d tenants: %v", pid, len(ts), ts)
		}
	}
}

// A worker runs the calls of one tenant only, whether callers find it idle or
// wait for it; a tenant's calls in a row stay on its worker.
func TestTenantsNeverShareAWorker(t *testing.T) {
	p := newTestPool(t, Config{Workers: 2})
	var s served
	// In a row: one tenant keeps its worker, and each change of tenant
	// takes one that served nobody.
	for i := range 6 {
		tenant := []string{"a", "a", "b", "", "b", "a"}[i]
		s.add(tenantCall(t, p, tenant, "pid"), tenant)
	}
	if s.all[0] != s.all[1] {
		t.Errorf("tenant a's second call in a row ran on worker %d, its first on %d", s.all[1], s.all[0])
	}
	// At once: more callers than workers, of three tenants, so that callers
	// wait and freed workers go to the waiters.
	var wg sync.WaitGroup
	for g := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant := fmt.Sprint("t", g%3)
			for range 5 {
				s.add(tenantCall(t, p, tenant, "nappid 2"), tenant)
			}
		}()
	}
	wg.Wait()
	s.check(t)
	if st := p.Stats(); st.Recycled+st.ParkedTotal == 0 {
		t.Errorf("no worker left its slot across %d calls of four tenants on 2 workers", len(s.all))
	} else {
		t.Logf("%d calls, %d workers ended, %d parked, %d swapped back, %d spawned", len(s.all), st.Recycled, st.ParkedTotal, st.Swapped, st.Spawned)
	}
}

// A caller of another tenant waiting for the only worker gets one, however
// many calls of the worker's tenant queue behind it.
func TestTenantWaitingIsNotPassedOverForEver(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	var s served
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 { // tenant a keeps the worker busy, with callers always queued
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.add(tenantCall(t, p, "a", "nappid 2"), "a")
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Waiting < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := p.Call(ctx, []byte("pid"), CallOptions{Tenant: "b"}, nil)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("tenant b's call behind tenant a's: %v", err)
	}
	pid, _ := strconv.Atoi(string(out))
	s.add(pid, "b")
	s.check(t)
}

// A lease takes a worker that served no tenant.
func TestLeaseTakesACleanWorker(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	first := tenantCall(t, p, "a", "pid")
	l, err := p.Lease(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	out, err := l.Call(context.Background(), []byte("pid"), CallOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := strconv.Atoi(string(out)); got == first {
		t.Errorf("the lease got worker %d, which served tenant a", got)
	}
}

// Timeout runs from when a worker takes the call, not while the caller waits
// for one.
func TestTimeoutCountsFromTheWorker(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), []byte("nap 300"), CallOptions{}, nil)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Idle != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if out, err := p.Call(context.Background(), []byte("nap 50"), CallOptions{Timeout: 200 * time.Millisecond}, nil); err != nil {
		t.Errorf("a call of 50 ms with a timeout of 200 ms, after 300 ms in line: %v", err)
	} else if string(out) != "slept" {
		t.Errorf("answer %q", out)
	}
	if err := <-done; err != nil {
		t.Error(err)
	}
	// And it holds once the call runs.
	if _, err := p.Call(context.Background(), []byte("nap 2000"), CallOptions{Timeout: 100 * time.Millisecond}, nil); err == nil {
		t.Error("a call of 2 s with a timeout of 100 ms succeeded")
	}
}

// A worker whose slot another tenant needed is parked, not ended, and its
// tenant's next call swaps it back into the slot: the same process, with
// no worker started for it.
func TestParkedWorkerSwapsBack(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1})
	var s served
	a := tenantCall(t, p, "a", "pid")
	s.add(a, "a")
	b := tenantCall(t, p, "b", "pid")
	s.add(b, "b")
	if a == b {
		t.Fatalf("tenant b ran on tenant a's worker %d", a)
	}
	spawned := p.Stats().Spawned
	a2 := tenantCall(t, p, "a", "pid")
	s.add(a2, "a")
	s.check(t)
	st := p.Stats()
	if a2 != a || st.Swapped != 1 || st.Spawned != spawned {
		t.Errorf("tenant a's next call ran on %d (first on %d), swapped %d, spawned %d more; want its parked worker back, no start", a2, a, st.Swapped, st.Spawned-spawned)
	}
	if st.Parked != 1 || st.Recycled != 0 {
		t.Errorf("parked %d, recycled %d; want b's worker parked, none ended", st.Parked, st.Recycled)
	}
	// Past Config.Parked (here Workers, 1) a tenant's only worker is kept, up
	// to twice Parked; past that the least recently parked ends (b's).
	for _, tenant := range []string{"c", "d"} {
		s.add(tenantCall(t, p, tenant, "pid"), tenant)
	}
	s.check(t)
	if st := p.Stats(); st.Parked != 2 || st.Recycled != 1 {
		t.Errorf("after four tenants on one slot: parked %d, recycled %d; want 2 parked, b's ended", st.Parked, st.Recycled)
	}
	if b2 := tenantCall(t, p, "b", "pid"); b2 == b {
		t.Errorf("tenant b's worker %d, the least recently parked, was not ended", b)
	}
}

// Past Config.Parked, the parked worker ended is one of a tenant that keeps
// another, before any tenant's only one: a tenant whose two calls ran at once
// holds two workers, and other tenants keep theirs.
func TestParkedOnlyWorkerEndsLast(t *testing.T) {
	p := newTestPool(t, Config{Workers: 2, Spares: -1, Parked: 1})
	var s served
	y := tenantCall(t, p, "y", "pid")
	s.add(y, "y")
	x := make(chan int, 2)
	for range 2 {
		// Long enough that the second call comes while the first still
		// runs, also when a loaded host starts its goroutine late (a nap
		// of 100 ms once let it find x's first worker free again).
		go func() { x <- tenantCall(t, p, "x", "nappid 1000") }()
	}
	x1, x2 := <-x, <-x // y's worker parked for one of them
	s.add(x1, "x")
	s.add(x2, "x")
	if x1 == x2 {
		t.Fatalf("tenant x's two calls at once ran on one worker %d", x1)
	}
	z := tenantCall(t, p, "z", "pid") // parks one of x's: it ends, not y's
	s.add(z, "z")
	s.check(t)
	st := p.Stats()
	if st.Parked != 1 || st.Recycled != 1 {
		t.Fatalf("parked %d, recycled %d; want y's worker parked, one of x's ended", st.Parked, st.Recycled)
	}
	spawned := st.Spawned
	for _, c := range []struct {
		tenant string
		want   []int
	}{{"x", []int{x1, x2}}, {"y", []int{y}}, {"z", []int{z}}} {
		pid := tenantCall(t, p, c.tenant, "pid")
		s.add(pid, c.tenant)
		if !slices.Contains(c.want, pid) {
			t.Errorf("tenant %s ran on %d, not on its worker %v", c.tenant, pid, c.want)
		}
	}
	s.check(t)
	if n := p.Stats().Spawned - spawned; n != 0 {
		t.Errorf("%d workers started for tenants that each kept one", n)
	}
}

// A parked worker that its tenant does not call for Config.ParkIdle is ended,
// and the pool keeps no timer once nothing is parked.
func TestParkedWorkerEndsIdle(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1, Spares: -1, ParkIdle: 100 * time.Millisecond})
	a := tenantCall(t, p, "a", "pid")
	tenantCall(t, p, "b", "pid") // parks a's worker
	// Parked, or already ended if b's worker took longer than ParkIdle to
	// start (under -race and load it has).
	if st := p.Stats(); st.Parked+int(st.ParkedIdleEnded) != 1 {
		t.Fatalf("parked %d, ended idle %d: want a's worker parked", st.Parked, st.ParkedIdleEnded)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Parked != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	st := p.Stats()
	if st.Parked != 0 || st.ParkedIdleEnded != 1 {
		t.Fatalf("parked %d, ended idle %d; want a's worker ended", st.Parked, st.ParkedIdleEnded)
	}
	p.mu.Lock()
	armed := p.parkTimer != nil
	p.mu.Unlock()
	if armed {
		t.Error("the park timer is still armed with nothing parked")
	}
	if a2 := tenantCall(t, p, "a", "pid"); a2 == a {
		t.Errorf("tenant a ran on its worker %d again, after it was ended", a)
	}
}
