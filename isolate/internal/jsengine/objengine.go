package jsengine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/sclone"
)

// liveObject is a live Durable Object instance: a goja runtime with the
// Worker's modules, the constructed instance, and its storage view. Each
// event runs on its loop between begin and end; timers and host calls an
// event leaves pending are dropped when it ends.
type liveObject struct {
	mu       sync.Mutex // held during an event
	key      string
	ref      contract.ObjectRef
	hash     string
	epoch    uint64
	l        *loop
	inst     *goja.Object // nil until the constructor (and its blockConcurrencyWhile work) succeeded
	store    objStorage
	lastUsed atomic.Int64 // when its last event began, Unix nanoseconds: the table reads it without mu

	blocking []*goja.Promise // blockConcurrencyWhile promises of the constructor
	broken   error           // a blockConcurrencyWhile callback failed: the instance goes

	sql *sqlDB // ctx.storage.sql's database, once used
	// sqlFresh: deleteAll emptied the database in this instance, so the
	// next one it opens starts empty without asking the node.
	sqlFresh bool
}

// MaxLiveObjects bounds the live instances one engine (a sandbox worker,
// or the in-process executor) keeps; the least recently used goes first.
const MaxLiveObjects = 256

// objectTable holds an engine's live instances, at most MaxLiveObjects,
// idle ones evicted after ObjectIdleTimeout.
type objectTable struct {
	mu sync.Mutex
	m  map[string]*liveObject
}

// take returns the live instance for key made from hash under epoch, if
// any, after evicting idle instances (and key's, if stale).
func (t *objectTable) take(key, hash string, epoch uint64, now time.Time, idle time.Duration) *liveObject {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, o := range t.m {
		if k != key && now.Sub(time.Unix(0, o.lastUsed.Load())) > idle && o.mu.TryLock() {
			delete(t.m, k)
			o.mu.Unlock()
			o.retire()
		}
	}
	o := t.m[key]
	if o != nil && (o.hash != hash || o.epoch != epoch) {
		delete(t.m, key)
		o.retire()
		o = nil
	}
	return o
}

// add inserts o, evicting the least recently used instance over the bound.
func (t *objectTable) add(o *liveObject) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*liveObject{}
	}
	t.m[o.key] = o
	for len(t.m) > MaxLiveObjects {
		var oldest *liveObject
		for _, c := range t.m {
			if c != o && (oldest == nil || c.lastUsed.Load() < oldest.lastUsed.Load()) {
				oldest = c
			}
		}
		if oldest == nil {
			break
		}
		delete(t.m, oldest.key)
		oldest.retire()
	}
}

// drop removes o if it is still key's instance.
func (t *objectTable) drop(o *liveObject) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[o.key] == o {
		delete(t.m, o.key)
	}
	o.retire()
}

// evict removes key's instance, if any.
func (t *objectTable) evict(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.m[key]; o != nil {
		delete(t.m, key)
		o.retire()
	}
}

// retire releases what a removed instance holds outside the Go heap (its
// wasm instances, which wazero's store keeps), once no event runs in it.
func (o *liveObject) retire() {
	go func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.closeSQL()
		if o.l.wasm.Load() != nil {
			o.l.closeWasm()
		}
	}()
}

// RunObject runs one object event in the object's live instance, making
// it first if there is none. It never panics on guest behaviour.
func (e *Engine) RunObject(ctx context.Context, r *contract.ObjectRequest, host contract.HostConn) (res *contract.ObjectResult) {
	start := time.Now()
	var o *liveObject
	defer func() {
		if p := recover(); p != nil {
			res = contract.ObjectFailure(contract.OutcomeInternalError, fmt.Sprintf("isolate: panic: %v", p))
			if o != nil {
				e.objects.drop(o)
			}
		}
		contract.BoundResult(&res.Result)
		res.Telemetry.WallTime = contract.Millis(time.Since(start))
	}()
	if r.Fresh {
		e.objects.evict(r.Object.Key())
	}
	o = e.objects.take(r.Object.Key(), r.Hash, r.Epoch, start, r.Idle)
	var prog *goja.Program
	cold, stacks := false, false
	if o == nil {
		p, c, fail := e.program(ctx, r.Hash, host, start.Add(contract.LimitWall(r.Limits)))
		if fail != nil {
			return &contract.ObjectResult{Result: *fail, Reset: true}
		}
		prog, cold, stacks = p.prog, c, p.stacks
		o = &liveObject{key: r.Object.Key(), ref: r.Object, hash: r.Hash, epoch: r.Epoch, l: newLoop(p.locale)}
		o.l.obj = o
		o.lastUsed.Store(start.UnixNano())
		e.objects.add(o)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lastUsed.Store(start.UnixNano())
	res = &contract.ObjectResult{}
	l := o.l
	end := l.begin(ctx, &jsCall{
		prog: prog, stacks: stacks, req: r.Request, env: r.Env, bindings: r.Bindings,
		limits: r.Limits, host: host, heap: e.heap, stuck: e.stuck, cpuClock: e.cpuClock,
	})
	defer end()
	l.busy()
	var err error
	if o.inst == nil {
		err = o.construct(prog)
		res.Telemetry.StartupMs = contract.Millis(time.Since(start))
	}
	if err == nil {
		err = o.deliver(r, res)
	}
	if err == nil && o.broken != nil {
		err = o.broken
	}
	last := l.conclude(&res.Result, err)
	if last != nil && res.Outcome == contract.OutcomeException {
		res.Thrown = &contract.ObjectError{Name: last.Name, Message: last.Message}
	}
	res.Telemetry.ColdStart = cold
	if o.inst == nil || o.broken != nil || (res.Outcome != contract.OutcomeOK && res.Outcome != contract.OutcomeException) {
		e.objects.drop(o)
		res.Reset = true
		res.Response, res.Value = nil, nil
		o.store = objStorage{}
	} else {
		res.Writes = o.store.takeBatch()
		o.store.endEvent()
		o.endSQLEvent()
	}
	// What the event left pending goes with it.
	l.timers, l.timerByID, l.waiting, l.pending = nil, nil, nil, 0
	return res
}

// construct runs the Worker's modules and the class's constructor, and
// waits for the blockConcurrencyWhile work it started.
func (o *liveObject) construct(prog *goja.Program) error {
	l := o.l
	vm := l.vm
	if prog == nil {
		return errors.New("isolate: no program for a new instance")
	}
	if err := l.run(func() error {
		if l.call.stacks {
			if err := installStacks(vm); err != nil {
				return err
			}
		}
		_, err := vm.RunProgram(prog)
		return err
	}); err != nil {
		return err
	}
	class := o.ref.Class
	var ctor goja.Constructor
	if mainV := vm.Get("__warrenMain"); mainV != nil && !goja.IsUndefined(mainV) {
		var v goja.Value
		l.guard(func() { v = mainV.ToObject(vm).Get(class) })
		if v != nil {
			ctor, _ = goja.AssertConstructor(v)
		}
	}
	if ctor == nil {
		return &guestError{name: "TypeError", message: fmt.Sprintf("the main module does not export a Durable Object class named %q", class)}
	}
	env, err := l.envObject()
	if err != nil {
		return err
	}
	_ = vm.Set("__warrenEnv", env)
	sup, err := l.loadSupport()
	if err != nil {
		return err
	}
	var ctxObj goja.Value
	if err := l.run(func() (err error) {
		ctxObj, err = sup.makeCtx(goja.Undefined(), vm.ToValue(o.ref.ID), vm.ToValue(o.ref.Name), vm.ToValue(o.ref.Worker+"\x00"+o.ref.Class))
		return err
	}); err != nil {
		return err
	}
	var inst *goja.Object
	if err := l.run(func() (err error) {
		inst, err = ctor(nil, ctxObj, env)
		return err
	}); err != nil {
		return err
	}
	settled := func() bool {
		for _, p := range o.blocking {
			if p.State() == goja.PromiseStatePending {
				return false
			}
		}
		return true
	}
	if err := l.loopUntil(settled); err != nil {
		return err
	}
	o.blocking = nil
	if o.broken != nil {
		return o.broken
	}
	o.inst = inst
	return nil
}

// method returns the instance's method name, or nil.
// Object.prototype's own functions (toString, hasOwnProperty,
// __defineGetter__, ...) are not the class's methods: RPC does not reach
// them, as on Cloudflare.
func (o *liveObject) method(name string) goja.Callable {
	var fn goja.Callable
	o.l.guard(func() {
		v := o.inst.Get(name)
		if objProto := o.l.vm.NewObject().Prototype(); v != nil && objProto != nil && v.SameAs(objProto.Get(name)) {
			return
		}
		fn, _ = goja.AssertFunction(v)
	})
	return fn
}

// deliver runs the event's handler until it settles, and then until the
// ctx.waitUntil work it started settles.
func (o *liveObject) deliver(r *contract.ObjectRequest, res *contract.ObjectResult) error {
	l := o.l
	vm := l.vm
	var fn goja.Callable
	var args []goja.Value
	switch r.Kind {
	case contract.ObjectFetch:
		if fn = o.method("fetch"); fn == nil {
			return &guestError{name: "TypeError", message: fmt.Sprintf("the Durable Object class %s has no fetch() method", o.ref.Class)}
		}
		req, err := l.api.NewRequest(l.httpRequest())
		if err != nil {
			return fmt.Errorf("building the request: %w", err)
		}
		args = []goja.Value{req}
	case contract.ObjectCall:
		if r.Method == "constructor" || r.Method == "" {
			return &guestError{name: "TypeError", message: fmt.Sprintf("The RPC receiver does not implement the method %q.", r.Method)}
		}
		if fn = o.method(r.Method); fn == nil {
			return &guestError{name: "TypeError", message: fmt.Sprintf("The RPC receiver does not implement the method %q.", r.Method)}
		}
		if len(r.Args) > 0 {
			var err error
			if err = l.run(func() error {
				v, err := sclone.DecodeInterruptible(vm, r.Args, l.interrupted)
				if err != nil {
					return err
				}
				arr, ok := v.(*goja.Object)
				if !ok || arr.ClassName() != "Array" {
					return &guestError{name: "TypeError", message: "the RPC arguments are not an array"}
				}
				n := int(arr.Get("length").ToInteger())
				for i := range n {
					args = append(args, arr.Get(fmt.Sprint(i)))
				}
				return nil
			}); err != nil {
				var dce *sclone.DataCloneError
				if errors.As(err, &dce) {
					return &guestError{name: "DataCloneError", message: dce.Msg}
				}
				return err
			}
		}
	case contract.ObjectAlarm:
		if fn = o.method("alarm"); fn == nil {
			return &guestError{name: "TypeError", message: fmt.Sprintf("the Durable Object class %s has no alarm() method", o.ref.Class)}
		}
		info := vm.NewObject()
		_ = info.Set("retryCount", 0)
		_ = info.Set("isRetry", false)
		args = []goja.Value{info}
	}
	var ret goja.Value
	err := l.run(func() (err error) {
		ret, err = fn(o.inst, args...)
		return err
	})
	if err != nil {
		return err
	}
	if ret, err = l.await(ret); err != nil {
		return err
	}
	switch r.Kind {
	case contract.ObjectFetch:
		resp, err := l.exportResponse(ret, nil)
		if err != nil {
			return err
		}
		res.Response = resp
	case contract.ObjectCall:
		if ret != nil && !goja.IsUndefined(ret) {
			var enc []byte
			if err := l.run(func() (err error) {
				enc, err = sclone.EncodeInterruptible(vm, ret, contract.MaxObjectRPCBytes, l.interrupted)
				return err
			}); err != nil {
				var dce *sclone.DataCloneError
				if errors.As(err, &dce) {
					return &guestError{name: "DataCloneError", message: dce.Msg}
				}
				return err
			}
			res.Value = enc
		}
	}
	if l.waitUntil > 0 {
		if err := l.loopUntil(func() bool { return l.waitUntil == 0 }); err != nil && err != errHung {
			return err
		}
	}
	return nil
}
