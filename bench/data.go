package main

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// dataWorkloadJS is the data workload of issue 13: build 100,000 small
// objects, JSON both ways, sort with a comparator, a 3-million-step let
// loop. It answers with each step's milliseconds.
//
//go:embed testdata/data-workload.js
var dataWorkloadJS string

func init() {
	benchmarks = append(benchmarks, benchmark{"isolate/data", benchData})
}

// dataSteps are the workload's steps, in its order.
var dataSteps = []string{"build", "stringify", "parse", "sort", "loop"}

// dataTimes is one run's answer: milliseconds per step, plus a checksum
// both engines must agree on.
type dataTimes struct {
	Build     float64 `json:"build"`
	Stringify float64 `json:"stringify"`
	Parse     float64 `json:"parse"`
	Sort      float64 `json:"sort"`
	Loop      float64 `json:"loop"`
	Bytes     int     `json:"bytes"`
	Check     string  `json:"check"`
}

func (t dataTimes) step(name string) float64 {
	switch name {
	case "build":
		return t.Build
	case "stringify":
		return t.Stringify
	case "parse":
		return t.Parse
	case "sort":
		return t.Sort
	default:
		return t.Loop
	}
}

func (t dataTimes) total() float64 { return t.Build + t.Stringify + t.Parse + t.Sort + t.Loop }

// dataRuns is how many times each engine runs the workload; a row's value
// is the median run (by total).
const dataRuns = 5

// benchData runs the workload in a fresh isolate of the sandboxed executor
// (limits raised: it needs more than the default CPU and memory) and in
// Node, each run a fresh process's first call, as a fresh isolate sees
// it; rows per step for both and the ratio of the totals. With
// WARREN_BENCH_DATA_INPROCESS=1 warren runs in process, so that
// bin/bench -cpuprofile sees goja's work.
func benchData() ([]Row, error) {
	kind := isolate.Sandboxed
	if os.Getenv("WARREN_BENCH_DATA_INPROCESS") == "1" {
		kind = isolate.InProcess
	}
	rt, err := isolate.New(isolate.Options{Executor: kind, Node: "bench", MaxMemoryMB: 2048})
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	code := &isolate.Code{MainModule: "main.js", Modules: map[string]*isolate.Module{
		"main.js": {Kind: isolate.ModuleESM, Source: dataWorkloadJS},
	}, Limits: &isolate.Limits{CPUMs: 60_000, WallMs: 120_000, MemoryMB: 2048}}
	// Runs alternate between the engines, so that what else the machine
	// does weighs on both alike.
	var warren, node []dataTimes
	for range dataRuns {
		r := rt.Run(context.Background(), &isolate.Invocation{Code: code})
		if !r.OK() || r.Response == nil {
			return nil, fmt.Errorf("warren: outcome %s: %s %+v", r.Outcome, r.Error, r.Exceptions)
		}
		var t dataTimes
		if err := json.Unmarshal(r.Response.Body, &t); err != nil {
			return nil, fmt.Errorf("warren's answer %.200q: %w", r.Response.Body, err)
		}
		warren = append(warren, t)
		t, err := runNodeData()
		if err != nil {
			return nil, err
		}
		node = append(node, t)
	}
	w, n := medianRun(warren), medianRun(node)
	if w.Check != n.Check || w.Bytes != n.Bytes {
		return nil, fmt.Errorf("warren and Node disagree: %d bytes %q against %d bytes %q", w.Bytes, w.Check, n.Bytes, n.Check)
	}
	var rows []Row
	for _, s := range dataSteps {
		rows = append(rows,
			Row{Name: fmt.Sprintf("isolate/data %s (warren %s)", s, kind), Unit: "ms", Value: w.step(s), N: dataRuns},
			Row{Name: fmt.Sprintf("isolate/data %s (node)", s), Unit: "ms", Value: n.step(s), N: dataRuns})
	}
	rows = append(rows,
		Row{Name: fmt.Sprintf("isolate/data whole workload (warren %s)", kind), Unit: "ms", Value: w.total(), N: dataRuns},
		Row{Name: "isolate/data whole workload (node)", Unit: "ms", Value: n.total(), N: dataRuns},
		Row{Name: fmt.Sprintf("isolate/data whole workload, ratio warren (%s) / node", kind), Unit: "x", Value: w.total() / n.total(), N: dataRuns, Target: "<= 8 (stretch 5)"})
	return rows, nil
}

// medianRun is the run whose total is the median.
func medianRun(ts []dataTimes) dataTimes {
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b dataTimes) int { return cmp.Compare(a.total(), b.total()) })
	return s[len(s)/2]
}

// runNodeData runs the workload in a new node process: the Worker's
// module with its export turned into a plain object and a line that
// prints runWorkload()'s answer.
func runNodeData() (dataTimes, error) {
	var t dataTimes
	src := strings.Replace(dataWorkloadJS, "export default {", "const worker = {", 1) +
		"\nconsole.log(JSON.stringify(runWorkload()));\n"
	dir, err := os.MkdirTemp("", "warren-bench-data")
	if err != nil {
		return t, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "workload.mjs")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		return t, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "node", path).Output()
	if err != nil {
		return t, fmt.Errorf("node: %w", err)
	}
	if err := json.Unmarshal(out, &t); err != nil {
		return t, fmt.Errorf("node's answer %.200q: %w", out, err)
	}
	return t, nil
}
