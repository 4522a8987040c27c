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
// 100,000 small objects (isolate/testdata/memory/objects.js), against what
// V8 holds them in. warren's count is the smallest memoryMb the Worker
// runs under in a sandbox worker (to the MiB); V8's is Node's, measured
// now when node is on PATH, else the committed figure (v8.json).
func benchMemory() ([]Row, error) {
	dir, err := memoryCorpusDir()
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filepath.Join(dir, "objects.js"))
	if err != nil {
		return nil, err
	}
	v8, how, err := v8ObjectsBytes(dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "  V8 holds the objects in %.2f MiB (%s)\n", float64(v8)/(1<<20), how)
	rt, err := newRuntime(isolate.Sandboxed)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	code := func(mb int64) *isolate.Code {
		return &isolate.Code{MainModule: "main.js", Modules: map[string]*isolate.Module{"main.js": {Kind: isolate.ModuleESM, Source: string(src) + `
export default { fetch() { const rows = build(1); let n = 0; for (const r of rows) n += r.score; return new Response(String(n)); } }`}},
			Limits: &isolate.Limits{MemoryMB: mb, CPUMs: 30_000, WallMs: 60_000}}
	}
	runs := func(mb int64) (*isolate.Result, error) {
		r := rt.Run(context.Background(), &isolate.Invocation{Code: code(mb)})
		if r.Outcome != isolate.OutcomeOK && r.Outcome != isolate.OutcomeExceededMemory {
			return nil, fmt.Errorf("objects under memoryMb %d: %s: %s", mb, r.Outcome, r.Error)
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
	v8MiB := float64(v8) / (1 << 20)
	return []Row{
		{Name: "isolate/memory vs V8, 100,000 small objects: smallest memoryMb that runs them (sandbox)", Unit: "MiB", Value: float64(hi), N: 1},
		{Name: "isolate/memory vs V8, 100,000 small objects: warren's count / V8's", Unit: "x", Value: float64(hi) / v8MiB, N: 1, Target: "<= 1.5"},
		{Name: "isolate/memory vs V8, 100,000 small objects: telemetry.memoryBytes, default limits (sandbox)", Unit: "MiB", Value: tele[len(tele)/2], P50: tele[len(tele)/2], N: len(tele)},
		{Name: "isolate/memory vs V8, 100,000 small objects: V8's heap (node)", Unit: "MiB", Value: v8MiB, N: 1},
	}, nil
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

// v8ObjectsBytes is V8's figure for objects.js: measured by node now if
// there is one, else the committed one.
func v8ObjectsBytes(dir string) (int64, string, error) {
	if node, err := exec.LookPath("node"); err == nil {
		out, err := exec.Command(node, "--expose-gc", filepath.Join(dir, "v8measure.js"), "--one", filepath.Join(dir, "objects.js")).Output()
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
	if f.Bytes["objects"] <= 0 {
		return 0, "", errors.New("v8.json has no figure for objects")
	}
	return f.Bytes["objects"], "committed, " + f.MeasuredWith, nil
}
