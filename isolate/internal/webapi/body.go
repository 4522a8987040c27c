package webapi

import (
	"slices"
	"strings"

	"github.com/dop251/goja"
)

// body is the body of a Request or Response. Bodies live in memory, so
// reading one completes at once; as a stream (the body attribute) it is a
// single chunk.
type body struct {
	data   []byte // never modified once set; readers get copies
	has    bool   // false: null body
	used   bool
	stream *goja.Object // the body attribute, once asked for
	// pending, when set, produces data (an HTMLRewriter's output): it
	// runs on the first read, and data is there once it has settled.
	pending *pendingBody
}

// pendingBody is a body still to be produced.
type pendingBody struct {
	// run produces the bytes, calling done or fail once, at once or
	// from a later job of the event loop.
	run     func(done func([]byte), fail func(goja.Value))
	promise *goja.Object // settles with the body; nil before run
}

// settle starts producing a pending body and returns the promise that
// settles when it is produced (fulfilled at once when run finished
// synchronously).
func (a *API) settle(b *body) *goja.Object {
	p := b.pending
	if p.promise == nil {
		promise, resolve, reject := a.vm.NewPromise()
		p.promise = a.vm.ToValue(promise).(*goja.Object)
		p.run(func(data []byte) {
			b.data, b.pending = data, nil
			_ = resolve(goja.Undefined())
		}, func(v goja.Value) { _ = reject(v) })
	}
	return p.promise
}

// whenSettled calls then once b is produced (at once if it is), or fail
// with the error that producing it threw.
func (a *API) whenSettled(b *body, then func(), fail func(goja.Value)) {
	if b.pending != nil {
		p := a.settle(b)
		if b.pending != nil {
			a.then(p, func(goja.Value) goja.Value { then(); return goja.Undefined() },
				func(v goja.Value) goja.Value { fail(v); return goja.Undefined() })
			return
		}
	}
	then()
}

// then calls p.then(onFulfilled, onRejected) and returns its promise.
func (a *API) then(p *goja.Object, ok, fail func(goja.Value) goja.Value) goja.Value {
	fn, _ := goja.AssertFunction(p.Get("then"))
	wrap := func(f func(goja.Value) goja.Value) goja.Value {
		return a.vm.ToValue(func(call goja.FunctionCall) goja.Value { return f(call.Argument(0)) })
	}
	v, err := fn(p, wrap(ok), wrap(fail))
	if err != nil {
		a.rethrow(err)
	}
	return v
}

// settleNow produces a pending body synchronously, for the uses that
// cannot wait; an HTMLRewriter response whose handlers are async must be
// read with text(), arrayBuffer(), ... or returned.
func (a *API) settleNow(b *body) {
	if b.pending == nil || b.used {
		return
	}
	p := a.settle(b)
	if b.pending == nil {
		return
	}
	if pr, ok := p.Export().(*goja.Promise); ok && pr.State() == goja.PromiseStateRejected {
		panic(pr.Result())
	}
	a.typeError("this body is still being produced by an HTMLRewriter with async handlers: read it with text(), arrayBuffer(), json() or blob(), or return the Response")
}

// SettleBody starts producing the body of a Response whose body is
// pending (an HTMLRewriter's) and returns the promise that settles when
// it is there; nil for any other value. Await it before ExportResponse.
func (a *API) SettleBody(v goja.Value) goja.Value {
	r, ok := stateOf[*responseState](v)
	if !ok || r.pending == nil || r.used {
		return nil
	}
	var p goja.Value
	if ex := a.vm.Try(func() { p = a.settle(&r.body) }); ex != nil {
		promise, _, reject := a.vm.NewPromise()
		_ = reject(ex.Value())
		return a.vm.ToValue(promise)
	}
	return p
}

const bodyUsedMsg = "Body has already been used. It can only be used once. Use tee() first if you need to read it twice."

// extractBody converts a BodyInit. It returns the bytes, the Content-Type
// the body implies ("" for none) and whether the body is non-null.
func (a *API) extractBody(v goja.Value) (data []byte, contentType string, has bool) {
	if isNullish(v) {
		return nil, "", false
	}
	o, ok := v.(*goja.Object)
	if !ok {
		return []byte(a.str(v)), "text/plain;charset=UTF-8", true
	}
	if h, ok := asHost(o); ok {
		switch st := h.st.(type) {
		case *searchParams:
			return []byte(st.serialize()), "application/x-www-form-urlencoded;charset=UTF-8", true
		case *blobState:
			return st.data, st.typ, true
		case *streamState:
			return a.streamBody(st), "", true
		case *formData:
			data, ct := a.encodeForm(st)
			return data, ct, true
		}
	}
	if b, ok := a.bufferSource(o); ok {
		return slices.Clone(b), "", true
	}
	// A stream would otherwise become the text "[object ReadableStream]".
	if _, ok := goja.AssertFunction(o.Get("getReader")); ok {
		a.typeError("warren supports as a stream body only another Request's or Response's body; pass a string, ArrayBuffer, typed array, Blob or URLSearchParams")
	}
	return []byte(a.str(v)), "text/plain;charset=UTF-8", true
}

// takeBody marks b used and returns its bytes; nil, false when the body was
// already used.
func (b *body) take() ([]byte, bool) {
	if b.used {
		return nil, false
	}
	if b.has {
		b.used = true
	}
	return b.data, true
}

const (
	readText = iota
	readJSON
	readArrayBuffer
	readBytes
	readBlob
	readForm
)

// read implements text(), json(), arrayBuffer(), bytes() and blob().
func (a *API) read(b *body, kind int, contentType func() string) goja.Value {
	if b.pending != nil && !b.used {
		p := a.settle(b)
		if b.pending != nil {
			return a.then(p, func(goja.Value) goja.Value { return a.read(b, kind, contentType) },
				func(v goja.Value) goja.Value { panic(v) })
		}
	}
	return a.promiseTry(func() goja.Value {
		data, ok := b.take()
		if !ok {
			a.typeError(bodyUsedMsg)
		}
		switch kind {
		case readText:
			return a.vm.ToValue(decodeUTF8(data, false))
		case readJSON:
			return a.jsonParse(decodeUTF8(data, false))
		case readArrayBuffer:
			return a.newArrayBuffer(slices.Clone(data))
		case readBytes:
			return a.newUint8Array(slices.Clone(data))
		case readForm:
			return a.wrap(clsFormData, a.parseForm(data, contentType()))
		default:
			return a.wrap(clsBlob, &blobState{data: data, typ: blobType(contentType())})
		}
	})
}

func bodyMethods(get func(a *API, call goja.FunctionCall) (*body, *headerList)) []member {
	reader := func(name string, kind int) member {
		return method(name, 0, func(a *API, call goja.FunctionCall) goja.Value {
			b, h := get(a, call)
			return a.read(b, kind, func() string {
				v, _ := h.lookup("content-type")
				return v
			})
		})
	}
	return []member{
		reader("text", readText),
		reader("json", readJSON),
		reader("arrayBuffer", readArrayBuffer),
		reader("bytes", readBytes),
		reader("blob", readBlob),
		reader("formData", readForm),
	}
}

// blobType normalizes a Blob type: lower-case, empty if not printable ASCII.
func blobType(t string) string {
	for i := 0; i < len(t); i++ {
		if t[i] < 0x20 || t[i] > 0x7E {
			return ""
		}
	}
	return strings.ToLower(t)
}
