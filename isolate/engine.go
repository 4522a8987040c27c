package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/jsengine"
	"github.com/warrenmesh/warren/isolate/internal/jswasm"
	"github.com/warrenmesh/warren/isolate/internal/wasmrun"
)

// engine runs invocations where the guest runs: in the node's process
// (in-process executor) or in a sandbox worker. It hands scripts and
// Durable Object events to the JS engine, WASI commands to wasmrun.
type engine struct {
	js   *jsengine.Engine
	wasm *wasmrun.Engine
	py   *pyEngine // made on the first Python call
	// cpuClock reads the CPU time of a process that runs one call at a
	// time (a sandbox worker's), nil in the node's process: see
	// contract.CountedCPU.
	cpuClock func() time.Duration
}

// newEngine makes an engine. heap, stuck and cpuClock are a sandbox
// worker's (nil in the node's process): the heap meter for the memory
// limit, what to do with a guest that cannot be interrupted, and the
// process's CPU clock. With cacheReadOnly the engine loads compiled wasm
// from wasmCacheDir and never stores any there (a sandbox worker that runs
// guest code: docs/security.md, "One tenant to a worker").
func newEngine(cacheSize int, wasmCacheDir string, cacheReadOnly bool, heap *jsengine.HeapMeter, stuck func(Outcome), cpuClock func() time.Duration) (*engine, error) {
	w, err := wasmrun.NewEngine(context.Background(), wasmrun.Options{CacheDir: wasmCacheDir, CacheReadOnly: cacheReadOnly, MaxCompiled: cacheSize})
	if err != nil {
		return nil, fmt.Errorf("isolate: wasm engine: %w", err)
	}
	if err := w.DiskCacheError(); err != nil {
		fmt.Fprintln(os.Stderr, "isolate: running without the wasm disk cache:", err)
	}
	if wasmCacheDir != "" {
		// WebAssembly from JS: its own directory (another runtime config).
		if err := jswasm.SetCacheDir(filepath.Join(wasmCacheDir, "js"), cacheReadOnly); err != nil {
			fmt.Fprintln(os.Stderr, "isolate: WebAssembly from JS runs without the disk cache:", err)
		}
	}
	return &engine{js: jsengine.New(cacheSize, heap, stuck, cpuClock), wasm: w, py: &pyEngine{cacheDir: wasmCacheDir, readOnly: cacheReadOnly}, cpuClock: cpuClock}, nil
}

// cpuTime is the CPU time of a run that took busy on the wall clock, its
// process having used cpu meanwhile, as contract.CountedCPU counts it in a
// process that runs one call at a time.
func (e *engine) cpuTime(busy, cpu time.Duration) time.Duration {
	if e.cpuClock == nil {
		return busy
	}
	return contract.CountedCPU(busy, cpu)
}

// errWall ends a WASI command at its wall-time limit.
var errWall = errors.New("wasm: wall-time limit")

func (e *engine) close() error {
	e.py.close()
	return e.wasm.Close(context.Background())
}

// execute runs one invocation. It never panics on guest behaviour.
func (e *engine) execute(ctx context.Context, r *contract.ExecRequest, host contract.HostConn) (res *Result) {
	if !r.Wasm && !r.Python {
		return e.js.Run(ctx, r, host)
	}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			res = contract.Failure(OutcomeInternalError, fmt.Sprintf("isolate: panic: %v", p))
		}
		contract.BoundResult(res)
		res.Telemetry.WallTime = contract.Millis(time.Since(start))
	}()
	if r.Python {
		return e.executePython(ctx, r, host)
	}
	return e.executeWasm(ctx, r, host)
}

// runObject runs one Durable Object event.
func (e *engine) runObject(ctx context.Context, r *contract.ObjectRequest, host contract.HostConn) *ObjectResult {
	return e.js.RunObject(ctx, r, host)
}

// evictObject drops an object's live instance, if any.
func (e *engine) evictObject(key string) { e.js.Evict(key) }

// executeWasm runs a WASI command: the request body on stdin, stdout as the
// response body. CPU and wall limits both bound it: a command does not wait
// on timers, so its wall time is its CPU time.
func (e *engine) executeWasm(ctx context.Context, r *contract.ExecRequest, host contract.HostConn) *Result {
	// The run's timeout (compiling is not the guest's) is the smaller
	// limit; in a sandbox worker it is the CPU limit, on the process's CPU
	// clock (wasmrun.Input.RunClock), and the wall limit a deadline.
	runTimeout := min(contract.LimitCPU(r.Limits), contract.LimitWall(r.Limits))
	if e.cpuClock != nil {
		runTimeout = contract.LimitCPU(r.Limits)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, contract.LimitWall(r.Limits), errWall)
		defer cancel()
	}
	env := map[string]string{}
	for k, v := range r.Env {
		var s string
		if json.Unmarshal(v, &s) == nil {
			env[k] = s
		} else {
			env[k] = string(v)
		}
	}
	in := wasmrun.Input{
		Hash: r.Hash, Stdin: r.Request.Body, Args: []string{"worker.wasm"}, Env: env,
		MemoryLimitBytes: contract.LimitMemory(r.Limits), Deterministic: r.Deterministic, Seed: seedOf(r.Hash), RunTimeout: runTimeout, RunClock: e.cpuClock,
	}
	out, err := e.wasm.Run(ctx, in)
	if errors.Is(err, wasmrun.ErrNotCached) {
		rep, herr := host.Call(ctx, &contract.HostCall{Op: contract.OpCode, Hash: r.Hash})
		if herr != nil || rep.Program == nil || rep.Program.Wasm == nil {
			return contract.Failure(OutcomeInternalError, fmt.Sprintf("fetching wasm %s: %v", r.Hash, herr))
		}
		in.Wasm = rep.Program.Wasm
		out, err = e.wasm.Run(ctx, in)
	}
	var res *Result
	var exit *wasmrun.ExitError
	switch {
	case err == nil:
		res = contract.Failure(OutcomeOK, "")
		res.Response = &Response{Status: 200, Headers: map[string]string{"content-type": "application/octet-stream"}, Body: out.Stdout}
	case errors.Is(err, wasmrun.ErrMemoryLimit):
		res = contract.Failure(OutcomeExceededMemory, fmt.Sprintf("Worker exceeded its memory limit of %d MiB", r.Limits.MemoryMB))
	case errors.Is(context.Cause(ctx), errWall),
		errors.Is(err, context.DeadlineExceeded) && e.cpuClock == nil && contract.LimitCPU(r.Limits) > contract.LimitWall(r.Limits):
		res = contract.Failure(OutcomeExceededWallTime, fmt.Sprintf("Worker exceeded its wall-time limit of %d ms", r.Limits.WallMs))
	case errors.Is(err, context.DeadlineExceeded):
		res = contract.Failure(OutcomeExceededCPU, fmt.Sprintf("Worker exceeded its CPU time limit of %d ms", r.Limits.CPUMs))
	case errors.Is(err, context.Canceled):
		res = contract.Failure(OutcomeCanceled, "the invocation was canceled")
	case errors.As(err, &exit):
		res = contract.ExceptionResult("WasmExit", fmt.Sprintf("the module exited with status %d: %s", exit.Code, tail(exit.Stderr, 2048)), "")
	case errors.Is(err, wasmrun.ErrOutputTooLarge):
		res = contract.ExceptionResult("RangeError", err.Error(), "")
	case strings.HasPrefix(err.Error(), "wasm: compile"):
		res = contract.ExceptionResult("CompileError", err.Error(), "")
	case strings.HasPrefix(err.Error(), "wasm: instantiate"):
		res = contract.ExceptionResult("LinkError", err.Error(), "")
	default:
		res = contract.ExceptionResult("RuntimeError", err.Error(), "")
	}
	if out != nil {
		res.Telemetry.ColdStart = out.Compiled
		res.Telemetry.StartupMs = contract.Millis(out.CompileTime)
		res.Telemetry.CPUTime = contract.Millis(e.cpuTime(out.RunTime, out.RunCPU))
		res.Telemetry.MemoryBytes = int64(out.MemoryBytes)
		if len(out.Stderr) > 0 && res.Outcome == OutcomeOK {
			now := time.Now().UnixMilli()
			var logs contract.LogBook
			for _, line := range strings.Split(strings.TrimRight(string(out.Stderr), "\n"), "\n") {
				logs.Add(now, "error", line)
			}
			res.Logs = logs.List(now)
		}
	}
	return res
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// seedOf derives the WASI random seed from the module's hash, for the
// deterministic mode: the same per program, as the fake clock is.
func seedOf(hash string) int64 {
	var s int64
	for i := 0; i < len(hash) && i < 16; i++ {
		s = s*31 + int64(hash[i])
	}
	return s
}
