package isolate

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// ObjectRef names one Durable Object.
type ObjectRef struct {
	Worker string `json:"worker"`
	Class  string `json:"class"`
	ID     string `json:"id"`             // 64 lower-case hex characters
	Name   string `json:"name,omitempty"` // when made by idFromName: id.name / ctx.id.name
}

// Key is the object's key: Worker+"\x00"+Class+"\x00"+ID.
func (r ObjectRef) Key() string { return r.Worker + "\x00" + r.Class + "\x00" + r.ID }

func (r ObjectRef) validate() error {
	if err := validObjectName("worker", r.Worker); err != nil {
		return err
	}
	if err := validObjectName("class", r.Class); err != nil {
		return err
	}
	if !isObjectID(r.ID) {
		return fmt.Errorf("object id %q is not 64 lower-case hex characters", r.ID)
	}
	return nil
}

// maxObjectName bounds a Durable Object binding's worker and class names.
const maxObjectName = 256

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

// isObjectID reports whether s is 64 lower-case hex characters.
func isObjectID(s string) bool {
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

// The kinds of ObjectEvent.
const (
	ObjectFetch = "fetch" // instance.fetch(request)
	ObjectCall  = "call"  // instance[method](...args)
	ObjectAlarm = "alarm" // instance.alarm()
)

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

// ObjectResult is what one event gave.
type ObjectResult struct {
	Result // outcome, error, logs, exceptions, telemetry; Response for "fetch"
	// Value is the return value of a "call", structured-clone encoded; nil
	// for undefined.
	Value []byte
	// Thrown is set when the event's handler threw (or the method does not
	// exist, or its value could not be cloned): the error's name and
	// message, for the caller to rethrow (Outcome is then
	// OutcomeException, and Exceptions holds the full exception).
	Thrown *ObjectError
	// Writes are the event's storage writes not committed yet (nil if
	// none): the node commits them before it releases the reply. They are
	// nil when Reset is set: the event's uncommitted writes are discarded.
	Writes *StorageBatch
	// Reset: the live instance is gone (a limit overrun, a crash, a
	// failure in its constructor, a storage failure); the next event
	// re-creates it.
	Reset bool
}

// StorageBatch is one atomic group of writes to one object's storage.
type StorageBatch struct {
	DeleteAll bool         `json:"deleteAll,omitempty"` // applied first
	Puts      []StoragePut `json:"puts,omitempty"`      // in key order
	Deletes   []string     `json:"deletes,omitempty"`   // in key order
	Alarm     *int64       `json:"alarm,omitempty"`     // unix ms; 0 deletes the alarm; nil: unchanged
}

// StoragePut is one written key.
type StoragePut struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// StorageListOptions as ctx.storage.list takes them.
type StorageListOptions struct {
	Start      string `json:"start,omitempty"`
	StartAfter string `json:"startAfter,omitempty"`
	End        string `json:"end,omitempty"`
	Prefix     string `json:"prefix,omitempty"`
	Reverse    bool   `json:"reverse,omitempty"`
	Limit      int    `json:"limit,omitempty"` // 0: none
}

// StorageEntry is one stored key and its (structured-clone encoded) value.
type StorageEntry struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
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

// ObjectError is an error a Durable Object threw, as DurableObjectNamespace
// reports it: a stub rethrows it with that name and message.
type ObjectError struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

func (e *ObjectError) Error() string { return e.Name + ": " + e.Message }

// ObjectIdleTimeout is how long a live instance may go without an event
// before it is evicted (lazily, when the engine holding it runs its next
// event). It is read at each event.
var ObjectIdleTimeout = 30 * time.Second

// Bounds of Durable Object storage (Cloudflare's).
const (
	// MaxStorageKeyBytes bounds a storage key (UTF-8).
	MaxStorageKeyBytes = 2048
	// MaxStorageValueBytes bounds a stored value, structured-clone encoded.
	MaxStorageValueBytes = 128 << 10
	// MaxStorageKeysPerCall bounds the keys of one get, put or delete.
	MaxStorageKeysPerCall = 128
	// MaxStorageBatchBytes bounds the keys and values of the writes one
	// StorageBatch carries: an event's writes past it are committed in
	// more than one batch (each put, delete or transaction stays whole),
	// and one put, delete or transaction over it is a RangeError.
	// It is the replicated store's bound on one atomic batch.
	MaxStorageBatchBytes = 1 << 20
	// MaxStorageBatchKeys bounds the keys one StorageBatch writes, in the
	// same way.
	MaxStorageBatchKeys = 1024
	// MaxObjectRPCBytes bounds the encoded arguments and return value of a
	// Durable Object RPC call.
	MaxObjectRPCBytes = 32 << 20
)

// maxLiveObjects bounds the live instances one engine (a sandbox worker,
// or the in-process executor) keeps; the least recently used goes first.
const maxLiveObjects = 256

// objectRequest is one object event as an engine sees it (and the request
// frame a sandbox worker receives).
type objectRequest struct {
	execRequest
	Object ObjectRef
	Epoch  uint64
	Kind   string
	Method string
	Args   []byte
	// Fresh drops the object's live instance, if any, first (it was
	// evicted since its last event).
	Fresh bool
	// Idle is ObjectIdleTimeout as the node has it (a worker's own copy
	// of the variable is not the node's).
	Idle time.Duration
}

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

func objectFailure(o Outcome, msg string) *ObjectResult {
	return &ObjectResult{Result: *failure(o, msg), Reset: true}
}

func (rt *Runtime) runObject(ctx context.Context, ev *ObjectEvent, host ObjectHost) *ObjectResult {
	if ev == nil || ev.Code == nil {
		return objectFailure(OutcomeInternalError, "isolate: no code")
	}
	if err := ev.Object.validate(); err != nil {
		return objectFailure(OutcomeInternalError, "isolate: "+err.Error())
	}
	switch ev.Kind {
	case ObjectFetch, ObjectCall, ObjectAlarm:
	default:
		return objectFailure(OutcomeInternalError, fmt.Sprintf("isolate: unknown object event kind %q", ev.Kind))
	}
	c := ev.Code
	if c.sealed == "" {
		if err := c.Validate(); err != nil {
			return &ObjectResult{Result: *exceptionResult("Error", err.Error(), ""), Reset: true}
		}
	}
	env := ev.Env
	if env == nil {
		env = c.Env
	}
	if err := ValidateBindings(ev.Bindings, env); err != nil {
		return &ObjectResult{Result: *exceptionResult("Error", err.Error(), ""), Reset: true}
	}
	limits := ev.Limits
	if c.Limits != nil {
		limits = limits.withDefaults(*c.Limits)
	}
	limits = limits.withDefaults(rt.opts.Defaults)
	if limits.MemoryMB > rt.opts.MaxMemoryMB {
		return objectFailure(OutcomeDenied, fmt.Sprintf("limits.memoryMb %d exceeds this runtime's maximum of %d", limits.MemoryMB, rt.opts.MaxMemoryMB))
	}
	if limits.WallMs > rt.opts.MaxWallMs {
		return objectFailure(OutcomeDenied, fmt.Sprintf("limits.wallMs %d exceeds this runtime's maximum of %d", limits.WallMs, rt.opts.MaxWallMs))
	}
	if main := c.Modules[c.MainModule]; main != nil && main.Kind == ModuleWasm {
		return &ObjectResult{Result: *exceptionResult("TypeError", "a WASI command cannot export a Durable Object class", ""), Reset: true}
	}
	p, fail := rt.prepare(ctx, c)
	if fail != nil {
		return &ObjectResult{Result: *fail, Reset: true}
	}
	req := ev.Request
	if req == nil {
		req = &Request{}
	}
	d := &dispatcher{bindings: ev.Bindings, host: host, obj: host, program: p}
	r := &objectRequest{
		execRequest: execRequest{Hash: p.Hash, Request: req, Env: env, Bindings: ev.Bindings, Limits: limits},
		Object:      ev.Object, Epoch: ev.Epoch, Kind: ev.Kind, Method: ev.Method, Args: ev.Args,
		Idle: ObjectIdleTimeout,
	}
	return rt.exec.runObject(ctx, r, d.call)
}

// EvictObject drops the live instance of ref, if any (idempotent): its
// next event re-creates it.
func (rt *Runtime) EvictObject(ref ObjectRef) { rt.exec.evictObject(ref.Key()) }
