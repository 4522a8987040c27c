package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/internal/sizedlru"
	"github.com/warrenmesh/warren/isolate/internal/wasmrun"
)

// program is prepared code as it travels to the engine that runs it: a
// bundled script or a wasm module, named by the code's hash.
type program struct {
	Hash   string `json:"hash"`
	Name   string `json:"name"`
	Script string `json:"script,omitempty"`
	Wasm   []byte `json:"wasm,omitempty"`
}

// execRequest is one invocation as an engine sees it (and the request frame
// a sandbox worker receives): code by hash only, fetched with an opCode host
// call on a cache miss.
type execRequest struct {
	Hash string `json:"hash"`
	Wasm bool   `json:"wasm,omitempty"`
	// Deterministic seeds a WASI command's random_get from the module's hash
	// (compatibility flag DeterministicRandomFlag).
	Deterministic bool                       `json:"deterministic,omitempty"`
	Request       *Request                   `json:"request"`
	Scheduled     *ScheduledEvent            `json:"scheduled,omitempty"` // run the scheduled handler, not fetch
	Env           map[string]json.RawMessage `json:"env,omitempty"`
	Bindings      map[string]Binding         `json:"bindings,omitempty"`
	Limits        Limits                     `json:"limits"`
}

// engine runs invocations where the guest runs: in the node's process
// (in-process executor) or in a sandbox worker. It caches compiled programs.
type engine struct {
	compiled *sizedlru.Cache[string, *goja.Program]
	wasm     *wasmrun.Engine
	heap     func() int64
	stuck    func(Outcome)
	objects  objectTable // live Durable Object instances
}

// compiledCacheBytes bounds the compiled programs an engine keeps (per
// sandbox worker), by an estimate of their size (compiledSize).
const compiledCacheBytes = 128 << 20

// compiledSize estimates the memory of a compiled program from its source.
func compiledSize(script string) int64 { return 2 * int64(len(script)) }

func newEngine(cacheSize int, wasmCacheDir string, heap func() int64, stuck func(Outcome)) (*engine, error) {
	c := sizedlru.New[string, *goja.Program](cacheSize, compiledCacheBytes)
	w, err := wasmrun.NewEngine(context.Background(), wasmrun.Options{CacheDir: wasmCacheDir, MaxCompiled: cacheSize})
	if err != nil {
		return nil, fmt.Errorf("isolate: wasm engine: %w", err)
	}
	if err := w.DiskCacheError(); err != nil {
		fmt.Fprintln(os.Stderr, "isolate: running without the wasm disk cache:", err)
	}
	return &engine{compiled: c, wasm: w, heap: heap, stuck: stuck}, nil
}

func (e *engine) close() error { return e.wasm.Close(context.Background()) }

// execute runs one invocation. It never panics on guest behaviour.
func (e *engine) execute(ctx context.Context, r *execRequest, host hostConn) (res *Result) {
	start := time.Now()
	var sent *Result // the result so far, once the response is out
	defer func() {
		if p := recover(); p != nil {
			res = &Result{Outcome: OutcomeInternalError, Error: fmt.Sprintf("isolate: panic: %v", p), Logs: []Log{}, Exceptions: []Exception{}}
			if sent != nil { // the response stands
				res = afterResponse(sent, res.Error)
			}
		}
		boundResult(res)
		res.Telemetry.WallTime = ms(time.Since(start))
	}()
	if r.Wasm {
		return e.executeWasm(ctx, r, host)
	}
	prog, cold, res := e.program(ctx, r.Hash, host)
	if res != nil {
		return res
	}
	pre := ms(time.Since(start)) // fetching and compiling the code
	telemetry := func(res *Result) {
		res.Telemetry.ColdStart = cold
		if cold {
			res.Telemetry.StartupMs += pre
		}
	}
	res = runJS(ctx, &jsCall{
		prog: prog, req: r.Request, scheduled: r.Scheduled, env: r.Env, bindings: r.Bindings,
		limits: r.Limits, host: host, heap: e.heap, stuck: e.stuck,
		respond: func(partial *Result) {
			telemetry(partial)
			partial.Telemetry.WallTime = ms(time.Since(start))
			boundResult(partial)
			sent = partial
			// A failure to hand it over shows in the final result.
			_, _ = host.call(ctx, &hostCall{Op: opRespond, Result: partial})
		},
	})
	telemetry(res)
	return res
}

// afterResponse is the final result of a call whose response went out
// (sent, the result then) when a failure, described by why, ended its
// ctx.waitUntil work: the response stands.
func afterResponse(sent *Result, why string) *Result {
	res := *sent
	res.Logs = slices.Clone(sent.Logs)
	res.Exceptions = slices.Clone(sent.Exceptions)
	res.Error = "ctx.waitUntil work was canceled: " + why
	res.Telemetry.WallTime = 0 // the caller's to fill in
	return &res
}

// program returns the compiled program for hash, fetching its source from
// the host on a miss.
func (e *engine) program(ctx context.Context, hash string, host hostConn) (*goja.Program, bool, *Result) {
	if p, ok := e.compiled.Get(hash); ok {
		return p, false, nil
	}
	rep, err := host.call(ctx, &hostCall{Op: opCode, Hash: hash})
	if err != nil {
		return nil, false, failure(OutcomeInternalError, fmt.Sprintf("fetching code %s: %v", hash, err))
	}
	if rep.Program == nil || rep.Program.Script == "" {
		return nil, false, failure(OutcomeInternalError, fmt.Sprintf("host has no script for code %s", hash))
	}
	p, err := goja.Compile(rep.Program.Name, rep.Program.Script, true)
	if err != nil {
		return nil, false, exceptionResult("SyntaxError", err.Error(), "")
	}
	e.compiled.Add(hash, p, compiledSize(rep.Program.Script))
	return p, true, nil
}

func failure(o Outcome, msg string) *Result {
	return &Result{Outcome: o, Error: msg, Logs: []Log{}, Exceptions: []Exception{}}
}

func exceptionResult(name, msg, stack string) *Result {
	r := failure(OutcomeException, "")
	r.Exceptions = append(r.Exceptions, Exception{Timestamp: time.Now().UnixMilli(), Name: name, Message: msg, Stack: stack})
	return r
}

// executeWasm runs a WASI command: the request body on stdin, stdout as the
// response body. CPU and wall limits both bound it: a command does not wait
// on timers, so its wall time is its CPU time.
func (e *engine) executeWasm(ctx context.Context, r *execRequest, host hostConn) *Result {
	limit := min(r.Limits.cpu(), r.Limits.wall())
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
		MemoryLimitBytes: r.Limits.memoryBytes(), Deterministic: r.Deterministic, Seed: seedOf(r.Hash), RunTimeout: limit,
	}
	out, err := e.wasm.Run(ctx, in)
	if errors.Is(err, wasmrun.ErrNotCached) {
		rep, herr := host.call(ctx, &hostCall{Op: opCode, Hash: r.Hash})
		if herr != nil || rep.Program == nil || rep.Program.Wasm == nil {
			return failure(OutcomeInternalError, fmt.Sprintf("fetching wasm %s: %v", r.Hash, herr))
		}
		in.Wasm = rep.Program.Wasm
		out, err = e.wasm.Run(ctx, in)
	}
	var res *Result
	var exit *wasmrun.ExitError
	switch {
	case err == nil:
		res = failure(OutcomeOK, "")
		res.Response = &Response{Status: 200, Headers: map[string]string{"content-type": "application/octet-stream"}, Body: out.Stdout}
	case errors.Is(err, wasmrun.ErrMemoryLimit):
		res = failure(OutcomeExceededMemory, fmt.Sprintf("Worker exceeded its memory limit of %d MiB", r.Limits.MemoryMB))
	case errors.Is(err, context.DeadlineExceeded):
		if r.Limits.cpu() <= r.Limits.wall() {
			res = failure(OutcomeExceededCPU, fmt.Sprintf("Worker exceeded its CPU time limit of %d ms", r.Limits.CPUMs))
		} else {
			res = failure(OutcomeExceededWallTime, fmt.Sprintf("Worker exceeded its wall-time limit of %d ms", r.Limits.WallMs))
		}
	case errors.Is(err, context.Canceled):
		res = failure(OutcomeCanceled, "the invocation was canceled")
	case errors.As(err, &exit):
		res = exceptionResult("WasmExit", fmt.Sprintf("the module exited with status %d: %s", exit.Code, tail(exit.Stderr, 2048)), "")
	case errors.Is(err, wasmrun.ErrOutputTooLarge):
		res = exceptionResult("RangeError", err.Error(), "")
	case strings.HasPrefix(err.Error(), "wasm: compile"):
		res = exceptionResult("CompileError", err.Error(), "")
	case strings.HasPrefix(err.Error(), "wasm: instantiate"):
		res = exceptionResult("LinkError", err.Error(), "")
	default:
		res = exceptionResult("RuntimeError", err.Error(), "")
	}
	if out != nil {
		res.Telemetry.ColdStart = out.Compiled
		res.Telemetry.StartupMs = ms(out.CompileTime)
		res.Telemetry.CPUTime = ms(out.RunTime)
		res.Telemetry.MemoryBytes = int64(out.MemoryBytes)
		if len(out.Stderr) > 0 && res.Outcome == OutcomeOK {
			now := time.Now().UnixMilli()
			var logs logBook
			for _, line := range strings.Split(strings.TrimRight(string(out.Stderr), "\n"), "\n") {
				logs.add(now, "error", line)
			}
			res.Logs = logs.list(now)
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
