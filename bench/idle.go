package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/warrenmesh/warren/internal/gotool"
	"github.com/warrenmesh/warren/testnet"
)

func init() {
	benchmarks = append(benchmarks, benchmark{"mesh/idle CPU", benchIdle})
}

// idleNodes, idleSettle and idleWindow: the idle benchmark's testnet, how
// long it settles after every node sees the others (placement, the data
// groups' first elections, the workers' start) and how long it is measured.
const (
	idleNodes  = 20
	idleSettle = 20 * time.Second
	idleWindow = 30 * time.Second
)

// benchIdle: a testnet of 20 real `warren node` processes on loopback, each
// with its sandbox workers, left idle; the CPU ticks (utime+stime in
// /proc/PID/stat) and the context switches of every thread (wakeups) of
// each node process and each worker over idleWindow. Both grow with the
// machine's other load (system calls take longer, and the Go runtime's
// sysmon thread then polls longer after each), so compare figures taken on
// an equally quiet machine.
// testnetBinary is the warren binary a testnet bench runs: the one
// WARREN_BENCH_BINARY names (built beforehand, for A/B runs of two
// builds), else the checkout's, built into dir.
func testnetBinary(dir string) (string, error) {
	if bin := os.Getenv("WARREN_BENCH_BINARY"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(dir, "warren")
	return bin, gotool.BuildWarren(bin)
}

func benchIdle() ([]Row, error) {
	dir, err := os.MkdirTemp("", "warren-bench-idle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin, err := testnetBinary(dir)
	if err != nil {
		return nil, err
	}
	tn := filepath.Join(dir, "testnet")
	st, err := testnet.Up(context.Background(), testnet.Options{Binary: bin, Dir: tn, N: idleNodes, Timeout: 2 * time.Minute})
	if err != nil {
		return nil, err
	}
	defer testnet.Down(tn)
	time.Sleep(idleSettle) // letting the mesh settle before measuring, not waiting for a condition

	var nodes, workers []int
	for _, n := range st.Nodes {
		nodes = append(nodes, n.PID)
		workers = append(workers, childrenOf(n.PID)...)
	}
	if len(workers) == 0 {
		return nil, fmt.Errorf("no sandbox workers under the node processes")
	}
	type sample struct{ ticks, switches int64 }
	take := func(pids []int) map[int]sample {
		m := map[int]sample{}
		for _, p := range pids {
			m[p] = sample{procTicks(p), procSwitches(p)}
		}
		return m
	}
	n0, w0 := take(nodes), take(workers)
	t0 := time.Now()
	time.Sleep(idleWindow) // measuring CPU and wakeups over an interval, not waiting for a condition
	secs := time.Since(t0).Seconds()
	n1, w1 := take(nodes), take(workers)
	sum := func(a, b map[int]sample) (ticks, switches int64, n int) {
		for p, s := range a {
			e := b[p]
			if s.ticks < 0 || e.ticks < 0 {
				continue // exited: a worker the pool replaced
			}
			ticks, switches, n = ticks+e.ticks-s.ticks, switches+e.switches-s.switches, n+1
		}
		return
	}
	nt, ns, nn := sum(n0, n1)
	wt, ws, wn := sum(w0, w1)
	if nn == 0 || wn == 0 {
		return nil, fmt.Errorf("the testnet's processes went away while measured")
	}
	const hz = 100 // USER_HZ: /proc's clock ticks per second on Linux
	pct := func(ticks int64, procs int) float64 { return 100 * float64(ticks) / hz / secs / float64(procs) }
	perNode := float64(wn) / float64(nn)
	fmt.Fprintf(os.Stderr, "  %d node processes, %d sandbox workers (%.1f per node)\n", nn, wn, perNode)
	// N is the number of processes measured.
	return []Row{
		{Name: "mesh/idle CPU of a node with its workers, 20-node testnet", Unit: "% core",
			Value: pct(nt, nn) + perNode*pct(wt, wn), N: nn + wn, Target: "<= 0.3 %"},
		{Name: "mesh/idle CPU of a node process, 20-node testnet", Unit: "% core", Value: pct(nt, nn), N: nn},
		{Name: "mesh/idle CPU of a sandbox worker, 20-node testnet", Unit: "% core", Value: pct(wt, wn), N: wn},
		{Name: "mesh/idle wakeups of a node process, 20-node testnet", Unit: "/s", Value: float64(ns) / secs / float64(nn), N: nn},
		{Name: "mesh/idle wakeups of a sandbox worker, 20-node testnet", Unit: "/s", Value: float64(ws) / secs / float64(wn), N: wn},
	}, nil
}

// childrenOf lists pid's child processes.
func childrenOf(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if statusField(child, "PPid:") == int64(pid) {
			out = append(out, child)
		}
	}
	return out
}

// procTicks is pid's user and system CPU time in clock ticks, or -1 when it
// is gone.
func procTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // from field 3, state
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	k, _ := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	return u + k
}

// treeTicks is the CPU time in clock ticks of pid and its children: its
// own, that of its children it has reaped, and that of those alive.
func treeTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0
	}
	var t int64
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		v, _ := strconv.ParseInt(f[i], 10, 64)
		t += v
	}
	for _, c := range childrenOf(pid) {
		t += max(procTicks(c), 0)
	}
	return t
}

// procSwitches sums the voluntary and involuntary context switches of all
// of pid's threads: how often it woke up.
func procSwitches(pid int) int64 {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(t, "status"))
		if err != nil {
			continue // a thread that ended
		}
		for _, ln := range strings.Split(string(b), "\n") {
			for _, field := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if v, ok := strings.CutPrefix(ln, field); ok {
					k, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					n += k
				}
			}
		}
	}
	return n
}
