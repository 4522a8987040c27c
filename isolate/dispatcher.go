package isolate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/sync/errgroup"

	"github.com/warrenmesh/warren/isolate/internal/cache"
	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// dispatcher answers an invocation's host calls on the node's side, each
// by its op's side (see HostOps): the Runtime's (program, onRespond), the
// Host's, or the ObjectHost's (obj).
type dispatcher struct {
	bindings map[string]Binding
	host     Host
	// obj answers the SideObject ops of a live object's event (nil:
	// none).
	obj ObjectHost
	// program answers OpCode for its hash.
	program *contract.Program
	// onRespond answers OpRespond (nil: refused).
	onRespond func(*Result)
	// body answers OpBody (nil: refused).
	body *BodyPipe
	// cache answers OpCache, its entries scoped by the program's hash
	// and cacheScope (nil: no cache).
	cache      *cache.Store
	cacheScope string
	// subrequests bounds the fetch and binding calls (Limits.SubRequests; 0:
	// unbounded). The JavaScript engine counts them too, with the same limit
	// and Cloudflare's message, and the Cache API's calls besides (which a
	// fetch's cache options also make, uncounted); this count is the node's
	// own, which guest code (a Python Worker's, or a compromised worker's)
	// cannot skip.
	subrequests int64
	made        atomic.Int64 // subrequests made; started calls run concurrently
	// fetching holds a place for each egress fetch in flight, at most
	// MaxOpenFetches; made on the first.
	fetchOnce sync.Once
	fetching  chan struct{}
}

// MaxOpenFetches is how many egress fetches of one invocation are in flight
// at once; more wait for one to end (Cloudflare's six simultaneous open
// connections). Each holds its response, up to 32 MiB, in the node until it
// ends.
const MaxOpenFetches = 6

// subrequest counts one fetch or binding call against the limit.
func (d *dispatcher) subrequest() error {
	if d.subrequests > 0 && d.made.Add(1) > d.subrequests {
		return contract.TooManySubrequests(d.subrequests)
	}
	return nil
}

func (d *dispatcher) call(ctx context.Context, c *contract.HostCall) (*contract.HostReply, error) {
	switch c.Op.Info().Side {
	case contract.SideRuntime:
		if c.Op == contract.OpBody {
			return d.streamBody(ctx, c)
		}
		return d.runtime(c)
	case contract.SideHost:
		return d.hostOp(ctx, c)
	case contract.SideObject:
		if d.obj != nil {
			return d.storage(ctx, c), nil
		}
	}
	return nil, contract.HostErrorf(contract.CodeInvalid, "host: %s calls are not answered here", c.Op)
}

// runtime answers the SideRuntime ops.
func (d *dispatcher) runtime(c *contract.HostCall) (*contract.HostReply, error) {
	switch c.Op {
	case contract.OpCode:
		if d.program != nil && c.Hash == d.program.Hash {
			return &contract.HostReply{Program: d.program}, nil
		}
		return nil, contract.HostErrorf(contract.CodeInternal, "host: no code %s", c.Hash)
	case contract.OpCache:
		return d.cacheOp(c), nil
	case contract.OpRespond:
		if d.onRespond != nil {
			if c.Result != nil {
				d.onRespond(c.Result)
			}
			return &contract.HostReply{}, nil
		}
	}
	return nil, contract.HostErrorf(contract.CodeInvalid, "host: %s calls are not answered here", c.Op)
}

// streamBody answers OpBody: the chunk goes to the consumer (waiting while
// it is behind), or the body ends.
func (d *dispatcher) streamBody(ctx context.Context, c *contract.HostCall) (*contract.HostReply, error) {
	if d.body == nil {
		return nil, contract.HostErrorf(contract.CodeInvalid, "host: this invocation does not stream its body")
	}
	switch {
	case c.End && c.BodyErr != "":
		d.body.Close(errors.New(c.BodyErr))
	case c.End:
		d.body.Close(nil)
	case len(c.Chunk) > 0:
		if err := d.body.Write(ctx, c.Chunk); err != nil {
			return nil, contract.HostErrorf(contract.CodeUnavailable, "the response's reader went away: %v", err)
		}
	}
	return &contract.HostReply{}, nil
}

// cacheOp answers a Cache API call. Entries are scoped by the code's
// hash and the invocation's CacheScope: one Worker cannot read or poison
// another's cache, nor one caller another's.
func (d *dispatcher) cacheOp(c *contract.HostCall) *contract.HostReply {
	fail := func(code contract.HostErrCode, format string, args ...any) *contract.HostReply {
		return contract.FailReply(c.Op, contract.HostErrorf(code, format, args...))
	}
	switch {
	case d.cache == nil:
		return fail(contract.CodeUnavailable, "this runtime has no cache")
	case c.Cache == nil || d.program == nil:
		return fail(contract.CodeInvalid, "cache call without its arguments")
	}
	scope, a := d.program.Hash+"/"+d.cacheScope, c.Cache
	switch c.Method {
	case "match":
		return &contract.HostReply{Response: d.cache.Match(scope, a.Name, a.URL)}
	case "put":
		if a.Response == nil {
			return fail(contract.CodeInvalid, "cache put without a response")
		}
		stored, err := d.cache.Put(scope, a.Name, a.URL, a.Response)
		if err != nil {
			return fail(contract.CodeInvalid, "%s", strings.TrimPrefix(err.Error(), "cache: refused: "))
		}
		return &contract.HostReply{Found: stored}
	case "delete":
		return &contract.HostReply{Found: d.cache.Delete(scope, a.Name, a.URL)}
	}
	return fail(contract.CodeInvalid, "unknown cache method %q", c.Method)
}

// hostOp answers the SideHost ops.
func (d *dispatcher) hostOp(ctx context.Context, c *contract.HostCall) (*contract.HostReply, error) {
	switch c.Op {
	case contract.OpFetch, contract.OpDOFetch:
		if err := checkFetchRequest(c.Request); err != nil {
			return contract.FailReply(c.Op, contract.HostErrorf(contract.CodeInvalid, "%s", err)), nil
		}
	}
	switch c.Op {
	case contract.OpFetch, contract.OpKV, contract.OpDOFetch, contract.OpDOCall:
		if err := d.subrequest(); err != nil {
			return contract.FailReply(c.Op, err), nil
		}
	}
	switch c.Op {
	case contract.OpFetch:
		if c.Request == nil {
			return nil, contract.HostErrorf(contract.CodeInvalid, "host: fetch without a request")
		}
		if d.host == nil {
			return contract.FailReply(c.Op, contract.HostErrorf(contract.CodeUnavailable, "%s", ErrNoEgress)), nil
		}
		d.fetchOnce.Do(func() { d.fetching = make(chan struct{}, MaxOpenFetches) })
		select {
		case d.fetching <- struct{}{}:
		case <-ctx.Done():
			return contract.FailReply(c.Op, ctx.Err()), nil
		}
		resp, err := d.host.Fetch(ctx, c.Request)
		<-d.fetching
		if err != nil {
			return contract.FailReply(c.Op, err), nil
		}
		return &contract.HostReply{Response: resp}, nil
	case contract.OpKV:
		return d.kv(ctx, c), nil
	case contract.OpDOFetch, contract.OpDOCall:
		return d.object(ctx, c), nil
	}
	return nil, contract.HostErrorf(contract.CodeInvalid, "host: %s calls are not answered here", c.Op)
}

// object makes a Durable Object stub's call.
func (d *dispatcher) object(ctx context.Context, c *contract.HostCall) *contract.HostReply {
	invalid := func(format string, args ...any) *contract.HostReply {
		return contract.FailReply(c.Op, contract.HostErrorf(contract.CodeInvalid, format, args...))
	}
	b, ok := d.bindings[c.Binding]
	if !ok || b.DurableObject == nil {
		return invalid("%q is not a Durable Object binding", c.Binding)
	}
	if c.Object == nil {
		return invalid("no object named")
	}
	ref := ObjectRef{Worker: b.DurableObject.Worker, Class: b.DurableObject.Class, ID: c.Object.ID, Name: c.Object.Name}
	if err := validateRef(ref); err != nil {
		return invalid("%s", err)
	}
	if d.host == nil {
		return contract.FailReply(c.Op, contract.HostErrorf(contract.CodeUnavailable, "%s", errNoObjects))
	}
	ns, err := d.host.DurableObjects(*b.DurableObject)
	if err != nil {
		return contract.FailReply(c.Op, err)
	}
	fail := func(err error) *contract.HostReply {
		var oe *ObjectError
		if errors.As(err, &oe) {
			return &contract.HostReply{Thrown: &ObjectError{Name: oe.Name, Message: oe.Message}}
		}
		return contract.FailReply(c.Op, err)
	}
	if c.Op == contract.OpDOFetch {
		if c.Request == nil {
			return invalid("no request")
		}
		resp, err := ns.Fetch(ctx, ref, c.Request)
		if err != nil {
			return fail(err)
		}
		if resp == nil {
			return contract.FailReply(c.Op, contract.HostErrorf(contract.CodeInternal, "the object returned no response"))
		}
		return &contract.HostReply{Response: resp}
	}
	if len(c.Method) > maxMethodName {
		return contract.FailReply(c.Op, contract.HostErrorf(contract.CodeInvalid, "an RPC method's name is %d bytes, more than %d", len(c.Method), maxMethodName))
	}
	v, err := ns.Call(ctx, ref, c.Method, c.Args)
	if err != nil {
		return fail(err)
	}
	return &contract.HostReply{Value: v}
}

// checkFetchRequest refuses a request of a fetch (egress or a Durable
// Object's) that a Worker's engine would not send: headers of more than
// contract.MaxFetchHeaderBytes, or whose names are not tokens or whose
// values hold a CR, LF or NUL; a method that is not a token, or is
// CONNECT, TRACE or TRACK, or is longer than the headers' bound (it counts
// in it); a body on a GET or HEAD, or one of more than
// contract.MaxResponseBytes; a URL the URL Standard's parser refuses, one
// past its length, or one with credentials. The engine's checks run in the
// worker process, which a guest out of its isolate controls: the node
// makes them again. A nil request passes (the op answers it).
func checkFetchRequest(r *contract.Request) error {
	if r == nil {
		return nil
	}
	if r.Method != "" && !httpguts.ValidHeaderFieldName(r.Method) {
		return fmt.Errorf("fetch: %s is not a valid HTTP method", quoteCut(r.Method))
	}
	switch strings.ToUpper(r.Method) {
	case "CONNECT", "TRACE", "TRACK":
		return fmt.Errorf("fetch: %q HTTP method is unsupported", r.Method)
	case "", "GET", "HEAD":
		if len(r.Body) > 0 {
			return errors.New("fetch: a GET or HEAD request cannot have a body")
		}
	}
	if len(r.Body) > contract.MaxResponseBytes {
		return fmt.Errorf("fetch: the request body is %d bytes, more than %d", len(r.Body), contract.MaxResponseBytes)
	}
	if err := CheckRequestURL(r.URL); err != nil {
		return fmt.Errorf("fetch: invalid URL: %w", err)
	}
	if u, err := url.Parse(r.URL); err != nil {
		return fmt.Errorf("fetch: invalid URL: %w", unwrapURLError(err))
	} else if u.User != nil {
		return errors.New("fetch: the URL includes credentials")
	}
	for name, value := range r.Headers {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("fetch: the header name %s is not an HTTP token", quoteCut(name))
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return fmt.Errorf("fetch: the header %s: the value has a CR, LF or NUL", quoteCut(name))
		}
	}
	return contract.CheckFetchHead(r.Method, maps.All(r.Headers))
}

// unwrapURLError returns the cause of a url.Error, which repeats the
// whole URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// quoteCut quotes s for an error message, cut short: the guest has it.
func quoteCut(s string) string {
	const most = 64
	if len(s) > most {
		return fmt.Sprintf("%q...", s[:most])
	}
	return fmt.Sprintf("%q", s)
}

// maxMethodName bounds an RPC method's name (it is echoed in errors and
// logs).
const maxMethodName = 256

// maxPagesRead bounds the pages of one OpStoragePages: 1 MiB.
const maxPagesRead = 256

//lint:ignore ST1005 "Durable Objects" is a proper noun
var errNoObjects = errors.New("Durable Objects are not available on this runtime")

// storage answers the SideObject ops: a live object's storage.
func (d *dispatcher) storage(ctx context.Context, c *contract.HostCall) *contract.HostReply {
	switch c.Op {
	case contract.OpStorageGet:
		if len(c.Keys) > contract.MaxStorageKeysPerCall {
			// The engine sends at most that many; a worker that sent
			// more is not believed.
			return contract.FailReply(c.Op, contract.HostErrorf(contract.CodeInvalid, "a storage get names %d keys, more than %d", len(c.Keys), contract.MaxStorageKeysPerCall))
		}
		m, err := d.obj.StorageGet(ctx, c.Keys)
		if err != nil {
			return contract.FailReply(c.Op, err)
		}
		entries := make([]StorageEntry, 0, len(m))
		for _, k := range c.Keys {
			if v, ok := m[k]; ok {
				entries = append(entries, StorageEntry{Key: k, Value: v})
			}
		}
		return &contract.HostReply{Entries: entries}
	case contract.OpStorageList:
		var opts StorageListOptions
		if c.StorageList != nil {
			opts = *c.StorageList
		}
		if opts.End == "" || opts.End > contract.SQLPagePrefix {
			opts.End = contract.SQLPagePrefix // the SQL database's pages are not the Worker's keys
		}
		entries, err := d.obj.StorageList(ctx, opts)
		if err != nil {
			return contract.FailReply(c.Op, err)
		}
		return &contract.HostReply{Entries: entries}
	case contract.OpStorageCommit:
		if c.Batch == nil {
			return &contract.HostReply{}
		}
		if err := d.obj.StorageCommit(ctx, c.Batch.PagesAsPuts()); err != nil {
			return contract.FailReply(c.Op, err)
		}
		return &contract.HostReply{}
	case contract.OpStoragePages:
		r := c.Pages
		if r == nil || r.From == 0 || r.Count == 0 || r.Count > maxPagesRead || r.From > contract.MaxSQLPages {
			return contract.FailReply(c.Op, contract.HostErrorf(contract.CodeInvalid, "a page read must name 1 to %d pages from 1 to %d", maxPagesRead, contract.MaxSQLPages))
		}
		entries, err := d.obj.StorageList(ctx, StorageListOptions{Start: contract.SQLPageKey(r.From), End: contract.SQLPageKey(r.From + r.Count)})
		if err != nil {
			return contract.FailReply(c.Op, err)
		}
		pages := make([]contract.StoragePage, 0, len(entries))
		for _, e := range entries {
			if n, ok := contract.SQLPageNumber(e.Key); ok {
				pages = append(pages, contract.StoragePage{No: n, Data: e.Value})
			}
		}
		return &contract.HostReply{Pages: pages}
	case contract.OpStorageAlarm:
		t, err := d.obj.GetAlarm(ctx)
		if err != nil {
			return contract.FailReply(c.Op, err)
		}
		return &contract.HostReply{Alarm: t}
	}
	return contract.FailReply(c.Op, contract.HostErrorf(contract.CodeInvalid, "host: %s calls are not answered here", c.Op))
}

func (d *dispatcher) kv(ctx context.Context, c *contract.HostCall) *contract.HostReply {
	fail := func(err error) *contract.HostReply { return contract.FailReply(c.Op, err) }
	b, ok := d.bindings[c.Binding]
	if !ok || b.KV == "" {
		return fail(contract.HostErrorf(contract.CodeInvalid, "%q is not a KV binding", c.Binding))
	}
	if d.host == nil {
		return fail(contract.HostErrorf(contract.CodeUnavailable, "this runtime has no KV storage"))
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
		return &contract.HostReply{Entry: e}
	case "getBulk":
		var opts KVGetOptions
		if c.Get != nil {
			opts = *c.Get
		}
		es, err := bulkGet(ctx, ns, c.Keys, opts)
		if err != nil {
			return fail(err)
		}
		return &contract.HostReply{KVEntries: es}
	case "put":
		var opts KVPutOptions
		if c.Put != nil {
			opts = *c.Put
		}
		if err := ns.Put(ctx, c.Key, c.Value, opts); err != nil {
			return fail(err)
		}
		return &contract.HostReply{}
	case "delete":
		if err := ns.Delete(ctx, c.Key); err != nil {
			return fail(err)
		}
		return &contract.HostReply{}
	case "list":
		var opts KVListOptions
		if c.List != nil {
			opts = *c.List
		}
		l, err := ns.List(ctx, opts)
		if err != nil {
			return fail(err)
		}
		return &contract.HostReply{Keys: l}
	}
	return fail(contract.HostErrorf(contract.CodeInvalid, "unknown KV method %q", c.Method))
}

// bulkGetters is how many of a bulk get's keys are read at once.
const bulkGetters = 8

// bulkGet reads keys (1 to contract.MaxKVBulkKeys of them), bulkGetters
// at a time, into one entry per key (nil: not found); past
// contract.MaxKVBulkBytes of values in all it fails, as invalid.
func bulkGet(ctx context.Context, ns KVNamespace, keys []string, opts KVGetOptions) ([]*KVEntry, error) {
	if len(keys) == 0 || len(keys) > contract.MaxKVBulkKeys {
		return nil, contract.HostErrorf(contract.CodeInvalid, "KV GET_BULK: %d keys; a bulk get takes 1 to %d", len(keys), contract.MaxKVBulkKeys)
	}
	out := make([]*KVEntry, len(keys))
	var total atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(bulkGetters)
	for i, k := range keys {
		g.Go(func() error {
			e, err := ns.Get(ctx, k, opts)
			if err != nil {
				return err
			}
			if e != nil && total.Add(int64(len(e.Value))) > contract.MaxKVBulkBytes {
				return contract.HostErrorf(contract.CodeInvalid, "KV GET_BULK: the values come to more than %d bytes (25 MiB); get the large ones one by one", contract.MaxKVBulkBytes)
			}
			out[i] = e
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}
