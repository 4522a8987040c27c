package goja

import (
	"math"
)

// Atomics (ES2024 25.4). A runtime has one thread and a SharedArrayBuffer is
// seen by no other agent, so every operation is a plain read-modify-write of
// the element (nothing can interleave with it). Atomics.wait would block an
// agent that cannot be woken by anyone: the runtime's agent cannot suspend
// (AgentCanSuspend() is false, as on a browser's main thread), so wait
// validates its arguments and then throws a TypeError. Atomics.notify finds
// no waiters and returns 0.

// atomicsValidate is ValidateIntegerTypedArray and ValidateAtomicAccess: the
// typed array (an integer one; Int32Array or BigInt64Array if waitable) and
// the index of the element in it.
func (r *Runtime) atomicsValidate(taVal, index Value, waitable bool) (*typedArrayObject, int) {
	ta := r.atomicsValidateArray(taVal, waitable)
	return ta, r.atomicsValidateIndex(ta, index)
}

// atomicsValidateArray is ValidateIntegerTypedArray.
func (r *Runtime) atomicsValidateArray(taVal Value, waitable bool) *typedArrayObject {
	var ta *typedArrayObject
	if o, ok := taVal.(*Object); ok {
		ta, _ = o.self.(*typedArrayObject)
	}
	if ta == nil {
		panic(r.NewTypeError("Atomics operation on a value that is not a typed array: %s", taVal))
	}
	ta.ensureValid(true)
	ok := false
	switch ta.typedArray.(type) {
	case *int32Array, *bigInt64Array:
		ok = true
	case *int8Array, *uint8Array, *int16Array, *uint16Array, *uint32Array, *bigUint64Array:
		ok = !waitable
	}
	if !ok {
		if waitable {
			panic(r.NewTypeError("Atomics.wait and Atomics.notify need an Int32Array or a BigInt64Array"))
		}
		panic(r.NewTypeError("Atomics operations need an integer typed array (not Uint8ClampedArray or a float array)"))
	}
	return ta
}

// atomicsValidateIndex is ValidateAtomicAccess.
func (r *Runtime) atomicsValidateIndex(ta *typedArrayObject, index Value) int {
	idx := r.toIndex(index)
	if idx >= ta.curLen() {
		panic(r.newErrorf(r.getRangeError(), "Atomics index %d is out of range", idx))
	}
	return idx
}

// atomicsOperand converts an operand as the element type wants it: a BigInt
// for the 64-bit arrays, else ToIntegerOrInfinity. It returns the value (what
// Atomics.store returns) and its raw bits for the element.
func atomicsOperand(ta *typedArrayObject, v Value) (Value, uint64) {
	switch ta.typedArray.(type) {
	case *bigInt64Array:
		b := toBigInt(v)
		return b, uint64(toBigInt64(b).Int64())
	case *bigUint64Array:
		b := toBigInt(v)
		return b, toBigUint64(b).Uint64()
	}
	f := v.ToFloat()
	if math.IsNaN(f) || f == 0 {
		f = 0 // and -0 becomes +0
	} else {
		f = math.Trunc(f)
	}
	n := floatToValue(f)
	return n, ta.typedArray.toRaw(n)
}

// atomicsRevalidate is RevalidateAtomicAccess: converting an operand may
// have run code that detached or shrank the buffer.
func (r *Runtime) atomicsRevalidate(ta *typedArrayObject, idx int) {
	ta.ensureValid(true)
	if idx >= ta.curLen() {
		panic(r.newErrorf(r.getRangeError(), "Atomics index %d is out of range", idx))
	}
}

// atomicsRMW is AtomicReadModifyWrite: it stores op(old, operand) and
// returns the old value.
func (r *Runtime) atomicsRMW(call FunctionCall, op func(old, v uint64) uint64) Value {
	ta, idx := r.atomicsValidate(call.Argument(0), call.Argument(1), false)
	_, raw := atomicsOperand(ta, call.Argument(2))
	r.atomicsRevalidate(ta, idx)
	i := ta.offset + idx
	old := ta.typedArray.get(i)
	ta.typedArray.setRaw(i, op(ta.typedArray.getRaw(i), raw))
	return old
}

func (r *Runtime) atomics_add(call FunctionCall) Value {
	return r.atomicsRMW(call, func(old, v uint64) uint64 { return old + v })
}

func (r *Runtime) atomics_and(call FunctionCall) Value {
	return r.atomicsRMW(call, func(old, v uint64) uint64 { return old & v })
}

func (r *Runtime) atomics_exchange(call FunctionCall) Value {
	return r.atomicsRMW(call, func(_, v uint64) uint64 { return v })
}

func (r *Runtime) atomics_or(call FunctionCall) Value {
	return r.atomicsRMW(call, func(old, v uint64) uint64 { return old | v })
}

func (r *Runtime) atomics_sub(call FunctionCall) Value {
	return r.atomicsRMW(call, func(old, v uint64) uint64 { return old - v })
}

func (r *Runtime) atomics_xor(call FunctionCall) Value {
	return r.atomicsRMW(call, func(old, v uint64) uint64 { return old ^ v })
}

func (r *Runtime) atomics_compareExchange(call FunctionCall) Value {
	ta, idx := r.atomicsValidate(call.Argument(0), call.Argument(1), false)
	_, expected := atomicsOperand(ta, call.Argument(2))
	_, replacement := atomicsOperand(ta, call.Argument(3))
	r.atomicsRevalidate(ta, idx)
	i := ta.offset + idx
	old := ta.typedArray.get(i)
	// getRaw and toRaw extend a narrow element the same way (sign for the
	// signed types), so equal raw bits mean equal elements; compare the
	// element's width only, since expected may carry bits past it.
	if truncRaw(ta, ta.typedArray.getRaw(i)) == truncRaw(ta, expected) {
		ta.typedArray.setRaw(i, replacement)
	}
	return old
}

// truncRaw keeps the bits of raw that an element of ta holds.
func truncRaw(ta *typedArrayObject, raw uint64) uint64 {
	if ta.elemSize == 8 {
		return raw
	}
	return raw & (1<<(8*uint(ta.elemSize)) - 1)
}

func (r *Runtime) atomics_load(call FunctionCall) Value {
	ta, idx := r.atomicsValidate(call.Argument(0), call.Argument(1), false)
	r.atomicsRevalidate(ta, idx)
	return ta.typedArray.get(ta.offset + idx)
}

func (r *Runtime) atomics_store(call FunctionCall) Value {
	ta, idx := r.atomicsValidate(call.Argument(0), call.Argument(1), false)
	v, raw := atomicsOperand(ta, call.Argument(2))
	r.atomicsRevalidate(ta, idx)
	ta.typedArray.setRaw(ta.offset+idx, raw)
	return v
}

func (r *Runtime) atomics_isLockFree(call FunctionCall) Value {
	f := math.Trunc(call.Argument(0).ToFloat()) // ToIntegerOrInfinity
	switch f {
	case 1, 2, 4, 8:
		return valueTrue
	}
	return valueFalse
}

func (r *Runtime) atomics_wait(call FunctionCall) Value {
	ta := r.atomicsValidateArray(call.Argument(0), true)
	if !ta.viewedArrayBuf.shared {
		panic(r.NewTypeError("Atomics.wait needs a typed array over a SharedArrayBuffer"))
	}
	r.atomicsValidateIndex(ta, call.Argument(1))
	atomicsOperand(ta, call.Argument(2))
	call.Argument(3).ToFloat()
	panic(r.NewTypeError("Atomics.wait cannot be called in this context: the agent cannot suspend (nothing else could notify it)"))
}

func (r *Runtime) atomics_notify(call FunctionCall) Value {
	r.atomicsValidate(call.Argument(0), call.Argument(1), true)
	if c := call.Argument(2); c != _undefined {
		c.ToFloat()
	}
	return intToValue(0)
}

func (r *Runtime) atomics_pause(call FunctionCall) Value {
	if n := call.Argument(0); n != _undefined {
		ok := false
		switch n := n.(type) {
		case valueInt:
			ok = true
		case valueFloat:
			f := float64(n)
			ok = !math.IsInf(f, 0) && f == math.Trunc(f)
		}
		if !ok {
			panic(r.NewTypeError("Atomics.pause: the argument must be an integral Number"))
		}
	}
	return _undefined
}

func (r *Runtime) createAtomics(val *Object) objectImpl {
	o := newBaseObjectObj(val, r.global.ObjectPrototype, classObject)
	o._putProp("add", r.newNativeFunc(r.atomics_add, "add", 3), true, false, true)
	o._putProp("and", r.newNativeFunc(r.atomics_and, "and", 3), true, false, true)
	o._putProp("compareExchange", r.newNativeFunc(r.atomics_compareExchange, "compareExchange", 4), true, false, true)
	o._putProp("exchange", r.newNativeFunc(r.atomics_exchange, "exchange", 3), true, false, true)
	o._putProp("isLockFree", r.newNativeFunc(r.atomics_isLockFree, "isLockFree", 1), true, false, true)
	o._putProp("load", r.newNativeFunc(r.atomics_load, "load", 2), true, false, true)
	o._putProp("notify", r.newNativeFunc(r.atomics_notify, "notify", 3), true, false, true)
	o._putProp("or", r.newNativeFunc(r.atomics_or, "or", 3), true, false, true)
	o._putProp("pause", r.newNativeFunc(r.atomics_pause, "pause", 0), true, false, true)
	o._putProp("store", r.newNativeFunc(r.atomics_store, "store", 3), true, false, true)
	o._putProp("sub", r.newNativeFunc(r.atomics_sub, "sub", 3), true, false, true)
	o._putProp("wait", r.newNativeFunc(r.atomics_wait, "wait", 4), true, false, true)
	o._putProp("xor", r.newNativeFunc(r.atomics_xor, "xor", 3), true, false, true)
	o._putSym(SymToStringTag, valueProp(asciiString("Atomics"), false, false, true))
	return o
}

func (r *Runtime) getAtomics() *Object {
	ret := r.global.Atomics
	if ret == nil {
		ret = &Object{runtime: r}
		r.global.Atomics = ret
		ret.self = r.createAtomics(ret)
	}
	return ret
}
