package jswasm

import (
	"context"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/dop251/goja"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// Crossing between JS and wasm: value conversions, calls into wasm, JS
// functions as imports.

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
