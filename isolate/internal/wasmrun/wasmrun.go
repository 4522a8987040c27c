package wasmrun

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

const (
	defaultMaxCompiled = 64
	defaultStdoutLimit = 16 << 20
	stderrLimit        = 1 << 20
	defaultArgv0       = "main.wasm"
	// realSleepSlice bounds one host sleep when Input.RealTime is granted, so
	// that a sleeping guest regains control (and notices a done context)
	// at least this often.
	realSleepSlice = 10 * time.Millisecond
)

var (
	// ErrNotCached is returned when Input.Wasm is nil and no compiled module
	// is cached under Input.Hash.
	ErrNotCached = errors.New("wasm: module not cached")
	// ErrOutputTooLarge is returned when the guest writes more than
	// Input.StdoutLimit bytes to stdout.
	ErrOutputTooLarge = errors.New("wasm: output too large")
	// ErrMemoryLimit is returned when the guest needed more linear memory
	// than Input.MemoryLimitBytes: a refused memory.grow followed by a trap
	// or a non-zero exit, or an initial memory larger than the cap.
	ErrMemoryLimit = errors.New("wasm: memory limit exceeded")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("wasm: engine closed")
)

// ExitError is the failure of a guest that exited with a non-zero status.
type ExitError struct {
	Code   uint32
	Stderr []byte
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("wasm: exit status %d", e.Code)
	if s := stderrHead(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

// stderrHead is the start of stderr (its first lines, where Go's "panic:"
// and "fatal error:" and most tools' messages are) for error messages; the
// whole stderr stays in ExitError.Stderr.
func stderrHead(b []byte) string {
	const maxLines, maxBytes = 3, 512
	var lines []string
	cut := false
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if len(lines) == maxLines {
			cut = true
			break
		}
		lines = append(lines, l)
	}
	s := strings.Join(lines, " | ")
	if len(s) > maxBytes {
		s, cut = s[:maxBytes], true
	}
	if cut {
		s += " ..."
	}
	return s
}

// Options configure an Engine.
type Options struct {
	CacheDir string // on-disk compilation cache; "" = memory only
	// CacheReadOnly reads CacheDir and never writes it: modules not found
	// there compile in memory (a process that runs guest code, which must
	// not change what other processes load).
	CacheReadOnly bool
	MaxCompiled   int // in-memory compiled module LRU size; 0 = 64
}

// Engine compiles, caches and runs WASI command modules. It owns one
// wazero.Runtime. It is safe for concurrent use.
type Engine struct {
	rt    wazero.Runtime
	cache wazero.CompilationCache // nil without CacheDir
	base  wazero.ModuleConfig
	// mem is a memory-only runtime, made the first time a compile fails
	// with the disk cache on. wazero fails a compile whose module the disk
	// cache cannot store (a full or read-only disk), and a call must not
	// fail for a cache: when mem compiles the module, it takes over all
	// compiling (memOnly). Both under mu.
	mem     wazero.Runtime
	memOnly bool
	// cacheErr is why Options.CacheDir is not in use, if it is not.
	cacheErr error

	mu       sync.Mutex
	lru      *simplelru.LRU[string, *entry]
	inflight map[string]*flight
	closed   bool
}

// entry is one compiled module in the LRU. refs counts Runs using it; an
// evicted entry is closed when its last user releases it.
type entry struct {
	rt       wazero.Runtime // the runtime that compiled cm (it runs only there)
	cm       wazero.CompiledModule
	minBytes uint64 // largest declared initial memory
	hasStart bool
	refs     int
	evicted  bool
}

type flight struct {
	done chan struct{}
	err  error
}

// NewEngine creates an Engine with its own wazero runtime (compiler engine
// where wazero supports it, interpreter elsewhere) with WASI preview1
// instantiated.
func NewEngine(ctx context.Context, opts Options) (*Engine, error) {
	size := opts.MaxCompiled
	if size <= 0 {
		size = defaultMaxCompiled
	}
	cfg := wazero.NewRuntimeConfig().WithCloseOnContextDone(true)
	var cache wazero.CompilationCache
	var cacheErr error
	if opts.CacheDir != "" {
		// A cache directory that cannot be made (full disk, permissions)
		// leaves the engine memory-only: slower cold starts, not a failure.
		newCache := wazero.NewCompilationCacheWithDir
		if opts.CacheReadOnly {
			newCache = wazero.NewReadOnlyCompilationCacheWithDir
		}
		if c, err := newCache(opts.CacheDir); err != nil {
			cacheErr = fmt.Errorf("wasm: compilation cache %s: %w", opts.CacheDir, err)
		} else {
			cache = c
			cfg = cfg.WithCompilationCache(c)
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		if cache != nil {
			_ = cache.Close(ctx)
		}
		return nil, fmt.Errorf("wasm: wasi: %w", err)
	}
	e := &Engine{
		rt:       rt,
		cache:    cache,
		cacheErr: cacheErr,
		// Anonymous instances (so many may run at once), and no automatic
		// start functions: Run calls _start itself so it can inspect the
		// instance before closing it.
		base:     wazero.NewModuleConfig().WithName("").WithStartFunctions(),
		inflight: map[string]*flight{},
	}
	l, err := simplelru.NewLRU[string, *entry](size, func(_ string, en *entry) {
		// Called with e.mu held.
		en.evicted = true
		if en.refs == 0 {
			_ = en.cm.Close(context.Background())
		}
	})
	if err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	e.lru = l
	return e, nil
}

// Close releases the runtime, its compiled modules and the compilation
// cache handle. Runs in progress fail.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.lru.Purge()
	mem := e.mem
	e.mu.Unlock()
	err := e.rt.Close(ctx)
	if mem != nil {
		err = errors.Join(err, mem.Close(ctx))
	}
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}

// DiskCacheError says why the engine runs without the disk cache that
// Options.CacheDir asked for (nil: it uses it, or none was asked for).
func (e *Engine) DiskCacheError() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.memOnly {
		return errors.New("wasm: the compilation cache failed to store a module; compiling in memory")
	}
	return e.cacheErr
}

// Cached reports whether a compiled module is cached in memory under hash.
func (e *Engine) Cached(hash string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lru.Contains(hash)
}

// Input is one invocation.
type Input struct {
	Hash             string            // cache key for the compiled module (e.g. hex sha256 of Wasm); "" = sha256 of Wasm
	Wasm             []byte            // module bytes; may be nil when Hash is cached, else ErrNotCached
	Stdin            []byte            // request body
	Args             []string          // argv (argv[0] = module name); empty = ["main.wasm"]
	Env              map[string]string // WASI environ (sorted by key)
	MemoryLimitBytes int64             // cap on linear memory, rounded down to 64 KiB pages; 0 = no cap beyond wazero's
	// Deterministic makes random_get a ChaCha8 stream seeded from Seed, the
	// same on every run; otherwise it reads the operating system's CSPRNG,
	// so a guest's keys are unpredictable.
	Deterministic bool
	Seed          int64
	StdoutLimit   int // bytes; beyond it the call fails with ErrOutputTooLarge; 0 = 16 MiB
	// RunTimeout, when positive, bounds the run of _start only: compiling a
	// module the first time is the host's cost, not the guest's.
	RunTimeout time.Duration
	// RunClock, when set with RunTimeout, makes RunTimeout a bound on CPU
	// time: it reads the CPU time of the process, which runs this call
	// alone (a sandbox worker's), and when RunTimeout has passed on the
	// wall clock with less CPU used since the run began (a run that waited
	// for a processor on a busy host), the run goes on for the rest, as
	// contract.CountedCPU counts it.
	RunClock func() time.Duration

	// Walltime, when non-zero, is where the fake wall clock starts (it still
	// advances 1 ms per reading). Ignored when RealTime is set.
	Walltime time.Time
	// RealTime grants the host clocks (walltime, monotonic time) and real
	// sleeps (in slices of at most 10 ms, so the context still stops a
	// sleeping guest promptly).
	RealTime bool
}

// Output is the result of one invocation.
type Output struct {
	Stdout, Stderr []byte
	ExitCode       uint32
	Compiled       bool // true when this call compiled the module (cold)
	// CompileTime is the time spent compiling (or waiting for a concurrent
	// compile of the same hash); RunTime covers instantiation and _start.
	CompileTime, RunTime time.Duration
	// RunCPU is the process's CPU time over RunTime, with Input.RunClock
	// (else 0).
	RunCPU time.Duration
	// MemoryBytes is the guest's linear memory size at the end of the run
	// (its peak).
	MemoryBytes uint64
}

// Run compiles (or reuses) the module, instantiates it fresh, runs _start
// and returns its output. Output is nil only when no runnable module was
// obtained (context already done, ErrNotCached, compile error, not a WASI
// command, ErrClosed); otherwise it comes with the error too, holding what
// the guest wrote so far.
//
// Errors: ErrNotCached; "wasm: compile: ..." for invalid modules; an error
// matching ctx.Err() when the context ended the run; ErrOutputTooLarge;
// ErrMemoryLimit (see the package doc for the heuristic); *ExitError for a
// non-zero exit; "wasm: trap: ..." wrapping wazero's error for a trap.
func (e *Engine) Run(ctx context.Context, in Input) (*Output, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wasm: %w", err)
	}
	hash := in.Hash
	if hash == "" {
		if in.Wasm == nil {
			return nil, errors.New("wasm: neither Hash nor Wasm given")
		}
		sum := sha256.Sum256(in.Wasm)
		hash = hex.EncodeToString(sum[:])
	}

	t0 := time.Now()
	en, compiled, waited, err := e.acquire(ctx, hash, in.Wasm)
	if err != nil {
		return nil, err
	}
	defer e.release(en)
	out := &Output{Compiled: compiled}
	if compiled || waited {
		out.CompileTime = time.Since(t0)
	}
	if !en.hasStart {
		return nil, errors.New("wasm: not a WASI command: no exported _start function")
	}

	var limit uint64
	if in.MemoryLimitBytes > 0 {
		limit = uint64(in.MemoryLimitBytes) / pageSize * pageSize
		if limit == 0 {
			return out, fmt.Errorf("%w: limit %d bytes is less than one 64 KiB page", ErrMemoryLimit, in.MemoryLimitBytes)
		}
		if en.minBytes > limit {
			return out, fmt.Errorf("%w: module declares %d bytes of initial memory, limit is %d", ErrMemoryLimit, en.minBytes, limit)
		}
	}

	stdoutLimit := in.StdoutLimit
	if stdoutLimit <= 0 {
		stdoutLimit = defaultStdoutLimit
	}
	runCtx, cancel := context.WithCancel(ctx)
	switch {
	case in.RunTimeout > 0 && in.RunClock != nil:
		var cancelCause context.CancelCauseFunc
		runCtx, cancelCause = context.WithCancelCause(ctx)
		cancel = func() { cancelCause(nil) }
		t := contract.StartCPUTimer(in.RunClock, in.RunTimeout, func() { cancelCause(context.DeadlineExceeded) })
		defer t.Stop()
	case in.RunTimeout > 0:
		runCtx, cancel = context.WithTimeout(ctx, in.RunTimeout)
	}
	defer cancel()
	stdout := &limitWriter{limit: stdoutLimit, onOverflow: cancel}
	stderr := &limitWriter{limit: stderrLimit}

	cfg := e.base.
		WithStdin(bytes.NewReader(in.Stdin)).
		WithStdout(stdout).
		WithStderr(stderr).
		WithRandSource(randSource(in))
	if len(in.Args) > 0 {
		cfg = cfg.WithArgs(in.Args...)
	} else {
		cfg = cfg.WithArgs(defaultArgv0)
	}
	if len(in.Env) > 0 {
		keys := make([]string, 0, len(in.Env))
		for k := range in.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cfg = cfg.WithEnv(k, in.Env[k])
		}
	}
	switch {
	case in.RealTime:
		cfg = cfg.WithSysWalltime().WithSysNanotime().WithNanosleep(func(ns int64) {
			time.Sleep(min(time.Duration(ns), realSleepSlice))
		})
	case !in.Walltime.IsZero():
		cfg = cfg.WithWalltime(fakeWalltime(in.Walltime), sys.ClockResolution(time.Microsecond))
	}

	alloc := &capAllocator{limit: limit}
	actx := experimental.WithTableLimiter(experimental.WithMemoryAllocator(runCtx, alloc), alloc)

	t1 := time.Now()
	var cpu1 time.Duration
	if in.RunClock != nil {
		cpu1 = in.RunClock()
	}
	runErr := e.instantiateAndStart(actx, en.rt, en.cm, cfg)
	out.RunTime = time.Since(t1)
	if in.RunClock != nil {
		out.RunCPU = in.RunClock() - cpu1
	}
	out.Stdout = stdout.buf
	out.Stderr = stderr.buf
	out.MemoryBytes = alloc.size()
	alloc.recycle() // the guest ran on this goroutine and has returned

	return out, classify(runCtx, runErr, out, stdout, stdoutLimit, alloc, limit)
}

func (e *Engine) instantiateAndStart(ctx context.Context, rt wazero.Runtime, cm wazero.CompiledModule, cfg wazero.ModuleConfig) error {
	mod, err := rt.InstantiateModule(ctx, cm, cfg)
	if err != nil {
		var exit *sys.ExitError
		if errors.As(err, &exit) {
			return err
		}
		return &instantiateError{err}
	}
	defer mod.Close(context.Background())
	start := mod.ExportedFunction("_start")
	if start == nil { // checked at compile time; be safe anyway
		return errors.New("wasm: not a WASI command: no exported _start function")
	}
	_, err = start.Call(ctx)
	return err
}

// ctxErr is ctx's error, context.DeadlineExceeded where a timeout on CPU
// time (contract.CPUTimer) canceled it.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if err != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}

func classify(ctx context.Context, err error, out *Output, stdout *limitWriter, stdoutLimit int, alloc *capAllocator, limit uint64) error {
	if stdout.overflow {
		return fmt.Errorf("%w: stdout exceeded %d bytes", ErrOutputTooLarge, stdoutLimit)
	}
	if err == nil {
		return nil
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch code := exit.ExitCode(); code {
		case 0:
			return nil
		case sys.ExitCodeContextCanceled, sys.ExitCodeDeadlineExceeded:
			if cerr := ctxErr(ctx); cerr != nil {
				return fmt.Errorf("wasm: run stopped: %w", cerr)
			}
			return fmt.Errorf("wasm: run stopped: %w", err)
		default:
			out.ExitCode = code
			ee := &ExitError{Code: code, Stderr: out.Stderr}
			if alloc.denied() {
				return fmt.Errorf("%w (limit %d bytes): %w", ErrMemoryLimit, limit, ee)
			}
			return ee
		}
	}
	if cerr := ctxErr(ctx); cerr != nil {
		return fmt.Errorf("wasm: run stopped: %w: %w", cerr, err)
	}
	what := "trap"
	var ie *instantiateError
	if errors.As(err, &ie) {
		what, err = "instantiate", ie.err
	}
	if alloc.denied() {
		return fmt.Errorf("%w (limit %d bytes): wasm: %s: %w", ErrMemoryLimit, limit, what, err)
	}
	return fmt.Errorf("wasm: %s: %w", what, err)
}

// instantiateError marks a failure of instantiation (link error, or a trap
// in the module's start section), as opposed to a trap in _start.
type instantiateError struct{ err error }

func (e *instantiateError) Error() string { return e.err.Error() }
func (e *instantiateError) Unwrap() error { return e.err }

// acquire returns the cached compiled module for hash, compiling wasm when
// it is not cached. compiled is true when this call did the compiling,
// waited when it waited for another call's compile. The entry must be
// released.
func (e *Engine) acquire(ctx context.Context, hash string, wasm []byte) (en *entry, compiled, waited bool, err error) {
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return nil, false, waited, ErrClosed
		}
		if en, ok := e.lru.Get(hash); ok {
			en.refs++
			e.mu.Unlock()
			return en, false, waited, nil
		}
		if f, ok := e.inflight[hash]; ok {
			e.mu.Unlock()
			waited = true
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, false, waited, fmt.Errorf("wasm: waiting for compile: %w", ctx.Err())
			}
			if f.err != nil {
				return nil, false, waited, f.err
			}
			continue // now cached (or already evicted: try again)
		}
		if wasm == nil {
			e.mu.Unlock()
			return nil, false, waited, fmt.Errorf("%w: %s", ErrNotCached, hash)
		}
		f := &flight{done: make(chan struct{})}
		e.inflight[hash] = f
		e.mu.Unlock()

		en, err = e.compile(ctx, wasm)

		e.mu.Lock()
		delete(e.inflight, hash)
		f.err = err
		if err == nil {
			if e.closed {
				_ = en.cm.Close(context.Background())
				en, err = nil, ErrClosed
				f.err = err
			} else {
				en.refs = 1
				e.lru.Add(hash, en)
			}
		}
		e.mu.Unlock()
		close(f.done)
		return en, err == nil, waited, err
	}
}

func (e *Engine) compile(ctx context.Context, wasm []byte) (*entry, error) {
	rt := e.rt
	e.mu.Lock()
	if e.memOnly {
		rt = e.mem
	}
	e.mu.Unlock()
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil && rt == e.rt && e.cache != nil {
		// The module may be bad, or the disk cache failed to store it: a
		// memory-only compile tells which, and in the second case takes
		// over from the disk cache for good.
		if mem, merr := e.memRuntime(ctx); merr == nil {
			if mcm, merr := mem.CompileModule(ctx, wasm); merr == nil {
				e.mu.Lock()
				e.memOnly = true
				e.mu.Unlock()
				rt, cm, err = mem, mcm, nil
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("wasm: compile: %w", err)
	}
	fn, ok := cm.ExportedFunctions()["_start"]
	return &entry{
		rt:       rt,
		cm:       cm,
		minBytes: minMemoryPages(wasm) * pageSize,
		hasStart: ok && len(fn.ParamTypes()) == 0 && len(fn.ResultTypes()) == 0,
	}, nil
}

// memRuntime returns the memory-only runtime, made on first use.
func (e *Engine) memRuntime(ctx context.Context) (wazero.Runtime, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mem != nil {
		return e.mem, nil
	}
	if e.closed {
		return nil, ErrClosed
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("wasm: wasi: %w", err)
	}
	e.mem = rt
	return rt, nil
}

func (e *Engine) release(en *entry) {
	e.mu.Lock()
	en.refs--
	if en.evicted && en.refs == 0 {
		_ = en.cm.Close(context.Background())
	}
	e.mu.Unlock()
}

// limitWriter keeps up to limit bytes. Beyond that it drops the rest; when
// onOverflow is set it records the overflow, calls it (cancelling the run)
// and fails the write.
type limitWriter struct {
	buf        []byte
	limit      int
	overflow   bool
	onOverflow func()
}

func (w *limitWriter) Write(p []byte) (int, error) {
	room := w.limit - len(w.buf)
	if len(p) <= room {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if room > 0 {
		w.buf = append(w.buf, p[:room]...)
	}
	if w.onOverflow == nil {
		return len(p), nil // truncate silently
	}
	w.overflow = true
	w.onOverflow()
	return room, ErrOutputTooLarge
}

func randSource(in Input) io.Reader {
	if in.Deterministic {
		return seededRand(in.Seed)
	}
	return crand.Reader
}

func seededRand(seed int64) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:8], uint64(seed))
	copy(s[8:], "warren/wasmrun random_get")
	return rand.NewChaCha8(s)
}

// fakeWalltime is a deterministic wall clock starting at start and
// advancing 1 ms per reading, like wazero's default fake clock.
func fakeWalltime(start time.Time) sys.Walltime {
	t := start.UnixNano() - int64(time.Millisecond)
	return func() (int64, int32) {
		t += int64(time.Millisecond)
		return t / 1e9, int32(t % 1e9)
	}
}
