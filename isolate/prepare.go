package isolate

import (
	"context"
	"errors"
	"fmt"
	"path"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/warrenmesh/warren/internal/memtrim"
	"github.com/warrenmesh/warren/isolate/internal/bundle"
	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// Preparing code (bundling it with esbuild) is work on hostile input like
// running it: a module of deeply nested literals overflows esbuild's
// stack, one of nested blocks grows its output with the square of the
// depth, a huge one takes seconds of CPU. So a sandboxed runtime prepares
// code in a worker process, under the worker's memory cap, a stack cap and a
// deadline; the node only ever sees a bounded script or a failure.

// DefaultPrepareTimeout bounds the preparation of one code object
// (Options.PrepareTimeout). esbuild bundles 50 KB in about 20 ms here; a
// module that needs more than this is far outside what Workers are.
const DefaultPrepareTimeout = time.Second

// prepareMaxStack is the goroutine stack a worker allows while it
// prepares code (Go's default is 1 GB): a parser recursing without end
// stops at this instead of at the worker's memory cap.
const prepareMaxStack = 64 << 20

// maxBundleBytes bounds a bundle by the size of its source: esbuild's
// output grows with helpers and source maps, never by this much for real
// code.
func maxBundleBytes(sourceBytes int) int {
	return min(8*sourceBytes+8<<20, sandbox.MaxFrameSize-64<<10)
}

// How long a preparation failure is remembered by code hash, so the same
// bad code does not cost the work again: failures of the code itself
// (syntax, nesting) for failureTTL; running out of time or memory, which a
// busy machine makes likelier, for transientFailureTTL.
const (
	failureTTL          = 10 * time.Minute
	transientFailureTTL = 30 * time.Second
)

// failed is a remembered preparation failure.
type failed struct {
	res     *Result
	expires time.Time
}

// PackageConditions returns the package.json "exports" and "imports"
// conditions a bare import matches besides "import" (or "require") and
// "default", and PackageMainFields the fields naming the entry of a package
// without "exports", in order: what a bundler gathering a Worker's files
// from node_modules must use so that the code object resolves the same way.
func PackageConditions() []string { return slices.Clone(bundle.Conditions) }

// PackageMainFields: see PackageConditions.
func PackageMainFields() []string { return slices.Clone(bundle.MainFields) }

// ResolveExtensions returns the extensions an import without one tries, in
// order, when preparing code: a bundler gathering a Worker's files must try
// them in the same order.
func ResolveExtensions() []string { return slices.Clone(bundle.ProbeExtensions) }

// ImportResolver returns the resolution of imports that preparing c
// applies (docs/code-object.md): resolve(importer, specifier, require) is
// the name of the module of c that specifier, imported by the module named
// importer, refers to; require selects the "require" condition of package
// exports instead of "import". Tools use it to check that a code object
// they built from files resolves as the files did.
func ImportResolver(c *Code) func(importer, specifier string, require bool) (string, error) {
	mods := make([]bundle.Module, 0, len(c.Modules))
	for name, m := range c.Modules {
		mods = append(mods, bundle.Module{Name: name, Kind: bundle.Kind(m.Kind), Source: m.Source, Data: m.Data, JSON: m.JSON})
	}
	return bundle.NewResolver(mods).Resolve
}

// maxPrepareErrorBytes bounds the message of a build error: esbuild's
// quote the code (an import specifier of megabytes), and a failure is
// kept by code hash for minutes (failureTTL).
const maxPrepareErrorBytes = 4 << 10

// bundleCode bundles a JavaScript code object into a program. It runs
// where the limits apply: in a sandbox worker, or in the caller's process
// for the in-process executor.
func bundleCode(c *Code, hash string) (*contract.Program, *Result) {
	mods := make([]bundle.Module, 0, len(c.Modules))
	names := make([]string, 0, len(c.Modules))
	size := 0
	for name := range c.Modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m := c.Modules[name]
		size += len(m.Source) + len(m.Data) + len(m.JSON)
		// bundle's kinds are the code object's, in the same order.
		mods = append(mods, bundle.Module{Name: name, Kind: bundle.Kind(m.Kind), Source: m.Source, Data: m.Data, JSON: m.JSON})
	}
	out, err := bundle.BundleWith(c.MainModule, mods, bundleConfig(c))
	if err != nil {
		var be *bundle.Error
		if errors.As(err, &be) {
			name := "SyntaxError"
			if strings.Contains(be.Text, "nests deeper than") {
				name = "RangeError"
			}
			msg := contract.CutText(be.Error(), maxPrepareErrorBytes, 0)
			stack := name + ": " + msg
			if be.File != "" {
				stack += fmt.Sprintf("\n%s%s:%d:%d", contract.FrameIndent, be.File, be.Line, be.Column)
			}
			return nil, contract.ExceptionResult(name, msg, stack)
		}
		return nil, contract.ExceptionResult("Error", contract.CutText(err.Error(), maxPrepareErrorBytes, 0), "")
	}
	if limit := maxBundleBytes(size); len(out.Script) > limit {
		return nil, contract.ExceptionResult("RangeError", fmt.Sprintf("the bundled code is %d bytes, more than the %d allowed for %d bytes of source", len(out.Script), limit, size), "")
	}
	name := strings.TrimSuffix(path.Base(c.MainModule), path.Ext(c.MainModule)) + ".bundle.js"
	return &contract.Program{Hash: hash, Name: name, Script: out.Script}, nil
}

// bundleConfig is what of c besides its modules shapes its bundle: Hash
// covers the same (see bundleFlags).
func bundleConfig(c *Code) bundle.Config {
	return bundle.Config{NodeCompat: slices.Contains(bundleFlags(c), NodeCompatFlag)}
}

// The prepare frames: the node sends wirePrepare, then the code object's
// main module, modules and the compatibility flags that shape the bundle;
// the worker answers prepOK with the program's name and script, or
// prepFailed with an encoded Result.
const (
	wirePrepare byte = 0x50 // 'P': never a WireVersion
	// wirePython alone asks a preparer to compile python.wasm into the
	// node's wasm cache (servePython).
	wirePython byte = 0x59 // 'Y'

	prepOK     byte = 0
	prepFailed byte = 1
)

func encodePrepare(c *Code) []byte {
	size := 64
	for name, m := range c.Modules {
		size += len(name) + len(m.Source) + len(m.Data) + len(m.JSON) + 16
	}
	w := &contract.WBuf{B: make([]byte, 0, size)}
	w.B = append(w.B, wirePrepare)
	w.Str(c.MainModule)
	w.Uint(uint64(len(c.Modules)))
	for _, name := range contract.SortedKeys(c.Modules) {
		m := c.Modules[name]
		w.Str(name)
		w.Uint(uint64(m.Kind))
		w.Str(m.Source)
		w.Bytes(m.Data)
		w.Bytes(m.JSON)
	}
	flags := bundleFlags(c)
	w.Uint(uint64(len(flags)))
	for _, f := range flags {
		w.Str(f)
	}
	return w.B
}

func decodePrepare(b []byte) (*Code, error) {
	if len(b) == 0 || b[0] != wirePrepare {
		return nil, fmt.Errorf("%w: not a prepare frame", contract.ErrWire)
	}
	r := &contract.RBuf{B: b[1:]}
	c := &Code{MainModule: r.Str()}
	n := r.N()
	c.Modules = make(map[string]*Module, n)
	for i := 0; i < n && r.Err == nil; i++ {
		name := r.Str()
		kind := r.Uint()
		if kind > uint64(ModulePython) {
			r.Fail()
			break
		}
		c.Modules[name] = &Module{Kind: ModuleKind(kind), Source: r.Str(), Data: r.Bytes(), JSON: r.Bytes()}
	}
	for i, n := 0, r.N(); i < n && r.Err == nil; i++ {
		c.CompatibilityFlags = append(c.CompatibilityFlags, r.Str())
	}
	if r.Err != nil {
		return nil, r.Err
	}
	if len(r.B) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", contract.ErrWire, len(r.B))
	}
	return c, nil
}

// servePrepare is a worker's answer to a prepare frame. The stack cap
// holds only while it runs: guest code has its own bound on recursion.
func servePrepare(req []byte) []byte {
	c, err := decodePrepare(req)
	if err != nil {
		return append([]byte{prepFailed}, contract.EncodeResult(contract.Failure(OutcomeInternalError, "worker: bad prepare request: "+err.Error()))...)
	}
	old := debug.SetMaxStack(prepareMaxStack)
	p, res := bundleCode(c, "")
	debug.SetMaxStack(old)
	// esbuild's garbage for a large module is the worker's largest; give
	// it back now rather than keep the worker at its peak.
	defer memtrim.Trim(32 << 20)
	if res != nil {
		return append([]byte{prepFailed}, contract.EncodeResult(res)...)
	}
	w := &contract.WBuf{B: make([]byte, 0, len(p.Script)+64)}
	w.B = append(w.B, prepOK)
	w.Str(p.Name)
	w.Str(p.Script)
	return w.B
}

// prepare bundles c in one of the workers that run no guest code (s.prep).
// A failure comes with how long to remember it (0: not at all).
func (s *sandboxed) prepare(ctx context.Context, c *Code, hash string, timeout time.Duration, sched Sched) (*contract.Program, *Result, time.Duration) {
	// The timeout counts from when a preparer takes the code: a caller waiting
	// behind another's long preparation is not told its own code is too large.
	// The caller's weight holds for its preparation: a client whose work ran
	// long lately has its code bundled at the low weight too, and a long
	// preparation is demoted as a long call is.
	out, err := s.prep.Call(ctx, encodePrepare(c), sandbox.CallOptions{Timeout: timeout, Low: sched.Low, OnDemote: sched.OnDemote}, nil)
	if err != nil {
		return s.prepareCrash(ctx, err, timeout)
	}
	if len(out) > 0 && out[0] == prepFailed {
		res, err := contract.DecodeResult(out[1:])
		if err != nil {
			return nil, contract.Failure(OutcomeInternalError, fmt.Sprintf("decoding the worker's preparation: %v", err)), 0
		}
		return nil, res, failureTTL
	}
	r := &contract.RBuf{B: out}
	if len(out) == 0 || out[0] != prepOK {
		r.Fail()
	} else {
		r.B = out[1:]
	}
	p := &contract.Program{Hash: hash, Name: r.Str(), Script: r.Str()}
	if r.Err != nil || len(r.B) != 0 {
		return nil, contract.Failure(OutcomeInternalError, "decoding the worker's preparation: malformed frame"), 0
	}
	return p, nil, 0
}

// prepareCrash names what ended a preparation whose worker died or was
// killed. The worker's own output stays in the node's log.
func (s *sandboxed) prepareCrash(ctx context.Context, err error, timeout time.Duration) (*contract.Program, *Result, time.Duration) {
	var ce *sandbox.CrashError
	if errors.As(err, &ce) && ce.Reason != "deadline" {
		s.log.Info("a preparation ended its sandbox worker", "reason", ce.Reason, "exit", ce.ExitCode, "output", ce.Stderr)
	}
	switch {
	case errors.Is(err, sandbox.ErrTooLarge):
		return nil, contract.ExceptionResult("RangeError", "the code is too large to prepare", ""), failureTTL
	case !errors.As(err, &ce):
		if ctx.Err() != nil {
			return nil, contract.Failure(OutcomeCanceled, "the invocation was canceled while its code was prepared"), 0
		}
		return nil, contract.Failure(OutcomeInternalError, "preparing the code: the sandbox failed"), 0
	case ce.Reason == "deadline":
		return nil, contract.ExceptionResult("Error", fmt.Sprintf("preparing the code took longer than %v: it is too large or too complex", timeout), ""), transientFailureTTL
	case ce.MemoryExceeded:
		return nil, contract.ExceptionResult("RangeError", "preparing the code exceeded the sandbox's memory limit: it is too large or too complex", ""), transientFailureTTL
	case strings.Contains(ce.Stderr, "stack overflow") || strings.Contains(ce.Stderr, "stack exceeds"):
		return nil, contract.ExceptionResult("RangeError", "the code is nested too deeply to prepare", ""), failureTTL
	case ctx.Err() != nil:
		return nil, contract.Failure(OutcomeCanceled, "the invocation was canceled while its code was prepared"), 0
	}
	return nil, contract.Failure(OutcomeInternalError, "preparing the code: the sandbox worker crashed"), 0
}

// servePython is a preparer's answer to wirePython: python.wasm compiled
// into the wasm cache at cacheDir (or found there), so that the workers
// that run calls, which only read the cache, load it. Empty: done; else
// why not.
func servePython(cacheDir string) []byte {
	defer memtrim.Trim(32 << 20)
	if err := PrecompilePython(cacheDir); err != nil {
		return []byte(err.Error())
	}
	return nil
}

// pythonWarmTimeout bounds a preparer's compilation of python.wasm (a few
// seconds; half a minute under the race detector).
const pythonWarmTimeout = 5 * time.Minute

// warmPython has a preparer compile python.wasm into the wasm cache, once
// for the runtime (again after a failure), and waits for it within ctx:
// the workers that run calls only read the cache, and without the
// interpreter there each would compile it in memory (seconds).
func (s *sandboxed) warmPython(ctx context.Context) {
	s.pyMu.Lock()
	ch := s.pyWarm
	if ch == nil {
		ch = make(chan struct{})
		s.pyWarm = ch
		go func() {
			out, err := s.prep.Call(context.Background(), []byte{wirePython}, sandbox.CallOptions{Timeout: pythonWarmTimeout}, nil)
			if err == nil && len(out) != 0 {
				err = errors.New(string(out))
			}
			if err != nil && !errors.Is(err, sandbox.ErrClosed) {
				s.log.Warn("compiling python.wasm into the wasm cache failed: each worker compiles it", "err", err)
			}
			if err != nil {
				s.pyMu.Lock()
				s.pyWarm = nil // the next Python call tries again
				s.pyMu.Unlock()
			}
			close(ch)
		}()
	}
	s.pyMu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}
