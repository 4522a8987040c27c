//go:build linux

package isolate

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIdleWorkerSleeps: an idle sandbox worker blocks on its channel and
// its timers: it wakes up (context switches of all its threads) at most a
// few times a second. A worker that polls, or whose wait the Go scheduler
// takes for running code (a raw read, preempted every 10 ms), wakes up
// about 200 times a second.
func TestIdleWorkerSleeps(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for a few seconds")
	}
	rt := testRuntime(t, Sandboxed)
	hello := js("main.js", `export default { fetch() { return new Response("hi") } }`)
	for range 4 {
		if res := run(t, rt, hello, &Request{Method: "GET", URL: "https://x.test/"}); res.Outcome != OutcomeOK {
			t.Fatalf("hello: %s %s", res.Outcome, res.Error)
		}
	}
	// Generous: memtrim checks every 2 s at first (backing off), and each
	// timer costs a few switches of the runtime's threads.
	const bound = 5.0 // wakeups per second
	const window = 2 * time.Second
	// A worker that has just started or served is still busy for a moment:
	// wait for a window in which every worker was idle.
	deadline := time.Now().Add(15 * time.Second)
	var last map[int]float64
	for time.Now().Before(deadline) {
		pids := childPIDs(t)
		if len(pids) == 0 {
			t.Fatal("no sandbox worker processes")
		}
		before := map[int]int64{}
		for _, p := range pids {
			before[p] = contextSwitches(p)
		}
		t0 := time.Now()
		time.Sleep(window) // counting wakeups over an interval, not waiting for a condition
		secs := time.Since(t0).Seconds()
		last = map[int]float64{}
		idle := true
		for _, p := range pids {
			after := contextSwitches(p)
			if after < 0 || before[p] < 0 {
				continue // exited meanwhile
			}
			r := float64(after-before[p]) / secs
			last[p] = r
			idle = idle && r <= bound
		}
		if idle && len(last) > 0 {
			t.Logf("wakeups per second of idle workers: %v", last)
			return
		}
	}
	t.Fatalf("sandbox workers kept waking up: %v wakeups/s per worker (pid: rate), want ≤ %v", last, bound)
}

// childPIDs lists this process's child processes (the pool's workers).
func childPIDs(t *testing.T) []int {
	t.Helper()
	self := strconv.Itoa(os.Getpid())
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:]) // state, ppid, ...
		if len(fields) > 1 && fields[1] == self && fields[0] != "Z" {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			pids = append(pids, pid)
		}
	}
	return pids
}

// contextSwitches sums the voluntary and involuntary context switches of
// all of pid's threads, or returns -1 if it is gone.
func contextSwitches(pid int) int64 {
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	if err != nil || len(tasks) == 0 {
		return -1
	}
	var n int64
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
				k, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += k
			} else if v, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
				k, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += k
			}
		}
	}
	return n
}

// TestWorkerEnvironment: of the node's environment, only what workers need
// reaches them (a guest that escaped the engine could read it): not the
// node's credentials (WARREN_TOKEN, WARREN_SECRET), nor anything else it
// holds (a cloud provider's keys).
func TestWorkerEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	t.Setenv("WARREN_TOKEN", "warren1.not-for-workers")
	t.Setenv("WARREN_SECRET", "/not/for/workers")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-for-workers-either")
	t.Setenv("GOGC", "150")
	testRuntime(t, Sandboxed)
	pids := childPIDs(t)
	if len(pids) == 0 {
		t.Fatal("no sandbox worker processes")
	}
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			continue // exited meanwhile
		}
		env := string(b)
		if strings.Contains(env, "not-for-workers") || strings.Contains(env, "/not/for/workers") {
			t.Errorf("worker %d holds the node's credentials: %q", pid, env)
		}
		if !strings.Contains(env, "GOGC=150") || !strings.Contains(env, "WARREN_SANDBOX=1") {
			t.Errorf("worker %d lost the Go runtime's settings or its own: %q", pid, env)
		}
	}
}
