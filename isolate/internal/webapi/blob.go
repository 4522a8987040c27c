package webapi

import (
	"slices"

	"github.com/dop251/goja"
)

// blobState is an immutable in-memory Blob; data is never modified.
type blobState struct {
	data []byte
	typ  string
}

func (b *blobState) get(a *API, key string) goja.Value {
	switch key {
	case "size":
		return a.vm.ToValue(len(b.data))
	case "type":
		return a.vm.ToValue(b.typ)
	}
	return nil
}

func (b *blobState) set(a *API, key string, v goja.Value) (known, ok bool) {
	return key == "size" || key == "type", false
}

// relativeIndex clamps a slice() argument the way Blob.slice does.
func relativeIndex(v goja.Value, size, def int) int {
	if goja.IsUndefined(v) {
		return def
	}
	i := v.ToInteger()
	if i < 0 {
		i += int64(size)
		if i < 0 {
			i = 0
		}
	}
	if i > int64(size) {
		i = int64(size)
	}
	return int(i)
}

var blobClass = &classDef{
	name:   "Blob",
	length: 0,
	tag:    true, // libraries recognise blobs by tag
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		b := &blobState{}
		if parts := call.Argument(0); !goja.IsUndefined(parts) {
			o, ok := parts.(*goja.Object)
			if !ok || !isIterable(o) {
				a.typeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.")
			}
			a.forOf(o, func(p goja.Value) bool {
				if st, ok := stateOf[*blobState](p); ok {
					b.data = append(b.data, st.data...)
				} else if bs, ok := a.bufferSource(p); ok {
					b.data = append(b.data, bs...)
				} else {
					b.data = append(b.data, a.str(p)...)
				}
				return true
			})
		}
		opts := a.dict(call.Argument(1), "Failed to construct 'Blob': options")
		if v := field(opts, "type"); v != nil {
			b.typ = blobType(a.str(v))
		}
		return a.wrapProto(proto, b)
	},
	methods: newMembers(
		method("slice", 0, func(a *API, call goja.FunctionCall) goja.Value {
			b := this[*blobState](a, call)
			start := relativeIndex(call.Argument(0), len(b.data), 0)
			end := relativeIndex(call.Argument(1), len(b.data), len(b.data))
			if end < start {
				end = start
			}
			typ := ""
			if v := call.Argument(2); !goja.IsUndefined(v) {
				typ = blobType(a.str(v))
			}
			return a.wrap(clsBlob, &blobState{data: b.data[start:end:end], typ: typ})
		}),
		method("text", 0, func(a *API, call goja.FunctionCall) goja.Value {
			b := this[*blobState](a, call)
			return a.promiseTry(func() goja.Value { return a.vm.ToValue(decodeUTF8(b.data, false)) })
		}),
		method("arrayBuffer", 0, func(a *API, call goja.FunctionCall) goja.Value {
			b := this[*blobState](a, call)
			return a.promiseTry(func() goja.Value { return a.newArrayBuffer(slices.Clone(b.data)) })
		}),
		method("bytes", 0, func(a *API, call goja.FunctionCall) goja.Value {
			b := this[*blobState](a, call)
			return a.promiseTry(func() goja.Value { return a.newUint8Array(slices.Clone(b.data)) })
		}),
		method("stream", 0, func(a *API, call goja.FunctionCall) goja.Value {
			b := this[*blobState](a, call)
			return a.bytesStream(b.data)
		}),
	),
}
