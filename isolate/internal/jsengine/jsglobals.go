package jsengine

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/bundle"
	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/jswasm"
	"github.com/warrenmesh/warren/isolate/internal/webapi"
)

// maxTimers bounds the timers one invocation may have pending.
const maxTimers = 10_000

type timer struct {
	id       int64
	seq      int64
	due      time.Duration // on the loop's clock (loop.now)
	fn       goja.Callable
	args     []goja.Value
	interval time.Duration // > 0 for setInterval
	index    int
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].due == h[j].due {
		return h[i].seq < h[j].seq
	}
	return h[i].due < h[j].due
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *timerHeap) Push(x any)   { t := x.(*timer); t.index = len(*h); *h = append(*h, t) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

// loopGlobals are the globals the event loop adds to the Web API's, built
// on first use (most Workers never touch a timer).
var loopGlobals = map[string]int{
	"setTimeout": 0, "setInterval": 1, "clearTimeout": 2, "clearInterval": 3,
	"queueMicrotask": 4, "fetch": 5,
	// The Go half of the nodejs_compat modules (webapi's NodeSupport):
	// hidden, and harmless to code without the flag. The name is
	// bundle.NodeSupportGlobal.
	"__warrenNode": 6,
	"WebAssembly":  7, bundle.WasmModuleGlobal: 8,
	"caches": 9,
}

// loopGlobalNames are the names of loopGlobals' functions, by index: the
// "name" of each function made from Go, which is also what a stack frame
// of the function shows (goja would name it after the Go function:
// "github.com/.../jsengine.(*loop).buildGlobal.func1").
var loopGlobalNames = [...]string{0: "setTimeout", 1: "setInterval", 2: "clearTimeout", 3: "clearInterval", 4: "queueMicrotask", 5: "fetch"}

// buildGlobal makes the loop global with the given index of loopGlobals.
func (l *loop) buildGlobal(i int) goja.Value {
	v := l.buildGlobalValue(i)
	if i < len(loopGlobalNames) {
		if o, ok := v.(*goja.Object); ok {
			_ = o.DefineDataProperty("name", l.vm.ToValue(loopGlobalNames[i]), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		}
	}
	return v
}

func (l *loop) buildGlobalValue(i int) goja.Value {
	vm := l.vm
	switch i {
	case 0:
		return vm.ToValue(func(call goja.FunctionCall) goja.Value { return l.addTimer(call, false) })
	case 1:
		return vm.ToValue(func(call goja.FunctionCall) goja.Value { return l.addTimer(call, true) })
	case 2, 3:
		return vm.ToValue(l.clearTimer)
	case 4:
		return vm.ToValue(func(call goja.FunctionCall) goja.Value {
			fn, ok := goja.AssertFunction(call.Argument(0))
			if !ok {
				panic(vm.NewTypeError("queueMicrotask: argument is not a function"))
			}
			p, resolve, _ := vm.NewPromise()
			_ = resolve(goja.Undefined())
			then, _ := goja.AssertFunction(vm.ToValue(p).ToObject(vm).Get("then"))
			_, _ = then(vm.ToValue(p), vm.ToValue(func(goja.FunctionCall) goja.Value {
				if _, err := fn(goja.Undefined()); err != nil {
					panic(err)
				}
				return goja.Undefined()
			}))
			return goja.Undefined()
		})
	case 5:
		return vm.ToValue(l.fetch)
	case 6:
		return l.api.NodeSupport()
	case 7:
		return l.webAssembly().Namespace()
	case 8:
		return vm.ToValue(l.webAssembly().ModuleFromBase64)
	case 9:
		return l.cachesObject()
	}
	return goja.Undefined()
}

func (l *loop) addTimer(call goja.FunctionCall, interval bool) goja.Value {
	fn, ok := goja.AssertFunction(call.Argument(0))
	if !ok {
		panic(l.vm.NewTypeError("setTimeout: the callback is not a function"))
	}
	if len(l.timers) >= maxTimers {
		panic(l.rangeError(fmt.Sprintf("too many pending timers: a call may have at most %d", maxTimers)))
	}
	ms := call.Argument(1).ToFloat()
	if math.IsNaN(ms) || ms < 0 {
		ms = 0
	}
	delay := time.Duration(ms * float64(time.Millisecond))
	// A timer past the wall limit can never fire before the limit ends the
	// call; clamping only keeps the arithmetic finite.
	if limit := contract.LimitWall(l.call.limits) + time.Second; delay > limit {
		delay = limit
	}
	l.timerSeq++
	t := &timer{id: l.timerSeq, seq: l.timerSeq, due: l.now() + delay, fn: fn}
	if len(call.Arguments) > 2 {
		t.args = append([]goja.Value(nil), call.Arguments[2:]...)
	}
	if interval {
		t.interval = max(delay, time.Millisecond)
	}
	if l.timerByID == nil {
		l.timerByID = make(map[int64]*timer)
	}
	l.timerByID[t.id] = t
	heap.Push(&l.timers, t)
	return l.vm.ToValue(t.id)
}

func (l *loop) clearTimer(call goja.FunctionCall) goja.Value {
	id := call.Argument(0).ToInteger()
	if t, ok := l.timerByID[id]; ok {
		delete(l.timerByID, id)
		if t.index >= 0 {
			heap.Remove(&l.timers, t.index)
		}
	}
	return goja.Undefined()
}

// fireTimer runs the earliest timer; an exception thrown by it ends the
// invocation, as an uncaught exception does on Workers.
func (l *loop) fireTimer() error {
	t := l.timers[0]
	if t.interval > 0 {
		// Rescheduled in place: one sift instead of a pop and a push.
		l.timerSeq++
		t.seq = l.timerSeq
		t.due = l.now() + t.interval
		heap.Fix(&l.timers, 0)
	} else {
		heap.Pop(&l.timers)
		delete(l.timerByID, t.id)
	}
	return l.run(func() error {
		_, err := t.fn(goja.Undefined(), t.args...)
		return err
	})
}

// hostAsync starts c and runs then on the loop when the answer comes back.
func (l *loop) hostAsync(c *contract.HostCall, then func(*contract.HostReply, error)) {
	if l.waiting == nil {
		l.waiting = make(map[int64]func(*contract.HostReply, error))
	}
	l.callSeq++
	l.waiting[l.callSeq] = then
	l.pending++
	l.call.host.Start(l.ctx, c, l.callSeq)
}

// rangeError makes a RangeError with msg.
func (l *loop) rangeError(msg string) goja.Value {
	if ctor, ok := l.vm.Get("RangeError").(*goja.Object); ok {
		if e, err := l.vm.New(ctor, l.vm.ToValue(msg)); err == nil {
			return e
		}
	}
	return l.vm.NewTypeError("%s", msg)
}

// subrequest counts one fetch or binding call against the limit.
func (l *loop) subrequest() error {
	l.subreqs++
	if l.subreqs > l.call.limits.SubRequests {
		return contract.TooManySubrequests(l.call.limits.SubRequests)
	}
	return nil
}

func (l *loop) fetch(call goja.FunctionCall) goja.Value {
	return l.fetchVia(contract.OpFetch, "", nil, call.Argument(0), call.Argument(1))
}

// fetchVia makes a fetch host call: egress (OpFetch), or a Durable Object
// stub's fetch (OpDOFetch to ref through the named binding). A live
// object's buffered writes are committed first.
func (l *loop) fetchVia(op contract.HostOp, binding string, ref *contract.ObjectRef, input, init goja.Value) goja.Value {
	vm := l.vm
	p, resolve, reject := vm.NewPromise()
	hr, err := l.api.ExportRequest(input, init)
	if err != nil {
		_ = reject(vm.NewTypeError("%s", err.Error()))
		return vm.ToValue(p)
	}
	if err := contract.CheckFetchHead(hr.Method, func(yield func(string, string) bool) {
		for _, h := range hr.Headers {
			if !yield(h.Name, h.Value) {
				return
			}
		}
	}); err != nil {
		_ = reject(vm.NewTypeError("%s", err.Error()))
		return vm.ToValue(p)
	}
	if hr.Stream == nil && len(hr.Body) > contract.MaxResponseBytes {
		// As a stream body past it is refused below (and the node
		// refuses both).
		_ = reject(l.rangeError(fmt.Sprintf("fetch: the request body is more than %d bytes", contract.MaxResponseBytes)))
		return vm.ToValue(p)
	}
	if err := l.subrequest(); err != nil {
		_ = reject(vm.NewGoError(err))
		return vm.ToValue(p)
	}
	if op == contract.OpFetch {
		var fc *fetchCache
		if ex := vm.Try(func() { fc = l.fetchCacheOptions(input, init, hr) }); ex != nil {
			_ = reject(ex.Value())
			return vm.ToValue(p)
		}
		if fc != nil {
			l.cachedFetch(fc, hr, resolve, reject)
			return vm.ToValue(p)
		}
	}
	if hr.Stream == nil {
		l.sendFetch(op, binding, ref, hr, resolve, reject)
		return vm.ToValue(p)
	}
	// A stream body is read to its end first: the host takes whole bodies.
	s := hr.Stream
	hr.Stream, hr.Body = nil, []byte{}
	var next func(chunk []byte, eof bool, err error)
	next = func(chunk []byte, eof bool, err error) {
		switch {
		case err != nil:
			var se *webapi.StreamError
			if errors.As(err, &se) {
				_ = reject(se.Value)
			} else {
				_ = reject(vm.NewTypeError("fetch: reading the request body: %s", err.Error()))
			}
		case eof:
			l.sendFetch(op, binding, ref, hr, resolve, reject)
		case len(hr.Body)+len(chunk) > contract.MaxResponseBytes:
			s.Cancel("the request body is too large")
			_ = reject(l.rangeError(fmt.Sprintf("fetch: the request body is more than %d bytes", contract.MaxResponseBytes)))
		default:
			hr.Body = append(hr.Body, chunk...)
			s.Read(next)
		}
	}
	s.Read(next)
	return vm.ToValue(p)
}

// sendFetch makes the host call of fetchVia, its body read.
func (l *loop) sendFetch(op contract.HostOp, binding string, ref *contract.ObjectRef, hr *webapi.HTTPRequest, resolve, reject func(any) error) {
	l.sendFetchWith(op, binding, ref, hr, resolve, reject, nil)
}

// sendFetchWith is sendFetch, with before (when not nil) given the
// response before it is made a JS Response; it calls done when it is
// through with it (fetchcache.go).
func (l *loop) sendFetchWith(op contract.HostOp, binding string, ref *contract.ObjectRef, hr *webapi.HTTPRequest, resolve, reject func(any) error, before func(resp *contract.Response, done func())) {
	vm := l.vm
	if err := l.flushWrites(); err != nil {
		_ = reject(vm.NewGoError(err))
		return
	}
	names := make([]string, len(hr.Headers))
	values := make([]string, len(hr.Headers))
	for i, h := range hr.Headers {
		names[i], values[i] = h.Name, h.Value
	}
	req := &contract.Request{Method: hr.Method, URL: hr.URL, Headers: contract.HeaderMap(names, values), Body: hr.Body}
	l.hostAsync(&contract.HostCall{Op: op, Binding: binding, Object: ref, Request: req}, func(rep *contract.HostReply, err error) {
		// In process, the host's body becomes the JS Response's: the
		// node's count of fetched bodies it holds (Release) ends here.
		release := func() {
			if rep != nil {
				rep.Response.ReleaseBody()
			}
		}
		switch {
		case op != contract.OpFetch && err == nil && rep.Thrown != nil:
			_ = reject(l.jsError(rep.Thrown.Name, rep.Thrown.Message))
		case op != contract.OpFetch && err == nil && rep.Error != "":
			_ = reject(l.jsError("Error", rep.Error))
		case err != nil:
			_ = reject(vm.NewTypeError("fetch failed: %s", err.Error()))
		case rep.Error != "":
			_ = reject(vm.NewTypeError("fetch to %s failed: %s", req.URL, rep.Error))
		case rep.Response == nil:
			_ = reject(vm.NewTypeError("fetch failed: the host returned no response"))
		default:
			answer := func() {
				obj, err := l.api.NewResponse(fromResponse(rep.Response))
				if err != nil {
					_ = reject(vm.NewGoError(err))
					return
				}
				_ = resolve(obj)
			}
			if before != nil {
				before(rep.Response, func() { answer(); release() })
				return
			}
			answer()
		}
		release()
	})
}

// kvBinding is a Workers KV namespace object backed by host calls.
func (l *loop) kvBinding(name string) *goja.Object {
	vm := l.vm
	o := vm.NewObject()
	// call starts a KV host call and returns its promise; conv turns the
	// reply into the resolved value.
	call := func(c *contract.HostCall, conv func(*contract.HostReply) (goja.Value, error)) goja.Value {
		p, resolve, reject := vm.NewPromise()
		if err := l.subrequest(); err != nil {
			_ = reject(vm.NewGoError(err))
			return vm.ToValue(p)
		}
		c.Op, c.Binding = contract.OpKV, name
		l.hostAsync(c, func(rep *contract.HostReply, err error) {
			switch {
			case err != nil: // the host is out of reach
				_ = reject(kvException(vm, contract.KVCodeUnavailable, fmt.Sprintf("KV %s.%s: %s", name, c.Method, err)))
				return
			case rep.Error != "":
				code := rep.Code
				if code == "" {
					code = contract.KVCodeStorage
				}
				_ = reject(kvException(vm, code, fmt.Sprintf("KV %s.%s: %s", name, c.Method, rep.Error)))
				return
			}
			v, err := conv(rep)
			if err != nil {
				_ = reject(vm.NewGoError(err))
				return
			}
			_ = resolve(v)
		})
		return vm.ToValue(p)
	}
	// getType reads the type and consistency of get's options: a string
	// (the type) or an object.
	getType := func(v goja.Value) (string, *contract.KVGetOptions, error) {
		t := "text"
		opts := &contract.KVGetOptions{}
		if o, ok := v.(*goja.Object); ok {
			if tv := o.Get("type"); tv != nil && !goja.IsUndefined(tv) {
				t = tv.String()
			}
			c, err := consistency(o, "get")
			if err != nil {
				return "", nil, err
			}
			opts.Consistency = c
		} else if v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) {
			t = v.String()
		}
		switch t {
		case "text", "json", "arrayBuffer", "stream":
			return t, opts, nil
		}
		return "", nil, fmt.Errorf("KV get: unsupported type %q (want text, json, arrayBuffer or stream)", t)
	}
	decode := func(e *contract.KVEntry, t string) (goja.Value, error) {
		if e == nil {
			return goja.Null(), nil
		}
		switch t {
		case "json":
			var parse goja.Callable
			parse, _ = goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
			return parse(goja.Undefined(), vm.ToValue(string(e.Value)))
		case "arrayBuffer", "stream":
			data := append([]byte(nil), e.Value...)
			l.addFlat(data)
			buf := vm.ToValue(vm.NewArrayBuffer(data))
			if t == "arrayBuffer" {
				return buf, nil
			}
			// The value is here whole: a stream of it is a Response's body.
			r, err := vm.New(vm.Get("Response"), buf)
			if err != nil {
				return nil, err
			}
			return r.Get("body"), nil
		}
		return vm.ToValue(string(e.Value)), nil
	}
	meta := func(e *contract.KVEntry) goja.Value {
		if e == nil || len(e.Metadata) == 0 {
			return goja.Null()
		}
		parse, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("parse"))
		v, err := parse(goja.Undefined(), vm.ToValue(string(e.Metadata)))
		if err != nil {
			return goja.Null()
		}
		return v
	}
	stringify := func(v goja.Value) (json.RawMessage, error) {
		if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
			return nil, nil
		}
		s, _ := goja.AssertFunction(vm.Get("JSON").ToObject(vm).Get("stringify"))
		out, err := s(goja.Undefined(), v)
		if err != nil {
			return nil, err
		}
		return json.RawMessage(out.String()), nil
	}
	withMeta := func(e *contract.KVEntry, t string) (goja.Value, error) {
		v, err := decode(e, t)
		if err != nil {
			return nil, err
		}
		out := vm.NewObject()
		_ = out.Set("value", v)
		_ = out.Set("metadata", meta(e))
		_ = out.Set("cacheStatus", goja.Null())
		return out, nil
	}
	// bulk is get or getWithMetadata given an array of keys: one host
	// call (and one subrequest) for up to 100 keys, answered with a Map
	// of each key to its value (or {value, metadata}), null for a key not
	// found. As on Cloudflare, only the text and json types.
	bulk := func(keys *goja.Object, typ goja.Value, method string, each func(*contract.KVEntry, string) (goja.Value, error)) goja.Value {
		t, opts, err := getType(typ)
		if err != nil {
			panic(kvException(vm, contract.KVCodeInvalid, err.Error()))
		}
		if t != "text" && t != "json" {
			panic(kvException(vm, contract.KVCodeInvalid, fmt.Sprintf("KV %s: a bulk get takes the types text and json, not %s", method, t)))
		}
		n := keys.Get("length").ToInteger()
		if n < 1 || n > contract.MaxKVBulkKeys {
			panic(kvException(vm, contract.KVCodeInvalid, fmt.Sprintf("KV %s: %d keys; a bulk get takes 1 to %d", method, n, contract.MaxKVBulkKeys)))
		}
		names := make([]string, n)
		for i := range names {
			names[i] = keys.Get(strconv.Itoa(i)).String()
		}
		return call(&contract.HostCall{Method: "getBulk", Keys: names, Get: opts}, func(r *contract.HostReply) (goja.Value, error) {
			if len(r.KVEntries) != len(names) {
				return nil, fmt.Errorf("KV %s: %d entries for %d keys", method, len(r.KVEntries), len(names))
			}
			m, err := vm.New(vm.Get("Map"))
			if err != nil {
				return nil, err
			}
			set, _ := goja.AssertFunction(m.Get("set"))
			for i, e := range r.KVEntries {
				v := goja.Null()
				if e != nil {
					if v, err = each(e, t); err != nil {
						return nil, err
					}
				}
				if _, err := set(m, vm.ToValue(names[i]), v); err != nil {
					return nil, err
				}
			}
			return m, nil
		})
	}
	isArray := func(v goja.Value) (*goja.Object, bool) {
		o, ok := v.(*goja.Object)
		return o, ok && o.ClassName() == "Array"
	}
	_ = o.Set("get", func(c goja.FunctionCall) goja.Value {
		if keys, ok := isArray(c.Argument(0)); ok {
			return bulk(keys, c.Argument(1), "get", decode)
		}
		t, opts, err := getType(c.Argument(1))
		if err != nil {
			panic(kvException(vm, contract.KVCodeInvalid, err.Error()))
		}
		return call(&contract.HostCall{Method: "get", Key: c.Argument(0).String(), Get: opts}, func(r *contract.HostReply) (goja.Value, error) { return decode(r.Entry, t) })
	})
	_ = o.Set("getWithMetadata", func(c goja.FunctionCall) goja.Value {
		if keys, ok := isArray(c.Argument(0)); ok {
			return bulk(keys, c.Argument(1), "getWithMetadata", withMeta)
		}
		t, opts, err := getType(c.Argument(1))
		if err != nil {
			panic(kvException(vm, contract.KVCodeInvalid, err.Error()))
		}
		return call(&contract.HostCall{Method: "get", Key: c.Argument(0).String(), Get: opts}, func(r *contract.HostReply) (goja.Value, error) {
			return withMeta(r.Entry, t)
		})
	})
	_ = o.Set("put", func(c goja.FunctionCall) goja.Value {
		// A string encodes to at least one byte per UTF-16 unit: one
		// longer than the bound is refused before it is copied twice
		// (exported, then encoded).
		if s, ok := c.Argument(1).(goja.String); ok && s.Length() > contract.MaxKVValueBytes {
			panic(kvException(vm, contract.KVCodeInvalid, fmt.Sprintf("KV put: value: a string of %d characters exceeds the limit of %d bytes", s.Length(), contract.MaxKVValueBytes)))
		}
		value, err := bytesOf(vm, c.Argument(1))
		if err != nil {
			panic(kvException(vm, contract.KVCodeInvalid, "KV put: "+err.Error()))
		}
		if len(value) > contract.MaxKVValueBytes {
			panic(kvException(vm, contract.KVCodeInvalid, fmt.Sprintf("KV put: value: length of %d exceeds limit of %d", len(value), contract.MaxKVValueBytes)))
		}
		opts := &contract.KVPutOptions{}
		if ov, ok := c.Argument(2).(*goja.Object); ok {
			// A time that is no number (NaN, "soon") read as 0, not
			// given: the key was stored to live for ever.
			seconds := func(name string, to *int64) {
				v := ov.Get(name)
				if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
					return
				}
				if f := v.ToFloat(); math.IsNaN(f) || math.IsInf(f, 0) {
					panic(kvException(vm, contract.KVCodeInvalid, fmt.Sprintf("KV put: %s must be a number of seconds, not %s", name, v.String())))
				}
				*to = v.ToInteger()
			}
			seconds("expiration", &opts.Expiration)
			seconds("expirationTtl", &opts.ExpirationTTL)
			if opts.Metadata, err = stringify(ov.Get("metadata")); err != nil {
				panic(err)
			}
		}
		return call(&contract.HostCall{Method: "put", Key: c.Argument(0).String(), Value: value, Put: opts}, func(*contract.HostReply) (goja.Value, error) { return goja.Undefined(), nil })
	})
	_ = o.Set("delete", func(c goja.FunctionCall) goja.Value {
		return call(&contract.HostCall{Method: "delete", Key: c.Argument(0).String()}, func(*contract.HostReply) (goja.Value, error) { return goja.Undefined(), nil })
	})
	_ = o.Set("list", func(c goja.FunctionCall) goja.Value {
		opts := &contract.KVListOptions{}
		if ov, ok := c.Argument(0).(*goja.Object); ok {
			if v := ov.Get("prefix"); v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) {
				opts.Prefix = v.String()
			}
			if v := ov.Get("cursor"); v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) {
				opts.Cursor = v.String()
			}
			if v := ov.Get("limit"); v != nil && !goja.IsUndefined(v) {
				opts.Limit = int(v.ToInteger())
			}
			c, err := consistency(ov, "list")
			if err != nil {
				panic(kvException(vm, contract.KVCodeInvalid, err.Error()))
			}
			opts.Consistency = c
		}
		return call(&contract.HostCall{Method: "list", List: opts}, func(r *contract.HostReply) (goja.Value, error) {
			out := vm.NewObject()
			keys := make([]any, 0)
			if r.Keys != nil {
				for _, k := range r.Keys.Keys {
					ko := vm.NewObject()
					_ = ko.Set("name", k.Name)
					if k.Expiration != 0 {
						_ = ko.Set("expiration", k.Expiration)
					}
					if len(k.Metadata) > 0 {
						_ = ko.Set("metadata", meta(&contract.KVEntry{Metadata: k.Metadata}))
					}
					keys = append(keys, ko)
				}
				_ = out.Set("list_complete", r.Keys.ListComplete)
				if r.Keys.Cursor != "" {
					_ = out.Set("cursor", r.Keys.Cursor)
				}
			} else {
				_ = out.Set("list_complete", true)
			}
			_ = out.Set("keys", vm.NewArray(keys...))
			_ = out.Set("cacheStatus", goja.Null()) // Cloudflare's edge cache; there is none here
			return out, nil
		})
	})
	return o
}

// consistency reads the consistency option of a KV read: undefined, null,
// "strong" or "eventual".
func consistency(o *goja.Object, method string) (string, error) {
	v := o.Get("consistency")
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return "", nil
	}
	if s, ok := v.Export().(string); ok && (s == contract.KVStrong || s == contract.KVEventual) {
		return s, nil
	}
	return "", fmt.Errorf("KV %s: consistency must be %q or %q, not %s", method, contract.KVStrong, contract.KVEventual, v.String())
}

// kvException is the exception a KV call rejects with: a TypeError for
// KVCodeInvalid, else an Error, with err.code "KV_" and the code
// upper-cased (KV_UNAVAILABLE). The intrinsic prototypes are used, whatever
// the guest did to the globals.
func kvException(vm *goja.Runtime, code contract.HostErrCode, msg string) *goja.Object {
	e := vm.NewTypeError("%s", msg)
	if code != contract.KVCodeInvalid {
		if p := e.Prototype(); p != nil && p.Prototype() != nil {
			_ = e.SetPrototype(p.Prototype()) // Error.prototype
		}
	}
	_ = e.Set("code", "KV_"+strings.ToUpper(string(code)))
	return e
}

// bytesOf converts a string, ArrayBuffer or typed array to bytes.
func bytesOf(vm *goja.Runtime, v goja.Value) ([]byte, error) {
	switch x := v.Export().(type) {
	case string:
		return []byte(x), nil
	case goja.ArrayBuffer:
		return append([]byte(nil), x.Bytes()...), nil
	case []byte:
		return append([]byte(nil), x...), nil
	}
	if o, ok := v.(*goja.Object); ok {
		if buf := o.Get("buffer"); buf != nil {
			if ab, ok := buf.Export().(goja.ArrayBuffer); ok {
				off := o.Get("byteOffset").ToInteger()
				n := o.Get("byteLength").ToInteger()
				b := ab.Bytes()
				if off >= 0 && n >= 0 && off+n <= int64(len(b)) {
					return append([]byte(nil), b[off:off+n]...), nil
				}
			}
		}
	}
	return nil, fmt.Errorf("value must be a string, ArrayBuffer or ArrayBufferView, not %s", v.String())
}

// loopWasm is a loop's WebAssembly API and the context wasm runs under in
// the current call: made from the call's context on first use in the call,
// cancelled when a limit interrupts the guest (stop, from the watchdog).
type loopWasm struct {
	state  *jswasm.State
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	hit    bool // stop was called in this call
}

// newCall forgets the last call's context.
func (w *loopWasm) newCall() {
	w.mu.Lock()
	w.ctx, w.cancel, w.hit = nil, nil, false
	w.mu.Unlock()
}

func (w *loopWasm) stop() {
	w.mu.Lock()
	w.hit = true
	if w.cancel != nil {
		w.cancel()
	}
	w.mu.Unlock()
}

// webAssembly is the loop's WebAssembly API, made on first use. Wasm runs
// under the call's wasm context and its linear memories count against the
// memory limit.
func (l *loop) webAssembly() *jswasm.State {
	if w := l.wasm.Load(); w != nil {
		return w.state
	}
	w := &loopWasm{}
	w.state = jswasm.New(l.vm, jswasm.Options{
		Context: func() context.Context {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.ctx == nil {
				w.ctx, w.cancel = context.WithCancel(l.ctx)
				if w.hit || l.hit.Load() != nil {
					w.cancel()
				}
			}
			return w.ctx
		},
		MemoryLimit:  func() int64 { return contract.LimitMemory(l.call.limits) },
		BufferSource: l.api.BufferSource,
		Compiling: func(f func()) {
			l.idle()
			defer l.busy()
			f()
		},
	})
	l.wasm.Store(w)
	return w.state
}

// closeWasm releases the loop's wasm instances, if it made any.
func (l *loop) closeWasm() {
	if w := l.wasm.Load(); w != nil {
		w.state.Close()
	}
}
