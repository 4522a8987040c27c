package isolate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/warrenmesh/warren/internal/memtrim"
	"github.com/warrenmesh/warren/internal/stagetime"
	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/jsengine"
	"github.com/warrenmesh/warren/isolate/internal/pyrun"
	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// The environment of a sandbox worker: the node's wasm cache, and "1" in
// a preparer (which writes it).
const (
	envWasmCache = "WARREN_WASM_CACHE"
	envPreparer  = "WARREN_PREPARER"
)

// Exit codes a sandbox worker uses when its watchdog ends a guest that did
// not respond to an interrupt (a long native call).
const (
	exitCPU    = 71
	exitMemory = 72
	exitWall   = 73
)

// workerOverheadMB is added to a worker's hard cap: the Go runtime, goja
// and the engine's caches.
const workerOverheadMB = 192

// workerCapMB is a sandbox worker's hard memory cap, in MiB, for a largest
// memoryMb of maxMemoryMB: a call may grow the worker's live heap by
// HeapRatio × memoryMb (memoryMb counts memory as V8 would), the worker
// has its own overhead, and the Go runtime's soft limit, which makes it
// collect hard as the heap nears it, is 7/8 of the cap.
func workerCapMB(maxMemoryMB int64) int64 {
	return ((HeapRatio*maxMemoryMB+workerOverheadMB)*8 + 6) / 7
}

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
	heap := jsengine.NewHeapMeter()
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
	// The engine is made once the worker has set up its isolation: the
	// wasm cache belongs to the worker's uid, which reaches it through
	// sandbox.WritablePath. Only a preparer (which runs no guest code, and
	// so makes no engine) writes it; a worker that runs calls reads it.
	if os.Getenv(envPreparer) == "1" {
		return sandbox.ServeEngine(func() (sandbox.Engine, error) {
			sandbox.AllowRead(os.Getenv(pyrun.DirEnv)) // read on its first Python preparation
			cacheDir := sandbox.WritablePath(os.Getenv(envWasmCache))
			go memtrim.Run(context.Background(), 2*time.Second, 64<<20)
			return sandbox.Engine{Handle: func(_ context.Context, req []byte, _ func([]byte) ([]byte, error)) []byte {
				switch {
				case len(req) > 0 && req[0] == wirePrepare:
					return servePrepare(req)
				case len(req) == 1 && req[0] == wirePython && cacheDir != "":
					return servePython(cacheDir)
				}
				return contract.EncodeResult(contract.Failure(OutcomeInternalError, "worker: a preparer runs no calls"))
			}}, nil
		})
	}
	return sandbox.ServeEngine(func() (sandbox.Engine, error) {
		sandbox.AllowRead(os.Getenv(pyrun.DirEnv)) // read on its first Python call
		cacheDir := sandbox.WritablePath(os.Getenv(envWasmCache))
		e, err := newEngine(64, cacheDir, true, heap, stuck, contract.ProcessCPUClock())
		if err != nil {
			return sandbox.Engine{}, err
		}
		// A guest that used much of its memory, or a large preparation, leaves
		// the heap at its peak until the next collection, which an idle worker
		// may not run for minutes. The worker exits at the end: nothing stops it.
		go memtrim.Run(context.Background(), 2*time.Second, 64<<20)
		// The garbage of a call that used much memory is collected once its
		// answer is out (heap.Tidy), not at the start of the next call.
		return sandbox.Engine{Tidy: heap.Tidy, Handle: func(ctx context.Context, req []byte, call func([]byte) ([]byte, error)) []byte {
			switch {
			case len(req) > 0 && req[0] == contract.WireObject:
				r, err := contract.DecodeObject(req)
				if err != nil {
					return contract.EncodeObjectResult(contract.ObjectFailure(OutcomeInternalError, fmt.Sprintf("worker: bad request: %v", err)))
				}
				send, end := workerSend(call)
				res := e.runObject(ctx, r, &contract.IPCHost{Send: send})
				end()
				return contract.EncodeObjectResult(res)
			}
			r, err := contract.DecodeExec(req)
			if err != nil {
				return contract.EncodeResult(contract.Failure(OutcomeInternalError, fmt.Sprintf("worker: bad request: %v", err)))
			}
			send, end := workerSend(call)
			res := e.execute(ctx, r, &contract.IPCHost{Send: send})
			if responded := end(); responded && res.Outcome == OutcomeOK {
				// The node has the response already (see sandboxed.execute).
				stripped := *res
				stripped.Response = nil
				return contract.EncodeResult(&stripped)
			}
			return contract.EncodeResult(res)
		}}, nil
	})
}

// workerSend makes the function a worker's engine sends host calls with,
// over call, for one request; end closes it (no call may be in flight
// when the answer goes back) and reports whether an OpRespond call went.
func workerSend(call func([]byte) ([]byte, error)) (send func(*contract.HostCall) (*contract.HostReply, error), end func() bool) {
	// Host calls are serialised on the channel.
	var mu sync.Mutex
	closed, responded := false, false
	send = func(c *contract.HostCall) (*contract.HostReply, error) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return nil, errors.New("the invocation has ended")
		}
		var b []byte
		var err error
		switch {
		case c.Op == contract.OpRespond:
			b = contract.EncodeRespond(c.Result)
		case c.Op == contract.OpBody:
			b = contract.EncodeBody(c)
		default:
			b, err = contract.EncodeHostCall(c)
		}
		if err != nil {
			return nil, err
		}
		out, err := call(b)
		if err != nil {
			return nil, err
		}
		responded = responded || c.Op == contract.OpRespond
		rep, err := contract.DecodeHostReply(out)
		if err != nil {
			return nil, fmt.Errorf("worker: bad host reply: %w", err)
		}
		return rep, nil
	}
	end = func() bool {
		mu.Lock()
		defer mu.Unlock()
		closed = true
		return responded
	}
	return send, end
}

// sandboxed runs invocations in the pool's worker processes.
type sandboxed struct {
	pool *sandbox.Pool
	// prep prepares code (prepare.go). Its workers run no guest code: a program
	// is cached for every caller of the same code, so it must not come from a
	// worker that a guest of one of them may have taken over.
	prep *sandbox.Pool
	// pyWarm is closed once a preparer has put python.wasm in the wasm
	// cache (warmPython); nil before the first Python call, or after a
	// failure. Under pyMu.
	pyMu   sync.Mutex
	pyWarm chan struct{}
	// cached: the runtime has a wasm cache (only then is there one to warm).
	cached bool
	log    *slog.Logger
	homes  int // the homes of each object set (objectWorkers)

	setsMu sync.Mutex
	sets   map[string]*objectSet // by deployed Worker (objsandbox.go)
	// setIdle is closed (and dropped) when a set's last event ends, for
	// the events waiting for a set (acquireSet); nil when none waits.
	setIdle chan struct{}
}

// workerEnv reports whether a sandbox worker inherits the environment
// variable k: the Go runtime's settings, the locale and time zone, the
// sandbox's and the engines' own (WARREN_SANDBOX*, WARREN_PYTHON_DIR,
// WARREN_WASM_CACHE, WARREN_STAGES), and nothing else.
func workerEnv(k string) bool {
	switch k {
	case "PATH", "TZ", "LANG", "LC_ALL", "TMPDIR",
		"GOGC", "GODEBUG", "GOMAXPROCS", "GOMEMLIMIT", "GOTRACEBACK", "GORACE", "GOCOVERDIR",
		pyrun.DirEnv, envWasmCache, "WARREN_STAGES":
		return true
	}
	return strings.HasPrefix(k, "WARREN_SANDBOX")
}

func newSandboxed(opts Options) (*sandboxed, error) {
	base := opts.WorkerCommand
	cmd := func(env ...string) func() *exec.Cmd {
		return func() *exec.Cmd {
			var c *exec.Cmd
			if base != nil {
				c = base()
			} else {
				exe, _ := os.Executable()
				c = exec.Command(exe)
			}
			// A worker is given only the variables it needs: the node's
			// environment may hold credentials (its token, the path to the mesh
			// secret, a cloud provider's keys, a database's URL) that a guest
			// who escaped the engine could read.
			c.Env = append(slices.DeleteFunc(c.Environ(), func(kv string) bool {
				k, _, _ := strings.Cut(kv, "=")
				return !workerEnv(k)
			}), env...)
			return c
		}
	}
	cfg := sandbox.Config{
		Command:          cmd(),
		Workers:          opts.Workers,
		MemoryLimitBytes: workerCapMB(opts.MaxMemoryMB) << 20,
		Logger:           opts.Logger,
	}
	// The preparers, which run no guest code, write the wasm cache; the
	// workers that run calls only read it (mounted read-only where they
	// have a mount namespace), so that none can leave compiled code there
	// for another tenant's worker to run.
	workers := opts.Workers
	if workers <= 0 {
		workers = 2 * runtime.NumCPU()
	}
	// As many preparers as slots, so that preparing is no more serialised than
	// when the slots' workers did it (a node's slot is held while its call's
	// code is prepared, and one preparer made four hostile preparations of a
	// second each hold every slot of a node while they waited in line). An idle
	// one costs its memory, no CPU.
	pc := cfg
	pc.Workers, pc.Spares = workers, -1
	pc.Command = cmd(envPreparer + "=1")
	if dir := opts.CacheDir; dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("isolate: the wasm cache: %w", err)
		}
		cfg.Command, cfg.ReadOnlyDirs = cmd(envWasmCache+"="+dir), []string{dir}
		pc.Command, pc.WritableDirs = cmd(envWasmCache+"="+dir, envPreparer+"=1"), []string{dir}
	}
	// The preparers start beside the slots' workers: neither waits for the other.
	type started struct {
		p   *sandbox.Pool
		err error
	}
	prepc := make(chan started, 1)
	go func() {
		p, err := sandbox.NewPool(pc)
		prepc <- started{p, err}
	}()
	p, err := sandbox.NewPool(cfg)
	prep := <-prepc
	if err != nil || prep.err != nil {
		for _, q := range []*sandbox.Pool{p, prep.p} {
			if q != nil {
				q.Close()
			}
		}
		return nil, fmt.Errorf("isolate: starting sandbox workers: %w", errors.Join(err, prep.err))
	}
	s := &sandboxed{pool: p, prep: prep.p, cached: opts.CacheDir != "", log: opts.Logger, homes: objectWorkers(workers), sets: map[string]*objectSet{}}
	return s, nil
}

func (s *sandboxed) name() string { return string(Sandboxed) }
func (s *sandboxed) close() error { return errors.Join(s.pool.Close(), s.prep.Close()) }

// Stats describes the worker pool (for /healthz and metrics).
func (rt *Runtime) Stats() any {
	if s, ok := rt.exec.(*sandboxed); ok {
		st := s.pool.Stats()
		prep := s.prep.Stats()
		st.Preparers = &prep
		return st
	}
	return map[string]any{"executor": string(InProcess), "layers": []string{}}
}

func (s *sandboxed) execute(ctx context.Context, r *contract.ExecRequest, host contract.HostFunc, sched Sched, tenant string) *Result {
	req, err := contract.EncodeExec(r)
	if err != nil {
		return contract.Failure(OutcomeInternalError, fmt.Sprintf("encoding the invocation: %v", err))
	}
	// ctx.waitUntil work may go on for BackgroundPeriod after the response.
	deadline := time.Now().Add(contract.LimitWall(r.Limits) + contract.BackgroundPeriod(r.Limits) + killGrace)
	// A host call (egress, KV, a held effect) ends by the wall-time limit
	// too: the pool waits for it, so it must not outlive the call.
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var sent *Result // the result so far, once the response is out
	onCall, done := relayHostCalls(hctx, host, func(c *contract.HostCall) {
		// The host may keep the result it is given: sent is a copy.
		cp := *c.Result
		sent = &cp
	})
	defer done()
	tCall := stagetime.Now()
	out, err := s.pool.Call(ctx, req, sandbox.CallOptions{Deadline: deadline, Low: sched.Low, OnDemote: sched.OnDemote, CPULimit: workerCPUBound(r.Limits.CPUMs), Tenant: tenant}, onCall)
	stagetime.Since("5-pool-call", tCall)
	if err != nil {
		res := s.crashResult(ctx, r, err)
		if sent != nil { // the response stands
			return contract.AfterResponse(sent, res.Error)
		}
		return res
	}
	res, err := contract.DecodeResult(out)
	if stagetime.On && err == nil {
		stagetime.Add("6w-guest-wall", time.Duration(res.Telemetry.WallTime*float64(time.Millisecond)))
	}
	if err != nil {
		res = contract.Failure(OutcomeInternalError, fmt.Sprintf("decoding the worker's result: %v", err))
		if sent != nil {
			return contract.AfterResponse(sent, res.Error)
		}
		return res
	}
	if sent != nil && res.Outcome == OutcomeOK && res.Response == nil {
		res.Response = sent.Response // the worker left it out
	}
	return res
}

// relayHostCalls answers a worker's callback frames with host: started
// calls run on their own goroutines until OpWait calls collect them;
// onRespond sees an OpRespond call before the host does. done ends the
// started calls' relay when the request is over.
func relayHostCalls(hctx context.Context, host contract.HostFunc, onRespond func(*contract.HostCall)) (onCall func([]byte) ([]byte, error), done func()) {
	var started *startedCalls // made on the first call started: most calls make none
	onCall = func(msg []byte) ([]byte, error) {
		c, err := contract.DecodeHostCall(msg)
		if err != nil {
			return nil, err
		}
		var rep *contract.HostReply
		switch {
		case c.ID != 0:
			if started == nil {
				started = &startedCalls{answers: make(chan *contract.HostReply, 16), done: make(chan struct{})}
			}
			if started.open >= MaxStartedCalls {
				// Each holds a goroutine and its answer until collected: a worker
				// that starts calls and never collects them would hold the node's
				// memory without bound.
				rep = contract.FailReply(c.Op, contract.HostErrorf(contract.CodeUnavailable,
					"too many host calls in flight (%d): collect some before starting more", MaxStartedCalls))
				break
			}
			started.open++
			started.start(hctx, host, c)
			rep = &contract.HostReply{}
		case c.Op == contract.OpWait:
			rep = started.wait(hctx, time.Duration(c.WaitUs)*time.Microsecond)
		case c.Op == contract.OpRespond:
			if onRespond != nil {
				onRespond(c)
			}
			rep = callHost(hctx, host, c)
		default:
			rep = callHost(hctx, host, c)
		}
		b, err := contract.EncodeHostReply(rep)
		rep.Response.ReleaseBody() // encoded: the node holds its body no more
		return b, err
	}
	done = func() {
		if started != nil {
			started.end()
		}
	}
	return onCall, done
}

// callHost makes a host call for a worker; a failure is the reply's error.
func callHost(ctx context.Context, host contract.HostFunc, c *contract.HostCall) *contract.HostReply {
	rep, err := host(ctx, c)
	if err != nil {
		rep = contract.FailReply(c.Op, err)
	}
	return rep
}

// workerCPUBound is the CPU time, as the node reads it from the worker's
// process clock, past which the node kills a worker whose call has cpuMs.
// It is for a worker whose own count cannot be trusted (one that guest code
// took over), and must never be reached by an honest one: the engine ends a
// call at cpuMs of its own count, but sees its interrupt only between steps
// (a global search over a huge string with a limit of 100 ms used 0.7 s of
// the process's CPU before it did), and the process clock counts the
// collector besides. So the bound is twice cpuMs and two seconds more: a
// worker that spins past its limit is cut there, not at its wall-time limit
// (30 s by default).
func workerCPUBound(cpuMs int64) time.Duration {
	if cpuMs <= 0 {
		return 0
	}
	return 2*time.Duration(cpuMs)*time.Millisecond + 2*time.Second
}

// MaxStartedCalls bounds the host calls (fetches, KV and cache calls) one
// invocation has started and not collected; past it a start fails at once.
const MaxStartedCalls = 256

// startedCalls runs the host calls a worker started (see IPCHost) until
// its OpWait calls collect their answers.
type startedCalls struct {
	answers chan *contract.HostReply
	done    chan struct{} // closed when the invocation is over
	// open counts the calls started and not collected (by the relay's
	// goroutine alone).
	open int
	// running counts the started calls that have not answered yet.
	running sync.WaitGroup
}

func (s *startedCalls) start(ctx context.Context, host contract.HostFunc, c *contract.HostCall) {
	id := c.ID
	c.ID = 0
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		rep := *callHost(ctx, host, c)
		rep.ID = id
		select {
		case s.answers <- &rep:
		case <-s.done:
			rep.Response.ReleaseBody() // never collected
		}
	}()
}

// end ends the relay of started calls when the request is over: the
// answers never collected give back what they held (once every started
// call has answered).
func (s *startedCalls) end() {
	close(s.done)
	go func() {
		s.running.Wait()
		for {
			select {
			case rep := <-s.answers:
				rep.Response.ReleaseBody()
			default:
				return
			}
		}
	}()
}

// wait returns the next answer, or an empty reply if none comes within d.
func (s *startedCalls) wait(ctx context.Context, d time.Duration) *contract.HostReply {
	if s == nil {
		return &contract.HostReply{}
	}
	if d <= 0 {
		select {
		case rep := <-s.answers:
			s.open--
			return rep
		default:
			return &contract.HostReply{}
		}
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case rep := <-s.answers:
		s.open--
		return rep
	case <-tm.C:
	case <-ctx.Done():
	}
	return &contract.HostReply{}
}

// crashResult maps a worker that died or was killed to an outcome. What
// the worker printed (a Go stack trace, the host's paths) goes to the
// node's log, never to the caller.
func (s *sandboxed) crashResult(ctx context.Context, r *contract.ExecRequest, err error) *Result {
	var ce *sandbox.CrashError
	if !errors.As(err, &ce) {
		if ctx.Err() != nil {
			return contract.Failure(OutcomeCanceled, "the invocation was canceled")
		}
		s.log.Warn("sandbox call failed", "code", r.Hash, "err", err)
		return contract.Failure(OutcomeInternalError, "the sandbox failed to run the invocation")
	}
	cpuMsg := fmt.Sprintf("Worker exceeded its CPU time limit of %d ms", r.Limits.CPUMs)
	memMsg := fmt.Sprintf("Worker exceeded its memory limit of %d MiB", r.Limits.MemoryMB)
	wallMsg := fmt.Sprintf("Worker exceeded its wall-time limit of %d ms", r.Limits.WallMs)
	switch {
	case ce.MemoryExceeded || ce.ExitCode == exitMemory:
		return contract.Failure(OutcomeExceededMemory, memMsg)
	case ce.ExitCode == exitCPU || ce.Reason == "cpu":
		return contract.Failure(OutcomeExceededCPU, cpuMsg)
	case ce.ExitCode == exitWall || ce.Reason == "deadline":
		return contract.Failure(OutcomeExceededWallTime, wallMsg)
	case ctx.Err() != nil:
		return contract.Failure(OutcomeCanceled, "the invocation was canceled")
	}
	s.log.Warn("sandbox worker died", "code", r.Hash, "reason", ce.Reason, "exit", ce.ExitCode, "signal", ce.Signal, "output", ce.Stderr)
	msg := fmt.Sprintf("the sandbox worker running the invocation died (%s", ce.Reason)
	if ce.Signal != "" {
		msg += ", signal " + ce.Signal
	} else if ce.ExitCode >= 0 {
		msg += fmt.Sprintf(", exit status %d", ce.ExitCode)
	}
	return contract.Failure(OutcomeInternalError, msg+")")
}
