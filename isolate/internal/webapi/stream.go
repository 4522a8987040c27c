package webapi

import (
	"slices"

	"github.com/dop251/goja"
)

// A ReadableStream here is the body of a Request or Response seen as a
// stream: bodies live in memory, so the stream yields the whole body as one
// chunk. That is enough for the common uses, reading it with getReader()
// and handing it on (new Response(response.body, response)), which must
// carry the bytes, not lose them. Streams built by guest code
// (new ReadableStream({...})) are not supported.

// streamState is a body's stream.
type streamState struct {
	src    *body
	locked bool
}

func (s *streamState) get(a *API, key string) goja.Value {
	if key == "locked" {
		return a.vm.ToValue(s.locked)
	}
	return nil
}

func (s *streamState) set(a *API, key string, v goja.Value) (known, ok bool) {
	return key == "locked", false
}

// readerState is a ReadableStreamDefaultReader.
type readerState struct {
	s *streamState // nil once released
}

func (r *readerState) get(a *API, key string) goja.Value {
	if key == "closed" {
		return a.promiseTry(func() goja.Value { return goja.Undefined() })
	}
	return nil
}

func (r *readerState) set(a *API, key string, v goja.Value) (known, ok bool) {
	return key == "closed", false
}

// bodyStream is the body attribute of a Request or Response: null for a
// null body, else the same stream on every access.
func (a *API) bodyStream(b *body) goja.Value {
	if !b.has {
		return goja.Null()
	}
	if b.stream == nil {
		b.stream = a.wrap(clsReadableStream, &streamState{src: b})
	}
	return b.stream
}

// streamBody takes the bytes of a stream given as a body: the stream is
// then disturbed, as its source body is used.
func (a *API) streamBody(s *streamState) []byte {
	a.settleNow(s.src)
	if s.locked || s.src.used {
		a.typeError("This ReadableStream is locked or has been read already; it cannot be used as a body")
	}
	data, _ := s.src.take()
	return data
}

var readableStreamClass = &classDef{
	name: "ReadableStream",
	tag:  true,
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		a.typeError("warren does not support ReadableStreams made by Workers; a Request's or Response's body is one, and can be read or passed on")
		return nil
	},
	methods: newMembers(
		method("getReader", 0, func(a *API, call goja.FunctionCall) goja.Value {
			s := this[*streamState](a, call)
			if s.locked {
				a.typeError("ReadableStream is already locked to a reader")
			}
			s.locked = true
			return a.wrap(clsStreamReader, &readerState{s: s})
		}),
		method("cancel", 0, func(a *API, call goja.FunctionCall) goja.Value {
			s := this[*streamState](a, call)
			return a.promiseTry(func() goja.Value {
				if s.locked {
					a.typeError("ReadableStream is locked to a reader")
				}
				s.src.take()
				return goja.Undefined()
			})
		}),
	),
}

var streamReaderClass = &classDef{
	name:   "ReadableStreamDefaultReader",
	length: 1,
	tag:    true,
	construct: func(a *API, call goja.ConstructorCall, proto *goja.Object) *goja.Object {
		o, _ := call.Argument(0).(*goja.Object)
		s, ok := stateOf[*streamState](o)
		if !ok {
			a.typeError("ReadableStreamDefaultReader needs a ReadableStream")
		}
		if s.locked {
			a.typeError("ReadableStream is already locked to a reader")
		}
		s.locked = true
		return a.wrapProto(proto, &readerState{s: s})
	},
	methods: newMembers(
		method("read", 0, func(a *API, call goja.FunctionCall) goja.Value {
			r := this[*readerState](a, call)
			read := func() goja.Value {
				return a.promiseTry(func() goja.Value {
					if r.s == nil {
						a.typeError("This reader has been released")
					}
					res := a.vm.NewObject()
					if data, ok := r.s.src.take(); ok && r.s.src.has {
						_ = res.Set("value", a.newUint8Array(slices.Clone(data)))
						_ = res.Set("done", false)
					} else {
						_ = res.Set("value", goja.Undefined())
						_ = res.Set("done", true)
					}
					return res
				})
			}
			// A pending body (an HTMLRewriter's) is produced first.
			if r.s != nil && r.s.src.pending != nil && !r.s.src.used {
				p := a.settle(r.s.src)
				if r.s.src.pending != nil {
					return a.then(p, func(goja.Value) goja.Value { return read() },
						func(v goja.Value) goja.Value { panic(v) })
				}
			}
			return read()
		}),
		method("releaseLock", 0, func(a *API, call goja.FunctionCall) goja.Value {
			r := this[*readerState](a, call)
			if r.s != nil {
				r.s.locked = false
				r.s = nil
			}
			return goja.Undefined()
		}),
		method("cancel", 0, func(a *API, call goja.FunctionCall) goja.Value {
			r := this[*readerState](a, call)
			return a.promiseTry(func() goja.Value {
				if r.s != nil {
					r.s.src.take()
				}
				return goja.Undefined()
			})
		}),
	),
}
