package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// hostCall is a request from guest code to its host: the body of the
// callback frames between a sandbox worker and the node, and the argument of
// the in-process dispatcher, so that both executors take one path.
type hostCall struct {
	// Op is the operation (see hostOps); on the wire, its name.
	Op      hostOp         `json:"op"`
	Hash    string         `json:"hash,omitempty"`
	Binding string         `json:"binding,omitempty"` // the name in env
	Method  string         `json:"method,omitempty"`  // kv: get, put, delete, list
	Key     string         `json:"key,omitempty"`
	Value   []byte         `json:"value,omitempty"`
	Get     *KVGetOptions  `json:"get,omitempty"`
	Put     *KVPutOptions  `json:"put,omitempty"`
	List    *KVListOptions `json:"list,omitempty"`
	Request *Request       `json:"request,omitempty"`
	// Object is the object a stub call (opDOFetch, opDOCall) reaches;
	// Args the encoded arguments of opDOCall (Method names the method).
	Object *ObjectRef `json:"object,omitempty"`
	Args   []byte     `json:"args,omitempty"`
	// Keys are the keys of opStorageGet; StorageList the options of
	// opStorageList; Batch the writes of opStorageCommit.
	Keys        []string            `json:"keys,omitempty"`
	StorageList *StorageListOptions `json:"storageList,omitempty"`
	Batch       *StorageBatch       `json:"batch,omitempty"`
	// ID, from a sandbox worker, starts the call instead of making it: the
	// node answers at once, and a later opWait call collects the answer.
	// Only an async op (hostOpInfo.async) may be started.
	ID int64 `json:"id,omitempty"`
	// WaitUs bounds how long an opWait call waits for an answer, in
	// microseconds.
	WaitUs int64 `json:"waitUs,omitempty"`
	// Result is the result so far of an opRespond call: the response is
	// ready, ctx.waitUntil work goes on. It crosses a worker's channel in
	// the binary form of results (see encodeRespond).
	Result *Result `json:"-"`
}

// respondTag starts an opRespond call on a worker's channel, where other
// calls are JSON objects.
const respondTag = 0

// encodeRespond encodes an opRespond call for a worker's channel.
func encodeRespond(res *Result) []byte { return append([]byte{respondTag}, encodeResult(res)...) }

// decodeHostCall decodes a call from a worker's channel, refusing one
// without a known op, and the start of one that is not async.
func decodeHostCall(msg []byte) (*hostCall, error) {
	if len(msg) > 0 && msg[0] == respondTag {
		res, err := decodeResult(msg[1:])
		if err != nil {
			return nil, fmt.Errorf("bad respond call: %w", err)
		}
		return &hostCall{Op: opRespond, Result: res}, nil
	}
	var c hostCall
	if err := json.Unmarshal(msg, &c); err != nil {
		return nil, fmt.Errorf("bad host call: %w", err)
	}
	if !c.Op.valid() {
		return nil, errors.New("bad host call: no op")
	}
	if c.ID != 0 && !c.Op.info().async {
		return nil, fmt.Errorf("bad host call: %s cannot be started", c.Op)
	}
	return &c, nil
}

// hostReply answers a hostCall.
type hostReply struct {
	// ID, in the answer to an opWait call, names the started call
	// answered (0: none answered in time).
	ID int64 `json:"id,omitempty"`
	// Error is the failure of the call, Code its code (see errorCode);
	// the guest sees KV codes as err.code.
	Error    string      `json:"error,omitempty"`
	Code     hostErrCode `json:"code,omitempty"`
	Response *Response   `json:"response,omitempty"`
	Program  *program    `json:"program,omitempty"`
	Entry    *KVEntry    `json:"entry,omitempty"`
	Keys     *KVList     `json:"keys,omitempty"`
	// Entries answer opStorageGet and opStorageList; Alarm answers
	// opStorageAlarm.
	Entries []StorageEntry `json:"entries,omitempty"`
	Alarm   int64          `json:"alarm,omitempty"`
	// Value is the encoded return value of opDOCall (nil: undefined);
	// Thrown the error the object threw.
	Value  []byte       `json:"value,omitempty"`
	Thrown *ObjectError `json:"thrown,omitempty"`
}

// err is the reply's failure as an error with its code, nil if none.
func (r *hostReply) err() error {
	if r.Error == "" {
		return nil
	}
	return &hostError{code: r.Code, msg: r.Error}
}

// hostFunc carries host calls out of the isolate.
type hostFunc func(ctx context.Context, c *hostCall) (*hostReply, error)

// hostConn is how an engine reaches its host during one invocation.
type hostConn interface {
	// call makes a host call and waits for its answer.
	call(ctx context.Context, c *hostCall) (*hostReply, error)
	// start begins a host call of an async op, whose answer next returns
	// later, under id: the event loop goes on meanwhile.
	start(ctx context.Context, c *hostCall, id int64)
	// next waits at most d (d < 0: until ctx ends) for the answer of a
	// started call; ok is false when none came. d == 0 asks for one
	// already in. An error means the host cannot be reached any more.
	next(ctx context.Context, d time.Duration) (a hostAnswer, ok bool, err error)
}

// hostAnswer is the answer to a started host call.
type hostAnswer struct {
	id  int64
	rep *hostReply
	err error
}

// goHost is the hostConn of an engine in the node's process: a started
// call runs on its own goroutine.
type goHost struct {
	f       hostFunc
	answers chan hostAnswer
	tm      *time.Timer
}

func newGoHost(f hostFunc) *goHost { return &goHost{f: f} }

func (h *goHost) call(ctx context.Context, c *hostCall) (*hostReply, error) { return h.f(ctx, c) }

func (h *goHost) start(ctx context.Context, c *hostCall, id int64) {
	if h.answers == nil { // most calls make none
		h.answers = make(chan hostAnswer, 16)
	}
	go func() {
		rep, err := h.f(ctx, c)
		select {
		case h.answers <- hostAnswer{id, rep, err}:
		case <-ctx.Done(): // the invocation is over
		}
	}()
}

func (h *goHost) next(ctx context.Context, d time.Duration) (hostAnswer, bool, error) {
	if d == 0 {
		select {
		case a := <-h.answers:
			return a, true, nil
		default:
			return hostAnswer{}, false, nil
		}
	}
	var timeout <-chan time.Time
	if d > 0 {
		if h.tm == nil {
			h.tm = time.NewTimer(d)
		} else {
			h.tm.Reset(d)
		}
		defer h.tm.Stop()
		timeout = h.tm.C
	}
	select {
	case a := <-h.answers:
		return a, true, nil
	case <-timeout:
	case <-ctx.Done():
	}
	return hostAnswer{}, false, nil
}

// ipcHost is the hostConn of a sandbox worker. The worker's channel to the
// node carries one call at a time, so a call that answers later (a fetch)
// must not hold it: it is started (the node runs it and answers at once)
// and its answer is collected by an opWait call when the event loop would
// otherwise block. All calls go from the loop's goroutine, so the channel
// is free whenever the guest runs: for other calls, and for the response.
type ipcHost struct {
	send     func(*hostCall) (*hostReply, error)
	failed   []hostAnswer // calls that could not be started
	lastPoll time.Time
}

// pollEvery spaces the opWait calls that only ask whether an answer is in
// (while timers are due), so a timer flood does not make one round trip
// per timer.
const pollEvery = time.Millisecond

func (h *ipcHost) call(_ context.Context, c *hostCall) (*hostReply, error) { return h.send(c) }

func (h *ipcHost) start(_ context.Context, c *hostCall, id int64) {
	c.ID = id
	if _, err := h.send(c); err != nil {
		h.failed = append(h.failed, hostAnswer{id: id, err: err})
	}
}

func (h *ipcHost) next(_ context.Context, d time.Duration) (hostAnswer, bool, error) {
	if len(h.failed) > 0 {
		a := h.failed[0]
		h.failed = h.failed[1:]
		return a, true, nil
	}
	now := time.Now()
	if d == 0 && now.Sub(h.lastPoll) < pollEvery {
		return hostAnswer{}, false, nil
	}
	h.lastPoll = now
	// The loop bounds d by its deadline; a worker has no other way to
	// end a wait.
	rep, err := h.send(&hostCall{Op: opWait, WaitUs: max(d.Microseconds(), 0)})
	if err != nil {
		return hostAnswer{}, false, fmt.Errorf("waiting for the host: %w", err)
	}
	if rep.ID == 0 {
		return hostAnswer{}, false, nil
	}
	return hostAnswer{id: rep.ID, rep: rep}, true, nil
}

// dispatcher answers an invocation's host calls on the node's side, each
// by its op's side (see hostOps): the Runtime's (program, onRespond), the
// Host's, or the ObjectHost's (obj).
type dispatcher struct {
	bindings map[string]Binding
	host     Host
	// obj answers the sideObject ops of a live object's event (nil:
	// none).
	obj ObjectHost
	// program answers opCode for its hash.
	program *program
	// onRespond answers opRespond (nil: refused).
	onRespond func(*Result)
}

func (d *dispatcher) call(ctx context.Context, c *hostCall) (*hostReply, error) {
	switch c.Op.info().side {
	case sideRuntime:
		return d.runtime(c)
	case sideHost:
		return d.hostOp(ctx, c)
	case sideObject:
		if d.obj != nil {
			return d.storage(ctx, c), nil
		}
	}
	return nil, hostErrorf(codeInvalid, "host: %s calls are not answered here", c.Op)
}

// runtime answers the sideRuntime ops.
func (d *dispatcher) runtime(c *hostCall) (*hostReply, error) {
	switch c.Op {
	case opCode:
		if d.program != nil && c.Hash == d.program.Hash {
			return &hostReply{Program: d.program}, nil
		}
		return nil, hostErrorf(codeInternal, "host: no code %s", c.Hash)
	case opRespond:
		if d.onRespond != nil {
			if c.Result != nil {
				d.onRespond(c.Result)
			}
			return &hostReply{}, nil
		}
	}
	return nil, hostErrorf(codeInvalid, "host: %s calls are not answered here", c.Op)
}

// hostOp answers the sideHost ops.
func (d *dispatcher) hostOp(ctx context.Context, c *hostCall) (*hostReply, error) {
	switch c.Op {
	case opFetch:
		if c.Request == nil {
			return nil, hostErrorf(codeInvalid, "host: fetch without a request")
		}
		if d.host == nil {
			return failReply(c.Op, hostErrorf(codeUnavailable, "%s", ErrNoEgress)), nil
		}
		resp, err := d.host.Fetch(ctx, c.Request)
		if err != nil {
			return failReply(c.Op, err), nil
		}
		return &hostReply{Response: resp}, nil
	case opKV:
		return d.kv(ctx, c), nil
	case opDOFetch, opDOCall:
		return d.object(ctx, c), nil
	}
	return nil, hostErrorf(codeInvalid, "host: %s calls are not answered here", c.Op)
}

// object makes a Durable Object stub's call.
func (d *dispatcher) object(ctx context.Context, c *hostCall) *hostReply {
	invalid := func(format string, args ...any) *hostReply {
		return failReply(c.Op, hostErrorf(codeInvalid, format, args...))
	}
	b, ok := d.bindings[c.Binding]
	if !ok || b.DurableObject == nil {
		return invalid("%q is not a Durable Object binding", c.Binding)
	}
	if c.Object == nil {
		return invalid("no object named")
	}
	ref := ObjectRef{Worker: b.DurableObject.Worker, Class: b.DurableObject.Class, ID: c.Object.ID, Name: c.Object.Name}
	if err := ref.validate(); err != nil {
		return invalid("%s", err)
	}
	if d.host == nil {
		return failReply(c.Op, hostErrorf(codeUnavailable, "%s", errNoObjects))
	}
	ns, err := d.host.DurableObjects(*b.DurableObject)
	if err != nil {
		return failReply(c.Op, err)
	}
	fail := func(err error) *hostReply {
		var oe *ObjectError
		if errors.As(err, &oe) {
			return &hostReply{Thrown: &ObjectError{Name: oe.Name, Message: oe.Message}}
		}
		return failReply(c.Op, err)
	}
	if c.Op == opDOFetch {
		if c.Request == nil {
			return invalid("no request")
		}
		resp, err := ns.Fetch(ctx, ref, c.Request)
		if err != nil {
			return fail(err)
		}
		if resp == nil {
			return failReply(c.Op, hostErrorf(codeInternal, "the object returned no response"))
		}
		return &hostReply{Response: resp}
	}
	v, err := ns.Call(ctx, ref, c.Method, c.Args)
	if err != nil {
		return fail(err)
	}
	return &hostReply{Value: v}
}

//lint:ignore ST1005 "Durable Objects" is a proper noun
var errNoObjects = errors.New("Durable Objects are not available on this runtime")

// storage answers the sideObject ops: a live object's storage.
func (d *dispatcher) storage(ctx context.Context, c *hostCall) *hostReply {
	switch c.Op {
	case opStorageGet:
		m, err := d.obj.StorageGet(ctx, c.Keys)
		if err != nil {
			return failReply(c.Op, err)
		}
		entries := make([]StorageEntry, 0, len(m))
		for _, k := range c.Keys {
			if v, ok := m[k]; ok {
				entries = append(entries, StorageEntry{Key: k, Value: v})
			}
		}
		return &hostReply{Entries: entries}
	case opStorageList:
		var opts StorageListOptions
		if c.StorageList != nil {
			opts = *c.StorageList
		}
		entries, err := d.obj.StorageList(ctx, opts)
		if err != nil {
			return failReply(c.Op, err)
		}
		return &hostReply{Entries: entries}
	case opStorageCommit:
		if c.Batch == nil {
			return &hostReply{}
		}
		if err := d.obj.StorageCommit(ctx, c.Batch); err != nil {
			return failReply(c.Op, err)
		}
		return &hostReply{}
	case opStorageAlarm:
		t, err := d.obj.GetAlarm(ctx)
		if err != nil {
			return failReply(c.Op, err)
		}
		return &hostReply{Alarm: t}
	}
	return failReply(c.Op, hostErrorf(codeInvalid, "host: %s calls are not answered here", c.Op))
}

func (d *dispatcher) kv(ctx context.Context, c *hostCall) *hostReply {
	fail := func(err error) *hostReply { return failReply(c.Op, err) }
	b, ok := d.bindings[c.Binding]
	if !ok || b.KV == "" {
		return fail(hostErrorf(codeInvalid, "%q is not a KV binding", c.Binding))
	}
	if d.host == nil {
		return fail(hostErrorf(codeUnavailable, "this runtime has no KV storage"))
	}
	ns, err := d.host.KV(b.KV)
	if err != nil {
		return fail(err)
	}
	switch c.Method {
	case "get":
		var opts KVGetOptions
		if c.Get != nil {
			opts = *c.Get
		}
		e, err := ns.Get(ctx, c.Key, opts)
		if err != nil {
			return fail(err)
		}
		return &hostReply{Entry: e}
	case "put":
		var opts KVPutOptions
		if c.Put != nil {
			opts = *c.Put
		}
		if err := ns.Put(ctx, c.Key, c.Value, opts); err != nil {
			return fail(err)
		}
		return &hostReply{}
	case "delete":
		if err := ns.Delete(ctx, c.Key); err != nil {
			return fail(err)
		}
		return &hostReply{}
	case "list":
		var opts KVListOptions
		if c.List != nil {
			opts = *c.List
		}
		l, err := ns.List(ctx, opts)
		if err != nil {
			return fail(err)
		}
		return &hostReply{Keys: l}
	}
	return fail(hostErrorf(codeInvalid, "unknown KV method %q", c.Method))
}
