package goja

import "github.com/dop251/goja/unistring"

// SharedArrayBuffer (ES2024 25.2). A runtime has one thread, so a
// SharedArrayBuffer here is a buffer that no other agent can see: it is an
// arrayBufferObject with shared set, which typed arrays, DataView and Atomics
// accept like an ArrayBuffer, and which ArrayBuffer.prototype's methods refuse
// (and SharedArrayBuffer.prototype's accept only it). It cannot be detached
// or transferred. A growable one (made with {maxByteLength}) only grows.

func (r *Runtime) builtin_newSharedArrayBuffer(args []Value, newTarget *Object) *Object {
	if newTarget == nil {
		panic(r.needNew("SharedArrayBuffer"))
	}
	return r.newArrayBufferFromArgs(args, newTarget, r.getSharedArrayBuffer(), r.getSharedArrayBufferPrototype(), true)
}

func (r *Runtime) sharedArrayBufferProto_getByteLength(call FunctionCall) Value {
	return intToValue(int64(len(r.thisArrayBuffer(call.This, true, "byteLength").data)))
}

func (r *Runtime) sharedArrayBufferProto_getGrowable(call FunctionCall) Value {
	return r.toBoolean(r.thisArrayBuffer(call.This, true, "growable").resizable)
}

func (r *Runtime) sharedArrayBufferProto_getMaxByteLength(call FunctionCall) Value {
	b := r.thisArrayBuffer(call.This, true, "maxByteLength")
	if b.resizable {
		return intToValue(int64(b.maxByteLength))
	}
	return intToValue(int64(len(b.data)))
}

func (r *Runtime) sharedArrayBufferProto_grow(call FunctionCall) Value {
	b := r.thisArrayBuffer(call.This, true, "grow")
	if !b.resizable {
		panic(r.NewTypeError("Method SharedArrayBuffer.prototype.grow called on a SharedArrayBuffer that is not growable"))
	}
	n := r.toIndex(call.Argument(0))
	if n > b.maxByteLength {
		panic(r.newErrorf(r.getRangeError(), "SharedArrayBuffer.prototype.grow: %d exceeds maxByteLength %d", n, b.maxByteLength))
	}
	if n < len(b.data) {
		panic(r.newErrorf(r.getRangeError(), "SharedArrayBuffer.prototype.grow: %d is less than the byte length %d", n, len(b.data)))
	}
	b.setByteLength(n)
	return _undefined
}

func (r *Runtime) sharedArrayBufferProto_slice(call FunctionCall) Value {
	return r.bufferSlice(call, true)
}

func (r *Runtime) createSharedArrayBufferProto(val *Object) objectImpl {
	b := newBaseObjectObj(val, r.global.ObjectPrototype, classObject)
	getter := func(name string, f func(FunctionCall) Value) {
		b._put(unistring.String(name), &valueProperty{
			accessor:     true,
			configurable: true,
			getterFunc:   r.newNativeFunc(f, "get "+unistring.String(name), 0),
		})
	}
	getter("byteLength", r.sharedArrayBufferProto_getByteLength)
	b._putProp("constructor", r.getSharedArrayBuffer(), true, false, true)
	getter("growable", r.sharedArrayBufferProto_getGrowable)
	b._putProp("grow", r.newNativeFunc(r.sharedArrayBufferProto_grow, "grow", 1), true, false, true)
	getter("maxByteLength", r.sharedArrayBufferProto_getMaxByteLength)
	b._putProp("slice", r.newNativeFunc(r.sharedArrayBufferProto_slice, "slice", 2), true, false, true)
	b._putSym(SymToStringTag, valueProp(asciiString("SharedArrayBuffer"), false, false, true))
	return b
}

func (r *Runtime) createSharedArrayBuffer(val *Object) objectImpl {
	o := r.newNativeConstructOnly(val, r.builtin_newSharedArrayBuffer, r.getSharedArrayBufferPrototype(), "SharedArrayBuffer", 1)
	r.putSpeciesReturnThis(o)
	return o
}

func (r *Runtime) getSharedArrayBufferPrototype() *Object {
	ret := r.global.SharedArrayBufferPrototype
	if ret == nil {
		ret = &Object{runtime: r}
		r.global.SharedArrayBufferPrototype = ret
		ret.self = r.createSharedArrayBufferProto(ret)
	}
	return ret
}

func (r *Runtime) getSharedArrayBuffer() *Object {
	ret := r.global.SharedArrayBuffer
	if ret == nil {
		ret = &Object{runtime: r}
		r.global.SharedArrayBuffer = ret
		ret.self = r.createSharedArrayBuffer(ret)
	}
	return ret
}
