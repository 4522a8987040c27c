package jswasm

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/dop251/goja"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// WebAssembly.Table, for funcref tables.
//
// wazero has no API for a table's entries, so each table is reached
// through a helper module that imports it (tableHelper): length is
// table.size, grow is table.grow with null entries, get(i) tells a null
// entry from a function, and calling the function get returns goes through
// a call_indirect trampoline per signature of the module that owns the
// table. Which signature an entry has is not known without calling it:
// the trampolines are tried in order, and a type mismatch raised by the
// trampoline itself (before the entry runs) moves on to the next one.
//
// Tables exported by an instance are Table objects; new WebAssembly.Table
// makes one backed by a one-table module, which modules may import (through
// the import shim; the importer's signatures join the table's). set and
// grow store null or an exported wasm function (through a setter module
// that imports the table and the function: table.set with ref.func).
// externref tables are not supported.

type table struct {
	mod   api.Module // the module that has the table
	field string     // its export name there
	sigs  []funcType // the signatures its entries may have
	h     api.Module // the helper, made on first use
}

// addSigs adds the signatures of a module that imports t: its entries may
// be that module's functions. The helper is made again with them.
func (t *table) addSigs(sigs []funcType) {
	for _, n := range sigs {
		if !slices.ContainsFunc(t.sigs, func(o funcType) bool {
			return bytes.Equal(o.params, n.params) && bytes.Equal(o.results, n.results)
		}) {
			t.sigs = append(t.sigs, n)
			t.h = nil
		}
	}
}

// wasmFunc is an exported wasm function as JS holds it.
type wasmFunc struct {
	mod   api.Module
	field string
	sig   funcType
}

// tableStore stores v (null, or an exported wasm function) in entries
// from, ..., from+n-1.
func (s *State) tableStore(t *table, from, n uint32, v goja.Value, what string) {
	if goja.IsNull(v) || goja.IsUndefined(v) {
		for i := from; i < from+n; i++ {
			s.tableCall(t, "setnull", uint64(i))
		}
		return
	}
	f, ok := s.funcs[objectOf(v)]
	if !ok {
		panic(s.vm.NewTypeError("WebAssembly.Table.%s(): Argument 1 is invalid for table: function-typed object expected (an exported WebAssembly function)", what))
	}
	c, err := compileShared(tableSetter(t.field, f.field, f.sig))
	if err != nil {
		s.throw(s.runtimeErr, "WebAssembly.Table.%s(): %v", what, err)
	}
	s.hold(c)
	ctx := experimental.WithImportResolver(s.instantiateCtx(), func(name string) api.Module {
		switch name {
		case "s0":
			return t.mod
		case "s1":
			return f.mod
		}
		return nil
	})
	m, err := sharedRuntime().InstantiateModule(ctx, c.cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		s.throw(s.runtimeErr, "WebAssembly.Table.%s(): %v", what, err)
	}
	s.instances = append(s.instances, m)
	t.addSigs([]funcType{f.sig})
	set := m.ExportedFunction("set")
	for i := from; i < from+n; i++ {
		s.call(set, []uint64{uint64(i)}) // stops when the call's context ends
	}
}

// wrapTable makes the Table object of t.
func (s *State) wrapTable(t *table) *goja.Object {
	o := s.vm.CreateObject(s.tableProto)
	s.tables[o] = t
	return o
}

func (s *State) tableThis(v goja.Value, what string) *table {
	if t, ok := s.tables[objectOf(v)]; ok {
		return t
	}
	panic(s.vm.NewTypeError("WebAssembly.Table." + what + ": Receiver is not a WebAssembly.Table"))
}

// helper instantiates t's helper module.
func (s *State) tableHelper(t *table) api.Module {
	if t.h != nil {
		return t.h
	}
	c, err := compileShared(tableHelper(t.field, t.sigs))
	if err != nil {
		s.throw(s.runtimeErr, "WebAssembly.Table: %v", err)
	}
	s.hold(c)
	ctx := experimental.WithImportResolver(s.instantiateCtx(), func(name string) api.Module {
		if name == "s0" {
			return t.mod
		}
		return nil
	})
	m, err := sharedRuntime().InstantiateModule(ctx, c.cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		s.throw(s.runtimeErr, "WebAssembly.Table: %v", err)
	}
	s.instances = append(s.instances, m)
	t.h = m
	return m
}

func (s *State) tableCall(t *table, name string, params ...uint64) uint64 {
	res := s.call(s.tableHelper(t).ExportedFunction(name), params)
	if len(res) == 0 {
		return 0
	}
	return res[0]
}

func (s *State) tableLength(t *table) uint32 { return uint32(s.tableCall(t, "size")) }

// tableIndex reads an entry index as the JS API's ToIndex-like [EnforceRange]
// unsigned long, and checks it against the table's length.
func (s *State) tableIndex(t *table, v goja.Value, what string) uint32 {
	f := s.number(v)
	if f != f || f < 0 || f >= 1<<32 || f != float64(int64(f)) {
		panic(s.vm.NewTypeError("WebAssembly.Table.%s(): Argument 0 must be convertible to a valid index", what))
	}
	i := uint32(f)
	if n := s.tableLength(t); i >= n {
		s.rangeError("WebAssembly.Table.%s(): invalid address %d in funcref table of size %d", what, i, n)
	}
	return i
}

// entryFunc is the JS function for entry i of t, as get returns it.
func (s *State) entryFunc(t *table, i uint32) goja.Value {
	vm := s.vm
	last := 0 // the trampoline that worked last time
	f := vm.ToValue(func(call goja.FunctionCall) goja.Value {
		h := s.tableHelper(t)
		for n := range len(t.sigs) {
			k := (last + n) % len(t.sigs)
			tramp := h.ExportedFunction("c" + strconv.Itoa(k))
			def := tramp.Definition()
			pt, rt := def.ParamTypes()[1:], def.ResultTypes()
			params := make([]uint64, 1+len(pt))
			params[0] = uint64(i)
			for j, ty := range pt {
				params[j+1] = s.toWasm(ty, call.Argument(j))
			}
			res, err := tramp.Call(s.ctx(), params...)
			s.grown()
			if err != nil {
				if s.pending == nil && trampolineMismatch(err) {
					continue
				}
				s.rethrow(err)
			}
			last = k
			switch len(rt) {
			case 0:
				return goja.Undefined()
			case 1:
				return s.toJS(rt[0], res[0])
			}
			out := make([]any, len(rt))
			for j, ty := range rt {
				out[j] = s.toJS(ty, res[j])
			}
			return vm.NewArray(out...)
		}
		s.throw(s.runtimeErr, "WebAssembly.Table entry %d: the function's signature is none of its module's types", i)
		return nil
	}).ToObject(vm)
	_ = f.DefineDataProperty("name", vm.ToValue(strconv.Itoa(int(i))), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	return f
}

// trampolineMismatch reports whether err is a call_indirect type mismatch
// in the trampoline itself, not one inside the function it called: the
// trampoline is then the only frame of wazero's stack trace ("wasm stack
// trace:\n\t.$4(i32) i32"), as it is called from Go.
func trampolineMismatch(err error) bool {
	msg := err.Error()
	if !strings.Contains(msg, "indirect call type mismatch") {
		return false
	}
	_, trace, ok := strings.Cut(msg, "wasm stack trace:\n")
	if !ok {
		return false
	}
	return strings.Count(strings.TrimSpace(trace), "\n") == 0
}

// installTable adds WebAssembly.Table to ns.
func (s *State) installTable(ns *goja.Object, def func(o *goja.Object, name string, fn any)) {
	vm := s.vm
	ctor, proto := s.class("Table", func(call goja.ConstructorCall) *goja.Object {
		s.newTable(call.This, call.Argument(0), call.Argument(1))
		return nil
	})
	s.tableProto = proto
	_ = proto.DefineAccessorProperty("length", vm.ToValue(func(call goja.FunctionCall) goja.Value {
		return vm.ToValue(s.tableLength(s.tableThis(call.This, "length")))
	}), nil, goja.FLAG_TRUE, goja.FLAG_FALSE)
	def(proto, "get", func(call goja.FunctionCall) goja.Value {
		t := s.tableThis(call.This, "get")
		i := s.tableIndex(t, call.Argument(0), "get")
		if s.tableCall(t, "isnull", uint64(i)) != 0 {
			return goja.Null()
		}
		return s.entryFunc(t, i)
	})
	def(proto, "set", func(call goja.FunctionCall) goja.Value {
		t := s.tableThis(call.This, "set")
		i := s.tableIndex(t, call.Argument(0), "set")
		s.tableStore(t, i, 1, call.Argument(1), "set")
		return goja.Undefined()
	})
	def(proto, "grow", func(call goja.FunctionCall) goja.Value {
		t := s.tableThis(call.This, "grow")
		f := s.number(call.Argument(0))
		if f != f || f < 0 || f >= 1<<32 || f != float64(int64(f)) {
			panic(vm.NewTypeError("WebAssembly.Table.grow(): Argument 0 must be convertible to a valid number"))
		}
		init := call.Argument(1)
		if !goja.IsNull(init) && !goja.IsUndefined(init) {
			if _, ok := s.funcs[objectOf(init)]; !ok {
				panic(vm.NewTypeError("WebAssembly.Table.grow(): Argument 1 is invalid for table: function-typed object expected (an exported WebAssembly function)"))
			}
		}
		if f+float64(s.tableLength(t)) > maxTableSize {
			s.rangeError("WebAssembly.Table.grow(): failed to grow table by %d (at most %d entries)", uint64(f), maxTableSize)
		}
		old := int32(uint32(s.tableCall(t, "grow", uint64(f))))
		if old < 0 {
			s.rangeError("WebAssembly.Table.grow(): failed to grow table by %d", uint64(f))
		}
		if !goja.IsNull(init) && !goja.IsUndefined(init) {
			s.tableStore(t, uint32(old), uint32(f), init, "grow")
		}
		return vm.ToValue(old)
	})
	def(ns, "Table", ctor)
}

// maxTableSize bounds a table JS makes or grows, as V8's limit does.
const maxTableSize = 10_000_000

// newTable is new WebAssembly.Table({element, initial, maximum}).
func (s *State) newTable(this *goja.Object, desc, init goja.Value) {
	vm := s.vm
	d, ok := desc.(*goja.Object)
	if !ok {
		panic(vm.NewTypeError("WebAssembly.Table(): Argument 0 must be a table descriptor"))
	}
	switch el := d.Get("element"); {
	case el == nil || goja.IsUndefined(el):
		panic(vm.NewTypeError("WebAssembly.Table(): Descriptor property 'element' is required"))
	case el.String() == "anyfunc" || el.String() == "funcref":
	case el.String() == "externref":
		panic(vm.NewTypeError("WebAssembly.Table(): externref tables are not supported here"))
	default:
		panic(vm.NewTypeError("WebAssembly.Table(): Descriptor property 'element' must be a WebAssembly reference type"))
	}
	limit := func(name string, required bool) (uint32, bool) {
		v := d.Get(name)
		if v == nil || goja.IsUndefined(v) {
			if required {
				panic(vm.NewTypeError("WebAssembly.Table(): Property 'initial' is required"))
			}
			return 0, false
		}
		f := s.number(v)
		if f != f || f < 0 || f > maxTableSize || f != float64(int64(f)) {
			panic(vm.NewTypeError("WebAssembly.Table(): Property '%s': value %v is out of range", name, v))
		}
		return uint32(f), true
	}
	initial, _ := limit("initial", true)
	maximum, hasMax := limit("maximum", false)
	if hasMax && maximum < initial {
		s.rangeError("WebAssembly.Table(): Property 'maximum': value %d is below the initial %d", maximum, initial)
	}
	if !goja.IsNull(init) && !goja.IsUndefined(init) {
		panic(vm.NewTypeError("WebAssembly.Table(): only null entries can be given from JavaScript here"))
	}
	c, err := compileShared(tableModule(initial, maximum, hasMax))
	if err != nil {
		s.throw(s.runtimeErr, "WebAssembly.Table(): %v", err)
	}
	s.hold(c)
	m, err := sharedRuntime().InstantiateModule(s.instantiateCtx(), c.cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		s.throw(s.runtimeErr, "WebAssembly.Table(): %v", err)
	}
	s.instances = append(s.instances, m)
	s.tables[this] = &table{mod: m, field: "t"}
}
