package webapi

import (
	"math"
	"slices"
	"time"

	"github.com/dop251/goja"
)

// blobState is an immutable in-memory Blob or File; data is never modified.
type blobState struct {
	data []byte
	typ  string
	// file marks a File, with its name and lastModified (ms since the epoch).
	file         bool
	name         string
	lastModified int64
}

func (b *blobState) get(a *API, key string) goja.Value {
	switch key {
	case "size":
		return a.vm.ToValue(len(b.data))
	case "type":
		return a.vm.ToValue(b.typ)
	case "name":
		if b.file {
			return a.vm.ToValue(b.name)
		}
	case "lastModified":
		if b.file {
			return a.vm.ToValue(b.lastModified)
		}
	}
	return nil
}

func (b *blobState) set(a *API, key string, v goja.Value) (known, ok bool) {
	return b.get(a, key) != nil, false
}

// blobParts reads the blobParts and options arguments of the Blob and File
// constructors (what names the constructor in messages) into b. between,
// when not nil, runs after the parts are converted and before the options
// are (the File constructor converts its name there, in argument order).
func (a *API) blobParts(b *blobState, parts, options goja.Value, what string, between func()) *goja.Object {
	type part struct {
		s  string
		bs []byte
	}
	var list []part
	if !goja.IsUndefined(parts) {
		o, ok := parts.(*goja.Object)
		var iter goja.Value
		if ok {
			iter = o.GetSymbol(goja.SymIterator)
		}
		if _, callable := goja.AssertFunction(iter); !callable {
			a.typeError("Failed to construct '%s': The provided value cannot be converted to a sequence.", what)
		}
		// Each part is converted as it is iterated (WebIDL sequence
		// conversion, which reads @@iterator once); the bytes are gathered
		// once the options are read. The parts may name one buffer, Blob
		// or string many times, in one host call the interrupt cannot
		// reach: the bytes they add up to are asked of the allocation
		// guard as they grow, before each is copied.
		total := int64(0)
		a.forOfMethod(o, iter, func(p goja.Value) bool {
			var pt part
			if st, ok := stateOf[*blobState](p); ok {
				pt.bs = st.data
			} else if bs, ok := a.bufferSource(p); ok {
				a.reserve(total+int64(len(bs)), goja.AllocArrayBuffer)
				pt.bs = slices.Clone(bs)
			} else {
				pt.s = a.str(p)
			}
			total += int64(len(pt.s) + len(pt.bs))
			a.reserve(total, goja.AllocArrayBuffer)
			list = append(list, pt)
			return true
		})
	}
	if between != nil {
		between()
	}
	opts := a.dict(options, "Failed to construct '"+what+"': options")
	native := false
	if v := field(opts, "endings"); v != nil {
		switch e := a.str(v); e {
		case "transparent":
		case "native":
			native = true
		default:
			a.typeError("Failed to construct '%s': The provided value '%s' is not a valid enum value of type EndingType.", what, e)
		}
	}
	n := 0
	for _, p := range list {
		n += len(p.s) + len(p.bs)
	}
	b.data = make([]byte, 0, n)
	for _, p := range list {
		if p.bs != nil {
			b.data = append(b.data, p.bs...)
		} else if native {
			b.data = appendNativeEndings(b.data, p.s)
		} else {
			b.data = append(b.data, p.s...)
		}
	}
	return opts
}

// appendNativeEndings appends s with every CR LF, CR and LF made the
// platform's line ending, LF.
func appendNativeEndings(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' {
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			c = '\n'
		}
		dst = append(dst, c)
	}
	return dst
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
		opts := a.blobParts(b, call.Argument(0), call.Argument(1), "Blob", nil)
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
			return a.promiseTry(func() goja.Value { return a.utf8Text(b.data) })
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

var fileClass = &classDef{
	name:      "File",
	length:    2,
	tag:       true,
	parent:    clsBlob,
	hasParent: true,
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		b := &blobState{file: true}
		opts := a.blobParts(b, call.Argument(0), call.Argument(2), "File", func() {
			b.name = a.str(call.Argument(1))
		})
		// Dictionary members are read in lexicographic order: endings
		// (by blobParts), lastModified, type.
		if v := field(opts, "lastModified"); v != nil {
			b.lastModified = a.longLong(v)
		} else {
			b.lastModified = a.dateNow()
		}
		if v := field(opts, "type"); v != nil {
			b.typ = blobType(a.str(v))
		}
		return a.wrapProto(proto, b)
	},
	methods: newMembers(),
}

// dateNow is Date.now() of the runtime (which may have its own clock).
func (a *API) dateNow() int64 {
	if now, ok := goja.AssertFunction(a.intrinsic("Date", "now")); ok {
		if v, err := now(goja.Undefined()); err == nil {
			return v.ToInteger()
		}
	}
	return time.Now().UnixMilli()
}

// longLong converts v like WebIDL's long long (NaN and infinities are 0).
func (a *API) longLong(v goja.Value) int64 {
	f := v.ToFloat()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	f = math.Trunc(f)
	if f >= math.MaxInt64 || f < math.MinInt64 {
		return int64(math.Mod(f, 1<<64))
	}
	return int64(f)
}
