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
	// Op is "code", "fetch", "kv", "respond"; from a sandbox worker also
	// "wait"; Durable Object stubs: "do.fetch", "do.call"; a live
	// object's storage: "sget", "slist", "scommit", "salarm".
	Op      string         `json:"op"`
	Hash    string         `json:"hash,omitempty"`
	Binding string         `json:"binding,omitempty"` // the name in env
	Method  string         `json:"method,omitempty"`  // kv: get, put, delete, list
	Key     string         `json:"key,omitempty"`
	Value   []byte         `json:"value,omitempty"`
	Get     *KVGetOptions  `json:"get,omitempty"`
	Put     *KVPutOptions  `json:"put,omitempty"`
	List    *KVListOptions `json:"list,omitempty"`
	Request *Request       `json:"request,omitempty"`
	// Object is the object a stub call ("do.fetch", "do.call") reaches;
	// Args the encoded arguments of "do.call" (Method names the method).
	Object *ObjectRef `json:"object,omitempty"`
	Args   []byte     `json:"args,omitempty"`
	// Keys are the keys of "sget"; StorageList the options of "slist";
	// Batch the writes of "scommit".
	Keys        []string            `json:"keys,omitempty"`
	StorageList *StorageListOptions `json:"storageList,omitempty"`
	Batch       *StorageBatch       `json:"batch,omitempty"`
	// ID, from a sandbox worker, starts the call instead of making it: the
	// node answers at once, and a later "wait" call collects the answer.
	ID int64 `json:"id,omitempty"`
	// WaitUs bounds how long a "wait" call waits for an answer, in
	// microseconds.
	WaitUs int64 `json:"waitUs,omitempty"`
	// Result is the result so far of a "respond" call: the response is
	// ready, ctx.waitUntil work goes on. It crosses a worker's channel in
	// the binary form of results (see encodeRespond).
	Result *Result `json:"-"`
}

// respondTag starts a "respond" call on a worker's channel, where other
// calls are JSON objects.
const respondTag = 0

// encodeRespond encodes a "respond" call for a worker's channel.
func encodeRespond(res *Result) []byte { return append([]byte{respondTag}, encodeResult(res)...) }

// decodeHostCall decodes a call from a worker's channel.
func decodeHostCall(msg []byte) (*hostCall, error) {
	if len(msg) > 0 && msg[0] == respondTag {
		res, err := decodeResult(msg[1:])
		if err != nil {
			return nil, fmt.Errorf("bad respond call: %w", err)
		}
		return &hostCall{Op: "respond", Result: res}, nil
	}
	var c hostCall
	if err := json.Unmarshal(msg, &c); err != nil {
		return nil, fmt.Errorf("bad host call: %w", err)
	}
	return &c, nil
}

// hostReply answers a hostCall.
type hostReply struct {
	// ID, in the answer to a "wait" call, names the started call answered
	// (0: none answered in time).
	ID    int64  `json:"id,omitempty"`
	Error string `json:"error,omitempty"`
	// Code is a KV error's code (a KVCode constant), set with Error.
	Code     string    `json:"code,omitempty"`
	Response *Response `json:"response,omitempty"`
	Program  *program  `json:"program,omitempty"`
	Entry    *KVEntry  `json:"entry,omitempty"`
	Keys     *KVList   `json:"keys,omitempty"`
	// Entries answer "sget" and "slist"; Alarm answers "salarm".
	Entries []StorageEntry `json:"entries,omitempty"`
	Alarm   int64          `json:"alarm,omitempty"`
	// Value is the encoded return value of "do.call" (nil: undefined);
	// Thrown the error the object threw.
	Value  []byte       `json:"value,omitempty"`
	Thrown *ObjectError `json:"thrown,omitempty"`
}

// hostFunc carries host calls out of the isolate.
type hostFunc func(ctx context.Context, c *hostCall) (*hostReply, error)

// hostConn is how an engine reaches its host during one invocation.
type hostConn interface {
	// call makes a host call and waits for its answer ("code").
	call(ctx context.Context, c *hostCall) (*hostReply, error)
	// start begins a host call whose answer next returns later, under id
	// (fetch, KV): the event loop goes on meanwhile.
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
// and its answer is collected by a "wait" call when the event loop would
// otherwise block. All calls go from the loop's goroutine, so the channel
// is free whenever the guest runs: for other calls, and for the response.
type ipcHost struct {
	send     func(*hostCall) (*hostReply, error)
	failed   []hostAnswer // calls that could not be started
	lastPoll time.Time
}

// pollEvery spaces the "wait" calls that only ask whether an answer is in
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
	rep, err := h.send(&hostCall{Op: "wait", WaitUs: max(d.Microseconds(), 0)})
	if err != nil {
		return hostAnswer{}, false, fmt.Errorf("waiting for the host: %w", err)
	}
	if rep.ID == 0 {
		return hostAnswer{}, false, nil
	}
	return hostAnswer{id: rep.ID, rep: rep}, true, nil
}

// dispatcher answers an invocation's fetch and binding calls, on the
// node's side ("code" calls are answered by Runtime.run).
type dispatcher struct {
	bindings map[string]Binding
	host     Host
}

func (d *dispatcher) call(ctx context.Context, c *hostCall) (*hostReply, error) {
	switch c.Op {
	case "fetch":
		if c.Request == nil {
			return nil, errors.New("host: fetch without a request")
		}
		if d.host == nil {
			return &hostReply{Error: ErrNoEgress.Error()}, nil
		}
		resp, err := d.host.Fetch(ctx, c.Request)
		if err != nil {
			return &hostReply{Error: err.Error()}, nil
		}
		return &hostReply{Response: resp}, nil
	case "kv":
		return d.kv(ctx, c), nil
	case "do.fetch", "do.call":
		return d.object(ctx, c), nil
	}
	return nil, fmt.Errorf("host: unknown call %q", c.Op)
}

// object makes a Durable Object stub's call.
func (d *dispatcher) object(ctx context.Context, c *hostCall) *hostReply {
	b, ok := d.bindings[c.Binding]
	if !ok || b.DurableObject == nil {
		return &hostReply{Error: fmt.Sprintf("%q is not a Durable Object binding", c.Binding)}
	}
	if c.Object == nil {
		return &hostReply{Error: "no object named"}
	}
	ref := ObjectRef{Worker: b.DurableObject.Worker, Class: b.DurableObject.Class, ID: c.Object.ID, Name: c.Object.Name}
	if err := ref.validate(); err != nil {
		return &hostReply{Error: err.Error()}
	}
	if d.host == nil {
		return &hostReply{Error: errNoObjects.Error()}
	}
	ns, err := d.host.DurableObjects(*b.DurableObject)
	if err != nil {
		return &hostReply{Error: err.Error()}
	}
	fail := func(err error) *hostReply {
		var oe *ObjectError
		if errors.As(err, &oe) {
			return &hostReply{Thrown: &ObjectError{Name: oe.Name, Message: oe.Message}}
		}
		return &hostReply{Error: err.Error()}
	}
	if c.Op == "do.fetch" {
		if c.Request == nil {
			return &hostReply{Error: "no request"}
		}
		resp, err := ns.Fetch(ctx, ref, c.Request)
		if err != nil {
			return fail(err)
		}
		if resp == nil {
			return &hostReply{Error: "the object returned no response"}
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

func (d *dispatcher) kv(ctx context.Context, c *hostCall) *hostReply {
	fail := func(err error) *hostReply { return &hostReply{Error: err.Error(), Code: KVErrorCode(err)} }
	b, ok := d.bindings[c.Binding]
	if !ok || b.KV == "" {
		return &hostReply{Error: fmt.Sprintf("%q is not a KV binding", c.Binding), Code: KVCodeInvalid}
	}
	if d.host == nil {
		return &hostReply{Error: "this runtime has no KV storage", Code: KVCodeUnavailable}
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
	return &hostReply{Error: fmt.Sprintf("unknown KV method %q", c.Method), Code: KVCodeInvalid}
}
