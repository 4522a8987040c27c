package isolate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/dlclark/regexp2/v2"

	"github.com/warrenmesh/warren/internal/sizedlru"
	"github.com/warrenmesh/warren/isolate/internal/cache"
	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// ExecutorKind selects where guest code runs.
type ExecutorKind string

const (
	// Sandboxed runs each invocation in a pre-started sandbox worker process
	// with a hard memory limit; the default.
	Sandboxed ExecutorKind = "sandbox"
	// InProcess runs guest code in the calling process: for tests and
	// trusted code only (no memory limit; a native built-in can stall it).
	InProcess ExecutorKind = "inprocess"
)

// RegexpMatchTimeout bounds one regular-expression match, on the wall
// clock: a match past it ends the call with OutcomeExceededCPU (goja patch
// 0029: it used to count as no match, and the call went on with a wrong
// answer). A match also stops where the call's CPU or wall-time limit
// falls, as any of its code does (regexp2 patch 0001 and goja patch 0031:
// goja's engine for lookarounds and backreferences, regexp2, used not to
// see Interrupt, and a catastrophic pattern ran on to this bound).
const RegexpMatchTimeout = time.Second

var regexpOnce sync.Once

func boundRegexps() {
	regexpOnce.Do(func() { regexp2.DefaultMatchTimeout = RegexpMatchTimeout })
}

// DemoteAfter is the CPU time after which a sandboxed call goes on at a low
// CPU weight (Sched; docs/security.md, "Long calls yield to short ones").
const DemoteAfter = sandbox.DefaultDemoteAfter

// DefaultResponseCacheBytes is the size of a runtime's Cache API store
// (Options.ResponseCacheBytes).
const DefaultResponseCacheBytes = cache.DefaultMaxBytes

// Options configure a Runtime. The zero value is usable: a sandboxed
// executor with 2 workers per CPU.
type Options struct {
	// Executor is Sandboxed (default) or InProcess.
	Executor ExecutorKind
	// Workers is the number of sandbox worker processes (0: 2 per CPU).
	Workers int
	// MaxMemoryMB is the largest memoryMb an invocation may ask for, and the
	// base of each worker's hard memory cap (default DefaultMaxMemoryMB).
	MaxMemoryMB int64
	// MaxWallMs is the largest wallMs an invocation may ask for (default
	// MaxLimits.WallMs): a call that only waits still holds its worker.
	MaxWallMs int64
	// Defaults fill the limits a code object leaves out (default DefaultLimits).
	Defaults Limits
	// CacheDir holds the on-disk wasm compilation cache ("" = memory only).
	CacheDir string
	// CacheSize is the number of prepared programs kept in memory (default
	// 256); they are also bounded by size (see programCacheBytes).
	CacheSize int
	// ResponseCacheBytes sizes the Cache API's store (caches.default,
	// caches.open) of this runtime, kept across invocations: 0 means
	// DefaultResponseCacheBytes; < 0 means none (cache calls reject).
	ResponseCacheBytes int64
	// Host provides egress and bindings to invocations that bring none.
	Host Host
	// Node names this node in telemetry.
	Node string
	// WorkerCommand builds the command of a sandbox worker; default: this
	// executable, which must call ServeWorker when IsWorker reports true.
	WorkerCommand func() *exec.Cmd
	// PrepareTimeout bounds the preparation (bundling) of one code object
	// not seen before (default DefaultPrepareTimeout). A sandboxed runtime
	// prepares code in a worker process, under its memory cap.
	PrepareTimeout time.Duration
	// Logger receives operational logs (default slog.Default()).
	Logger *slog.Logger
}

// Invocation is one call: code, the request for its fetch handler (or the
// event for its scheduled handler), and what its bindings reach.
type Invocation struct {
	Code    *Code
	Request *Request
	// Scheduled, when set, runs the default export's
	// scheduled(controller, env, ctx) handler instead of fetch; Request is
	// then ignored (it may be nil). The result has no response; its
	// outcome covers the handler and its ctx.waitUntil work (see
	// docs/workers-api.md), and OnResponse is never called.
	Scheduled *ScheduledEvent
	Bindings  map[string]Binding
	// Host overrides Options.Host for this call (e.g. with the caller's grants).
	Host Host
	// CacheScope parts the Cache API's entries beyond the code's hash:
	// calls with different scopes never see each other's entries (a node
	// sets it from the caller's grants, so that one tenant's cached data
	// never reaches another running the same code).
	CacheScope string
	// OnResponse, when set, is called at most once, from the goroutine
	// running the call, as soon as the response is ready while
	// ctx.waitUntil work is still pending, with the result so far: outcome
	// ok, the response, the logs and exceptions up to then, telemetry as
	// far as known. That work resumes when OnResponse returns, but its
	// background period runs from the response, so OnResponse should hand
	// the result over and return promptly. Run then returns
	// the final result once that work settles or is cut short (see
	// BackgroundLimit): the same response, with every log and exception,
	// the background's included; an Error with outcome ok says what cut
	// the work short. When OnResponse is nil, or no ctx.waitUntil work is
	// pending when the response is ready, Run simply returns the final
	// result.
	OnResponse func(*Result)
	// StreamTo, when set, receives the body of a response whose body is a
	// stream (a ReadableStream the Worker builds or passes on), chunk by
	// chunk as the Worker produces it; the response itself then has
	// Streamed set and no Body, and is handed to OnResponse as soon as its
	// head is known. A buffered body still comes in the response, and the
	// pipe is closed unused. Run closes the pipe by the time it returns.
	// Without OnResponse, Run returns only after the body has gone
	// through the pipe, so the consumer must read it concurrently.
	StreamTo *BodyPipe
	// Sched is how the call shares the host's CPU with the others.
	Sched Sched
	// Tenant names whose call this is: a sandboxed runtime never runs calls of
	// two tenants in one worker process (docs/security.md, "One tenant to a
	// worker"), so a guest that escaped the engine would see only its own
	// tenant's later calls. A node names the caller's token; "" is a tenant
	// like any other.
	Tenant string
}

// Sched is how a call shares the host's CPU, where a sandboxed runtime weighs its
// workers (cpu cgroups; elsewhere it does nothing): a call that has used 20 ms of CPU
// goes on at a low weight, taking the cycles other calls leave (docs/security.md,
// "Long calls yield to short ones").
type Sched struct {
	// Low starts the call at the low weight, as if it had been demoted at its start
	// (a node sets it for a client whose calls ran long lately).
	Low bool
	// OnDemote, when set, is called once if the call is demoted, from another
	// goroutine; it must return promptly.
	OnDemote func()
	// OnPrepared, when set, is called on the caller's goroutine once the call
	// has prepared (bundled) its code itself, with how long that took: not
	// when the code was prepared already, nor when the call waited for another
	// caller's preparation of the same code. Low and OnDemote apply to the
	// preparation as to the call (a preparation is work in a worker too).
	OnPrepared func(time.Duration)
}

// Runtime runs invocations: it prepares code (bundling, cached by hash) and
// hands each call to its executor.
type Runtime struct {
	opts     Options
	programs *sizedlru.Cache[string, *contract.Program]
	failures *sizedlru.Cache[string, *failed] // preparation failures by code hash; under flightMu
	exec     executor
	sandbox  *sandboxed   // exec, when sandboxed: it prepares code too
	cache    *cache.Store // the Cache API's; nil: none

	flightMu sync.Mutex
	flights  map[string]*flight // bundles in progress, by code hash
}

// flight is one code hash being bundled; callers wanting the same code wait
// for it instead of bundling it again.
type flight struct {
	done chan struct{}
	p    *contract.Program
	res  *Result // the bundling failure, if any
}

// executor runs a prepared invocation somewhere.
type executor interface {
	execute(ctx context.Context, r *contract.ExecRequest, host contract.HostFunc, sched Sched, tenant string) *Result
	runObject(ctx context.Context, r *contract.ObjectRequest, host contract.HostFunc) *ObjectResult
	evictObject(key string)
	close() error
	name() string
}

// DeterministicRandomFlag is the compatibility flag that makes a WASI
// command's random_get repeat: a stream seeded from the module's hash, the same
// on every call. Without it each call draws from the OS's CSPRNG.
const DeterministicRandomFlag = "wasi_deterministic_random"

// failureCacheSize is the number of preparation failures remembered.
const failureCacheSize = 1024

// DefaultMaxMemoryMB is the default of Options.MaxMemoryMB: a sandbox
// worker's hard cap is sized from it (workerCapMB), for every worker a
// node keeps.
const DefaultMaxMemoryMB = 512

// programCacheBytes bounds the bundled programs a runtime keeps; one over
// a quarter of it is bundled again for each call instead.
const programCacheBytes = 256 << 20

// New starts a runtime (and, when sandboxed, its worker processes).
func New(opts Options) (*Runtime, error) {
	if opts.Executor == "" {
		opts.Executor = Sandboxed
	}
	if opts.MaxMemoryMB == 0 {
		opts.MaxMemoryMB = DefaultMaxMemoryMB
	}
	if opts.MaxWallMs == 0 {
		opts.MaxWallMs = MaxLimits.WallMs
	}
	opts.Defaults = limitsWithDefaults(opts.Defaults, DefaultLimits)
	if opts.CacheSize <= 0 {
		opts.CacheSize = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PrepareTimeout <= 0 {
		opts.PrepareTimeout = DefaultPrepareTimeout
	}
	rt := &Runtime{opts: opts, programs: sizedlru.New[string, *contract.Program](opts.CacheSize, programCacheBytes),
		failures: sizedlru.New[string, *failed](failureCacheSize, failureCacheSize), flights: map[string]*flight{}}
	if opts.ResponseCacheBytes >= 0 {
		rt.cache = cache.New(opts.ResponseCacheBytes, nil)
	}
	switch opts.Executor {
	case InProcess:
		boundRegexps()
		e, err := newEngine(opts.CacheSize, opts.CacheDir, false, nil, nil, nil)
		if err != nil {
			return nil, err
		}
		rt.exec = &inProcess{e: e}
	case Sandboxed:
		s, err := newSandboxed(opts)
		if err != nil {
			return nil, err
		}
		rt.exec, rt.sandbox = s, s
	default:
		return nil, fmt.Errorf("isolate: unknown executor %q (want %q or %q)", opts.Executor, Sandboxed, InProcess)
	}
	return rt, nil
}

// Close stops the runtime's workers.
func (rt *Runtime) Close() error { return rt.exec.close() }

// Run runs one invocation and returns its result; every failure, the
// guest's or ours, is described in the result rather than returned.
func (rt *Runtime) Run(ctx context.Context, inv *Invocation) *Result {
	start := time.Now()
	res := rt.run(ctx, inv, start)
	if inv.StreamTo != nil {
		// A no-op after the body's end; otherwise the invocation ended
		// (a limit, a crash) with its body unfinished, or never
		// streamed one.
		inv.StreamTo.Close(ErrBodyIncomplete)
	}
	rt.finishResult(res, start)
	return res
}

// finishResult fills in what the runtime knows of every result.
func (rt *Runtime) finishResult(res *Result, start time.Time) {
	res.Telemetry.Node = rt.opts.Node
	res.Telemetry.Executor = rt.exec.name()
	if res.Telemetry.WallTime == 0 || res.Outcome == OutcomeLoadShed {
		res.Telemetry.WallTime = contract.Millis(time.Since(start))
	}
	t := &res.Telemetry
	t.StartupMs, t.CPUTime, t.WallTime = contract.Round3(t.StartupMs), contract.Round3(t.CPUTime), contract.Round3(t.WallTime)
	if res.Logs == nil {
		res.Logs = []Log{}
	}
	if res.Exceptions == nil {
		res.Exceptions = []Exception{}
	}
}

func (rt *Runtime) run(ctx context.Context, inv *Invocation, start time.Time) *Result {
	if inv == nil || inv.Code == nil {
		return contract.Failure(OutcomeInternalError, "isolate: no code")
	}
	c := inv.Code
	if c.sealed == "" { // DecodeCode validated the sealed ones
		if err := c.Validate(); err != nil {
			return contract.ExceptionResult("Error", err.Error(), "")
		}
	}
	// A node refuses bad bindings (Durable Object ones included) with a
	// 400 before they get here; an embedder's get an exception.
	if err := ValidateBindings(inv.Bindings, c.Env); err != nil {
		return contract.ExceptionResult("Error", err.Error(), "")
	}
	if inv.Scheduled != nil {
		if m := c.Modules[c.MainModule]; m != nil && m.Kind == ModuleWasm {
			return contract.ExceptionResult("Error", "scheduled handlers are for JavaScript and Python Workers: this code's main module is WebAssembly", "")
		}
	}
	limits := Limits{}
	if c.Limits != nil {
		limits = *c.Limits
	}
	limits = limitsWithDefaults(limits, rt.opts.Defaults)
	if limits.MemoryMB > rt.opts.MaxMemoryMB {
		return contract.Failure(OutcomeDenied, fmt.Sprintf("limits.memoryMb %d exceeds this runtime's maximum of %d; its operator can raise that up to %d (warren node --max-memory-mb)",
			limits.MemoryMB, rt.opts.MaxMemoryMB, MaxLimits.MemoryMB))
	}
	if limits.WallMs > rt.opts.MaxWallMs {
		return contract.Failure(OutcomeDenied, fmt.Sprintf("limits.wallMs %d exceeds this runtime's maximum of %d", limits.WallMs, rt.opts.MaxWallMs))
	}
	p, res := rt.prepare(ctx, c, inv.Sched)
	if res != nil {
		return res
	}
	req := inv.Request
	if req == nil || inv.Scheduled != nil { // a scheduled event has no request
		req = &Request{}
	}
	if inv.Scheduled == nil && (req.CF == nil || req.CF.Colo == "") {
		// request.cf is never undefined; colo is this node.
		r := *req
		cf := RequestCF{}
		if req.CF != nil {
			cf = *req.CF
		}
		cf.Colo = rt.opts.Node
		r.CF = &cf
		req = &r
	}
	host := inv.Host
	if host == nil {
		host = rt.opts.Host
	}
	responded := false
	// The engine asks for the code by hash on a cache miss; the program
	// stays reachable for this call even if the cache evicts it meanwhile.
	d := &dispatcher{bindings: inv.Bindings, host: host, program: p, body: inv.StreamTo, cache: rt.cache, cacheScope: inv.CacheScope, subrequests: limits.SubRequests, onRespond: func(res *Result) {
		if inv.OnResponse != nil && !responded {
			responded = true
			rt.finishResult(res, start)
			inv.OnResponse(res)
		}
	}}
	return rt.exec.execute(ctx, &contract.ExecRequest{
		Hash: p.Hash, Wasm: p.Wasm != nil, Python: p.Python != nil, Deterministic: slices.Contains(c.CompatibilityFlags, DeterministicRandomFlag),
		Request: req, Scheduled: inv.Scheduled, Env: c.Env,
		Bindings: inv.Bindings, Limits: limits, Stream: inv.StreamTo != nil && inv.Scheduled == nil,
	}, d.call, inv.Sched, inv.Tenant)
}

// prepare bundles the code, once per hash at a time: concurrent callers of
// one hash share its bundle; different hashes bundle in parallel. A
// failure that describes the code is remembered, so resending bad code
// costs a map lookup.
func (rt *Runtime) prepare(ctx context.Context, c *Code, sched Sched) (*contract.Program, *Result) {
	hash := c.Hash()
	if p, ok := rt.programs.Get(hash); ok {
		return p, nil
	}
	rt.flightMu.Lock()
	if f, ok := rt.failures.Get(hash); ok && time.Now().Before(f.expires) {
		rt.flightMu.Unlock()
		return nil, copyResult(f.res)
	}
	if f := rt.flights[hash]; f != nil {
		rt.flightMu.Unlock()
		select {
		case <-f.done:
			return f.p, copyResult(f.res)
		case <-ctx.Done():
			return nil, contract.Failure(OutcomeCanceled, "the invocation was canceled while its code was prepared")
		}
	}
	f := &flight{done: make(chan struct{})}
	rt.flights[hash] = f
	rt.flightMu.Unlock()
	// The bundle is shared: one caller giving up must not fail the others.
	var ttl time.Duration
	start := time.Now()
	f.p, f.res, ttl = rt.build(context.WithoutCancel(ctx), c, hash, sched)
	if sched.OnPrepared != nil {
		sched.OnPrepared(time.Since(start))
	}
	rt.flightMu.Lock()
	delete(rt.flights, hash)
	if f.res != nil && ttl > 0 {
		rt.failures.Add(hash, &failed{res: f.res, expires: time.Now().Add(ttl)}, 1)
	}
	rt.flightMu.Unlock()
	close(f.done)
	return f.p, copyResult(f.res)
}

// PrepareFailed reports whether preparing c failed in a way that will
// recur: the node drops such code from its caches rather than hold it.
func (rt *Runtime) PrepareFailed(c *Code) bool {
	rt.flightMu.Lock()
	defer rt.flightMu.Unlock()
	_, ok := rt.failures.Get(c.Hash())
	return ok
}

// copyResult gives each caller sharing a bundling failure its own result
// (callers fill in telemetry).
func copyResult(r *Result) *Result {
	if r == nil {
		return nil
	}
	c := *r
	c.Logs, c.Exceptions = slices.Clone(r.Logs), slices.Clone(r.Exceptions)
	return &c
}

// build prepares c (in a sandbox worker when the runtime has them) and
// caches the program under hash.
func (rt *Runtime) build(ctx context.Context, c *Code, hash string, sched Sched) (*contract.Program, *Result, time.Duration) {
	var p *contract.Program
	var res *Result
	var ttl time.Duration
	switch main := c.Modules[c.MainModule]; {
	case main.Kind == ModuleWasm:
		// Compiled by the worker that runs it, under its limits, and
		// cached there by the module's own hash: code objects that differ
		// only in env, limits or flags share one compilation.
		sum := sha256.Sum256(main.Data)
		p = &contract.Program{Hash: hex.EncodeToString(sum[:]), Name: c.MainModule, Wasm: main.Data}
	case main.Kind == ModulePython:
		// Nothing to prepare: the interpreter compiles the modules when
		// they are imported. The interpreter itself is compiled into the
		// wasm cache by a preparer, which the call waits for (once).
		if rt.sandbox != nil && rt.sandbox.cached && PythonAvailable() == nil {
			rt.sandbox.warmPython(ctx)
		}
		p = &contract.Program{Hash: hash, Name: c.MainModule, Python: pythonFiles(c)}
	case rt.sandbox != nil:
		p, res, ttl = rt.sandbox.prepare(ctx, c, hash, rt.opts.PrepareTimeout, sched)
	default:
		p, res = bundleCode(c, hash)
		ttl = failureTTL // it failed on the code alone: the process has no caps
	}
	if res != nil {
		return nil, res, ttl
	}
	size := len(p.Script) + len(p.Wasm)
	for _, b := range p.Python {
		size += len(b)
	}
	rt.programs.Add(hash, p, int64(size))
	return p, nil, 0
}

// inProcess runs guest code on the caller's goroutine.
type inProcess struct{ e *engine }

func (x *inProcess) name() string { return string(InProcess) }
func (x *inProcess) close() error { return x.e.close() }
func (x *inProcess) execute(ctx context.Context, r *contract.ExecRequest, host contract.HostFunc, _ Sched, _ string) *Result {
	return x.e.execute(ctx, r, contract.NewGoHost(host))
}

func (x *inProcess) runObject(ctx context.Context, r *contract.ObjectRequest, host contract.HostFunc) *ObjectResult {
	return x.e.runObject(ctx, r, contract.NewGoHost(host))
}

func (x *inProcess) evictObject(key string) { x.e.evictObject(key) }
