package jswasm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dop251/goja"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// Instantiation: linking a module's imports and building its exports.

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
			if m.shared {
				// wasm threads are not enabled, so no module can declare a
				// shared memory import, and a shared memory must not link to
				// an unshared one.
				s.throw(s.linkErr, "%s: mismatch in shared state of memory declaration and import", where)
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
			tb, ok := s.tables[objectOf(v)]
			if !ok {
				s.throw(s.linkErr, "%s: table import must be a WebAssembly.Table object", where)
			}
			if im.valType != valFuncref {
				s.throw(s.linkErr, "%s: only funcref tables can be imported", where)
			}
			if !dup {
				g.addOther(shimImport{name: im.name, field: tb.field, kind: kindTable}, tb.mod)
			}
			tb.addSigs(c.info.types)
		default:
			s.throw(s.linkErr, "%s: unsupported import kind", where)
		}
	}

	if lim := s.limit(); lim > 0 && int64(c.info.minPages)*pageSize+s.memUsed.Load() > lim {
		s.rangeError("WebAssembly.Instance(): Out of memory: the module's initial memory of %d pages does not fit the Worker's memory limit", c.info.minPages)
	}

	ctx := s.instantiateCtx()
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
	s.retain(c)
	return s.exportsObject(mod, c)
}

// retain takes another reference to c for as long as the isolate: the
// instance runs its code.
func (s *State) retain(c *compiled) {
	shared.mu.Lock()
	c.refs++
	shared.mu.Unlock()
	s.hold(c)
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
	s.hold(c)
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

// hold records a reference to c that compileShared took, released by Close.
func (s *State) hold(c *compiled) { s.held = append(s.held, c) }

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
			s.funcs[v.(*goja.Object)] = wasmFunc{mod: mod, field: e.name, sig: funcType{params: fn.Definition().ParamTypes(), results: fn.Definition().ResultTypes()}}
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
		case kindTable:
			if int(e.index) >= len(c.info.tables) || c.info.tables[e.index] != valFuncref {
				continue // externref tables are not exposed (see the package doc)
			}
			v = s.wrapTable(&table{mod: mod, field: e.name, sigs: slices.Clone(c.info.types)})
		default:
			continue
		}
		_ = o.DefineDataProperty(e.name, v, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	if freeze, ok := goja.AssertFunction(vm.Get("Object").ToObject(vm).Get("preventExtensions")); ok {
		_, _ = freeze(goja.Undefined(), o)
	}
	return o
}
