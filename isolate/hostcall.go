package isolate

import (
	"context"
	"errors"
	"fmt"
)

// hostCall is a request from guest code to its host: the body of the
// callback frames between a sandbox worker and the node, and the argument of
// the in-process dispatcher, so that both executors take one path.
type hostCall struct {
	Op      string         `json:"op"` // "code", "fetch", "kv"
	Hash    string         `json:"hash,omitempty"`
	Binding string         `json:"binding,omitempty"` // the name in env
	Method  string         `json:"method,omitempty"`  // kv: get, put, delete, list
	Key     string         `json:"key,omitempty"`
	Value   []byte         `json:"value,omitempty"`
	Put     *KVPutOptions  `json:"put,omitempty"`
	List    *KVListOptions `json:"list,omitempty"`
	Request *Request       `json:"request,omitempty"`
}

// hostReply answers a hostCall.
type hostReply struct {
	Error    string    `json:"error,omitempty"`
	Response *Response `json:"response,omitempty"`
	Program  *program  `json:"program,omitempty"`
	Entry    *KVEntry  `json:"entry,omitempty"`
	Keys     *KVList   `json:"keys,omitempty"`
}

// hostFunc carries host calls out of the isolate.
type hostFunc func(ctx context.Context, c *hostCall) (*hostReply, error)

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
	}
	return nil, fmt.Errorf("host: unknown call %q", c.Op)
}

func (d *dispatcher) kv(ctx context.Context, c *hostCall) *hostReply {
	b, ok := d.bindings[c.Binding]
	if !ok || b.KV == "" {
		return &hostReply{Error: fmt.Sprintf("%q is not a KV binding", c.Binding)}
	}
	if d.host == nil {
		return &hostReply{Error: "this runtime has no KV storage"}
	}
	ns, err := d.host.KV(b.KV)
	if err != nil {
		return &hostReply{Error: err.Error()}
	}
	switch c.Method {
	case "get":
		e, err := ns.Get(ctx, c.Key)
		if err != nil {
			return &hostReply{Error: err.Error()}
		}
		return &hostReply{Entry: e}
	case "put":
		var opts KVPutOptions
		if c.Put != nil {
			opts = *c.Put
		}
		if err := ns.Put(ctx, c.Key, c.Value, opts); err != nil {
			return &hostReply{Error: err.Error()}
		}
		return &hostReply{}
	case "delete":
		if err := ns.Delete(ctx, c.Key); err != nil {
			return &hostReply{Error: err.Error()}
		}
		return &hostReply{}
	case "list":
		var opts KVListOptions
		if c.List != nil {
			opts = *c.List
		}
		l, err := ns.List(ctx, opts)
		if err != nil {
			return &hostReply{Error: err.Error()}
		}
		return &hostReply{Keys: l}
	}
	return &hostReply{Error: fmt.Sprintf("unknown KV method %q", c.Method)}
}
