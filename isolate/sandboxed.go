package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/warrenmesh/warren/internal/memtrim"
	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// Exit codes a sandbox worker uses when its watchdog ends a guest that did
// not respond to an interrupt (a long native call).
const (
	exitCPU    = 71
	exitMemory = 72
	exitWall   = 73
)

// workerOverheadMB is added to MaxMemoryMB for a worker's hard cap: the Go
// runtime, goja and the engine's caches.
const workerOverheadMB = 192

// killGrace is how long after a call's wall deadline the node kills a
// worker that has not answered.
const killGrace = time.Second

// IsWorker reports whether this process was started as a sandbox worker;
// main should then call ServeWorker and exit.
func IsWorker() bool { return sandbox.IsWorker() }

// ServeWorker runs the sandbox worker loop until the node closes the
// channel. It is the hidden worker mode of the warren binary.
func ServeWorker() error {
	boundRegexps()
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var sampleMu sync.Mutex
	heap := func() int64 {
		sampleMu.Lock()
		defer sampleMu.Unlock()
		metrics.Read(samples)
		return int64(samples[0].Value.Uint64())
	}
	stuck := func(o Outcome) {
		code := exitCPU
		switch o {
		case OutcomeExceededMemory:
			code = exitMemory
		case OutcomeExceededWallTime:
			code = exitWall
		}
		os.Exit(code)
	}
	cacheDir := os.Getenv("WARREN_WASM_CACHE")
	e, err := newEngine(64, cacheDir, heap, stuck)
	if err != nil {
		return err
	}
	defer e.close()
	// A guest that used much of its memory, or a large preparation, leaves
	// the heap at its peak until the next collection, which an idle worker
	// may not run for minutes.
	trimCtx, stopTrim := context.WithCancel(context.Background())
	defer stopTrim()
	go memtrim.Run(trimCtx, 2*time.Second, 64<<20)
	return sandbox.Serve(func(ctx context.Context, req []byte, call func([]byte) ([]byte, error)) []byte {
		if len(req) > 0 && req[0] == wirePrepare {
			return servePrepare(req)
		}
		r, err := decodeExec(req)
		if err != nil {
			return encodeResult(failure(OutcomeInternalError, fmt.Sprintf("worker: bad request: %v", err)))
		}
		// Host calls are serialised on the channel, and none may be in
		// flight when the answer goes back.
		var mu sync.Mutex
		closed := false
		host := func(ctx context.Context, c *hostCall) (*hostReply, error) {
			mu.Lock()
			defer mu.Unlock()
			if closed {
				return nil, errors.New("the invocation has ended")
			}
			b, err := json.Marshal(c)
			if err != nil {
				return nil, err
			}
			out, err := call(b)
			if err != nil {
				return nil, err
			}
			var rep hostReply
			if err := json.Unmarshal(out, &rep); err != nil {
				return nil, fmt.Errorf("worker: bad host reply: %w", err)
			}
			return &rep, nil
		}
		res := e.execute(ctx, r, host)
		mu.Lock()
		closed = true
		mu.Unlock()
		return encodeResult(res)
	})
}

// sandboxed runs invocations in the pool's worker processes.
type sandboxed struct {
	pool *sandbox.Pool
	log  *slog.Logger
}

func newSandboxed(opts Options) (*sandboxed, error) {
	cmd := opts.WorkerCommand
	if opts.CacheDir != "" {
		base := cmd
		cmd = func() *exec.Cmd {
			var c *exec.Cmd
			if base != nil {
				c = base()
			} else {
				exe, _ := os.Executable()
				c = exec.Command(exe)
			}
			c.Env = append(c.Environ(), "WARREN_WASM_CACHE="+opts.CacheDir)
			return c
		}
	}
	p, err := sandbox.NewPool(sandbox.Config{
		Command:          cmd,
		Workers:          opts.Workers,
		MemoryLimitBytes: (opts.MaxMemoryMB + workerOverheadMB) << 20,
		Logger:           opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("isolate: starting sandbox workers: %w", err)
	}
	return &sandboxed{pool: p, log: opts.Logger}, nil
}

func (s *sandboxed) name() string { return string(Sandboxed) }
func (s *sandboxed) close() error { return s.pool.Close() }

// Stats describes the worker pool (for /healthz and metrics).
func (rt *Runtime) Stats() any {
	if s, ok := rt.exec.(*sandboxed); ok {
		return s.pool.Stats()
	}
	return map[string]any{"executor": string(InProcess), "layers": []string{}}
}

func (s *sandboxed) execute(ctx context.Context, r *execRequest, host hostFunc) *Result {
	req, err := encodeExec(r)
	if err != nil {
		return failure(OutcomeInternalError, fmt.Sprintf("encoding the invocation: %v", err))
	}
	deadline := time.Now().Add(r.Limits.wall() + killGrace)
	// A host call (egress, KV, a held effect) ends by the wall-time limit
	// too: the pool waits for it, so it must not outlive the call.
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	out, err := s.pool.Call(ctx, req, sandbox.CallOptions{Deadline: deadline}, func(msg []byte) ([]byte, error) {
		var c hostCall
		if err := json.Unmarshal(msg, &c); err != nil {
			return nil, fmt.Errorf("bad host call: %w", err)
		}
		rep, err := host(hctx, &c)
		if err != nil {
			rep = &hostReply{Error: err.Error()}
		}
		return json.Marshal(rep)
	})
	if err != nil {
		return s.crashResult(ctx, r, err)
	}
	res, err := decodeResult(out)
	if err != nil {
		return failure(OutcomeInternalError, fmt.Sprintf("decoding the worker's result: %v", err))
	}
	return res
}

// crashResult maps a worker that died or was killed to an outcome. What
// the worker printed (a Go stack trace, the host's paths) goes to the
// node's log, never to the caller.
func (s *sandboxed) crashResult(ctx context.Context, r *execRequest, err error) *Result {
	var ce *sandbox.CrashError
	if !errors.As(err, &ce) {
		if ctx.Err() != nil {
			return failure(OutcomeCanceled, "the invocation was canceled")
		}
		s.log.Warn("sandbox call failed", "code", r.Hash, "err", err)
		return failure(OutcomeInternalError, "the sandbox failed to run the invocation")
	}
	cpuMsg := fmt.Sprintf("Worker exceeded its CPU time limit of %d ms", r.Limits.CPUMs)
	memMsg := fmt.Sprintf("Worker exceeded its memory limit of %d MiB", r.Limits.MemoryMB)
	wallMsg := fmt.Sprintf("Worker exceeded its wall-time limit of %d ms", r.Limits.WallMs)
	switch {
	case ce.MemoryExceeded || ce.ExitCode == exitMemory:
		return failure(OutcomeExceededMemory, memMsg)
	case ce.ExitCode == exitCPU:
		return failure(OutcomeExceededCPU, cpuMsg)
	case ce.ExitCode == exitWall || ce.Reason == "deadline":
		return failure(OutcomeExceededWallTime, wallMsg)
	case ctx.Err() != nil:
		return failure(OutcomeCanceled, "the invocation was canceled")
	}
	s.log.Warn("sandbox worker died", "code", r.Hash, "reason", ce.Reason, "exit", ce.ExitCode, "signal", ce.Signal, "output", ce.Stderr)
	msg := fmt.Sprintf("the sandbox worker running the invocation died (%s", ce.Reason)
	if ce.Signal != "" {
		msg += ", signal " + ce.Signal
	} else if ce.ExitCode >= 0 {
		msg += fmt.Sprintf(", exit status %d", ce.ExitCode)
	}
	return failure(OutcomeInternalError, msg+")")
}
