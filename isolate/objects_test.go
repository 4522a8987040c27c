package isolate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/jsengine"
	"github.com/warrenmesh/warren/isolate/internal/sandbox"
	"github.com/warrenmesh/warren/isolate/internal/sclone"
)

// objWorld is the node's part in object tests: committed storage per
// object, the objects' namespaces (events run in order through the same
// runtime, their writes committed as the node would), and a log of what
// the objects asked of it.
type objWorld struct {
	t    testing.TB
	rt   *Runtime
	code *Code
	*memHost

	mu     sync.Mutex
	data   map[string]map[string][]byte // by object key
	alarms map[string]int64
	log    []string
	epoch  uint64
}

func newObjWorld(t testing.TB, kind ExecutorKind, src string) *objWorld {
	return &objWorld{t: t, rt: testRuntime(t, kind), code: js("main.js", src), memHost: newMemHost(),
		data: map[string]map[string][]byte{}, alarms: map[string]int64{}, epoch: 1}
}

func (w *objWorld) note(s string) {
	w.mu.Lock()
	w.log = append(w.log, s)
	w.mu.Unlock()
}

func (w *objWorld) takeLog() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.log
	w.log = nil
	return l
}

var testBindings = map[string]Binding{
	"KV":      {KV: "test"},
	"COUNTER": {DurableObject: &DurableObjectBinding{Worker: "w", Class: "Counter"}},
	"STORE":   {DurableObject: &DurableObjectBinding{Worker: "w", Class: "Store"}},
}

func ref(class, name string) ObjectRef {
	return ObjectRef{Worker: "w", Class: class, ID: jsengine.ObjectID("w", class, name), Name: name}
}

// event runs one event and commits its writes.
func (w *objWorld) event(ctx context.Context, ev *ObjectEvent) *ObjectResult {
	ev.Code, ev.Bindings, ev.Epoch = w.code, testBindings, w.epoch
	res := w.rt.RunObject(ctx, ev, &objHost{w: w, ref: ev.Object})
	if res.Writes != nil {
		w.apply(ev.Object, res.Writes)
	}
	return res
}

func (w *objWorld) call(ref ObjectRef, method string, args ...any) *ObjectResult {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.event(ctx, &ObjectEvent{Object: ref, Kind: ObjectCall, Method: method, Args: encodeArgs(w.t, args...)})
}

func (w *objWorld) apply(r ObjectRef, b *StorageBatch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.data[r.Key()]
	if m == nil || b.DeleteAll {
		m = map[string][]byte{}
		w.data[r.Key()] = m
	}
	for _, p := range b.Puts {
		m[p.Key] = p.Value
	}
	for _, k := range b.Deletes {
		delete(m, k)
	}
	if b.Alarm != nil {
		w.alarms[r.Key()] = *b.Alarm
	}
}

func (w *objWorld) DurableObjects(b DurableObjectBinding) (DurableObjectNamespace, error) {
	return &objNS{w: w}, nil
}

type objNS struct{ w *objWorld }

func (n *objNS) Fetch(ctx context.Context, r ObjectRef, req *Request) (*Response, error) {
	n.w.note("do.fetch " + r.Name)
	res := n.w.event(ctx, &ObjectEvent{Object: r, Kind: ObjectFetch, Request: req})
	if res.Thrown != nil {
		return nil, res.Thrown
	}
	if res.Outcome != OutcomeOK {
		return nil, errors.New(string(res.Outcome) + " " + res.Error)
	}
	return res.Response, nil
}

func (n *objNS) Call(ctx context.Context, r ObjectRef, method string, args []byte) ([]byte, error) {
	n.w.note("do.call " + r.Name + "." + method)
	res := n.w.event(ctx, &ObjectEvent{Object: r, Kind: ObjectCall, Method: method, Args: args})
	if res.Thrown != nil {
		return nil, res.Thrown
	}
	if res.Outcome != OutcomeOK {
		return nil, errors.New(string(res.Outcome) + " " + res.Error)
	}
	return res.Value, nil
}

// objHost is one object's ObjectHost.
type objHost struct {
	w   *objWorld
	ref ObjectRef
}

func (h *objHost) Fetch(ctx context.Context, r *Request) (*Response, error) {
	h.w.note("fetch " + r.URL)
	return h.w.memHost.Fetch(ctx, r)
}
func (h *objHost) KV(ns string) (KVNamespace, error) { return h.w.memHost.KV(ns) }
func (h *objHost) DurableObjects(b DurableObjectBinding) (DurableObjectNamespace, error) {
	return h.w.DurableObjects(b)
}

func (h *objHost) StorageGet(_ context.Context, keys []string) (map[string][]byte, error) {
	h.w.note("get " + strings.Join(keys, ","))
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	out := map[string][]byte{}
	for _, k := range keys {
		if v, ok := h.w.data[h.ref.Key()][k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

func (h *objHost) StorageList(_ context.Context, o StorageListOptions) ([]StorageEntry, error) {
	h.w.note("list")
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	var keys []string
	for k := range h.w.data[h.ref.Key()] {
		if jsengine.InRange(k, &o) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if o.Reverse {
		slices.Reverse(keys)
	}
	if o.Limit > 0 && len(keys) > o.Limit {
		keys = keys[:o.Limit]
	}
	out := []StorageEntry{}
	for _, k := range keys {
		out = append(out, StorageEntry{Key: k, Value: h.w.data[h.ref.Key()][k]})
	}
	return out, nil
}

func (h *objHost) StorageCommit(_ context.Context, b *StorageBatch) error {
	h.w.note(fmt.Sprintf("commit %d", len(b.Puts)+len(b.Deletes)))
	h.w.apply(h.ref, b)
	return nil
}

func (h *objHost) GetAlarm(context.Context) (int64, error) {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	return h.w.alarms[h.ref.Key()], nil
}

// encodeArgs encodes Go values (as goja exports them) as an arguments array.
func encodeArgs(t testing.TB, args ...any) []byte {
	vm := goja.New()
	b, err := sclone.Encode(vm, vm.ToValue(args), MaxObjectRPCBytes)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeValue decodes a call's return value to its goja export.
func decodeValue(t testing.TB, b []byte) any {
	if b == nil {
		return nil
	}
	vm := goja.New()
	v, err := sclone.Decode(vm, b)
	if err != nil {
		t.Fatal(err)
	}
	return v.Export()
}

// bothExecutors runs f with each executor (InProcess only under -short).
func bothExecutors(t *testing.T, f func(t *testing.T, kind ExecutorKind)) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			if kind == Sandboxed && testing.Short() {
				t.Skip("short")
			}
			f(t, kind)
		})
	}
}

const counterSrc = `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.n = 0; this.made = Date.now(); }
  inc(by = 1) { this.n += by; return this.n; }
  async stored() { const v = (await this.ctx.storage.get("n")) ?? 0; await this.ctx.storage.put("n", v + 1); return v + 1; }
  whoami() { return { id: this.ctx.id.toString(), name: this.ctx.id.name, same: this.ctx.id.equals(this.ctx.id) }; }
  boom(msg) { const e = new RangeError(msg); throw e; }
  async rejects() { await null; throw new TypeError("nope"); }
  spin() { for (;;) {} }
  async fetch(req) { return new Response("n=" + this.n + " " + new URL(req.url).pathname); }
  async alarm() { this.n += 100; }
}
export default { fetch() { return new Response("main") } };
`

// TestObjectCounter: an instance keeps its fields across events, and is
// made again after EvictObject, a new epoch, or an overrun.
func TestObjectCounter(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		w := newObjWorld(t, kind, counterSrc)
		a := ref("Counter", "a")
		for i := 1; i <= 3; i++ {
			res := w.call(a, "inc")
			if res.Outcome != OutcomeOK || res.Reset || decodeValue(t, res.Value) != int64(i) {
				t.Fatalf("inc %d: %s %s %v %+v", i, res.Outcome, res.Error, decodeValue(t, res.Value), res.Exceptions)
			}
		}
		if res := w.call(ref("Counter", "b"), "inc", 5); decodeValue(t, res.Value) != int64(5) {
			t.Fatalf("another object: %v", decodeValue(t, res.Value))
		}
		w.rt.EvictObject(a)
		w.rt.EvictObject(a) // idempotent
		if res := w.call(a, "inc"); decodeValue(t, res.Value) != int64(1) {
			t.Fatalf("after EvictObject: %v, want 1", decodeValue(t, res.Value))
		}
		w.call(a, "inc")
		w.epoch++
		if res := w.call(a, "inc"); decodeValue(t, res.Value) != int64(1) {
			t.Fatalf("after a new epoch: %v, want 1", decodeValue(t, res.Value))
		}
		// Storage outlives the instance.
		for i := 1; i <= 2; i++ {
			if res := w.call(a, "stored"); decodeValue(t, res.Value) != int64(i) {
				t.Fatalf("stored %d: %v %+v", i, decodeValue(t, res.Value), res.Exceptions)
			}
		}
		w.rt.EvictObject(a)
		if res := w.call(a, "stored"); decodeValue(t, res.Value) != int64(3) {
			t.Fatalf("stored after eviction: %v", decodeValue(t, res.Value))
		}
		// ctx.id.
		res := w.call(a, "whoami")
		who, _ := decodeValue(t, res.Value).(map[string]any)
		if who["id"] != a.ID || who["name"] != "a" || who["same"] != true {
			t.Fatalf("whoami: %v", who)
		}
		// fetch and alarm events.
		w.call(a, "inc", 2)
		ctx := context.Background()
		if res := w.event(ctx, &ObjectEvent{Object: a, Kind: ObjectAlarm}); res.Outcome != OutcomeOK {
			t.Fatalf("alarm: %s %+v", res.Outcome, res.Exceptions)
		}
		res = w.event(ctx, &ObjectEvent{Object: a, Kind: ObjectFetch, Request: &Request{URL: "http://do/x"}})
		if res.Outcome != OutcomeOK || string(res.Response.Body) != "n=102 /x" {
			t.Fatalf("fetch: %s %+v %+v", res.Outcome, res.Response, res.Exceptions)
		}
	})
}

// TestObjectThrows: a method's exception reaches the caller by name and
// message and keeps the instance; a missing method is a TypeError.
func TestObjectThrows(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		w := newObjWorld(t, kind, counterSrc)
		a := ref("Counter", "a")
		w.call(a, "inc")
		for _, tc := range []struct {
			method string
			args   []any
			want   ObjectError
		}{
			{"boom", []any{"too far"}, ObjectError{Name: "RangeError", Message: "too far"}},
			{"rejects", nil, ObjectError{Name: "TypeError", Message: "nope"}},
			{"nothere", nil, ObjectError{Name: "TypeError", Message: `The RPC receiver does not implement the method "nothere".`}},
			{"constructor", nil, ObjectError{Name: "TypeError", Message: `The RPC receiver does not implement the method "constructor".`}},
			{"hasOwnProperty", nil, ObjectError{Name: "TypeError", Message: `The RPC receiver does not implement the method "hasOwnProperty".`}},
			{"__defineGetter__", nil, ObjectError{Name: "TypeError", Message: `The RPC receiver does not implement the method "__defineGetter__".`}},
		} {
			res := w.call(a, tc.method, tc.args...)
			if res.Outcome != OutcomeException || res.Thrown == nil || *res.Thrown != tc.want || res.Reset {
				t.Errorf("%s: %s reset=%v thrown %+v, want %+v", tc.method, res.Outcome, res.Reset, res.Thrown, tc.want)
			}
		}
		if res := w.call(a, "inc"); decodeValue(t, res.Value) != int64(2) {
			t.Fatalf("the instance was not kept: %v", decodeValue(t, res.Value))
		}
		// No such class.
		res := w.call(ref("Nope", "x"), "inc")
		if res.Outcome != OutcomeException || !res.Reset || res.Thrown == nil || !strings.Contains(res.Thrown.Message, `class named "Nope"`) {
			t.Errorf("no class: %s %+v", res.Outcome, res.Thrown)
		}
	})
}

// TestObjectCPUOverrun: an event over its CPU limit ends exceededCpu and
// drops the instance; the next event makes a new one.
func TestObjectCPUOverrun(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		w := newObjWorld(t, kind, counterSrc)
		w.code.Limits = &Limits{CPUMs: 50}
		a := ref("Counter", "a")
		w.call(a, "inc")
		w.call(a, "inc")
		res := w.call(a, "spin")
		if res.Outcome != OutcomeExceededCPU || !res.Reset || res.Writes != nil {
			t.Fatalf("spin: %s %s reset=%v", res.Outcome, res.Error, res.Reset)
		}
		if res := w.call(a, "inc"); res.Outcome != OutcomeOK || decodeValue(t, res.Value) != int64(1) {
			t.Fatalf("after the overrun: %s %v, want a new instance", res.Outcome, decodeValue(t, res.Value))
		}
	})
}

// TestObjectMemoryBomb: in a sandbox worker, an event that grows the heap
// past memoryMb ends exceededMemory and drops the instance; so does one
// that asks for more than memoryMb at once, refused before it is made
// (it used to end the worker, in Go's allocator); a worker that dies
// during an event (killed here) drops every instance in it; the runtime
// keeps working.
func TestObjectMemoryBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	w := newObjWorld(t, Sandboxed, `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.n = 0; }
  inc() { return ++this.n; }
  bomb() { const a = []; for (;;) a.push(new Uint8Array(1 << 20)); }
  huge() { return new ArrayBuffer(2 ** 40).byteLength; }
  spin() { for (;;); }
}`)
	w.code.Limits = &Limits{CPUMs: 5000, MemoryMB: 64, WallMs: 10_000}
	a, b := ref("Counter", "a"), ref("Counter", "b")
	w.call(a, "inc")
	w.call(b, "inc")
	res := w.call(a, "bomb")
	if res.Outcome != OutcomeExceededMemory || !res.Reset {
		t.Fatalf("bomb: %s %s reset=%v", res.Outcome, res.Error, res.Reset)
	}
	if res := w.call(a, "inc"); res.Outcome != OutcomeOK || decodeValue(t, res.Value) != int64(1) {
		t.Fatalf("after the bomb: %s %v", res.Outcome, decodeValue(t, res.Value))
	}
	if res := w.call(b, "inc"); decodeValue(t, res.Value) != int64(2) && decodeValue(t, res.Value) != int64(1) {
		t.Fatalf("another object: %v", decodeValue(t, res.Value))
	}
	if res := w.call(a, "inc"); decodeValue(t, res.Value) != int64(2) {
		t.Fatalf("before the huge allocation: %v", decodeValue(t, res.Value))
	}
	res = w.call(a, "huge")
	if res.Outcome != OutcomeExceededMemory || !res.Reset {
		t.Fatalf("huge: %s %s reset=%v", res.Outcome, res.Error, res.Reset)
	}
	if res := w.call(a, "inc"); decodeValue(t, res.Value) != int64(1) {
		t.Fatalf("after the huge allocation: %v", decodeValue(t, res.Value))
	}

	s := w.rt.sandbox
	set := s.objectSetOf(a.Key())
	pid := set.objw[set.home(a.Key())].lease.PID()
	cpu0, err := procCPUTicks(pid)
	if err != nil {
		t.Skipf("no CPU time of the worker to see it spin: %v", err)
	}
	spun := make(chan *ObjectResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		spun <- w.event(ctx, &ObjectEvent{Object: a, Kind: ObjectCall, Method: "spin"})
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		if c, err := procCPUTicks(pid); err != nil || c >= cpu0+3 {
			break // it spins (30 ms of CPU), or is gone already
		}
		if time.Now().After(deadline) {
			t.Fatal("the spinning event never ran")
		}
	}
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
	res = <-spun
	if res.Outcome == OutcomeOK || !res.Reset {
		t.Fatalf("killed during the event: %s %s reset=%v", res.Outcome, res.Error, res.Reset)
	}
	for _, r := range []ObjectRef{a, b} {
		if res := w.call(r, "inc"); res.Outcome != OutcomeOK {
			t.Fatalf("after the crash: %s %s", res.Outcome, res.Error)
		}
	}
	if r := run(t, w.rt, js("m.js", `export default { fetch() { return new Response("one-shot") } }`), nil); r.Outcome != OutcomeOK {
		t.Fatalf("a one-shot call after: %s %s", r.Outcome, r.Error)
	}
}

// procCPUTicks is the CPU time process pid has used, in clock ticks.
func procCPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	return u + s, errors.Join(err1, err2)
}

// TestObjectBlockConcurrencyWhileFails: a constructor whose
// blockConcurrencyWhile callback rejects fails the event and leaves no
// instance.
func TestObjectBlockConcurrencyWhileFails(t *testing.T) {
	bothExecutors(t, func(t *testing.T, kind ExecutorKind) {
		w := newObjWorld(t, kind, `import { DurableObject } from "cloudflare:workers";
let made = 0;
export class Counter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    made++;
    ctx.blockConcurrencyWhile(async () => { await null; if (made === 1) throw new Error("not ready"); });
  }
  made() { return made; }
}`)
		a := ref("Counter", "a")
		res := w.call(a, "made")
		if res.Outcome != OutcomeException || !res.Reset || res.Thrown == nil || res.Thrown.Message != "not ready" {
			t.Fatalf("first: %s reset=%v %+v", res.Outcome, res.Reset, res.Thrown)
		}
		// A new runtime (module state is per instance): made is 1 again.
		res = w.call(a, "made")
		if res.Outcome != OutcomeException || !res.Reset {
			t.Fatalf("second: %s reset=%v %+v", res.Outcome, res.Reset, res.Thrown)
		}
	})
}

// BenchmarkObjectCall is one "call" event to a live instance.
func BenchmarkObjectCall(b *testing.B) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		b.Run(string(kind), func(b *testing.B) {
			w := newObjWorld(b, kind, counterSrc)
			a := ref("Counter", "a")
			args := encodeArgs(b, 1)
			ctx := context.Background()
			host := &objHost{w: w, ref: a}
			ev := &ObjectEvent{Object: a, Kind: ObjectCall, Method: "inc", Args: args, Code: w.code, Bindings: testBindings, Epoch: 1}
			if res := w.rt.RunObject(ctx, ev, host); res.Outcome != OutcomeOK {
				b.Fatalf("%s %s", res.Outcome, res.Error)
			}
			b.ResetTimer()
			for b.Loop() {
				if res := w.rt.RunObject(ctx, ev, host); res.Outcome != OutcomeOK {
					b.Fatalf("%s %s", res.Outcome, res.Error)
				}
			}
		})
	}
}

// TestObjectEvictionBounds: idle instances go after ObjectIdleTimeout, and
// at most jsengine.MaxLiveObjects stay live (the least recently used goes).
func TestObjectEvictionBounds(t *testing.T) {
	w := newObjWorld(t, InProcess, counterSrc)
	a, b := ref("Counter", "a"), ref("Counter", "b")
	inc := func(r ObjectRef) any { return decodeValue(t, w.call(r, "inc").Value) }
	inc(a)
	inc(a)
	old := ObjectIdleTimeout
	ObjectIdleTimeout = 0
	inc(b) // sweeps a, idle for more than 0
	ObjectIdleTimeout = old
	if got := inc(a); got != int64(1) {
		t.Fatalf("after the idle timeout: %v, want a new instance", got)
	}
	for i := range jsengine.MaxLiveObjects {
		inc(ref("Counter", fmt.Sprint(i)))
	}
	if got := inc(a); got != int64(1) {
		t.Fatalf("after %d other objects: %v, want a new instance", jsengine.MaxLiveObjects, got)
	}
	if got := inc(ref("Counter", fmt.Sprint(jsengine.MaxLiveObjects-1))); got != int64(2) {
		t.Fatalf("a recent object: %v, want its instance kept", got)
	}
}

// TestObjectWorkerLost: a leased worker that dies between events takes
// its instances with it; the next event runs on a new worker, unharmed.
func TestObjectWorkerLost(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	w := newObjWorld(t, Sandboxed, counterSrc)
	a := ref("Counter", "a")
	w.call(a, "inc")
	w.call(a, "inc")
	s := w.rt.sandbox
	set := s.objectSetOf(a.Key())
	lease := set.objw[set.home(a.Key())].lease
	pid := lease.PID()
	if pid == 0 {
		t.Fatal("no leased worker")
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.pool.Stats().Leased != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the killed worker was not reaped")
		}
		time.Sleep(time.Millisecond)
	}
	res := w.call(a, "inc")
	if res.Outcome != OutcomeOK || decodeValue(t, res.Value) != int64(1) {
		t.Fatalf("after the worker died: %s %s %v", res.Outcome, res.Error, decodeValue(t, res.Value))
	}
}

// TestObjectsOfTwoWorkersApart: the live objects of two deployed Workers
// (two tenants) are kept in different worker processes; past
// maxObjectSets Workers, the least recently used one's workers end, and
// its objects are made again at their next event.
func TestObjectsOfTwoWorkersApart(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	w := newObjWorld(t, Sandboxed, counterSrc)
	of := func(worker string) ObjectRef {
		return ObjectRef{Worker: worker, Class: "Counter", ID: jsengine.ObjectID(worker, "Counter", "x"), Name: "x"}
	}
	inc := func(r ObjectRef) any {
		t.Helper()
		res := w.call(r, "inc")
		if res.Outcome != OutcomeOK {
			t.Fatalf("%s: %s %s", r.Worker, res.Outcome, res.Error)
		}
		return decodeValue(t, res.Value)
	}
	s := w.rt.sandbox
	pidOf := func(r ObjectRef) int {
		set := s.objectSetOf(r.Key())
		if set == nil {
			return 0
		}
		return set.objw[set.home(r.Key())].lease.PID()
	}
	a, b := of("a"), of("b")
	inc(a)
	inc(b)
	if pa, pb := pidOf(a), pidOf(b); pa == 0 || pa == pb {
		t.Fatalf("the objects of Workers a and b live in workers %d and %d", pa, pb)
	}
	if got := inc(a); got != int64(2) {
		t.Fatalf("a's instance: %v, want 2", got)
	}
	for i := range maxObjectSets {
		inc(of(fmt.Sprint("other", i)))
	}
	s.setsMu.Lock()
	n := len(s.sets)
	s.setsMu.Unlock()
	if n != maxObjectSets {
		t.Errorf("%d object sets live, want at most %d", n, maxObjectSets)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.pool.Stats().Leased > maxObjectSets {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers leased for objects, want at most %d", s.pool.Stats().Leased, maxObjectSets)
		}
		time.Sleep(time.Millisecond)
	}
	if got := inc(a); got != int64(1) { // a's set ended, and its instance
		t.Fatalf("a's object after its set ended: %v, want a new instance (1)", got)
	}
}

// TestObjectSetsBounded: events for the objects of many deployed Workers
// at once keep at most maxBusyObjectSets sets, and so a bounded number of
// leased worker processes; the events past it wait for a set and run, but
// an event's call to another Worker's object does not wait. Before, each
// Worker's event made a set and leased a worker of its own: 3 ×
// maxBusyObjectSets Workers at once held as many processes.
func TestObjectSetsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	w := newObjWorld(t, Sandboxed, `import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  async nap(ms) { await new Promise((r) => setTimeout(r, ms)); return 1; }
  async other() { return 1 + await this.env.COUNTER.getByName("x").nap(1); }
}
export default { fetch() { return new Response("main") } };`)
	s := w.rt.sandbox
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if l := int64(s.pool.Stats().Leased); l > peak.Load() {
				peak.Store(l)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range 3 * maxBusyObjectSets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker := fmt.Sprint("w", i)
			r := ObjectRef{Worker: worker, Class: "Counter", ID: jsengine.ObjectID(worker, "Counter", "x"), Name: "x"}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			ev := &ObjectEvent{Object: r, Kind: ObjectCall, Method: "nap", Args: encodeArgs(t, 1500), Code: w.code, Bindings: testBindings, Epoch: 1}
			if res := w.rt.RunObject(ctx, ev, &objHost{w: w, ref: r}); res.Outcome != OutcomeOK {
				t.Errorf("%s: %s %s", worker, res.Outcome, res.Error)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	// The workers of an ended set are released in the background: a few
	// may still count while the next set leases its own.
	if p, most := peak.Load(), int64(maxBusyObjectSets+4); p > most {
		t.Errorf("%d workers leased at once for the objects of %d Workers, want at most %d", p, 3*maxBusyObjectSets, most)
	}
	// With every set but one busy, an event of Worker "outer" takes the
	// last, and its call to an object of Worker "w" (the COUNTER
	// binding's) goes past the bound rather than wait for itself; then,
	// every set busy, a new event waits, honouring its context.
	s.setsMu.Lock()
	for name := range s.sets {
		if s.sets[name].busy == 0 {
			delete(s.sets, name)
		}
	}
	for i := len(s.sets); i < maxBusyObjectSets-1; i++ {
		s.sets[fmt.Sprint("busy", i)] = newObjectSet(s.homes)
	}
	for _, set := range s.sets {
		set.busy++
	}
	s.setsMu.Unlock()
	of := func(worker, name string) ObjectRef {
		return ObjectRef{Worker: worker, Class: "Counter", ID: jsengine.ObjectID(worker, "Counter", name), Name: name}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	outer := of("outer", "o")
	if res := w.rt.RunObject(ctx, &ObjectEvent{Object: outer, Kind: ObjectCall, Method: "other", Code: w.code, Bindings: testBindings, Epoch: 1}, &objHost{w: w, ref: outer}); res.Outcome != OutcomeOK || decodeValue(t, res.Value) != int64(2) {
		t.Errorf("a call between objects with one set left: %s %s %+v", res.Outcome, res.Error, res.Exceptions)
	}
	s.setsMu.Lock()
	s.sets["outer"].busy++ // as if its event still ran
	for i := len(s.sets); i < maxBusyObjectSets; i++ {
		s.sets[fmt.Sprint("more", i)] = newObjectSet(s.homes)
		s.sets[fmt.Sprint("more", i)].busy++
	}
	s.setsMu.Unlock()
	wctx, wcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer wcancel()
	late := of("late", "l")
	if res := w.rt.RunObject(wctx, &ObjectEvent{Object: late, Kind: ObjectCall, Method: "nap", Args: encodeArgs(t, 1), Code: w.code, Bindings: testBindings, Epoch: 1}, &objHost{w: w, ref: late}); res.Outcome != OutcomeCanceled {
		t.Errorf("an event while every set is busy: %s %s, want canceled", res.Outcome, res.Error)
	}
	s.setsMu.Lock()
	for _, set := range s.sets {
		if set.busy > 0 {
			set.busy--
		}
	}
	s.setsMu.Unlock()
}

// TestValidateRefName: a stub's call carries the id's name, which must be
// the one the id was made from, and at most 2048 bytes (as the node
// takes): checked before the name is hashed, the guest having chosen its
// length (a call's frame holds 64 MiB).
func TestValidateRefName(t *testing.T) {
	long := strings.Repeat("n", maxObjectIDName+1)
	for _, c := range []struct {
		ref  ObjectRef
		want string
	}{
		{ref("Counter", "a"), ""},
		{ObjectRef{Worker: "w", Class: "Counter", ID: jsengine.ObjectID("w", "Counter", "a"), Name: "b"}, "was not made from the name"},
		{ObjectRef{Worker: "w", Class: "Counter", ID: jsengine.ObjectID("w", "Counter", long), Name: long}, "at most 2048 bytes"},
		{ObjectRef{Worker: "w", Class: "Counter", ID: jsengine.ObjectID("w", "Counter", "a")}, ""},
	} {
		err := validateRef(c.ref)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("name of %d bytes: %v, want %q", len(c.ref.Name), err, c.want)
		}
	}
}

// TestObjectMethodNameBounded: an RPC method's name past 256 bytes is
// refused before it leaves the Worker's host.
func TestObjectMethodNameBounded(t *testing.T) {
	w := newObjWorld(t, InProcess, stubSrc)
	w.code = js("main.js", stubSrc+`
export const probe = { async fetch(req, env) {
  try { await env.COUNTER.getByName("z")["m".repeat(300)](); return new Response("called"); } catch (e) { return new Response(e.message); }
} };`)
	w.code.Modules["main.js"].Source = strings.Replace(w.code.Modules["main.js"].Source, "export default {", "const unused = {", 1) + "\nexport default probe;"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := w.rt.Run(ctx, &Invocation{Code: w.code, Bindings: testBindings, Host: w})
	if r.Outcome != OutcomeOK || !strings.Contains(string(r.Response.Body), "more than 256") {
		t.Fatalf("%s %+v %+v", r.Outcome, r.Response, r.Exceptions)
	}
	if log := w.takeLog(); len(log) != 0 {
		t.Errorf("the host was called: %q", log)
	}
}

// bigNS answers every RPC call with one value, already encoded.
type bigNS struct{ value []byte }

func (n *bigNS) Fetch(context.Context, ObjectRef, *Request) (*Response, error) {
	return nil, errors.New("no fetch")
}

func (n *bigNS) Call(context.Context, ObjectRef, string, []byte) ([]byte, error) {
	return n.value, nil
}

type bigHost struct {
	*memHost
	ns *bigNS
}

func (h *bigHost) DurableObjects(DurableObjectBinding) (DurableObjectNamespace, error) {
	return h.ns, nil
}

// TestRPCDecodeInterrupted: decoding an RPC's large return value (3
// million numbers in 6 MB take seconds, in one Go call the runtime's
// interrupt does not reach) stops at the caller's CPU limit; the caller's
// worker is kept.
func TestRPCDecodeInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	// Where the interrupt is looked at is about the code as built: under
	// -race the decode between two looks ran past the worker's own bound.
	skipUnderRace(t)
	vm := goja.New()
	v, err := vm.RunString("Array(3e6).fill(0)")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := sclone.Encode(vm, v, MaxObjectRPCBytes)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := New(Options{Executor: Sandboxed, Workers: 1, Host: &bigHost{memHost: newMemHost(), ns: &bigNS{value: enc}}, Node: "test", PrepareTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	c := js("main.js", `export default { async fetch(req, env) { const v = await env.BIG.get(env.BIG.idFromName("a")).big(); return new Response(String(v.length)) } }`)
	c.Limits = &Limits{CPUMs: 200, WallMs: 10_000}
	before := rt.Stats().(sandbox.Stats)
	start := time.Now()
	res := rt.Run(context.Background(), &Invocation{Code: c, Bindings: map[string]Binding{"BIG": {DurableObject: &DurableObjectBinding{Worker: "w", Class: "Big"}}}})
	took := time.Since(start)
	after := rt.Stats().(sandbox.Stats)
	if res.Outcome != OutcomeExceededCPU {
		t.Errorf("outcome %s %s", res.Outcome, res.Error)
	}
	if after.Killed != before.Killed || after.Crashed != before.Crashed {
		t.Errorf("it cost its worker: killed %d, crashed %d (in %v)", after.Killed-before.Killed, after.Crashed-before.Crashed, took)
	}
}
