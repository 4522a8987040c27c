package isolate

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/jsengine"
)

func validateRef(r ObjectRef) error {
	if err := validObjectName("worker", r.Worker); err != nil {
		return err
	}
	if err := validObjectName("class", r.Class); err != nil {
		return err
	}
	if !IsObjectID(r.ID) {
		return fmt.Errorf("object id %q is not 64 lower-case hex characters", r.ID)
	}
	if !ObjectIDBelongs(r.Worker, r.Class, r.ID) {
		return fmt.Errorf("the Durable Object id %s was made by another namespace than class %s of Worker %s", r.ID, r.Class, r.Worker)
	}
	// The object sees the name as ctx.id.name: a guest's stub may carry
	// only the one the id was made from (idFromName), not any it claims.
	// Its length is checked before it is hashed: the guest chose it.
	if len(r.Name) > maxObjectIDName {
		return fmt.Errorf("a Durable Object's name is at most %d bytes, not %d", maxObjectIDName, len(r.Name))
	}
	if r.Name != "" && ObjectIDFromName(r.Worker, r.Class, r.Name) != r.ID {
		return fmt.Errorf("the Durable Object id %s was not made from the name %q", r.ID, r.Name)
	}
	return nil
}

// maxObjectName bounds a Durable Object binding's worker and class names.
const maxObjectName = 256

// maxObjectIDName bounds the name an object's id is made from, that a
// call to it carries (as the node does).
const maxObjectIDName = 2048

// validObjectName checks a worker or class name of a Durable Object
// binding: non-empty, at most maxObjectName bytes of printable ASCII other
// than spaces (a class name is a JS identifier; a worker name a deployed
// Worker's).
func validObjectName(what, s string) error {
	if s == "" {
		return fmt.Errorf("durableObject needs %s", what)
	}
	if len(s) > maxObjectName {
		return fmt.Errorf("durableObject %s is %d bytes, more than %d", what, len(s), maxObjectName)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return fmt.Errorf("durableObject %s %q: only printable ASCII without spaces", what, s)
		}
	}
	return nil
}

// IsObjectID reports whether s is a Durable Object id: 64 lower-case hex
// characters.
func IsObjectID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ObjectIDBelongs reports whether id (64 lower-case hex characters) may
// name an object of worker's class: false only for a newUniqueId id of
// another namespace. Ids made from a name, and unique ids made before they
// named their namespace, belong to any.
func ObjectIDBelongs(worker, class, id string) bool {
	return jsengine.ObjectIDBelongs(worker, class, id)
}

// ObjectIDFromName is the id idFromName(name) gives in a Worker for the
// class of worker: the same on every node.
func ObjectIDFromName(worker, class, name string) string {
	return jsengine.ObjectID(worker, class, name)
}

// ObjectEvent is one event for a live object.
type ObjectEvent struct {
	Object ObjectRef
	// Epoch: a live instance made under another epoch, or another code
	// hash, is discarded first.
	Epoch uint64
	// Code is the deployed Worker's code object (prepared and cached by
	// hash like Invocation.Code). Its main module exports the class.
	Code *Code
	// Env is the env of the instance (nil: Code.Env).
	Env      map[string]json.RawMessage
	Bindings map[string]Binding
	// Limits are per event: CPU, wall time, memory growth during the
	// event, subrequests. Zero fields: Code.Limits, then the defaults.
	Limits  Limits
	Kind    string   // ObjectFetch, ObjectCall, ObjectAlarm
	Request *Request // fetch
	Method  string   // call
	Args    []byte   // call: the arguments array, structured-clone encoded (see sclone)
}

// ObjectHost is what the node lends to a live object: everything Host does
// (fetch, KV, Durable Object stubs), plus its own committed storage.
type ObjectHost interface {
	Host
	// StorageGet reads committed values; absent keys are absent.
	StorageGet(ctx context.Context, keys []string) (map[string][]byte, error)
	// StorageList lists committed entries in key order (reversed if asked).
	StorageList(ctx context.Context, opts StorageListOptions) ([]StorageEntry, error)
	// StorageCommit is a mid-event flush: it returns once b is committed.
	StorageCommit(ctx context.Context, b *StorageBatch) error
	// GetAlarm returns the committed alarm, unix ms; 0 = none.
	GetAlarm(ctx context.Context) (int64, error)
}

// ObjectIdleTimeout is how long a live instance may go without an event
// before it is evicted (lazily, when the engine holding it runs its next
// event). It is read at each event.
var ObjectIdleTimeout = 30 * time.Second

// RunObject runs one event of a Durable Object in its live instance,
// creating the instance (running the class's constructor) if there is none
// or it was made under another epoch or code. Events of one object must not
// overlap: the caller runs them one at a time. Every failure, the guest's
// or ours, is described in the result.
func (rt *Runtime) RunObject(ctx context.Context, ev *ObjectEvent, host ObjectHost) *ObjectResult {
	start := time.Now()
	res := rt.runObject(ctx, ev, host)
	rt.finishResult(&res.Result, start)
	return res
}

func (rt *Runtime) runObject(ctx context.Context, ev *ObjectEvent, host ObjectHost) *ObjectResult {
	if ev == nil || ev.Code == nil {
		return contract.ObjectFailure(OutcomeInternalError, "isolate: no code")
	}
	if err := validateRef(ev.Object); err != nil {
		return contract.ObjectFailure(OutcomeInternalError, "isolate: "+err.Error())
	}
	switch ev.Kind {
	case ObjectFetch, ObjectCall, ObjectAlarm:
	default:
		return contract.ObjectFailure(OutcomeInternalError, fmt.Sprintf("isolate: unknown object event kind %q", ev.Kind))
	}
	c := ev.Code
	if c.sealed == "" {
		if err := c.Validate(); err != nil {
			return &ObjectResult{Result: *contract.ExceptionResult("Error", err.Error(), ""), Reset: true}
		}
	}
	env := ev.Env
	if env == nil {
		env = c.Env
	}
	if err := ValidateBindings(ev.Bindings, env); err != nil {
		return &ObjectResult{Result: *contract.ExceptionResult("Error", err.Error(), ""), Reset: true}
	}
	limits := ev.Limits
	if c.Limits != nil {
		limits = limitsWithDefaults(limits, *c.Limits)
	}
	limits = limitsWithDefaults(limits, rt.opts.Defaults)
	if limits.MemoryMB > rt.opts.MaxMemoryMB {
		return contract.ObjectFailure(OutcomeDenied, fmt.Sprintf("limits.memoryMb %d exceeds this runtime's maximum of %d", limits.MemoryMB, rt.opts.MaxMemoryMB))
	}
	if limits.WallMs > rt.opts.MaxWallMs {
		return contract.ObjectFailure(OutcomeDenied, fmt.Sprintf("limits.wallMs %d exceeds this runtime's maximum of %d", limits.WallMs, rt.opts.MaxWallMs))
	}
	if main := c.Modules[c.MainModule]; main != nil && main.Kind == ModuleWasm {
		return &ObjectResult{Result: *contract.ExceptionResult("TypeError", "a WASI command cannot export a Durable Object class", ""), Reset: true}
	}
	if main := c.Modules[c.MainModule]; main != nil && main.Kind == ModulePython {
		return &ObjectResult{Result: *contract.ExceptionResult("TypeError", "Durable Object classes are for JavaScript Workers: this code's main module is Python", ""), Reset: true}
	}
	p, fail := rt.prepare(ctx, c, Sched{})
	if fail != nil {
		return &ObjectResult{Result: *fail, Reset: true}
	}
	req := ev.Request
	if req == nil {
		req = &Request{}
	}
	d := &dispatcher{bindings: ev.Bindings, host: host, obj: host, program: p, cache: rt.cache, subrequests: limits.SubRequests}
	r := &contract.ObjectRequest{
		ExecRequest: contract.ExecRequest{Hash: p.Hash, Request: req, Env: env, Bindings: ev.Bindings, Limits: limits},
		Object:      ev.Object, Epoch: ev.Epoch, Kind: ev.Kind, Method: ev.Method, Args: ev.Args,
		Idle: ObjectIdleTimeout,
	}
	res := rt.exec.runObject(ctx, r, d.call)
	res.Writes = res.Writes.PagesAsPuts()
	return res
}

// EvictObject drops the live instance of ref, if any (idempotent): its
// next event re-creates it.
func (rt *Runtime) EvictObject(ref ObjectRef) { rt.exec.evictObject(ref.Key()) }
