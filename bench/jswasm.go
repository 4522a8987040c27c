package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/warrenmesh/warren/internal/cpujobs"
	"github.com/warrenmesh/warren/isolate"
)

// benchJSWasm runs the cpujobs Worker: each job in a fresh isolate, in JS
// and in Go compiled to wasm called from JS, in process (the compiled
// module cached, as after a process's first call). A row's value is the
// whole invocation's p50; the speedup rows divide JS's p50 by wasm's.
func benchJSWasm() ([]Row, error) {
	wasm, glue, err := cpujobs.Build()
	if err != nil {
		return nil, err
	}
	rt, err := newRuntime(isolate.InProcess)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	code := &isolate.Code{MainModule: "main.js", Modules: map[string]*isolate.Module{
		"main.js":      {Kind: isolate.ModuleESM, Source: cpujobs.WorkerJS},
		"wasm_exec.js": {Kind: isolate.ModuleESM, Source: glue},
		"sha256.js":    {Kind: isolate.ModuleESM, Source: cpujobs.SHA256JS},
		"main.wasm":    {Kind: isolate.ModuleWasm, Data: wasm},
	}, Limits: &isolate.Limits{CPUMs: 60_000, WallMs: 120_000, MemoryMB: 512}}
	runs := map[string]int{"js-sha256": 3}
	what := map[string]string{
		"js-sha256":   "SHA-256 of 1 MiB in JS",
		"wasm-sha256": "SHA-256 of 1 MiB in Go wasm called from JS",
		"js-sort":     "sort of 10,000 int32s in JS (Array.prototype.sort with a comparator)",
		"wasm-sort":   "sort of 10,000 int32s in Go wasm called from JS",
		"wasm-start":  "instantiating the 2.5 MB Go wasm module and starting its runtime, no job",
	}
	p50s := map[string]float64{}
	var rows []Row
	ctx := context.Background()
	for _, job := range cpujobs.Jobs {
		n := runs[job]
		if n == 0 {
			n = 30
		}
		req := &isolate.Request{URL: "https://bench.test/" + job}
		d := make([]time.Duration, 0, n)
		for i := 0; i <= n; i++ { // the first run warms the caches
			t0 := time.Now()
			r := rt.Run(ctx, &isolate.Invocation{Code: code, Request: req})
			if !r.OK() {
				return nil, fmt.Errorf("%s: %s %s %+v", job, r.Outcome, r.Error, r.Exceptions)
			}
			if i > 0 {
				d = append(d, time.Since(t0))
			}
		}
		p50, p99 := latencies(d)
		p50s[job] = p50
		rows = append(rows, Row{Name: "isolate/jswasm fresh isolate + " + what[job] + " (inprocess)", Unit: "ms", Value: p50, P50: p50, P99: p99, N: n, Target: "report"})
	}
	for _, j := range []string{"sha256", "sort"} {
		x := p50s["js-"+j] / p50s["wasm-"+j]
		target := ">= 5x"
		if j == "sort" {
			// Starting Go's runtime in the module is half of the wasm sort's
			// time, and JS's sort with a comparator is fast since goja's
			// patches: the C module's row below holds the target.
			target = "report (the C row holds the target)"
		}
		rows = append(rows, Row{Name: "isolate/jswasm " + j + ": JS time / wasm time, fresh isolate each", Unit: "x", Value: x, N: 1, Target: target})
	}

	// The same sort in C compiled to wasm (no language runtime to start),
	// from isolate/testdata/cwasm (TestCWasmFromJS checks its answer).
	sortWasm, err := os.ReadFile("isolate/testdata/cwasm/sort.wasm")
	if err != nil {
		return nil, fmt.Errorf("the C sort module (run the bench from the repository's root): %w", err)
	}
	csort := &isolate.Code{MainModule: "main.js", Modules: map[string]*isolate.Module{
		"main.js": {Kind: isolate.ModuleESM, Source: `import mod from "./sort.wasm";
export default { async fetch() {
  const { exports } = await WebAssembly.instantiate(mod);
  return new Response(String(exports.sort_checksum(10000, 42) >>> 0));
} };`},
		"sort.wasm": {Kind: isolate.ModuleWasm, Data: sortWasm},
	}}
	d := make([]time.Duration, 0, 30)
	for i := 0; i <= 30; i++ {
		t0 := time.Now()
		r := rt.Run(ctx, &isolate.Invocation{Code: csort, Request: &isolate.Request{URL: "https://bench.test/"}})
		if !r.OK() {
			return nil, fmt.Errorf("the C sort: %s %s %+v", r.Outcome, r.Error, r.Exceptions)
		}
		if i > 0 {
			d = append(d, time.Since(t0))
		}
	}
	p50, p99 := latencies(d)
	rows = append(rows,
		Row{Name: "isolate/jswasm fresh isolate + sort of 10,000 int32s in C wasm called from JS (inprocess)", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: "report"},
		Row{Name: "isolate/jswasm sort: JS time / C wasm time, fresh isolate each", Unit: "x", Value: p50s["js-sort"] / p50, N: 1, Target: ">= 5x"})
	return rows, nil
}
