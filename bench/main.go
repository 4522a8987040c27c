// Command bench runs warren's benchmarks and writes bench/results.json: a
// list of {"name","unit","value","p50","p99","n"} rows (README.md,
// Performance), plus a table on stdout. `make bench` runs it; `make soak`
// runs the long soak.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// Row is one benchmark figure.
type Row struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
	P50   float64 `json:"p50,omitempty"`
	P99   float64 `json:"p99,omitempty"`
	N     int     `json:"n"`
	// Target is the goal for this row, for the reader.
	Target string `json:"target,omitempty"`
	// Note holds what else the run measured, for the reader. Names stay
	// fixed from run to run, so that a run replaces its rows.
	Note string `json:"note,omitempty"`
}

func main() {
	if isolate.IsWorker() {
		if err := isolate.ServeWorker(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	out := flag.String("out", "bench/results.json", "where to write the rows")
	soak := flag.Int("soak", 0, "run this many fresh invocations, reporting RSS along the way, instead of the benchmarks")
	only := flag.String("only", "", "run only the benchmarks whose name contains this")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of this process (not the sandbox workers) here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *soak > 0 {
		if err := runSoak(*soak); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			os.Exit(1)
		}
		return
	}
	var rows []Row
	for _, b := range benchmarks {
		if *only != "" && !strings.Contains(b.name, *only) {
			continue
		}
		fmt.Fprintf(os.Stderr, "running %s...\n", b.name)
		rs, err := b.run()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", b.name, err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
		rows = append(rows, rs...)
	}
	printTable(rows)
	// Some of the corpus's kinds only: the others' rows are not stale.
	partial := os.Getenv("WARREN_BENCH_HOSTILE_KINDS") != ""
	if err := mergeRows(*out, rows, *only, partial); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type benchmark struct {
	name string
	run  func() ([]Row, error)
}

// mergeRows replaces rows of the same name in the results file (rowKey),
// so that other groups' rows survive a partial run; unless the run is
// partial (some of a benchmark's rows only), rows named under the prefix
// of the run (all of them when it is empty) that it did not produce are
// stale (a renamed or removed benchmark) and go.
func mergeRows(path string, rows []Row, prefix string, partial bool) error {
	var old, all []Row
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &old)
	}
	fresh := map[string]bool{}
	for _, r := range rows {
		fresh[rowKey(r.Name)] = true
	}
	for _, r := range old {
		if partial || fresh[rowKey(r.Name)] || !strings.HasPrefix(r.Name, prefix) {
			all = append(all, r)
		}
	}
	idx := map[string]int{}
	for i, r := range all {
		idx[rowKey(r.Name)] = i
	}
	for _, r := range rows {
		if i, ok := idx[rowKey(r.Name)]; ok {
			all[i] = r
		} else {
			idx[rowKey(r.Name)] = len(all)
			all = append(all, r)
		}
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func printTable(rows []Row) {
	fmt.Printf("%-52s %12s %-8s %10s %10s %8s  %s\n", "name", "value", "unit", "p50", "p99", "n", "target")
	for _, r := range rows {
		fmt.Printf("%-52s %12.3f %-8s %10.3f %10.3f %8d  %s\n", r.Name, r.Value, r.Unit, r.P50, r.P99, r.N, r.Target)
	}
}

// latencies summarises durations in milliseconds.
func latencies(d []time.Duration) (p50, p99 float64) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) float64 {
		i := int(q * float64(len(d)-1))
		return float64(d[i].Microseconds()) / 1000
	}
	return at(0.50), at(0.99)
}

func hello() *isolate.Code {
	return &isolate.Code{MainModule: "main.js", Modules: map[string]*isolate.Module{
		"main.js": {Kind: isolate.ModuleESM, Source: `export default { fetch() { return new Response("hi") } }`},
	}}
}

// bundle50K is a Worker of about 50 KB: many small functions, as generated
// or bundled code tends to be.
func bundle50K() *isolate.Code {
	var b strings.Builder
	for i := 0; b.Len() < 50_000; i++ {
		fmt.Fprintf(&b, "export function helper%d(x) { const parts = [x, %d, \"item-%d\"]; return parts.map(p => String(p).toUpperCase()).join(\"/\"); }\n", i, i, i)
	}
	b.WriteString(`export default { fetch() { return new Response(helper1("x")) } }` + "\n")
	return &isolate.Code{MainModule: "main.js", Modules: map[string]*isolate.Module{"main.js": {Kind: isolate.ModuleESM, Source: b.String()}}}
}

func serial(rt *isolate.Runtime, code *isolate.Code, n int) ([]time.Duration, error) {
	d := make([]time.Duration, 0, n)
	ctx := context.Background()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		r := rt.Run(ctx, &isolate.Invocation{Code: code})
		d = append(d, time.Since(t0))
		if !r.OK() {
			return nil, fmt.Errorf("outcome %s: %s %+v", r.Outcome, r.Error, r.Exceptions)
		}
	}
	return d, nil
}

// throughput runs invocations from `clients` goroutines for dur.
func throughput(rt *isolate.Runtime, code *isolate.Code, clients int, dur time.Duration) (float64, int, error) {
	ctx := context.Background()
	return parallel(clients, dur, func() error {
		if r := rt.Run(ctx, &isolate.Invocation{Code: code}); !r.OK() {
			return fmt.Errorf("an invocation failed: %s: %s", r.Outcome, r.Error)
		}
		return nil
	})
}

func newRuntime(kind isolate.ExecutorKind) (*isolate.Runtime, error) {
	return isolate.New(isolate.Options{Executor: kind, Node: "bench"})
}

var benchmarks = []benchmark{
	{"isolate/hello", func() ([]Row, error) {
		var rows []Row
		for _, kind := range []isolate.ExecutorKind{isolate.Sandboxed, isolate.InProcess} {
			rt, err := newRuntime(kind)
			if err != nil {
				return nil, err
			}
			if _, err := serial(rt, hello(), 200); err != nil { // warm up
				return nil, err
			}
			d, err := serial(rt, hello(), 5000)
			if err != nil {
				return nil, err
			}
			p50, p99 := latencies(d)
			target := ""
			if kind == isolate.Sandboxed {
				target = "p50 <= 0.3 ms, p99 <= 2 ms"
			}
			rows = append(rows, Row{Name: "isolate/hello fresh isolate serial latency (" + string(kind) + ")", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: target})
			rate, n, err := throughput(rt, hello(), 16, 3*time.Second)
			if err != nil {
				return nil, err
			}
			target = ""
			if kind == isolate.Sandboxed {
				target = ">= 15000/s"
			}
			rows = append(rows, Row{Name: "isolate/hello fresh isolate throughput, 16 clients (" + string(kind) + ")", Unit: "inv/s", Value: rate, N: n, Target: target})
			rt.Close()
		}
		return rows, nil
	}},
	{"isolate/bundle50k", func() ([]Row, error) {
		rt, err := newRuntime(isolate.Sandboxed)
		if err != nil {
			return nil, err
		}
		defer rt.Close()
		code := bundle50K()
		if _, err := serial(rt, code, 20); err != nil {
			return nil, err
		}
		d, err := serial(rt, code, 500)
		if err != nil {
			return nil, err
		}
		p50, p99 := latencies(d)
		rows := []Row{{Name: "isolate/50KB bundle fresh isolate, code cached (sandbox)", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: "p50 <= 2.5 ms"}}
		// Each call a new code hash: bundling in a worker, compiling and
		// running it.
		d = d[:0]
		for i := range 60 {
			c := bundle50K()
			c.Modules["main.js"].Source += fmt.Sprintf("// variant %d\n", i)
			t, err := serial(rt, c, 1)
			if err != nil {
				return nil, err
			}
			d = append(d, t...)
		}
		p50, p99 = latencies(d)
		rows = append(rows, Row{Name: "isolate/50KB bundle, first call of new code (preparation in a sandbox worker included)", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: "report"})
		return rows, nil
	}},
	{"isolate/wasm", func() ([]Row, error) {
		var rows []Row
		for _, kind := range []isolate.ExecutorKind{isolate.InProcess, isolate.Sandboxed} {
			rt, err := newRuntime(kind)
			if err != nil {
				return nil, err
			}
			code := &isolate.Code{MainModule: "hi.wasm", Modules: map[string]*isolate.Module{"hi.wasm": {Kind: isolate.ModuleWasm, Data: tinyWasm()}}}
			if _, err := serial(rt, code, 50); err != nil {
				return nil, err
			}
			d, err := serial(rt, code, 3000)
			if err != nil {
				return nil, err
			}
			p50, p99 := latencies(d)
			target := ""
			if kind == isolate.InProcess {
				target = "p50 <= 0.1 ms"
			}
			rows = append(rows, Row{Name: "isolate/wasm tiny module fresh instance + call (" + string(kind) + ")", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: target})
			rt.Close()
		}
		return rows, nil
	}},
	{"isolate/jswasm", benchJSWasm},
	{"isolate/memory", func() ([]Row, error) {
		rt, err := newRuntime(isolate.Sandboxed)
		if err != nil {
			return nil, err
		}
		defer rt.Close()
		if _, err := serial(rt, hello(), 100); err != nil {
			return nil, err
		}
		debug.FreeOSMemory() // what earlier benchmarks in this process left behind
		idle, idlePSS := treeRSS(os.Getpid()), treePSS(os.Getpid())
		for done := 0; done < 10_000; done += 1000 {
			if _, err := serial(rt, hello(), 1000); err != nil {
				return nil, err
			}
		}
		debug.FreeOSMemory()
		after := treeRSS(os.Getpid())
		growth := float64(after-idle) / (1 << 20)
		return []Row{
			{Name: "isolate/RSS idle (node + sandbox workers)", Unit: "MB", Value: float64(idle) / (1 << 20), N: 1},
			{Name: "isolate/PSS idle (node + sandbox workers: shared pages counted once)", Unit: "MB", Value: float64(idlePSS) / (1 << 20), N: 1},
			{Name: "isolate/RSS growth after 10,000 fresh invocations", Unit: "MB", Value: growth, N: 10_000, Target: "<= 30 MB"},
		}, nil
	}},
}

// treeRSS sums the resident set of pid and its descendants (the sandbox
// workers), from /proc; it scans every process's PPid, since
// /proc/PID/task/TID/children lists only the children one thread started.
// Zero where /proc is missing.
func treeRSS(pid int) int64 { return treeSum(pid, rss) }

// treePSS is treeRSS by proportional set size.
func treePSS(pid int) int64 { return treeSum(pid, pss) }

// treeSum adds size of pid and of every process below it.
func treeSum(pid int, size func(int) int64) int64 {
	parents := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp := statusField(child, "PPid:"); pp > 0 {
			parents[int(pp)] = append(parents[int(pp)], child)
		}
	}
	var sum func(int) int64
	sum = func(p int) int64 {
		total := size(p)
		for _, c := range parents[p] {
			total += sum(c)
		}
		return total
	}
	return sum(pid)
}

func rss(pid int) int64 { return statusField(pid, "VmRSS:") << 10 }

// pss is the proportional set size of pid in bytes: its private pages and
// its share of those it shares (the binary's text, mapped by every worker,
// counts once across them, where RSS counts it in each).
func pss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(ln, "Pss:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}

// statusField reads a numeric field of /proc/PID/status (kB for sizes).
func statusField(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(ln, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

func runSoak(n int) error {
	rt, err := newRuntime(isolate.Sandboxed)
	if err != nil {
		return err
	}
	defer rt.Close()
	if _, err := serial(rt, hello(), 100); err != nil {
		return err
	}
	idle := treeRSS(os.Getpid())
	fmt.Printf("idle RSS %.1f MB\n", float64(idle)/(1<<20))
	step := max(n/20, 1)
	t0 := time.Now()
	var done atomic.Int64
	for done.Load() < int64(n) {
		var wg sync.WaitGroup
		for c := 0; c < 8; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < step/8; i++ {
					r := rt.Run(context.Background(), &isolate.Invocation{Code: hello()})
					if !r.OK() {
						fmt.Fprintf(os.Stderr, "invocation failed: %s %s\n", r.Outcome, r.Error)
					}
					done.Add(1)
				}
			}()
		}
		wg.Wait()
		r := treeRSS(os.Getpid())
		fmt.Printf("%9d invocations  RSS %7.1f MB  (+%.1f MB)  %.0f inv/s\n", done.Load(), float64(r)/(1<<20), float64(r-idle)/(1<<20), float64(done.Load())/time.Since(t0).Seconds())
	}
	return nil
}

// rowKey is what identifies a row across runs: its name, but for the
// hostile corpus's rows, whose names carry the run's figures and slowest
// case in parentheses, the name before them.
func rowKey(name string) string {
	if strings.HasPrefix(name, "mesh/hostile-corpus") {
		name, _, _ = strings.Cut(name, " (")
	}
	return name
}
