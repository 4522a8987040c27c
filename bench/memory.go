package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/warrenmesh/warren/isolate"
)

func init() {
	benchmarks = append(benchmarks, benchmark{"isolate/memory vs V8", benchMemory})
}

// benchMemory: how much memory warren counts for a Worker that builds
// 100,000 small objects (isolate/testdata/memory/objects.js), and for one
// that builds 16 MB of typed arrays (typed.js), against what V8 holds
// them in. warren's count is the smallest memoryMb the Worker runs under
// in a sandbox worker (to the MiB); V8's is Node's, measured now when
// node is on PATH, else the committed figure (v8.json).
func benchMemory() ([]Row, error) {
	dir, err := memoryCorpusDir()
	if err != nil {
		return nil, err
	}
	rt, err := newRuntime(isolate.Sandboxed)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	var rows []Row
	for _, w := range []struct {
		name, what, use string
	}{
		{"objects", "100,000 small objects", "let n = 0; for (const r of kept) n += r.score;"},
		{"typed", "16 MB of typed arrays", "let n = 0; for (const a of kept) n += a.length;"},
	} {
		src, err := os.ReadFile(filepath.Join(dir, w.name+".js"))
		if err != nil {
			return nil, err
		}
		v8, how, err := v8Bytes(dir, w.name)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "  V8 holds %s in %.2f MiB (%s)\n", w.what, float64(v8)/(1<<20), how)
		code := func(mb int64) *isolate.Code {
			return &isolate.Code{MainModule: "main.js", Modules: map[string]*isolate.Module{"main.js": {Kind: isolate.ModuleESM, Source: string(src) + `
export default { fetch() { const kept = build(1); ` + w.use + ` return new Response(String(n)); } }`}},
				Limits: &isolate.Limits{MemoryMB: mb, CPUMs: 30_000, WallMs: 60_000}}
		}
		runs := func(mb int64) (*isolate.Result, error) {
			r := rt.Run(context.Background(), &isolate.Invocation{Code: code(mb)})
			if r.Outcome != isolate.OutcomeOK && r.Outcome != isolate.OutcomeExceededMemory {
				return nil, fmt.Errorf("%s under memoryMb %d: %s: %s", w.name, mb, r.Outcome, r.Error)
			}
			return r, nil
		}
		// The smallest memoryMb it runs under: the count, to the MiB, that
		// the limit enforces. Each limit is tried twice (both must pass).
		lo, hi := int64(0), int64(128) // lo fails, hi passes
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			ok := true
			for range 2 {
				r, err := runs(mid)
				if err != nil {
					return nil, err
				}
				ok = ok && r.OK()
			}
			if ok {
				hi = mid
			} else {
				lo = mid
			}
		}
		v8MiB := float64(v8) / (1 << 20)
		prefix := "isolate/memory vs V8, " + w.what + ": "
		rows = append(rows,
			Row{Name: prefix + "smallest memoryMb that runs them (sandbox)", Unit: "MiB", Value: float64(hi), N: 1},
			Row{Name: prefix + "warren's count / V8's", Unit: "x", Value: float64(hi) / v8MiB, N: 1, Target: "<= 1.5"})
		if w.name != "objects" {
			rows = append(rows, Row{Name: prefix + "V8's heap (node)", Unit: "MiB", Value: v8MiB, N: 1})
			continue
		}
		// telemetry.memoryBytes under the default limit: the peak heap
		// growth over HeapRatio, garbage not yet collected included.
		var tele []float64
		for range 5 {
			r, err := runs(0)
			if err != nil {
				return nil, err
			}
			if !r.OK() {
				return nil, fmt.Errorf("objects under the default memoryMb: %s: %s", r.Outcome, r.Error)
			}
			tele = append(tele, float64(r.Telemetry.MemoryBytes)/(1<<20))
		}
		sort.Float64s(tele)
		rows = append(rows,
			Row{Name: prefix + "telemetry.memoryBytes, default limits (sandbox)", Unit: "MiB", Value: tele[len(tele)/2], P50: tele[len(tele)/2], N: len(tele)},
			Row{Name: prefix + "V8's heap (node)", Unit: "MiB", Value: v8MiB, N: 1})
	}
	// A 64 MiB ArrayBuffer, which V8 counts as 64 MiB of external memory.
	r := rt.Run(context.Background(), &isolate.Invocation{Code: &isolate.Code{MainModule: "main.js", Modules: map[string]*isolate.Module{"main.js": {Kind: isolate.ModuleESM,
		Source: `export default { fetch() { const b = new ArrayBuffer(64 << 20); return new Response(String(b.byteLength)); } }`}}}})
	if !r.OK() {
		return nil, fmt.Errorf("a 64 MiB ArrayBuffer under the default limits: %s: %s", r.Outcome, r.Error)
	}
	rows = append(rows, Row{Name: "isolate/memory vs V8, a 64 MiB ArrayBuffer: telemetry.memoryBytes (sandbox)", Unit: "MiB", Value: float64(r.Telemetry.MemoryBytes) / (1 << 20), N: 1})
	return rows, nil
}

// memoryCorpusDir finds isolate/testdata/memory from the working
// directory or one of its parents (bench runs from the repository).
func memoryCorpusDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "isolate", "testdata", "memory")
		if _, err := os.Stat(filepath.Join(p, "objects.js")); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("isolate/testdata/memory not found: run bench from the repository")
		}
	}
}

// v8Bytes is V8's figure for the corpus Worker name: measured by node now
// if there is one, else the committed one.
func v8Bytes(dir, name string) (int64, string, error) {
	if node, err := exec.LookPath("node"); err == nil {
		out, err := exec.Command(node, "--expose-gc", filepath.Join(dir, "v8measure.js"), "--one", filepath.Join(dir, name+".js")).Output()
		if err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
				v, _ := exec.Command(node, "--version").Output()
				return n, "measured now with node " + strings.TrimSpace(string(v)), nil
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "v8.json"))
	if err != nil {
		return 0, "", err
	}
	var f struct {
		MeasuredWith string           `json:"measuredWith"`
		Bytes        map[string]int64 `json:"bytes"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, "", fmt.Errorf("v8.json: %w", err)
	}
	if f.Bytes[name] <= 0 {
		return 0, "", fmt.Errorf("v8.json has no figure for %s", name)
	}
	return f.Bytes[name], "committed, " + f.MeasuredWith, nil
}
