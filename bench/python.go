package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

func init() {
	benchmarks = append(benchmarks, benchmark{"isolate/python", benchPython})
}

// pyCode is a Python code object of one script.
func pyCode(src string) *isolate.Code {
	return &isolate.Code{MainModule: "main.py", Modules: map[string]*isolate.Module{"main.py": {Kind: isolate.ModulePython, Source: src}}}
}

// pyTransform is the per-call work of the "import + transform" row: the
// imports are in the snapshot, so a call pays for the transform.
const pyTransform = `import json, re, datetime
doc = json.loads('{"orders": [{"id": "A-1", "at": "2024-03-01T10:00:00", "total": "12.50"}, {"id": "B-22", "at": "2024-03-02T16:30:00", "total": "7.25"}]}')
out = []
for o in doc["orders"]:
    at = datetime.datetime.fromisoformat(o["at"])
    out.append({"id": re.sub(r"\D", "", o["id"]), "day": at.strftime("%A"), "cents": int(float(o["total"]) * 100)})
print(json.dumps(out))
`

// pyLoop is the CPU-bound row: it prints its own loop time, so that the
// ratio compares interpreters, not start-ups.
const pyLoop = `import time
t = time.perf_counter()
d = {}
s = 0
for i in range(300000):
    k = i % 1000
    d[k] = d.get(k, 0) + i
    s += len(str(i)) * (i & 7)
print(s, len(d), time.perf_counter() - t)
`

func benchPython() ([]Row, error) {
	if isolate.PythonAvailable() != nil {
		if _, err := os.Stat(filepath.Join("build", "python", "python.wasm")); err == nil {
			if err := isolate.SetPythonDir(filepath.Join("build", "python")); err != nil {
				return nil, err
			}
		}
	}
	if err := isolate.PythonAvailable(); err != nil {
		return nil, fmt.Errorf("python rows: %w", err)
	}
	var rows []Row
	for _, kind := range []isolate.ExecutorKind{isolate.Sandboxed, isolate.InProcess} {
		rt, err := newRuntime(kind)
		if err != nil {
			return nil, err
		}
		hello := pyCode(`print("hello")`)
		if _, err := serial(rt, hello, 50); err != nil { // compile, snapshot in every worker
			rt.Close()
			return nil, err
		}
		d, err := serial(rt, hello, 1000)
		if err != nil {
			rt.Close()
			return nil, err
		}
		p50, p99 := latencies(d)
		target := ""
		if kind == isolate.Sandboxed {
			target = "p50 <= 5 ms"
		}
		rows = append(rows, Row{Name: "isolate/python fresh instance print(\"hello\") serial latency (" + string(kind) + ")", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: target})
		if kind == isolate.Sandboxed {
			rate, n, err := throughput(rt, hello, 16, 3*time.Second)
			if err != nil {
				rt.Close()
				return nil, err
			}
			rows = append(rows, Row{Name: "isolate/python fresh instance print(\"hello\") throughput, 16 clients (sandbox)", Unit: "inv/s", Value: rate, N: n, Target: "report"})
			tr := pyCode(pyTransform)
			if _, err := serial(rt, tr, 20); err != nil {
				rt.Close()
				return nil, err
			}
			d, err := serial(rt, tr, 300)
			if err != nil {
				rt.Close()
				return nil, err
			}
			p50, p99 := latencies(d)
			rows = append(rows, Row{Name: "isolate/python import json, re, datetime + small JSON transform per call (sandbox)", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: "report"})
			ratio, n, err := pyLoopRatio(rt)
			if err != nil {
				rt.Close()
				return nil, err
			}
			rows = append(rows, Row{Name: "isolate/python CPU-bound loop, time ratio to native python3.11 (sandbox)", Unit: "x", Value: ratio, N: n, Target: "report (3-10x expected)"})
		}
		rt.Close()
	}
	// Through the API, as an agent sends it: POST /v1/run on a warren
	// node process (bin/warren, with its sandbox workers).
	url, _, stop, err := startNodeProcess()
	if err != nil {
		return nil, err
	}
	defer stop()
	cl := httpClient()
	code, _ := json.Marshal(pyCode(`print("hello")`))
	body, _ := json.Marshal(map[string]any{"code": json.RawMessage(code)})
	post := func() error {
		resp, err := cl.Post(url+"/v1/run", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"outcome":"ok"`)) || !bytes.Contains(b, []byte(`"body":"hello\n"`)) {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
		}
		return nil
	}
	for range 100 { // every sandbox worker takes its snapshot
		if err := post(); err != nil {
			return nil, err
		}
	}
	var d []time.Duration
	for range 1000 {
		t0 := time.Now()
		if err := post(); err != nil {
			return nil, err
		}
		d = append(d, time.Since(t0))
	}
	p50, p99 := latencies(d)
	rows = append(rows, Row{Name: "isolate/python fresh instance print(\"hello\") via POST /v1/run, serial latency (one warren node process, Go client)", Unit: "ms", Value: p50, P50: p50, P99: p99, N: len(d), Target: "p50 <= 5 ms"})
	return rows, nil
}

// pyLoopRatio runs pyLoop in warren and in /usr/bin/python3.11 n times each,
// alternating, and returns the ratio of the medians of the loop times.
func pyLoopRatio(rt *isolate.Runtime) (float64, int, error) {
	const n = 5
	loopTime := func(out string) (float64, error) {
		f := strings.Fields(out)
		if len(f) != 3 {
			return 0, fmt.Errorf("loop printed %q", out)
		}
		return strconv.ParseFloat(f[2], 64)
	}
	var w, nat []time.Duration
	code := pyCode(pyLoop)
	code.Limits = &isolate.Limits{CPUMs: 30_000, WallMs: 60_000}
	for range n {
		r := rt.Run(context.Background(), &isolate.Invocation{Code: code})
		if !r.OK() {
			return 0, 0, fmt.Errorf("loop: %s: %s %+v", r.Outcome, r.Error, r.Exceptions)
		}
		s, err := loopTime(string(r.Response.Body))
		if err != nil {
			return 0, 0, err
		}
		w = append(w, time.Duration(s*float64(time.Second)))
		out, err := exec.Command("/usr/bin/python3.11", "-I", "-c", pyLoop).Output()
		if err != nil {
			return 0, 0, fmt.Errorf("native python3.11: %w", err)
		}
		s, err = loopTime(string(out))
		if err != nil {
			return 0, 0, err
		}
		nat = append(nat, time.Duration(s*float64(time.Second)))
	}
	wp, _ := latencies(w)
	np, _ := latencies(nat)
	return wp / np, n, nil
}
