package webapi

import (
	"sync"

	"github.com/dop251/goja"
)

// A body's stream before anything needs it.
//
// Starting the streams implementation costs about 1 ms in a fresh runtime,
// and the commonest use of a body's stream is to hand it on unread:
// new Response(upstream.body, upstream). So while streams have not been
// started, the body attribute of a body held in memory answers a lazy
// stream: a Proxy over an empty object that makes the real ReadableStream
// (bytesStream) on the first operation anything does on it, and forwards
// every operation to it from then on (instanceof, getReader, locked, ...
// behave as on the stream itself). Given as the body of a new Response or
// Request, it is recognised and its bytes are taken as they are, without
// making the stream. The body attribute answers the same object every
// time, made or not. Both bodies then share the one stream, as the Fetch
// Standard has it: reading either uses both.

// lazyStream is a body stream not made yet (see above).
type lazyStream struct {
	data  []byte
	used  bool // its bytes were taken by a body read
	proxy *goja.Object
	real  *goja.Object // the stream once made
}

// lazyStreamSource makes the Proxy. make makes (once) and returns the real
// stream. The target stays an empty extensible object: a non-configurable
// property reported by the stream is copied onto it, as Proxy invariants
// require, and preventExtensions is refused.
const lazyStreamSource = `(function () {
'use strict';
const R = Reflect, P = Proxy;
return function lazyStream(make) {
  let proxy;
  const handler = {
    get(t, k, recv) { const s = make(); return R.get(s, k, recv === proxy ? s : recv); },
    set(t, k, v, recv) { const s = make(); return R.set(s, k, v, recv === proxy ? s : recv); },
    has(t, k) { return R.has(make(), k); },
    deleteProperty(t, k) { return R.deleteProperty(make(), k); },
    defineProperty(t, k, d) {
      if (!R.defineProperty(make(), k, d)) return false;
      if (d.configurable === false) R.defineProperty(t, k, R.getOwnPropertyDescriptor(make(), k));
      return true;
    },
    getOwnPropertyDescriptor(t, k) {
      const d = R.getOwnPropertyDescriptor(make(), k);
      if (d !== undefined && !d.configurable) R.defineProperty(t, k, d);
      return d;
    },
    ownKeys(t) { return R.ownKeys(make()); },
    getPrototypeOf(t) { return R.getPrototypeOf(make()); },
    setPrototypeOf(t, p) { return R.setPrototypeOf(make(), p); },
    isExtensible(t) { return true; },
    preventExtensions(t) { return false; },
  };
  proxy = new P({}, handler);
  return proxy;
};
})`

var lazyStreamProgram = sync.OnceValue(func() *goja.Program {
	return goja.MustCompile("webapi:lazyStream", lazyStreamSource, true)
})

// newLazyStream makes the lazy stream of b's bytes and makes it b's.
func (a *API) newLazyStream(b *body) *lazyStream {
	if a.lazyFactory == nil {
		f, ok := goja.AssertFunction(a.runFactory(lazyStreamProgram()))
		if !ok {
			panic(a.vm.NewTypeError("webapi: internal factory is not a function"))
		}
		a.lazyFactory = f
		a.lazies = map[*goja.Object]*lazyStream{}
	}
	ls := &lazyStream{data: b.data, used: b.used}
	mk := a.vm.ToValue(func(goja.FunctionCall) goja.Value { return a.materialize(ls) })
	ls.proxy = a.call(a.lazyFactory, mk).(*goja.Object)
	a.lazies[ls.proxy] = ls
	b.lazy = ls
	return ls
}

// lazyOf returns the lazy stream v is, if it is one.
func (a *API) lazyOf(v goja.Value) (*lazyStream, bool) {
	o, ok := v.(*goja.Object)
	if !ok || a.lazies == nil {
		return nil, false
	}
	ls, ok := a.lazies[o]
	return ls, ok
}

// materialize makes ls's real stream: its bytes, or, when a body read them
// already, a closed and disturbed stream (as a used body's stream is).
func (a *API) materialize(ls *lazyStream) *goja.Object {
	if ls.real == nil {
		if ls.used {
			ls.real = a.call(a.streams().closed).(*goja.Object)
		} else {
			ls.real = a.bytesStream(ls.data)
		}
	}
	return ls.real
}

// settle makes b's stream the real one once its lazy stream was made.
func (a *API) settle(b *body) {
	if b.lazy != nil && b.lazy.real != nil && b.stream == nil {
		b.stream = b.lazy.real
	}
}
