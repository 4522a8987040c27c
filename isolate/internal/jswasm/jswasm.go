package jswasm

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dop251/goja"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// MaxModuleBytes bounds the bytes of one module: compiling is not
// interruptible, so its cost must be bounded before it starts.
const MaxModuleBytes = 32 << 20

// maxCompiled is how many compiled modules a process keeps.
const maxCompiled = 64

// maxImports and maxExports bound a module's imports and exports (V8's
// limits): instantiating builds a host function for each import.
const (
	maxImports = 100_000
	maxExports = 100_000
)

// maxPages is the most pages a 32-bit memory can have.
const maxPages = 65536

// shared is the process's wazero runtime and its compiled modules, keyed by
// the sha256 of their bytes: every isolate of the process instantiates from
// them, so a module is compiled once per process.
var shared struct {
	once     sync.Once
	cacheErr error // why SetCacheDir's directory is not in use
	rt       wazero.Runtime
	mu       sync.Mutex
	lru      *simplelru.LRU[[32]byte, *compiled]
	// byBase64 finds the modules of bundled imports by their base64 text,
	// which a cached script passes again on every run: no decoding and no
	// hashing of the bytes (Go compares the strings' pointers first).
	byBase64 map[string]*compiled
	disk     bool // compiled code goes to the disk cache too
}

// SetCacheDir makes the process's runtime keep compiled code on disk in
// dir too (wazero's compilation cache), so that a new process (a sandbox
// worker) does not compile a module again; with readOnly it only loads
// what is there, and compiles the rest in memory. It acts only before the
// runtime is first used; it returns why the cache cannot be used, if so
// (the runtime then compiles in memory).
func SetCacheDir(dir string, readOnly bool) error {
	shared.once.Do(func() { initRuntime(dir, readOnly) })
	return shared.cacheErr
}

func sharedRuntime() wazero.Runtime {
	shared.once.Do(func() { initRuntime("", false) })
	return shared.rt
}

func initRuntime(cacheDir string, readOnly bool) {
	cfg := wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithCustomSections(true)
	if cacheDir != "" {
		newCache := wazero.NewCompilationCacheWithDir
		if readOnly {
			newCache = wazero.NewReadOnlyCompilationCacheWithDir
		}
		if c, err := newCache(cacheDir); err != nil {
			shared.cacheErr = fmt.Errorf("wasm: compilation cache %s: %w", cacheDir, err)
		} else {
			cfg = cfg.WithCompilationCache(c)
			shared.disk = true
		}
	}
	shared.rt = wazero.NewRuntimeWithConfig(context.Background(), cfg)
	shared.byBase64 = map[string]*compiled{}
	shared.lru, _ = simplelru.NewLRU[[32]byte, *compiled](maxCompiled, func(_ [32]byte, c *compiled) {
		// Called with shared.mu held.
		c.evicted = true
		if c.b64 != "" {
			delete(shared.byBase64, c.b64)
		}
		if c.refs == 0 {
			_ = c.cm.Close(context.Background())
		}
	})
}

// compiles counts the modules this process compiled (cache misses).
var compiles atomic.Uint64

// Compiles is how many modules the process has compiled so far: a module
// found in the cache is not counted.
func Compiles() uint64 { return compiles.Load() }

// compiled is one compiled module; refs counts the isolates holding it (an
// evicted module is closed when the last lets go).
type compiled struct {
	cm      wazero.CompiledModule
	info    *moduleInfo
	sum     [32]byte
	refs    int
	evicted bool
	b64     string // the base64 text it was found by (ModuleFromBase64), if any
}

// Options connect the WebAssembly API to the isolate it runs in.
type Options struct {
	// Context is the context wasm runs under: the isolate cancels it when a
	// limit (CPU, wall time) ends the call, which stops running wasm.
	Context func() context.Context
	// MemoryLimit is the cap, in bytes, on all of the isolate's linear
	// memories together; 0 = no cap of ours.
	MemoryLimit func() int64
	// BufferSource returns the bytes an ArrayBuffer, typed array or
	// DataView views.
	BufferSource func(goja.Value) ([]byte, bool)
	// Compiling, if set, runs the compilation of a module that came with
	// the code (a bundled import) and that the process has not compiled
	// yet: the isolate does not count that time as the guest's CPU
	// (compiling the code is the host's cost, once per process). Modules
	// the guest makes from bytes at run time compile on its CPU time.
	Compiling func(func())
}

// State is the WebAssembly API of one goja runtime. Use it only from the
// goroutine that runs the runtime.
type State struct {
	vm   *goja.Runtime
	opts Options
	ns   *goja.Object

	modProto, instProto, memProto, globProto, tableProto *goja.Object
	compileErr, linkErr, runtimeErr                      *goja.Object

	modules  map[*goja.Object]*compiled
	memories map[*goja.Object]*memory
	globals  map[*goja.Object]*global
	tables   map[*goja.Object]*table
	funcs    map[*goja.Object]wasmFunc // exported wasm functions, for Table.set
	// reserveMax makes the next Allocate reserve its maximum (a shared
	// memory being made; see memory.shared).
	reserveMax bool

	held      []*compiled             // modules this isolate uses (released by Close)
	instances []api.Module            // closed by Close
	hostCode  []wazero.CompiledModule // the host modules' code, closed by Close
	// pending is the exception a JS import threw, carried across the wasm
	// frames to the call that entered wasm, which throws it on.
	pending any
	memUsed atomic.Int64 // bytes of linear memory allocated
	// live are the memories whose buffer JS holds: when control comes
	// back from wasm, those that grew are detached (grown).
	live   []*memory
	closed bool
}

// New prepares the WebAssembly API for vm; nothing is built until
// Namespace is called.
func New(vm *goja.Runtime, opts Options) *State {
	return &State{vm: vm, opts: opts}
}

// errImportThrew unwinds wasm frames when a JS import threw.
var errImportThrew = errors.New("jswasm: an import threw")

func (s *State) ctx() context.Context {
	if s.opts.Context != nil {
		if c := s.opts.Context(); c != nil {
			return c
		}
	}
	return context.Background()
}

func (s *State) limit() int64 {
	if s.opts.MemoryLimit != nil {
		return s.opts.MemoryLimit()
	}
	return 0
}

// Close releases the isolate's instances and compiled modules.
func (s *State) Close() {
	if s.closed {
		return
	}
	s.closed = true
	for i := len(s.instances) - 1; i >= 0; i-- {
		_ = s.instances[i].Close(context.Background())
	}
	s.instances = nil
	for _, cm := range s.hostCode {
		_ = cm.Close(context.Background())
	}
	s.hostCode = nil
	shared.mu.Lock()
	for _, c := range s.held {
		c.refs--
		if c.refs == 0 && c.evicted {
			_ = c.cm.Close(context.Background())
		}
	}
	shared.mu.Unlock()
	s.held = nil
}

// errorsJS makes the CompileError, LinkError and RuntimeError classes.
const errorsJS = `(function () {
  function make(name) {
    const E = class extends Error {
      constructor(message) { super(message); }
    };
    Object.defineProperty(E, "name", { value: name });
    Object.defineProperty(E.prototype, "name", { value: name, writable: true, configurable: true });
    return E;
  }
  const bytes = async (source) => {
    const r = await source;
    if (r === null || typeof r !== "object" || typeof r.arrayBuffer !== "function") {
      throw new TypeError("WebAssembly: Argument 0 must be a Response or a promise of one");
    }
    if (r.ok === false) throw new TypeError("WebAssembly: the Response has status " + r.status);
    return r.arrayBuffer();
  };
  return [make("CompileError"), make("LinkError"), make("RuntimeError"),
    (ns) => async (source) => ns.compile(await bytes(source)),
    (ns) => async (source, imports) => ns.instantiate(await bytes(source), imports)];
})()`

var errorsProg = sync.OnceValue(func() *goja.Program {
	return goja.MustCompile("webassembly-errors.js", errorsJS, true)
})

// Namespace returns the WebAssembly object, building it on first use.
func (s *State) Namespace() goja.Value {
	if s.ns != nil {
		return s.ns
	}
	vm := s.vm
	sharedRuntime()
	s.modules = map[*goja.Object]*compiled{}
	s.memories = map[*goja.Object]*memory{}
	s.globals = map[*goja.Object]*global{}
	s.tables = map[*goja.Object]*table{}
	s.funcs = map[*goja.Object]wasmFunc{}
	ns := vm.NewObject()
	s.ns = ns
	errs, err := vm.RunProgram(errorsProg())
	if err != nil {
		panic(err)
	}
	eo := errs.ToObject(vm)
	s.compileErr = eo.Get("0").ToObject(vm)
	s.linkErr = eo.Get("1").ToObject(vm)
	s.runtimeErr = eo.Get("2").ToObject(vm)

	def := func(o *goja.Object, name string, v any) {
		_ = o.DefineDataProperty(name, vm.ToValue(v), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	_ = ns.DefineDataPropertySymbol(goja.SymToStringTag, vm.ToValue("WebAssembly"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	for i, name := range []string{"compileStreaming", "instantiateStreaming"} {
		mk, _ := goja.AssertFunction(eo.Get(strconv.Itoa(3 + i)))
		f, err := mk(goja.Undefined(), ns)
		if err != nil {
			panic(err)
		}
		def(ns, name, f)
	}
	def(ns, "CompileError", s.compileErr)
	def(ns, "LinkError", s.linkErr)
	def(ns, "RuntimeError", s.runtimeErr)

	// Module
	modCtor, modProto := s.class("Module", func(call goja.ConstructorCall) *goja.Object {
		b := s.bytesArg(call.Argument(0), "WebAssembly.Module()")
		c := s.compile(b, "WebAssembly.Module()", false)
		s.modules[call.This] = c
		return nil
	})
	s.modProto = modProto
	def(modCtor, "exports", func(m goja.Value) goja.Value {
		c := s.moduleArg(m, "WebAssembly.Module.exports()")
		out := make([]any, len(c.info.exports))
		for i, e := range c.info.exports {
			out[i] = s.plain("name", e.name, "kind", kindName(e.kind))
		}
		return vm.NewArray(out...)
	})
	def(modCtor, "imports", func(m goja.Value) goja.Value {
		c := s.moduleArg(m, "WebAssembly.Module.imports()")
		out := make([]any, len(c.info.imports))
		for i, e := range c.info.imports {
			out[i] = s.plain("module", e.module, "name", e.name, "kind", kindName(e.kind))
		}
		return vm.NewArray(out...)
	})
	def(modCtor, "customSections", func(m, name goja.Value) goja.Value {
		c := s.moduleArg(m, "WebAssembly.Module.customSections()")
		if name == nil || goja.IsUndefined(name) {
			panic(vm.NewTypeError("WebAssembly.Module.customSections(): Argument 1 is required"))
		}
		n := name.String()
		var out []any
		for _, cs := range c.info.custom {
			if cs.name == n {
				out = append(out, vm.NewArrayBuffer(append([]byte(nil), cs.data...)))
			}
		}
		return vm.NewArray(out...)
	})
	def(ns, "Module", modCtor)

	// Instance
	instCtor, instProto := s.class("Instance", func(call goja.ConstructorCall) *goja.Object {
		c := s.moduleArg(call.Argument(0), "WebAssembly.Instance()")
		exports := s.instantiate(c, call.Argument(1))
		_ = call.This.DefineDataProperty("exports", exports, goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_TRUE)
		return nil
	})
	s.instProto = instProto
	def(ns, "Instance", instCtor)

	// Memory
	memCtor, memProto := s.class("Memory", func(call goja.ConstructorCall) *goja.Object {
		s.newMemory(call.This, call.Argument(0))
		return nil
	})
	s.memProto = memProto
	_ = memProto.DefineAccessorProperty("buffer", vm.ToValue(func(call goja.FunctionCall) goja.Value {
		return s.memoryThis(call.This, "buffer").buffer(s)
	}), nil, goja.FLAG_TRUE, goja.FLAG_FALSE)
	def(memProto, "grow", func(call goja.FunctionCall) goja.Value {
		m := s.memoryThis(call.This, "grow")
		return vm.ToValue(m.grow(s, call.Argument(0)))
	})
	def(ns, "Memory", memCtor)

	// Global
	globCtor, globProto := s.class("Global", func(call goja.ConstructorCall) *goja.Object {
		s.newGlobal(call.This, call.Argument(0), call.Argument(1))
		return nil
	})
	s.globProto = globProto
	_ = globProto.DefineAccessorProperty("value", vm.ToValue(func(call goja.FunctionCall) goja.Value {
		g := s.globalThis(call.This, "value")
		return s.toJS(g.t, g.g.Get())
	}), vm.ToValue(func(call goja.FunctionCall) goja.Value {
		g := s.globalThis(call.This, "value")
		g.set(s, call.Argument(0))
		return goja.Undefined()
	}), goja.FLAG_TRUE, goja.FLAG_FALSE)
	def(globProto, "valueOf", func(call goja.FunctionCall) goja.Value {
		g := s.globalThis(call.This, "valueOf")
		return s.toJS(g.t, g.g.Get())
	})
	def(ns, "Global", globCtor)

	// Table (table.go)
	s.installTable(ns, def)

	// Functions
	def(ns, "validate", func(v goja.Value) bool {
		b := s.bytesArg(v, "WebAssembly.validate()")
		if len(b) > MaxModuleBytes {
			return false
		}
		sum := sha256.Sum256(b)
		shared.mu.Lock()
		_, ok := shared.lru.Get(sum)
		shared.mu.Unlock()
		if ok {
			return true
		}
		cm, err := sharedRuntime().CompileModule(context.Background(), b)
		if err != nil {
			return false
		}
		_ = cm.Close(context.Background())
		return true
	})
	def(ns, "compile", func(v goja.Value) goja.Value {
		return s.promise(func() goja.Value {
			return s.newModule(s.compile(s.bytesArg(v, "WebAssembly.compile()"), "WebAssembly.compile()", false))
		})
	})
	def(ns, "instantiate", func(src, imports goja.Value) goja.Value {
		return s.promise(func() goja.Value {
			if o, ok := src.(*goja.Object); ok {
				if c, ok := s.modules[o]; ok {
					return s.newInstance(c, imports)
				}
			}
			b, ok := s.opts.BufferSource(src)
			if !ok {
				panic(vm.NewTypeError("WebAssembly.instantiate(): Argument 0 must be a buffer source or a WebAssembly.Module object"))
			}
			c := s.compile(append([]byte(nil), b...), "WebAssembly.instantiate()", false)
			mod := s.newModule(c)
			return s.plain("module", mod, "instance", s.newInstance(c, imports))
		})
	})
	return ns
}

// class makes a constructor whose instances have a fresh prototype.
func (s *State) class(name string, ctor func(goja.ConstructorCall) *goja.Object) (*goja.Object, *goja.Object) {
	vm := s.vm
	proto := vm.NewObject()
	c := vm.ToValue(func(call goja.ConstructorCall) *goja.Object {
		// goja calls a native constructor called as a function with its
		// receiver as This: only new makes This inherit from proto.
		if !inherits(call.This, proto) {
			panic(vm.NewTypeError("WebAssembly." + name + " must be invoked with 'new'"))
		}
		ctor(call)
		return nil
	}).ToObject(vm)
	_ = proto.DefineDataProperty("constructor", c, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	_ = proto.DefineDataPropertySymbol(goja.SymToStringTag, vm.ToValue("WebAssembly."+name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	_ = c.DefineDataProperty("prototype", proto, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	_ = c.DefineDataProperty("name", vm.ToValue(name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	return c, proto
}

// inherits reports whether proto is on o's prototype chain.
func inherits(o, proto *goja.Object) bool {
	for i := 0; o != nil && i < 10_000; i++ {
		if o = o.Prototype(); o == proto {
			return true
		}
	}
	return false
}

// plain makes an ordinary object from key, value pairs.
func (s *State) plain(kv ...any) *goja.Object {
	o := s.vm.NewObject()
	for i := 0; i+1 < len(kv); i += 2 {
		_ = o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

// throw throws a new error of class ctor.
func (s *State) throw(ctor *goja.Object, format string, a ...any) {
	o, err := s.vm.New(ctor, s.vm.ToValue(fmt.Sprintf(format, a...)))
	if err != nil {
		panic(err)
	}
	panic(o)
}

func (s *State) rangeError(format string, a ...any) {
	o, err := s.vm.New(s.vm.Get("RangeError"), s.vm.ToValue(fmt.Sprintf(format, a...)))
	if err != nil {
		panic(err)
	}
	panic(o)
}

// promise runs f now and returns a promise settled with its value or with
// what it threw.
func (s *State) promise(f func() goja.Value) goja.Value {
	p, resolve, reject := s.vm.NewPromise()
	v, thrown := s.try(f)
	if thrown != nil {
		_ = reject(thrown)
	} else {
		_ = resolve(v)
	}
	return s.vm.ToValue(p)
}

// try runs f, catching a JS exception it throws (an interrupt goes on).
func (s *State) try(f func() goja.Value) (v goja.Value, thrown goja.Value) {
	defer func() {
		if r := recover(); r != nil {
			switch x := r.(type) {
			case *goja.Exception:
				thrown = x.Value()
			case goja.Value:
				thrown = x
			default:
				panic(r)
			}
		}
	}()
	return f(), nil
}

func (s *State) bytesArg(v goja.Value, where string) []byte {
	b, ok := s.opts.BufferSource(v)
	if !ok {
		panic(s.vm.NewTypeError(where + ": Argument 0 must be a buffer source"))
	}
	return b
}

func (s *State) moduleArg(v goja.Value, where string) *compiled {
	if o, ok := v.(*goja.Object); ok {
		if c, ok := s.modules[o]; ok {
			return c
		}
	}
	panic(s.vm.NewTypeError(where + ": Argument 0 must be a WebAssembly.Module"))
}

// compile compiles b (or finds it compiled) and holds it for the isolate;
// bundled says b came with the code (see Options.Compiling).
func (s *State) compile(b []byte, where string, bundled bool) *compiled {
	if len(b) > MaxModuleBytes {
		s.throw(s.compileErr, "%s: the module is %d bytes, more than the %d allowed", where, len(b), MaxModuleBytes)
	}
	var c *compiled
	var err error
	if c = cachedShared(b); c == nil {
		compile := func() { c, err = compileShared(b) }
		if bundled && s.opts.Compiling != nil {
			s.opts.Compiling(compile)
		} else {
			compile()
		}
	}
	if err != nil {
		s.throw(s.compileErr, "%s: %s", where, compileMessage(err))
	}
	s.hold(c)
	return c
}

// cachedShared returns the compiled module of b if it is cached, with a
// reference the caller must release.
func cachedShared(b []byte) *compiled {
	sharedRuntime()
	sum := sha256.Sum256(b)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	c, ok := shared.lru.Get(sum)
	if !ok {
		return nil
	}
	c.refs++
	return c
}

// compileShared returns the compiled module of b, compiling it on a miss.
// The caller holds a reference (refs) and must release it.
func compileShared(b []byte) (*compiled, error) {
	rt := sharedRuntime()
	sum := sha256.Sum256(b)
	shared.mu.Lock()
	if c, ok := shared.lru.Get(sum); ok {
		c.refs++
		shared.mu.Unlock()
		return c, nil
	}
	shared.mu.Unlock()
	// wazero copies what it keeps of b.
	compiles.Add(1)
	cm, err := rt.CompileModule(context.Background(), b)
	if err != nil && shared.disk {
		// wazero keeps a module it compiled in memory before storing it on
		// disk: when storing fails (a full or read-only disk), compiling
		// again finds it in memory. A call must not fail for a cache.
		cm, err = rt.CompileModule(context.Background(), b)
	}
	if err != nil {
		return nil, err
	}
	info, err := parseModule(b)
	if err == nil && (len(info.imports) > maxImports || len(info.exports) > maxExports) {
		err = fmt.Errorf("%d imports and %d exports: at most %d and %d are allowed", len(info.imports), len(info.exports), maxImports, maxExports)
	}
	if err != nil {
		_ = cm.Close(context.Background())
		return nil, fmt.Errorf("reading the module: %w", err)
	}
	c := &compiled{cm: cm, info: info, sum: sum}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if old, ok := shared.lru.Get(sum); ok { // compiled meanwhile
		_ = cm.Close(context.Background())
		c = old
	} else {
		shared.lru.Add(sum, c)
	}
	c.refs++
	return c, nil
}

func compileMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "invalid magic number")
	if msg == "" {
		return "not a WebAssembly module: invalid magic number (the first bytes must be \\0asm)"
	}
	return msg
}

func (s *State) newModule(c *compiled) *goja.Object {
	o := s.vm.CreateObject(s.modProto)
	s.modules[o] = c
	return o
}

func (s *State) newInstance(c *compiled, imports goja.Value) *goja.Object {
	exports := s.instantiate(c, imports)
	o := s.vm.CreateObject(s.instProto)
	_ = o.DefineDataProperty("exports", exports, goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_TRUE)
	return o
}

// ModuleFromBase64 is the function a bundled import of a .wasm module
// calls: it decodes the module's bytes and returns a WebAssembly.Module.
func (s *State) ModuleFromBase64(call goja.FunctionCall) goja.Value {
	s.Namespace()
	text := call.Argument(0).String()
	shared.mu.Lock()
	c, ok := shared.byBase64[text]
	if ok {
		c.refs++
		shared.lru.Get(c.sum) // recently used
	}
	shared.mu.Unlock()
	if ok {
		s.hold(c)
		return s.newModule(c)
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		s.throw(s.compileErr, "wasm module import: %v", err)
	}
	c = s.compile(b, "WebAssembly.Module()", true)
	shared.mu.Lock()
	if !c.evicted && c.b64 == "" {
		c.b64 = text
		shared.byBase64[text] = c
	}
	shared.mu.Unlock()
	return s.newModule(c)
}
