package webapi

import (
	_ "embed"
	"slices"
	"strings"
	"sync"

	"github.com/dop251/goja"
)

// The WHATWG Streams classes (ReadableStream, WritableStream,
// TransformStream, their readers, writers and controllers, and the queuing
// strategies) are web-streams-polyfill 4.3.0 (MIT; see
// third_party/web-streams-polyfill), a spec-faithful implementation in
// plain JS that goja runs unchanged. streams.js wraps it with
// TextEncoderStream, TextDecoderStream, CompressionStream and
// DecompressionStream and with the hooks Go uses to treat a stream as a
// body. The whole is compiled once per process and run in a runtime only
// when a stream global, a body's stream or a stream body is first used
// (about 1 ms); a runtime that never touches streams pays nothing.

//go:embed streams.js
var streamsWrapper string

//go:embed third_party/web-streams-polyfill/ponyfill.js
var streamsPolyfill string

var streamsProgram = sync.OnceValue(func() *goja.Program {
	src := strings.Replace(streamsWrapper, "/*POLYFILL*/", streamsPolyfill, 1)
	return goja.MustCompile("webapi:streams", src, true)
})

// streamsRT is the streams prelude run in one runtime.
type streamsRT struct {
	classes *goja.Object
	isStream, pristine, disturbed, locked, fromBytes, disturb, closed,
	tee, getReader, readChunk, cancelReader, readAll, transformWith goja.Callable
	// byteStreams maps the streams made from a body's bytes to those
	// bytes: while such a stream is pristine, its bytes are taken directly.
	byteStreams map[*goja.Object][]byte
	// inflaters are the DecompressionStream decoders not yet finished.
	inflaters map[*inflater]struct{}
}

// streams runs the streams prelude on first use.
func (a *API) streams() *streamsRT {
	if a.strm != nil {
		return a.strm
	}
	hooks := a.vm.NewObject()
	_ = hooks.Set("textEncoder", a.newFunc("textEncoder", 0, func(call goja.FunctionCall) goja.Value {
		o, err := a.vm.New(a.classCtor(clsTextEncoder))
		if err != nil {
			a.rethrow(err)
		}
		return o
	}))
	_ = hooks.Set("textDecoder", a.newFunc("textDecoder", 2, func(call goja.FunctionCall) goja.Value {
		o, err := a.vm.New(a.classCtor(clsTextDecoder), call.Argument(0), call.Argument(1))
		if err != nil {
			a.rethrow(err)
		}
		return o
	}))
	_ = hooks.Set("deflater", a.newFunc("deflater", 1, func(call goja.FunctionCall) goja.Value {
		return a.newDeflater(call.Argument(0).String())
	}))
	_ = hooks.Set("inflater", a.newFunc("inflater", 1, func(call goja.FunctionCall) goja.Value {
		return a.newInflater(call.Argument(0).String())
	}))
	_ = hooks.Set("transfer", a.newFunc("transfer", 1, func(call goja.FunctionCall) goja.Value {
		o, _ := call.Argument(0).(*goja.Object)
		ab, ok := asArrayBuffer(o)
		if !ok || ab.Detached() {
			a.typeError("The chunk's ArrayBuffer is detached and cannot be transferred")
		}
		if ab.Shared() {
			a.typeError("The chunk's buffer is a SharedArrayBuffer, which cannot be transferred")
		}
		// A new ArrayBuffer over the same memory; the old one is detached.
		var moved goja.ArrayBuffer
		if ab.Resizable() {
			moved = a.vm.NewResizableArrayBuffer(ab.Bytes(), ab.MaxByteLength())
		} else {
			moved = a.vm.NewArrayBuffer(ab.Bytes())
		}
		ab.Detach()
		return a.vm.ToValue(moved)
	}))
	o := a.runFactory(streamsProgram(), hooks).(*goja.Object)
	in := o.Get("internals").(*goja.Object)
	fn := func(name string) goja.Callable {
		f, _ := goja.AssertFunction(in.Get(name))
		return f
	}
	a.strm = &streamsRT{
		classes:       o.Get("classes").(*goja.Object),
		isStream:      fn("isStream"),
		pristine:      fn("pristine"),
		disturbed:     fn("disturbed"),
		locked:        fn("locked"),
		fromBytes:     fn("fromBytes"),
		disturb:       fn("disturb"),
		closed:        fn("closed"),
		tee:           fn("tee"),
		getReader:     fn("getReader"),
		readChunk:     fn("readChunk"),
		cancelReader:  fn("cancelReader"),
		readAll:       fn("readAll"),
		transformWith: fn("transformWith"),
		byteStreams:   map[*goja.Object][]byte{},
	}
	return a.strm
}

// call runs one of the prelude's hooks, throwing to JS on an exception.
func (a *API) call(f goja.Callable, args ...goja.Value) goja.Value {
	v, err := f(goja.Undefined(), args...)
	if err != nil {
		a.rethrow(err)
	}
	return v
}

func (a *API) streamTest(f goja.Callable, s *goja.Object) bool {
	return a.call(f, s).ToBoolean()
}

// streamClass is the stream global name.
func (a *API) streamClass(name string) goja.Value {
	return a.streams().classes.Get(name)
}

// asStream returns v as a ReadableStream (a lazy body stream is made).
// Without the prelude having run there is none.
func (a *API) asStream(v goja.Value) (*goja.Object, bool) {
	if ls, ok := a.lazyOf(v); ok {
		return a.materialize(ls), true
	}
	o, ok := v.(*goja.Object)
	if !ok || a.strm == nil {
		return nil, false
	}
	return o, a.streamTest(a.strm.isStream, o)
}

// bytesStream makes a ReadableStream (a byte stream) that yields data as
// one chunk when first read. data is not copied until then.
func (a *API) bytesStream(data []byte) *goja.Object {
	rt := a.streams()
	take := a.newFunc("take", 0, func(goja.FunctionCall) goja.Value {
		return a.newUint8Array(slices.Clone(data))
	})
	s := a.call(rt.fromBytes, take).(*goja.Object)
	rt.byteStreams[s] = data
	return s
}

// pristineBytes returns the bytes of a stream made by bytesStream that
// nothing has read, locked or canceled, and marks the stream read.
func (a *API) pristineBytes(s *goja.Object) ([]byte, bool) {
	rt := a.streams()
	data, ok := rt.byteStreams[s]
	if !ok || !a.streamTest(rt.pristine, s) {
		return nil, false
	}
	delete(rt.byteStreams, s)
	a.call(rt.disturb, s)
	return data, true
}

// bodyStream is the body attribute of a Request or Response: null for a
// null body, else the same stream on every access.
func (a *API) bodyStream(b *body) goja.Value {
	if !b.has {
		return goja.Null()
	}
	if b.lazy != nil {
		return b.lazy.proxy
	}
	if b.stream == nil {
		switch {
		case a.strm == nil:
			return a.newLazyStream(b).proxy
		case b.used:
			b.stream = a.call(a.streams().closed).(*goja.Object)
		default:
			b.stream = a.bytesStream(b.data)
		}
	}
	return b.stream
}

// usedBody reports bodyUsed: the body was read, or its stream disturbed.
func (a *API) usedBody(b *body) bool {
	a.settle(b)
	switch {
	case b.used:
		return true
	case b.stream != nil:
		return a.streamTest(a.streams().disturbed, b.stream)
	case b.lazy != nil:
		return b.lazy.used
	}
	return false
}

// unusable reports whether a body can no longer be read: used, or its
// stream locked to a reader.
func (a *API) unusable(b *body) bool {
	return a.usedBody(b) || b.stream != nil && a.streamTest(a.strm.locked, b.stream)
}

// cloneBody makes c's body a copy of b's: bytes are shared (they are never
// modified), a stream is teed as the Fetch Standard says.
func (a *API) cloneBody(b, c *body) {
	a.settle(b)
	c.stream, c.lazy = nil, nil
	if b.stream == nil {
		if b.lazy != nil {
			c.data = b.lazy.data
		}
		return
	}
	if data, ok := a.strm.byteStreams[b.stream]; ok && a.streamTest(a.strm.pristine, b.stream) {
		c.data = data
		return
	}
	pair := a.call(a.strm.tee, b.stream).(*goja.Object)
	b.stream = pair.Get("0").(*goja.Object)
	b.lazy = nil
	c.stream = pair.Get("1").(*goja.Object)
}

// BodyStream reads the body of a Response (a JS ReadableStream) from Go,
// chunk by chunk. It belongs to the runtime: call its methods only on the
// goroutine that runs the runtime, and drive the runtime's event loop
// (timers, host calls) while a Read is outstanding: the chunk may come
// from a timer or a host call.
type BodyStream struct {
	a      *API
	stream *goja.Object
	reader *goja.Object
	done   bool
}

// StreamError is a JS value a body stream was errored (or a chunk
// rejected) with: Value is the exception to report.
type StreamError struct{ Value goja.Value }

func (e *StreamError) Error() string { return "the response body stream failed: " + e.Value.String() }

// Read asks for the next chunk. done is called exactly once, maybe before
// Read returns (the chunk was queued) and maybe later, from a promise job
// run by the event loop: with the chunk's bytes, or
// eof at the end, or err when the stream errored or gave a chunk that is
// not bytes (a *StreamError with a TypeError). Read acquires the stream's
// reader on first use. A Read after eof or an error reports eof again.
// The chunk aliases the guest's memory: it is valid only until done
// returns (copy it to keep it).
func (s *BodyStream) Read(done func(chunk []byte, eof bool, err error)) {
	if s.done {
		done(nil, true, nil)
		return
	}
	a := s.a
	fail := func(v goja.Value) {
		s.done = true
		done(nil, false, &StreamError{Value: v})
	}
	if ex := a.vm.Try(func() {
		if s.reader == nil {
			s.reader = a.call(a.strm.getReader, s.stream).(*goja.Object)
		}
		onChunk := a.newFunc("onChunk", 1, func(call goja.FunctionCall) goja.Value {
			b, _ := a.allowSharedBufferSource(call.Argument(0))
			done(b, false, nil)
			return goja.Undefined()
		})
		onDone := a.newFunc("onDone", 0, func(call goja.FunctionCall) goja.Value {
			s.done = true
			done(nil, true, nil)
			return goja.Undefined()
		})
		onError := a.newFunc("onError", 1, func(call goja.FunctionCall) goja.Value {
			fail(call.Argument(0))
			return goja.Undefined()
		})
		a.call(a.strm.readChunk, s.reader, onChunk, onDone, onError)
	}); ex != nil {
		fail(ex.Value())
	}
}

// Cancel cancels the stream with a TypeError saying why (the response
// could not be sent: too large, a limit hit). Later Reads report eof.
func (s *BodyStream) Cancel(reason string) {
	if s.done {
		return
	}
	s.done = true
	a := s.a
	_ = a.vm.Try(func() {
		if s.reader == nil {
			s.reader = a.call(a.strm.getReader, s.stream).(*goja.Object)
		}
		a.call(a.strm.cancelReader, s.reader, a.vm.NewTypeError("%s", reason))
	})
}

// then calls onOK with p's value once it resolves and returns the promise
// of onOK's result (a rejection passes through).
func (a *API) then(p goja.Value, onOK func(v goja.Value) goja.Value) goja.Value {
	po := p.(*goja.Object)
	thenFn, _ := goja.AssertFunction(po.Get("then"))
	v, err := thenFn(po, a.newFunc("", 1, func(call goja.FunctionCall) goja.Value { return onOK(call.Argument(0)) }))
	if err != nil {
		a.rethrow(err)
	}
	return v
}

// readStream reads a stream body to its end: a promise of its bytes.
func (a *API) readStream(s *goja.Object, what string, onOK func(data []byte) goja.Value) goja.Value {
	p := a.call(a.strm.readAll, s, a.vm.ToValue(a.maxBody), a.vm.ToValue(what))
	return a.then(p, func(v goja.Value) goja.Value {
		b, _ := a.allowSharedBufferSource(v)
		return onOK(b)
	})
}

// Close ends what the runtime started outside it (the decoders of
// DecompressionStreams). Call it when the runtime is discarded.
func (a *API) Close() {
	if a.strm == nil {
		return
	}
	for z := range a.strm.inflaters {
		z.abort()
	}
	a.strm.inflaters = nil
}
