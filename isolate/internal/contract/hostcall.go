package contract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// HostCall is a request from guest code to its host: the body of the
// callback frames between a sandbox worker and the node, and the argument of
// the in-process dispatcher, so that both executors take one path.
type HostCall struct {
	// Op is the operation (see HostOps); on the wire, its name.
	Op      HostOp         `json:"op"`
	Hash    string         `json:"hash,omitempty"`
	Binding string         `json:"binding,omitempty"` // the name in env
	Method  string         `json:"method,omitempty"`  // kv: get, getBulk, put, delete, list
	Key     string         `json:"key,omitempty"`
	Value   []byte         `json:"value,omitempty"`
	Get     *KVGetOptions  `json:"get,omitempty"`
	Put     *KVPutOptions  `json:"put,omitempty"`
	List    *KVListOptions `json:"list,omitempty"`
	Request *Request       `json:"request,omitempty"`
	// Object is the object a stub call (OpDOFetch, OpDOCall) reaches;
	// Args the encoded arguments of OpDOCall (Method names the method).
	Object *ObjectRef `json:"object,omitempty"`
	Args   []byte     `json:"args,omitempty"`
	// Keys are the keys of OpStorageGet and of a KV getBulk; StorageList the options of
	// OpStorageList; Batch the writes of OpStorageCommit.
	Keys        []string            `json:"keys,omitempty"`
	StorageList *StorageListOptions `json:"storageList,omitempty"`
	Batch       *StorageBatch       `json:"batch,omitempty"`
	// Pages are the pages OpStoragePages reads: Count pages from From.
	Pages *PageRange `json:"pages,omitempty"`
	// Cache is the argument of OpCache (Method: match, put or delete).
	Cache *CacheCall `json:"cache,omitempty"`
	// ID, from a sandbox worker, starts the call instead of making it: the
	// node answers at once, and a later OpWait call collects the answer.
	// Only an async op (HostOpInfo.Async) may be started.
	ID int64 `json:"id,omitempty"`
	// WaitUs bounds how long an OpWait call waits for an answer, in
	// microseconds.
	WaitUs int64 `json:"waitUs,omitempty"`
	// Result is the result so far of an OpRespond call: the response is
	// ready, ctx.waitUntil work goes on. It crosses a worker's channel in
	// the binary form of results (see EncodeRespond).
	Result *Result `json:"-"`
	// Chunk, End and BodyErr make an OpBody call: the next chunk of a
	// streamed response body, or its end (BodyErr: it failed midway).
	// They cross a worker's channel in a binary form (see EncodeBody).
	Chunk   []byte `json:"-"`
	End     bool   `json:"-"`
	BodyErr string `json:"-"`
	// ReqBody and CacheBody carry the bodies of Request and of Cache's
	// response across a worker's channel (EncodeHostCall).
	ReqBody   []byte `json:"reqBody,omitempty"`
	CacheBody []byte `json:"cacheBody,omitempty"`
}

// On a worker's channel, the bodies of requests and responses travel in
// byte fields of their own, carried beside the JSON as blobs (blobs.go),
// not as the text a valid UTF-8 body is in Request's and Response's JSON:
// escaped, NULs or markup grow to six times their size (a 12 MiB body of
// NULs overflowed the frame), and encoding/json took seconds to write and
// read them (8 MiB: 1.8 s and 2.8 s), the node's share for every fetch.

// EncodeHostCall encodes c, other than OpRespond and OpBody calls, for a
// worker's channel; DecodeHostCall reads it.
func EncodeHostCall(c *HostCall) ([]byte, error) {
	w := *c
	if r := c.Request; r != nil && r.Body != nil {
		cp := *r
		w.ReqBody, cp.Body = r.Body, nil
		w.Request = &cp
	}
	if cc := c.Cache; cc != nil && cc.Response != nil && cc.Response.Body != nil {
		ccp, rp := *cc, *cc.Response
		w.CacheBody, rp.Body = rp.Body, nil
		ccp.Response = &rp
		w.Cache = &ccp
	}
	if w.Batch != nil {
		w.Batch = w.Batch.detach()
	}
	return encodeBlobs(&w, w.eachBytes)
}

// EncodeHostReply encodes r for a worker's channel; DecodeHostReply reads
// it.
func EncodeHostReply(r *HostReply) ([]byte, error) {
	w := *r
	if resp := r.Response; resp != nil && resp.Body != nil {
		cp := *resp
		w.RespBody, cp.Body = resp.Body, nil
		w.Response = &cp
	}
	d := w.detach()
	return encodeBlobs(d, d.eachBytes)
}

// DecodeHostReply is EncodeHostReply's inverse (it also reads a reply in
// plain JSON).
func DecodeHostReply(b []byte) (*HostReply, error) {
	var r HostReply
	if len(b) > 0 && b[0] == blobTag {
		if err := decodeBlobs(b[1:], &r, r.eachBytes); err != nil {
			return nil, err
		}
	} else if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.RespBody != nil {
		if r.Response == nil {
			return nil, errors.New("a response body without a response")
		}
		r.Response.Body, r.RespBody = r.RespBody, nil
	}
	return &r, nil
}

// respondTag starts an OpRespond call on a worker's channel, where other
// calls are JSON objects with their bytes beside them (blobTag, blobs.go);
// bodyTag an OpBody call.
const (
	respondTag = 0
	bodyTag    = 1
)

// EncodeBody encodes an OpBody call for a worker's channel: the tag, a
// flags byte (1: the end), the error's length and bytes, then the chunk.
func EncodeBody(c *HostCall) []byte {
	w := &WBuf{B: make([]byte, 0, 3+len(c.BodyErr)+len(c.Chunk))}
	w.B = append(w.B, bodyTag)
	w.Bool(c.End)
	w.Str(c.BodyErr)
	w.B = append(w.B, c.Chunk...)
	return w.B
}

// decodeBody is EncodeBody's inverse (msg without the tag).
func decodeBody(msg []byte) (*HostCall, error) {
	r := &RBuf{B: msg}
	c := &HostCall{Op: OpBody, End: r.Bool(), BodyErr: r.Str()}
	if r.Err != nil {
		return nil, fmt.Errorf("bad body call: %w", r.Err)
	}
	if len(r.B) > 0 {
		if c.End {
			return nil, errors.New("bad body call: a chunk with the end")
		}
		c.Chunk = append([]byte(nil), r.B...) // the frame's buffer is not ours to keep
	}
	return c, nil
}

// EncodeRespond encodes an OpRespond call for a worker's channel.
func EncodeRespond(res *Result) []byte { return append([]byte{respondTag}, EncodeResult(res)...) }

// DecodeHostCall decodes a call from a worker's channel, refusing one
// without a known op, and the start of one that is not async.
func DecodeHostCall(msg []byte) (*HostCall, error) {
	if len(msg) > 0 && msg[0] == respondTag {
		res, err := DecodeResult(msg[1:])
		if err != nil {
			return nil, fmt.Errorf("bad respond call: %w", err)
		}
		return &HostCall{Op: OpRespond, Result: res}, nil
	}
	if len(msg) > 0 && msg[0] == bodyTag {
		return decodeBody(msg[1:])
	}
	var c HostCall
	if len(msg) > 0 && msg[0] == blobTag {
		if err := decodeBlobs(msg[1:], &c, c.eachBytes); err != nil {
			return nil, fmt.Errorf("bad host call: %w", err)
		}
	} else if err := json.Unmarshal(msg, &c); err != nil {
		return nil, fmt.Errorf("bad host call: %w", err)
	}
	if !c.Op.Valid() {
		return nil, errors.New("bad host call: no op")
	}
	if c.ReqBody != nil {
		if c.Request == nil {
			return nil, errors.New("bad host call: a request body without a request")
		}
		c.Request.Body, c.ReqBody = c.ReqBody, nil
	}
	if c.CacheBody != nil {
		if c.Cache == nil || c.Cache.Response == nil {
			return nil, errors.New("bad host call: a cached body without a response")
		}
		c.Cache.Response.Body, c.CacheBody = c.CacheBody, nil
	}
	if c.ID != 0 && !c.Op.Info().Async {
		return nil, fmt.Errorf("bad host call: %s cannot be started", c.Op)
	}
	return &c, nil
}

// HostReply answers a HostCall.
type HostReply struct {
	// ID, in the answer to an OpWait call, names the started call
	// answered (0: none answered in time).
	ID int64 `json:"id,omitempty"`
	// Error is the failure of the call, Code its code (see ErrorCode);
	// the guest sees KV codes as err.code.
	Error    string      `json:"error,omitempty"`
	Code     HostErrCode `json:"code,omitempty"`
	Response *Response   `json:"response,omitempty"`
	// RespBody carries Response's body across a worker's channel
	// (EncodeHostReply).
	RespBody []byte   `json:"respBody,omitempty"`
	Program  *Program `json:"program,omitempty"`
	Entry    *KVEntry `json:"entry,omitempty"`
	Keys     *KVList  `json:"keys,omitempty"`
	// KVEntries answer a KV getBulk: one per key asked, in order, nil for
	// a key not found.
	KVEntries []*KVEntry `json:"kvEntries,omitempty"`
	// Entries answer OpStorageGet and OpStorageList; Alarm answers
	// OpStorageAlarm.
	Entries []StorageEntry `json:"entries,omitempty"`
	Alarm   int64          `json:"alarm,omitempty"`
	// Pages answer OpStoragePages: the stored pages of the range, in order
	// (a page never written is absent).
	Pages []StoragePage `json:"pages,omitempty"`
	// Value is the encoded return value of OpDOCall (nil: undefined);
	// Thrown the error the object threw.
	Value  []byte       `json:"value,omitempty"`
	Thrown *ObjectError `json:"thrown,omitempty"`
	// Found answers OpCache: a put stored the response, a delete removed
	// one (a match answers with Response, nil for a miss).
	Found bool `json:"found,omitempty"`
}

// CacheCall is a Cache API call: on the cache Name ("" for caches.default)
// for the request URL; Response is the response of a put.
type CacheCall struct {
	Name     string    `json:"name,omitempty"`
	URL      string    `json:"url"`
	Response *Response `json:"response,omitempty"`
}

// Err is the reply's failure as an error with its code, nil if none.
func (r *HostReply) Err() error {
	if r.Error == "" {
		return nil
	}
	return &HostError{code: r.Code, msg: r.Error}
}

// HostFunc carries host calls out of the isolate.
type HostFunc func(ctx context.Context, c *HostCall) (*HostReply, error)

// HostConn is how an engine reaches its host during one invocation.
type HostConn interface {
	// Call makes a host call and waits for its answer.
	Call(ctx context.Context, c *HostCall) (*HostReply, error)
	// Start begins a host call of an async op, whose answer Next returns
	// later, under id: the event loop goes on meanwhile.
	Start(ctx context.Context, c *HostCall, id int64)
	// Next waits at most d (d < 0: until ctx ends) for the answer of a
	// started call; ok is false when none came. d == 0 asks for one
	// already in. An error means the host cannot be reached any more.
	Next(ctx context.Context, d time.Duration) (a HostAnswer, ok bool, err error)
}

// HostAnswer is the answer to a started host call.
type HostAnswer struct {
	ID  int64
	Rep *HostReply
	Err error
}

// goHost is the HostConn of an engine in the node's process: a started
// call runs on its own goroutine.
type goHost struct {
	f       HostFunc
	answers chan HostAnswer
	tm      *time.Timer
}

// NewGoHost returns the HostConn of an engine in the node's process,
// answering calls with f.
func NewGoHost(f HostFunc) HostConn { return &goHost{f: f} }

func (h *goHost) Call(ctx context.Context, c *HostCall) (*HostReply, error) { return h.f(ctx, c) }

func (h *goHost) Start(ctx context.Context, c *HostCall, id int64) {
	if h.answers == nil { // most calls make none
		h.answers = make(chan HostAnswer, 16)
	}
	go func() {
		rep, err := h.f(ctx, c)
		select {
		case h.answers <- HostAnswer{id, rep, err}:
		case <-ctx.Done(): // the invocation is over
			if rep != nil {
				rep.Response.ReleaseBody()
			}
		}
	}()
}

func (h *goHost) Next(ctx context.Context, d time.Duration) (HostAnswer, bool, error) {
	if d == 0 {
		select {
		case a := <-h.answers:
			return a, true, nil
		default:
			return HostAnswer{}, false, nil
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
	return HostAnswer{}, false, nil
}

// IPCHost is the HostConn of a sandbox worker. The worker's channel to the
// node carries one call at a time, so a call that answers later (a fetch)
// must not hold it: it is started (the node runs it and answers at once)
// and its answer is collected by an OpWait call when the event loop would
// otherwise block. All calls go from the loop's goroutine, so the channel
// is free whenever the guest runs: for other calls, and for the response.
type IPCHost struct {
	Send     func(*HostCall) (*HostReply, error)
	failed   []HostAnswer // calls that could not be started
	lastPoll time.Time
}

// pollEvery spaces the OpWait calls that only ask whether an answer is in
// (while timers are due), so a timer flood does not make one round trip
// per timer.
const pollEvery = time.Millisecond

func (h *IPCHost) Call(_ context.Context, c *HostCall) (*HostReply, error) { return h.Send(c) }

func (h *IPCHost) Start(_ context.Context, c *HostCall, id int64) {
	c.ID = id
	switch rep, err := h.Send(c); {
	case err != nil:
		h.failed = append(h.failed, HostAnswer{ID: id, Err: err})
	case rep.Error != "": // refused, not started: its answer is the refusal
		h.failed = append(h.failed, HostAnswer{ID: id, Rep: rep})
	}
}

func (h *IPCHost) Next(_ context.Context, d time.Duration) (HostAnswer, bool, error) {
	if len(h.failed) > 0 {
		a := h.failed[0]
		h.failed = h.failed[1:]
		return a, true, nil
	}
	now := time.Now()
	if d == 0 && now.Sub(h.lastPoll) < pollEvery {
		return HostAnswer{}, false, nil
	}
	h.lastPoll = now
	// The loop bounds d by its deadline; a worker has no other way to
	// end a wait.
	rep, err := h.Send(&HostCall{Op: OpWait, WaitUs: max(d.Microseconds(), 0)})
	if err != nil {
		return HostAnswer{}, false, fmt.Errorf("waiting for the host: %w", err)
	}
	if rep.ID == 0 {
		return HostAnswer{}, false, nil
	}
	return HostAnswer{ID: rep.ID, Rep: rep}, true, nil
}
