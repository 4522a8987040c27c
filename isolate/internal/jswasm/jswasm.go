package jswasm

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dop251/goja"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
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
// worker) does not compile a module again. It acts only before the
// runtime is first used; it returns why the cache cannot be used, if so
// (the runtime then compiles in memory).
func SetCacheDir(dir string) error {
	shared.once.Do(func() { initRuntime(dir) })
	return shared.cacheErr
}

func sharedRuntime() wazero.Runtime {
	shared.once.Do(func() { initRuntime("") })
	return shared.rt
}

func initRuntime(cacheDir string) {
	cfg := wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithCustomSections(true)
	if cacheDir != "" {
		if c, err := wazero.NewCompilationCacheWithDir(cacheDir); err != nil {
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

	modProto, instProto, memProto, globProto *goja.Object
	compileErr, linkErr, runtimeErr          *goja.Object

	modules  map[*goja.Object]*compiled
	memories map[*goja.Object]*memory
	globals  map[*goja.Object]*global

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
	s.held = append(s.held, c)
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
		s.held = append(s.held, c)
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

func kindName(k byte) string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Value conversions (the JS API's ToWebAssemblyValue and ToJSValue).

func (s *State) toJS(t api.ValueType, bits uint64) goja.Value {
	switch t {
	case api.ValueTypeI32:
		return s.vm.ToValue(int32(uint32(bits)))
	case api.ValueTypeI64:
		return s.vm.ToValue(big.NewInt(int64(bits)))
	case api.ValueTypeF32:
		return s.vm.ToValue(float64(api.DecodeF32(bits)))
	case api.ValueTypeF64:
		return s.vm.ToValue(api.DecodeF64(bits))
	}
	panic(s.vm.NewTypeError("WebAssembly: values of type %s cannot cross to JavaScript", api.ValueTypeName(t)))
}

var mask64 = new(big.Int).SetUint64(math.MaxUint64)

func (s *State) toWasm(t api.ValueType, v goja.Value) uint64 {
	switch t {
	case api.ValueTypeI32:
		return uint64(uint32(toInt32(s.number(v))))
	case api.ValueTypeI64:
		return s.bigint(v)
	case api.ValueTypeF32:
		return api.EncodeF32(float32(s.number(v)))
	case api.ValueTypeF64:
		return api.EncodeF64(s.number(v))
	}
	panic(s.vm.NewTypeError("WebAssembly: values of type %s cannot cross from JavaScript", api.ValueTypeName(t)))
}

func (s *State) number(v goja.Value) float64 {
	if goja.IsBigInt(v) {
		panic(s.vm.NewTypeError("Cannot convert a BigInt value to a number"))
	}
	return v.ToFloat()
}

func (s *State) bigint(v goja.Value) uint64 {
	switch {
	case goja.IsBigInt(v):
		x, _ := v.Export().(*big.Int)
		if x == nil {
			return 0
		}
		return new(big.Int).And(x, mask64).Uint64()
	case isBool(v):
		if v.ToBoolean() {
			return 1
		}
		return 0
	case goja.IsString(v):
		x, ok := new(big.Int).SetString(strings.TrimSpace(v.String()), 0)
		if !ok {
			panic(s.vm.NewTypeError("Cannot convert " + v.String() + " to a BigInt"))
		}
		return new(big.Int).And(x, mask64).Uint64()
	}
	panic(s.vm.NewTypeError("Cannot convert " + v.String() + " to a BigInt"))
}

func isBool(v goja.Value) bool {
	_, ok := v.Export().(bool)
	return ok
}

func toInt32(f float64) int32 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	f = math.Mod(math.Trunc(f), 4294967296)
	return int32(uint32(int64(f)))
}

// Calls into wasm.

// call runs fn with params and returns its results, turning a failure into
// the right JS exception.
func (s *State) call(fn api.Function, params []uint64) []uint64 {
	res, err := fn.Call(s.ctx(), params...)
	s.grown()
	if err != nil {
		s.rethrow(err)
	}
	return res
}

// rethrow throws the JS exception for a failed call into wasm: the
// exception of a JS import, a RuntimeError for a trap or a stopped call.
func (s *State) rethrow(err error) {
	if p := s.pending; p != nil {
		s.pending = nil
		panic(p)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeContextCanceled, sys.ExitCodeDeadlineExceeded:
			s.throw(s.runtimeErr, "wasm execution stopped: the Worker's call ended (a limit was reached)")
		case 0:
			s.throw(s.runtimeErr, "the wasm instance has been closed")
		}
		s.throw(s.runtimeErr, "wasm module exited with status %d", exit.ExitCode())
	}
	s.throw(s.runtimeErr, "%s", trapMessage(err))
}

// trapMessage is the first line of wazero's error, without its prefix.
func trapMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "wasm error: "); i >= 0 {
		msg = msg[i+len("wasm error: "):]
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// exportFunc wraps an exported wasm function for JS.
func (s *State) exportFunc(fn api.Function, index string) goja.Value {
	def := fn.Definition()
	pt, rt := def.ParamTypes(), def.ResultTypes()
	vm := s.vm
	f := vm.ToValue(func(call goja.FunctionCall) goja.Value {
		params := make([]uint64, len(pt))
		for i, t := range pt {
			params[i] = s.toWasm(t, call.Argument(i))
		}
		res := s.call(fn, params)
		switch len(rt) {
		case 0:
			return goja.Undefined()
		case 1:
			return s.toJS(rt[0], res[0])
		}
		out := make([]any, len(rt))
		for i, t := range rt {
			out[i] = s.toJS(t, res[i])
		}
		return vm.NewArray(out...)
	}).ToObject(vm)
	_ = f.DefineDataProperty("name", vm.ToValue(index), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	_ = f.DefineDataProperty("length", vm.ToValue(len(pt)), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	return f
}

// hostFunc wraps a JS function as the body of an import.
func (s *State) hostFunc(fn goja.Callable, pt, rt []api.ValueType) api.GoModuleFunc {
	return func(_ context.Context, _ api.Module, stack []uint64) {
		s.grown()
		s.guard(func() {
			args := make([]goja.Value, len(pt))
			for i, t := range pt {
				args[i] = s.toJS(t, stack[i])
			}
			ret, err := fn(goja.Undefined(), args...)
			if err != nil {
				panic(err)
			}
			switch len(rt) {
			case 0:
			case 1:
				stack[0] = s.toWasm(rt[0], ret)
			default:
				o, ok := ret.(*goja.Object)
				if !ok {
					panic(s.vm.NewTypeError("WebAssembly: an import with several results must return an array"))
				}
				if n := o.Get("length"); n == nil || n.ToInteger() != int64(len(rt)) {
					panic(s.vm.NewTypeError("WebAssembly: an import must return %d results", len(rt)))
				}
				for i, t := range rt {
					stack[i] = s.toWasm(t, o.Get(strconv.Itoa(i)))
				}
			}
		})
	}
}

// guard runs f in a host function: whatever f throws is kept in pending
// and the wasm frames are unwound to the call that entered wasm.
func (s *State) guard(f func()) {
	defer func() {
		if r := recover(); r != nil {
			s.pending = r
			panic(errImportThrew)
		}
	}()
	f()
}

// Instantiation.

// group is the imports of one module name.
type group struct {
	name  string
	funcs []funcImport
	other []shimImport
	srcs  []api.Module // sources of other, named "s0", "s1", ...
	seen  map[string]bool
}

type funcImport struct {
	name   string
	fn     goja.Callable
	pt, rt []api.ValueType
}

// instantiate makes an instance of c with the imports importObj provides
// and returns its exports object.
func (s *State) instantiate(c *compiled, importObj goja.Value) *goja.Object {
	vm := s.vm
	imps := c.info.imports
	var io *goja.Object
	if len(imps) > 0 {
		o, ok := importObj.(*goja.Object)
		if !ok {
			panic(vm.NewTypeError("WebAssembly.Instance(): Imports argument must be present and must be an object"))
		}
		io = o
	} else if importObj != nil && !goja.IsUndefined(importObj) {
		if _, ok := importObj.(*goja.Object); !ok {
			panic(vm.NewTypeError("WebAssembly.Instance(): Argument 1 must be an object"))
		}
	}
	funcDefs := c.cm.ImportedFunctions()
	nf := 0
	groups := map[string]*group{}
	var order []*group
	for i, im := range imps {
		mo, ok := io.Get(im.module).(*goja.Object)
		if !ok {
			panic(vm.NewTypeError(fmt.Sprintf("WebAssembly.Instance(): Import #%d %q: module is not an object or function", i, im.module)))
		}
		v := mo.Get(im.name)
		if v == nil {
			v = goja.Undefined()
		}
		g := groups[im.module]
		if g == nil {
			g = &group{name: im.module, seen: map[string]bool{}}
			groups[im.module] = g
			order = append(order, g)
		}
		where := fmt.Sprintf("WebAssembly.Instance(): Import #%d %q %q", i, im.module, im.name)
		dup := g.seen[im.name]
		g.seen[im.name] = true
		switch im.kind {
		case kindFunc:
			var def api.FunctionDefinition
			if nf < len(funcDefs) {
				def = funcDefs[nf]
			}
			nf++
			fn, ok := goja.AssertFunction(v)
			if !ok || def == nil {
				s.throw(s.linkErr, "%s: function import requires a callable", where)
			}
			if !dup {
				g.funcs = append(g.funcs, funcImport{name: im.name, fn: fn, pt: def.ParamTypes(), rt: def.ResultTypes()})
			}
		case kindMemory:
			m, ok := s.memories[objectOf(v)]
			if !ok {
				s.throw(s.linkErr, "%s: memory import must be a WebAssembly.Memory object", where)
			}
			if !dup {
				g.addOther(shimImport{name: im.name, field: m.field, kind: kindMemory}, m.mod)
			}
		case kindGlobal:
			gl, ok := s.globals[objectOf(v)]
			if !ok {
				if im.mutable || !(goja.IsNumber(v) || goja.IsBigInt(v)) {
					s.throw(s.linkErr, "%s: global import must be a number, a BigInt or a WebAssembly.Global object", where)
				}
				if im.valType == valI64 && !goja.IsBigInt(v) {
					s.throw(s.linkErr, "%s: global import of type i64 must be a BigInt", where)
				}
				if im.valType != valI64 && goja.IsBigInt(v) {
					s.throw(s.linkErr, "%s: global import of type %s must be a number", where, api.ValueTypeName(im.valType))
				}
				gl = s.makeGlobal(im.valType, false, s.toWasm(im.valType, v))
			}
			if gl.t != im.valType || gl.mut != im.mutable {
				s.throw(s.linkErr, "%s: imported global does not match the expected type or mutability", where)
			}
			if !dup {
				g.addOther(shimImport{name: im.name, field: gl.field, kind: kindGlobal, valType: gl.t, mutable: gl.mut}, gl.mod)
			}
		case kindTable:
			s.throw(s.linkErr, "%s: importing tables from JavaScript is not supported", where)
		default:
			s.throw(s.linkErr, "%s: unsupported import kind", where)
		}
	}

	if lim := s.limit(); lim > 0 && int64(c.info.minPages)*pageSize+s.memUsed.Load() > lim {
		s.rangeError("WebAssembly.Instance(): Out of memory: the module's initial memory of %d pages does not fit the Worker's memory limit", c.info.minPages)
	}

	ctx := experimental.WithMemoryAllocator(s.ctx(), s)
	resolved := map[string]api.Module{}
	for _, g := range order {
		m, err := s.linkGroup(ctx, g)
		if err != nil {
			s.rethrowLink(err)
		}
		resolved[g.name] = m
	}
	rctx := experimental.WithImportResolver(ctx, func(name string) api.Module { return resolved[name] })
	mod, err := sharedRuntime().InstantiateModule(rctx, c.cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	s.grown() // the start function may have grown an imported memory
	if err != nil {
		s.rethrowLink(err)
	}
	s.instances = append(s.instances, mod)
	c.refsHeld(s)
	return s.exportsObject(mod, c)
}

// refsHeld keeps c for as long as the isolate: the instance runs its code.
func (c *compiled) refsHeld(s *State) {
	shared.mu.Lock()
	c.refs++
	shared.mu.Unlock()
	s.held = append(s.held, c)
}

func objectOf(v goja.Value) *goja.Object {
	o, _ := v.(*goja.Object)
	return o
}

func (g *group) addOther(si shimImport, src api.Module) {
	k := -1
	for i, m := range g.srcs {
		if m == src {
			k = i
		}
	}
	if k < 0 {
		k = len(g.srcs)
		g.srcs = append(g.srcs, src)
	}
	si.source = "s" + strconv.Itoa(k)
	g.other = append(g.other, si)
}

// linkGroup makes the module that provides one module name's imports: a
// host module of JS functions, or, when memories or globals are imported
// too, a shim that re-exports them with the functions.
func (s *State) linkGroup(ctx context.Context, g *group) (api.Module, error) {
	rt := sharedRuntime()
	var host api.Module
	if len(g.funcs) > 0 {
		// The builder wants a name; the instance is anonymous all the same
		// (the guest finds it through the resolver).
		b := rt.NewHostModuleBuilder("js")
		for _, f := range g.funcs {
			b = b.NewFunctionBuilder().WithGoModuleFunction(s.hostFunc(f.fn, f.pt, f.rt), f.pt, f.rt).Export(f.name)
		}
		cm, err := b.Compile(ctx)
		if err != nil {
			return nil, err
		}
		s.hostCode = append(s.hostCode, cm)
		m, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
		if err != nil {
			return nil, err
		}
		s.instances = append(s.instances, m)
		host = m
	}
	if len(g.other) == 0 {
		return host, nil
	}
	imps := make([]shimImport, 0, len(g.funcs)+len(g.other))
	for _, f := range g.funcs {
		imps = append(imps, shimImport{name: f.name, source: "f", field: f.name, kind: kindFunc, params: f.pt, results: f.rt})
	}
	imps = append(imps, g.other...)
	c, err := compileShared(shimModule(imps))
	if err != nil {
		return nil, fmt.Errorf("linking %q: %w", g.name, err)
	}
	c.refsHeldOnce(s)
	srcs := map[string]api.Module{"f": host}
	for i, m := range g.srcs {
		srcs["s"+strconv.Itoa(i)] = m
	}
	sctx := experimental.WithImportResolver(ctx, func(name string) api.Module { return srcs[name] })
	m, err := rt.InstantiateModule(sctx, c.cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return nil, err
	}
	s.instances = append(s.instances, m)
	return m, nil
}

// refsHeldOnce records a reference compileShared took.
func (c *compiled) refsHeldOnce(s *State) { s.held = append(s.held, c) }

// rethrowLink throws what failing to instantiate means: the exception of
// a JS import the start function called, a RuntimeError for a trap in the
// start function, a LinkError otherwise.
func (s *State) rethrowLink(err error) {
	if p := s.pending; p != nil {
		s.pending = nil
		panic(p)
	}
	msg := err.Error()
	var exit *sys.ExitError
	if errors.As(err, &exit) || strings.HasPrefix(msg, "start ") {
		s.rethrow(err)
	}
	s.throw(s.linkErr, "WebAssembly.Instance(): %s", msg)
}

// exportsObject makes the frozen exports object of an instance.
func (s *State) exportsObject(mod api.Module, c *compiled) *goja.Object {
	vm := s.vm
	o := vm.NewObject()
	_ = o.SetPrototype(nil)
	fnIndex := map[string]uint32{}
	for name, def := range c.cm.ExportedFunctions() {
		fnIndex[name] = def.Index()
	}
	for _, e := range c.info.exports {
		var v goja.Value
		switch e.kind {
		case kindFunc:
			fn := mod.ExportedFunction(e.name)
			if fn == nil {
				continue
			}
			v = s.exportFunc(fn, strconv.FormatUint(uint64(fnIndex[e.name]), 10))
		case kindMemory:
			mem := mod.ExportedMemory(e.name)
			if mem == nil {
				continue
			}
			v = s.wrapMemory(&memory{mod: mod, field: e.name, mem: mem})
		case kindGlobal:
			g := mod.ExportedGlobal(e.name)
			if g == nil {
				continue
			}
			_, mut := g.(api.MutableGlobal)
			v = s.wrapGlobal(&global{mod: mod, field: e.name, g: g, t: g.Type(), mut: mut})
		default:
			continue // tables are not exposed (see the package doc)
		}
		_ = o.DefineDataProperty(e.name, v, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	if freeze, ok := goja.AssertFunction(vm.Get("Object").ToObject(vm).Get("preventExtensions")); ok {
		_, _ = freeze(goja.Undefined(), o)
	}
	return o
}

// Memory.

type memory struct {
	mod   api.Module // the instance whose memory it is
	field string     // its export name there
	mem   api.Memory
	ab    goja.ArrayBuffer
	abv   goja.Value
	size  uint32
	// tracked says m is in State.live.
	tracked bool
}

func (s *State) wrapMemory(m *memory) *goja.Object {
	o := s.vm.CreateObject(s.memProto)
	s.memories[o] = m
	return o
}

func (s *State) memoryThis(v goja.Value, what string) *memory {
	if m, ok := s.memories[objectOf(v)]; ok {
		return m
	}
	panic(s.vm.NewTypeError("WebAssembly.Memory." + what + ": Receiver is not a WebAssembly.Memory"))
}

// grown detaches the buffers of memories that wasm grew: as the JS API
// says, and as glue code (wasm-bindgen's cached views) relies on.
func (s *State) grown() {
	live := s.live[:0]
	for _, m := range s.live {
		if m.mem.Size() != m.size {
			m.detach()
		}
		if m.abv == nil {
			m.tracked = false
			continue
		}
		live = append(live, m)
	}
	clear(s.live[len(live):])
	s.live = live
}

// buffer is the ArrayBuffer that aliases the memory. After the memory has
// grown (by wasm or by grow), the old one is detached and a new one made.
func (m *memory) buffer(s *State) goja.Value {
	size := m.mem.Size()
	if m.abv != nil && size == m.size {
		return m.abv
	}
	m.detach()
	b, _ := m.mem.Read(0, size)
	if b == nil {
		b = []byte{}
	}
	m.ab = s.vm.NewArrayBuffer(b)
	m.abv = s.vm.ToValue(m.ab)
	m.size = size
	if !m.tracked {
		m.tracked = true
		s.live = append(s.live, m)
	}
	return m.abv
}

func (m *memory) detach() {
	if m.abv != nil {
		m.ab.Detach()
		m.abv = nil
	}
}

func (m *memory) grow(s *State, delta goja.Value) uint32 {
	d := delta.ToFloat()
	if math.IsNaN(d) || d < 0 || d > math.MaxUint32 {
		panic(s.vm.NewTypeError("WebAssembly.Memory.grow(): Argument 0 must be a non-negative integer"))
	}
	prev, ok := m.mem.Grow(uint32(d))
	if !ok {
		s.rangeError("WebAssembly.Memory.grow(): Maximum memory size exceeded")
	}
	m.detach()
	return prev
}

func (s *State) newMemory(this *goja.Object, desc goja.Value) {
	d, ok := desc.(*goja.Object)
	if !ok {
		panic(s.vm.NewTypeError("WebAssembly.Memory(): Argument 0 must be a memory descriptor"))
	}
	initial, ok := s.pages(d, "initial")
	if !ok {
		panic(s.vm.NewTypeError("WebAssembly.Memory(): Property 'initial' is required"))
	}
	max, hasMax := s.pages(d, "maximum")
	if hasMax && max < initial {
		s.rangeError("WebAssembly.Memory(): Property 'maximum': value %d is below the initial %d", max, initial)
	}
	if v := d.Get("shared"); v != nil && v.ToBoolean() {
		panic(s.vm.NewTypeError("WebAssembly.Memory(): shared memories are not supported"))
	}
	if lim := s.limit(); lim > 0 && int64(initial)*pageSize+s.memUsed.Load() > lim {
		s.rangeError("WebAssembly.Memory(): could not allocate memory: %d pages exceed the Worker's memory limit", initial)
	}
	c, err := compileShared(memoryModule(initial, max, hasMax))
	if err != nil {
		panic(s.vm.NewGoError(err))
	}
	c.refsHeldOnce(s)
	ctx := experimental.WithMemoryAllocator(s.ctx(), s)
	mod, err := sharedRuntime().InstantiateModule(ctx, c.cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		s.rangeError("WebAssembly.Memory(): could not allocate memory: %v", err)
	}
	s.instances = append(s.instances, mod)
	s.memories[this] = &memory{mod: mod, field: "m", mem: mod.ExportedMemory("m")}
}

func (s *State) pages(d *goja.Object, name string) (uint32, bool) {
	v := d.Get(name)
	if v == nil || goja.IsUndefined(v) {
		return 0, false
	}
	f := s.number(v)
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || math.Trunc(f) > maxPages {
		panic(s.vm.NewTypeError(fmt.Sprintf("WebAssembly.Memory(): Property '%s': value must be between 0 and %d pages", name, maxPages)))
	}
	return uint32(f), true
}

// Global.

type global struct {
	mod   api.Module
	field string
	g     api.Global
	t     api.ValueType
	mut   bool
}

func (s *State) wrapGlobal(g *global) *goja.Object {
	o := s.vm.CreateObject(s.globProto)
	s.globals[o] = g
	return o
}

func (s *State) globalThis(v goja.Value, what string) *global {
	if g, ok := s.globals[objectOf(v)]; ok {
		return g
	}
	panic(s.vm.NewTypeError("WebAssembly.Global." + what + ": Receiver is not a WebAssembly.Global"))
}

func (g *global) set(s *State, v goja.Value) {
	mg, ok := g.g.(api.MutableGlobal)
	if !ok || !g.mut {
		panic(s.vm.NewTypeError("WebAssembly.Global.value: Can't set the value of an immutable global"))
	}
	mg.Set(s.toWasm(g.t, v))
}

var valTypes = map[string]api.ValueType{"i32": valI32, "i64": valI64, "f32": valF32, "f64": valF64}

func (s *State) newGlobal(this *goja.Object, desc, v goja.Value) {
	d, ok := desc.(*goja.Object)
	if !ok {
		panic(s.vm.NewTypeError("WebAssembly.Global(): Argument 0 must be a global descriptor"))
	}
	mut := false
	if m := d.Get("mutable"); m != nil {
		mut = m.ToBoolean()
	}
	tv := d.Get("value")
	t, ok := valTypes[fmt.Sprint(tv)]
	if tv == nil || !ok {
		panic(s.vm.NewTypeError("WebAssembly.Global(): Descriptor property 'value' must be 'i32', 'i64', 'f32' or 'f64'"))
	}
	var bits uint64
	if v != nil && !goja.IsUndefined(v) {
		bits = s.toWasm(t, v)
	}
	g := s.makeGlobal(t, mut, bits)
	s.globals[this] = g
}

// makeGlobal instantiates a module holding one global.
func (s *State) makeGlobal(t api.ValueType, mut bool, bits uint64) *global {
	init := bits
	if mut {
		init = 0 // one module per type: the value is set after
	}
	c, err := compileShared(globalModule(t, mut, init))
	if err != nil {
		panic(s.vm.NewGoError(err))
	}
	c.refsHeldOnce(s)
	mod, err := sharedRuntime().InstantiateModule(s.ctx(), c.cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		panic(s.vm.NewGoError(err))
	}
	s.instances = append(s.instances, mod)
	g := mod.ExportedGlobal("g")
	if mg, ok := g.(api.MutableGlobal); ok && mut {
		mg.Set(bits)
	}
	return &global{mod: mod, field: "g", g: g, t: t, mut: mut}
}

// Linear memory: the isolate's allocator (experimental.MemoryAllocator)
// backs every memory with an ordinary []byte and refuses to grow past the
// isolate's memory limit, counting all its memories together.

// Allocate implements experimental.MemoryAllocator.
func (s *State) Allocate(capHint, max uint64) experimental.LinearMemory {
	return &linearMemory{s: s, capHint: capHint, max: max}
}

type linearMemory struct {
	s       *State
	capHint uint64
	max     uint64
	buf     []byte
	freed   atomic.Bool
}

func (m *linearMemory) Reallocate(size uint64) []byte {
	grow := int64(size) - int64(len(m.buf))
	if m.buf != nil || grow > 0 {
		if lim := m.s.limit(); lim > 0 && m.buf != nil && m.s.memUsed.Load()+grow > lim {
			return nil // memory.grow returns -1
		}
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
	} else {
		c := max(size, m.capHint)
		if old := uint64(cap(m.buf)); old >= 64<<20 {
			c = max(size, old+old/4) // the heap watchdog counts capacity
		} else if old > 0 {
			c = max(size, old*2)
		}
		c = min(c, max(m.max, size))
		if lim := m.s.limit(); lim > 0 && c > uint64(lim) {
			c = max(size, uint64(lim))
		}
		nb := make([]byte, size, c)
		copy(nb, m.buf)
		m.buf = nb
	}
	m.s.memUsed.Add(grow)
	return m.buf
}

// Free may run on another goroutine (wazero closing a module whose context
// ended): it only gives the bytes back to the isolate's count.
func (m *linearMemory) Free() {
	if m.freed.CompareAndSwap(false, true) {
		m.s.memUsed.Add(-int64(len(m.buf)))
	}
}
