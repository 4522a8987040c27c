package pyrun

import (
	"archive/zip"
	"bytes"
	"context"
	crand "crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
	"golang.org/x/net/http/httpguts"
)

//go:embed rt/*.py
var rtFiles embed.FS

const (
	defaultStdoutLimit = 16 << 20
	// emptyZip is a zip archive without entries: the /code mount of the
	// snapshot.
	emptyZip    = "PK\x05\x06" + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	stderrLimit = 1 << 20
	pageSize    = 64 << 10
	// maxHostAnswer bounds one answer of a host call (a module's source,
	// a request body, a fetched body).
	maxHostAnswer = 64 << 20
)

var (
	// ErrMemoryLimit: the guest needed more linear memory than its cap (a
	// refused grow followed by a failure), or the snapshot alone exceeds it.
	ErrMemoryLimit = errors.New("python: memory limit exceeded")
	// ErrOutputTooLarge: stdout exceeded Input.StdoutLimit.
	ErrOutputTooLarge = errors.New("python: output too large")
)

// Options configure an Engine.
type Options struct {
	// CacheDir holds wazero's compilation cache ("" = compile in memory:
	// seconds per process).
	CacheDir string
	// CacheReadOnly reads CacheDir and never writes it (a process that runs
	// guest code): without the interpreter there, it compiles in memory.
	CacheReadOnly bool
	Artifacts     *Artifacts
}

// Engine compiles python.wasm once, takes the snapshot on first use, and
// runs calls. It is safe for concurrent use.
type Engine struct {
	rt          wazero.Runtime
	cm          wazero.CompiledModule
	base        wazero.ModuleConfig
	fsc         wazero.FSConfig // base's mounts
	cache       wazero.CompilationCache
	compileTime time.Duration

	snapOnce sync.Once
	snap     *snapshot
	snapErr  error
}

type snapshot struct {
	mem  []byte
	sp   uint64 // __stack_pointer
	took time.Duration
}

// NewEngine compiles the interpreter (from the disk cache when it holds it).
func NewEngine(ctx context.Context, opts Options) (*Engine, error) {
	a := opts.Artifacts
	if a == nil {
		return nil, ErrUnavailable
	}
	cfg := wazero.NewRuntimeConfig().WithCloseOnContextDone(true)
	var cache wazero.CompilationCache
	if opts.CacheDir != "" {
		newCache := wazero.NewCompilationCacheWithDir
		if opts.CacheReadOnly {
			newCache = wazero.NewReadOnlyCompilationCacheWithDir
		}
		if c, err := newCache(opts.CacheDir); err == nil {
			cache = c
			cfg = cfg.WithCompilationCache(c)
		}
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	fail := func(err error) (*Engine, error) {
		_ = rt.Close(ctx)
		if cache != nil {
			_ = cache.Close(ctx)
		}
		return nil, err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail(fmt.Errorf("python: wasi: %w", err))
	}
	if _, err := rt.NewHostModuleBuilder("warren").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostCall),
		[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32},
		[]api.ValueType{api.ValueTypeI64}).Export("call").
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(hostTake),
		[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, nil).Export("take").
		Instantiate(ctx); err != nil {
		return fail(fmt.Errorf("python: host module: %w", err))
	}
	if n, err := mutableGlobals(a.Wasm); err != nil || n != 1 {
		return fail(fmt.Errorf("python: %s python.wasm: want exactly one mutable global (__stack_pointer) for the snapshot, found %d (%v): rebuild it with `make python`", a.From, n, err))
	}
	start := time.Now()
	cm, err := rt.CompileModule(ctx, a.Wasm)
	if err != nil {
		return fail(fmt.Errorf("python: compiling %s python.wasm: %w", a.From, err))
	}
	for _, name := range []string{"_initialize", "warren_init", "warren_run"} {
		if _, ok := cm.ExportedFunctions()[name]; !ok {
			return fail(fmt.Errorf("python: %s python.wasm does not export %s: rebuild it with `make python`", a.From, name))
		}
	}
	zr, err := zip.NewReader(bytes.NewReader(a.Stdlib), int64(len(a.Stdlib)))
	if err != nil {
		return fail(fmt.Errorf("python: %s stdlib.zip: %w", a.From, err))
	}
	rtfs, err := fs.Sub(rtFiles, "rt")
	if err != nil {
		return fail(err)
	}
	empty, err := zip.NewReader(strings.NewReader(emptyZip), int64(len(emptyZip)))
	if err != nil {
		return fail(err)
	}
	// The mounts (and their order, which fixes their fds) must be the same
	// for the snapshot and every call: wasi-libc keeps its table of
	// preopens in linear memory. A call replaces the empty /code with its
	// code object's files (wazero keeps the index of a replaced mount).
	fsc := wazero.NewFSConfig().WithFSMount(zr, "/lib/python3.11").WithFSMount(rtfs, "/warren").WithFSMount(empty, "/code")
	base := wazero.NewModuleConfig().WithName("").WithStartFunctions().WithFSConfig(fsc).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().WithRandSource(crand.Reader).
		WithArgs("python3.11")
	return &Engine{rt: rt, cm: cm, base: base, fsc: fsc, cache: cache, compileTime: time.Since(start)}, nil
}

// CompileTime is how long compiling (or loading from the cache) took.
func (e *Engine) CompileTime() time.Duration { return e.compileTime }

// Close releases the runtime.
func (e *Engine) Close(ctx context.Context) error {
	err := e.rt.Close(ctx)
	if e.cache != nil {
		_ = e.cache.Close(ctx)
	}
	return err
}

// Host serves the host calls of the guest that are not the runtime's own
// ("fetch", "kv"). An error reaches the guest as OSError(message).
type Host func(ctx context.Context, op string, arg []byte) ([]byte, error)

// Input is one call.
type Input struct {
	Main  string            // the main module's name ("main.py")
	Files map[string][]byte // the code object's modules by name
	// Config is the call's configuration for the runtime: request (method,
	// url, headers, cf), env, kv (binding names). Main and files are
	// added.
	Config map[string]any
	Stdin  []byte // stdin, and the body of a Worker's request
	// CodeFS is mounted read-only at /code, the guest's working folder:
	// the code object's files, so that open("data.csv") reads a module.
	CodeFS           fs.FS
	StdoutLimit      int    // 0 = 16 MiB
	MemoryLimitBytes uint64 // 0 = no cap of ours
	// MaxResponseBytes bounds a Worker's response, its body and its
	// headers' names and values (0: no bound of ours).
	MaxResponseBytes int
	Host             Host
}

// Exception is an uncaught exception of the guest.
type Exception struct {
	Name    string `json:"name"`
	Message string `json:"message"`
	Stack   string `json:"stack"`
}

// Response is what a Worker returned.
type Response struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	// SetCookie holds the values of its Set-Cookie headers, in order,
	// when it has two or more (Headers joins them).
	SetCookie []string `json:"setCookie"`
	Body      []byte   `json:"-"`
}

// Output is what a call produced. Stdout and Stderr hold what was written
// even when Run fails.
type Output struct {
	Stdout, Stderr []byte
	ExitCode       uint32
	Exception      *Exception // the uncaught exception, if any
	Response       *Response  // a Worker's response, if it gave one
	MemoryBytes    uint64     // linear memory at the end (its peak)
	RunTime        time.Duration
	SnapshotTime   time.Duration // > 0 when this call took the snapshot
}

type stateKey struct{}

// state is one call's host-call state; the guest is single-threaded.
type state struct {
	ctx    context.Context
	in     *Input
	out    *Output
	answer []byte
	init   bool // the snapshot's start-up: no host call is answered
}

func (e *Engine) snapshot(ctx context.Context, took *bool) (*snapshot, error) {
	e.snapOnce.Do(func() {
		*took = true
		start := time.Now()
		st := &state{ctx: ctx, init: true, out: &Output{}}
		var stderr bytes.Buffer
		c := context.WithValue(context.WithoutCancel(ctx), stateKey{}, st)
		// Start-up is bounded: a broken build must not hang every call.
		c, cancel := context.WithTimeout(c, 60*time.Second)
		defer cancel()
		mod, err := e.rt.InstantiateModule(c, e.cm, e.base.WithStderr(&capWriter{w: &stderr, n: stderrLimit}).WithStdout(io.Discard))
		if err != nil {
			e.snapErr = fmt.Errorf("python: instantiate: %w", err)
			return
		}
		defer mod.Close(c)
		if _, err := mod.ExportedFunction("_initialize").Call(c); err != nil {
			e.snapErr = fmt.Errorf("python: _initialize: %w", err)
			return
		}
		r, err := mod.ExportedFunction("warren_init").Call(c)
		if err != nil || r[0] != 0 {
			e.snapErr = fmt.Errorf("python: interpreter start-up failed (%v): %s", err, bytes.TrimSpace(stderr.Bytes()))
			return
		}
		s := &snapshot{}
		if g, ok := mod.ExportedGlobal("__stack_pointer").(api.MutableGlobal); ok {
			s.sp = g.Get()
		} else {
			e.snapErr = errors.New("python: python.wasm does not export __stack_pointer: rebuild it with `make python`")
			return
		}
		buf, ok := mod.Memory().Read(0, mod.Memory().Size())
		if !ok {
			e.snapErr = errors.New("python: reading memory failed")
			return
		}
		s.mem = bytes.Clone(buf)
		s.took = time.Since(start)
		e.snap = s
	})
	return e.snap, e.snapErr
}

// Warm takes the snapshot now (it is taken on first use otherwise). It
// reports whether this call took it.
func (e *Engine) Warm(ctx context.Context) (bool, error) {
	var took bool
	_, err := e.snapshot(ctx, &took)
	return took, err
}

// Run runs one call in a fresh instance started from the snapshot.
func (e *Engine) Run(ctx context.Context, in Input) (*Output, error) {
	out := &Output{}
	first := false
	snap, err := e.snapshot(ctx, &first)
	if err != nil {
		return out, err
	}
	if first {
		out.SnapshotTime = snap.took
	}
	if in.MemoryLimitBytes > 0 && uint64(len(snap.mem)) > in.MemoryLimitBytes {
		return out, fmt.Errorf("%w: the interpreter alone needs %d MiB", ErrMemoryLimit, len(snap.mem)>>20)
	}
	start := time.Now()
	st := &state{ctx: ctx, in: &in, out: out}
	alloc := &capAllocator{limit: in.MemoryLimitBytes, hint: uint64(len(snap.mem))}
	c := experimental.WithMemoryAllocator(context.WithValue(ctx, stateKey{}, st), alloc)
	limit := in.StdoutLimit
	if limit <= 0 {
		limit = defaultStdoutLimit
	}
	var stdout, stderr bytes.Buffer
	so := &capWriter{w: &stdout, n: limit, fail: true}
	base := e.base
	if in.CodeFS != nil {
		base = base.WithFSConfig(e.fsc.WithFSMount(in.CodeFS, "/code"))
	}
	cfg := base.WithStdin(bytes.NewReader(in.Stdin)).WithStdout(so).WithStderr(&capWriter{w: &stderr, n: stderrLimit})
	defer func() {
		out.Stdout, out.Stderr = stdout.Bytes(), stderr.Bytes()
		out.MemoryBytes = alloc.size()
		out.RunTime = time.Since(start)
		alloc.release()
	}()
	mod, err := e.rt.InstantiateModule(c, e.cm, cfg)
	if err != nil {
		return out, runErr(c, fmt.Errorf("python: instantiate: %w", err), alloc, so)
	}
	defer mod.Close(context.WithoutCancel(c))
	mem := mod.Memory()
	if have, want := mem.Size(), uint32(len(snap.mem)); have < want {
		if _, ok := mem.Grow((want - have) / pageSize); !ok {
			return out, fmt.Errorf("%w: the interpreter alone needs %d MiB", ErrMemoryLimit, len(snap.mem)>>20)
		}
	}
	if !mem.Write(0, snap.mem) {
		return out, errors.New("python: restoring the snapshot failed")
	}
	mod.ExportedGlobal("__stack_pointer").(api.MutableGlobal).Set(snap.sp)
	r, err := mod.ExportedFunction("warren_run").Call(c)
	if err != nil {
		var exit *sys.ExitError
		if errors.As(err, &exit) {
			out.ExitCode = exit.ExitCode()
			if exit.ExitCode() == 0 {
				return out, nil
			}
		}
		return out, runErr(c, err, alloc, so)
	}
	out.ExitCode = uint32(r[0])
	if so.over {
		return out, ErrOutputTooLarge
	}
	if out.ExitCode != 0 && alloc.denied() {
		return out, ErrMemoryLimit
	}
	return out, nil
}

// runErr classifies a failed run: the context's end, a refused memory
// grow, too much output, or the trap itself.
func runErr(ctx context.Context, err error, alloc *capAllocator, so *capWriter) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("python: %w", cerr)
	}
	if so.over {
		return ErrOutputTooLarge
	}
	if alloc.denied() {
		return fmt.Errorf("%w: %w", ErrMemoryLimit, err)
	}
	return err
}

func callState(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// hostCall is warren.call(op_ptr, op_len, arg_ptr, arg_len) -> i64.
func hostCall(ctx context.Context, m api.Module, stack []uint64) {
	st := callState(ctx)
	opPtr, opLen := uint32(stack[0]), uint32(stack[1])
	argPtr, argLen := uint32(stack[2]), uint32(stack[3])
	mem := m.Memory()
	op, ok1 := mem.Read(opPtr, opLen)
	arg, ok2 := mem.Read(argPtr, argLen)
	if st == nil {
		stack[0] = ^uint64(0) // -1: an empty error
		return
	}
	if !ok1 || !ok2 {
		st.setErr("bad host call")
		stack[0] = uint64(-int64(len(st.answer)) - 1)
		return
	}
	ans, err := st.serve(string(op), arg)
	if err == nil && len(ans) > maxHostAnswer {
		err = fmt.Errorf("answer of %d bytes exceeds %d", len(ans), maxHostAnswer)
	}
	if err != nil {
		st.setErr(err.Error())
		stack[0] = uint64(-int64(len(st.answer)) - 1)
		return
	}
	st.answer = ans
	stack[0] = uint64(int64(len(ans)))
}

func (st *state) setErr(msg string) { st.answer = []byte(msg) }

// hostTake is warren.take(dst, n): copies the pending answer.
func hostTake(ctx context.Context, m api.Module, stack []uint64) {
	st := callState(ctx)
	if st == nil {
		return
	}
	dst, n := uint32(stack[0]), uint32(stack[1])
	if int(n) > len(st.answer) {
		n = uint32(len(st.answer))
	}
	m.Memory().Write(dst, st.answer[:n])
	st.answer = nil
}

// serve answers one host call.
func (st *state) serve(op string, arg []byte) ([]byte, error) {
	if st.init {
		return nil, fmt.Errorf("%s: no call during start-up", op)
	}
	in := st.in
	switch op {
	case "start":
		names := make([]string, 0, len(in.Files))
		for n := range in.Files {
			names = append(names, n)
		}
		cfg := map[string]any{}
		for k, v := range in.Config {
			cfg[k] = v
		}
		cfg["main"], cfg["files"] = in.Main, names
		return json.Marshal(cfg)
	case "file":
		b, ok := in.Files[string(arg)]
		if !ok {
			return nil, fmt.Errorf("no module %q", arg)
		}
		return b, nil
	case "body":
		return in.Stdin, nil
	case "exception":
		var x Exception
		if err := json.Unmarshal(arg, &x); err != nil {
			return nil, fmt.Errorf("exception: %w", err)
		}
		if st.out.Exception == nil {
			st.out.Exception = &x
		}
		return nil, nil
	case "respond":
		r, x := decodeResponse(arg, in.MaxResponseBytes)
		if x == nil && st.out.Response != nil {
			x = &Exception{Name: "Error", Message: "the response was sent already"}
		}
		if x != nil {
			// The call ends with it, whatever the guest makes of the
			// error (the runtime's _serve lets it pass).
			if st.out.Exception == nil {
				st.out.Exception = x
			}
			return nil, fmt.Errorf("respond: %s: %s", x.Name, x.Message)
		}
		st.out.Response = r
		return nil, nil
	}
	if in.Host == nil {
		return nil, fmt.Errorf("%s: not available here", op)
	}
	return in.Host(st.ctx, op, arg)
}

// capWriter keeps the first n bytes; with fail, writing more is an error.
type capWriter struct {
	w    *bytes.Buffer
	n    int
	fail bool
	over bool
}

func (c *capWriter) Write(p []byte) (int, error) {
	room := c.n - c.w.Len()
	if len(p) > room {
		c.over = true
		if room > 0 {
			c.w.Write(p[:room])
		}
		if c.fail {
			return max(room, 0), ErrOutputTooLarge
		}
		return len(p), nil
	}
	return c.w.Write(p)
}

// decodeResponse reads the response of a Worker's "respond" call (its head
// as JSON, a newline, its body), or says what makes it no HTTP response,
// as the exception the same mistake is in JavaScript: a status that is not
// an integer in [200, 599], headers that are not an object of strings, a
// header name that is not a token or a value with a CR, LF or NUL, or more
// than max bytes of body, names and values (max 0: no bound). The guest
// made it: its mistakes are the call's exception, never the runtime's
// failure.
func decodeResponse(arg []byte, max int) (*Response, *Exception) {
	fail := func(name, format string, args ...any) (*Response, *Exception) {
		return nil, &Exception{Name: name, Message: fmt.Sprintf(format, args...)}
	}
	head, body, _ := bytes.Cut(arg, []byte("\n"))
	var raw struct {
		Status    json.RawMessage            `json:"status"`
		Headers   map[string]json.RawMessage `json:"headers"`
		SetCookie json.RawMessage            `json:"setCookie"`
	}
	if err := json.Unmarshal(head, &raw); err != nil {
		return fail("TypeError", "the response's head is not a JSON object of a status and headers: %v", err)
	}
	var status json.Number
	d := json.NewDecoder(bytes.NewReader(raw.Status))
	d.UseNumber()
	if err := d.Decode(&status); err != nil || status == "" || strings.ContainsAny(string(status), ".eE") {
		if len(raw.Status) == 0 {
			return fail("TypeError", "the response has no status")
		}
		return fail("TypeError", "the response's status is %s, not an integer", cutText(string(raw.Status)))
	}
	n, err := status.Int64()
	if err != nil || n < 200 || n > 599 {
		return fail("RangeError", "the response's status %s is outside the range [200, 599]", cutText(string(status)))
	}
	r := &Response{Status: int(n), Headers: make(map[string]string, len(raw.Headers))}
	size := len(body)
	for name, rv := range raw.Headers {
		var v string
		if err := json.Unmarshal(rv, &v); err != nil {
			return fail("TypeError", "the value of the response's header %s is not a string", cutText(strconv.Quote(name)))
		}
		if !httpguts.ValidHeaderFieldName(name) {
			return fail("TypeError", "Invalid header name: %s", cutText(strconv.Quote(name)))
		}
		if strings.ContainsAny(v, "\x00\r\n") {
			return fail("TypeError", "Invalid header value of %s: it has a CR, LF or NUL", cutText(strconv.Quote(name)))
		}
		r.Headers[name] = v
		size += len(name) + len(v)
	}
	if len(raw.SetCookie) > 0 && string(raw.SetCookie) != "null" {
		if err := json.Unmarshal(raw.SetCookie, &r.SetCookie); err != nil {
			return fail("TypeError", "the response's Set-Cookie values are not a list of strings")
		}
		for _, v := range r.SetCookie {
			if strings.ContainsAny(v, "\x00\r\n") {
				return fail("TypeError", "Invalid header value of \"set-cookie\": it has a CR, LF or NUL")
			}
			size += len("set-cookie") + len(v)
		}
	}
	if max > 0 && size > max {
		return fail("RangeError", "the response is %d bytes (body and headers), more than the limit of %d", size, max)
	}
	r.Body = bytes.Clone(body)
	return r, nil
}

// cutText cuts s, the guest's, to quote in an error message.
func cutText(s string) string {
	const most = 64
	if len(s) > most {
		return s[:most] + "..."
	}
	return s
}
