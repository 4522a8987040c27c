package node

import (
	"context"
	"errors"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// IsSandboxWorker reports whether this process is a sandbox worker; the
// binary's main must then call ServeSandboxWorker before anything else.
func IsSandboxWorker() bool { return isolate.IsWorker() }

// ServeSandboxWorker runs the hidden worker mode of the binary.
func ServeSandboxWorker() error { return isolate.ServeWorker() }

// LocalOptions configure the embedded single-node runtime of `warren run`.
type LocalOptions struct {
	// InProcess runs guest code in this process instead of sandbox workers.
	InProcess bool
	// Workers is the number of sandbox workers (0: default).
	Workers int
	// AllowNet grants egress (policy.Egress grants).
	AllowNet []string
	// CacheDir holds the wasm compilation cache.
	CacheDir string
	// KVDir, when set, holds the KV store behind KV bindings (created if
	// needed; one process at a time). When empty, calls on a KV binding
	// reject: there is no storage.
	KVDir string
}

// Local is the embedded runtime: an isolate.Runtime and, with
// LocalOptions.KVDir, the KV store its bindings reach. Close closes both.
type Local struct {
	*isolate.Runtime
	kv *replication.LocalKV
}

// NewLocal starts the embedded runtime: no mesh, egress as granted, and
// KV storage in o.KVDir if set.
func NewLocal(o LocalOptions) (*Local, error) {
	kind := isolate.Sandboxed
	if o.InProcess {
		kind = isolate.InProcess
	}
	egress := NewEgress(policy.Egress{Grants: o.AllowNet})
	var host isolate.Host = egress
	var kv *replication.LocalKV
	if o.KVDir != "" {
		var err error
		if kv, err = replication.OpenLocalKV(o.KVDir); err != nil {
			return nil, err
		}
		host = hostWithKV(egress, kv)
	}
	rt, err := isolate.New(isolate.Options{
		Executor: kind,
		Workers:  o.Workers,
		CacheDir: o.CacheDir,
		Host:     host,
		Node:     "local",
	})
	if err != nil {
		if kv != nil {
			err = errors.Join(err, kv.Close())
		}
		return nil, err
	}
	return &Local{Runtime: rt, kv: kv}, nil
}

// OpenLocalKV opens (creating if needed) a KV store on disk in dir, such as
// the embedded runtime keeps: for Config.KV of a node that serves a store
// of its own (tests, one machine). Close it after the node.
func OpenLocalKV(dir string) (*replication.LocalKV, error) { return replication.OpenLocalKV(dir) }

// Close stops the runtime, then closes the KV store.
func (l *Local) Close() error {
	err := l.Runtime.Close()
	if l.kv != nil {
		err = errors.Join(err, l.kv.Close())
	}
	return err
}

// ValidateKVNamespace checks a KV namespace name: 1 to 64 bytes of
// [A-Za-z0-9_.-], not "." or "..".
func ValidateKVNamespace(ns string) error {
	if err := replication.ValidateKVNamespace(ns); err != nil {
		return guestKVError(err)
	}
	return nil
}

// kvHost is a Host with a KV store: egress and Durable Objects as inner
// does them, KV namespaces in the store. The embedded runtime's store is a
// replication.LocalKV, a mesh node's its Raft groups.
type kvHost struct {
	inner isolate.Host
	// store is the KV store, looked up at each binding's first call (a
	// node's may be set after its runtime starts); nil: none, and inner
	// answers.
	store func() replication.KV
	// objects opens Durable Object namespaces; nil: inner answers.
	objects func(isolate.DurableObjectBinding) (isolate.DurableObjectNamespace, error)
	// egress, when set, performs fetches under the egress grants of the
	// call (FetchGranted), or under defaultNet for calls without a
	// token's grants (an admin's, an embedder's); nil: inner fetches.
	egress     *egressPool
	defaultNet []string
}

// grantFetcher is a Host that fetches under a token's egress grants.
type grantFetcher interface {
	FetchGranted(ctx context.Context, req *isolate.Request, allowNet []string) (*isolate.Response, error)
}

// FetchGranted fetches req under allowNet (a token's egress grants).
func (h *kvHost) FetchGranted(ctx context.Context, req *isolate.Request, allowNet []string) (*isolate.Response, error) {
	if h.egress == nil {
		return h.inner.Fetch(ctx, req)
	}
	return h.egress.get(allowNet).Fetch(ctx, req)
}

// hostWithKV is inner with KV namespaces in kv.
func hostWithKV(inner isolate.Host, kv replication.KV) isolate.Host {
	return &kvHost{inner: inner, store: func() replication.KV { return kv }}
}

func (h *kvHost) Fetch(ctx context.Context, req *isolate.Request) (*isolate.Response, error) {
	if h.egress != nil {
		return h.egress.get(h.defaultNet).Fetch(ctx, req)
	}
	return h.inner.Fetch(ctx, req)
}

func (h *kvHost) KV(namespace string) (isolate.KVNamespace, error) {
	kv := h.store()
	if kv == nil {
		return h.inner.KV(namespace)
	}
	if err := ValidateKVNamespace(namespace); err != nil {
		return nil, err
	}
	if err := reservedNamespace(namespace); err != nil {
		return nil, guestKVError(err)
	}
	return &storeKV{kv: kv, ns: namespace}, nil
}

func (h *kvHost) DurableObjects(b isolate.DurableObjectBinding) (isolate.DurableObjectNamespace, error) {
	if h.objects != nil {
		return h.objects(b)
	}
	return h.inner.DurableObjects(b)
}

// storeKV is one namespace of a store, as a binding sees it.
type storeKV struct {
	kv replication.KV
	ns string
}

// kvCallTimeout bounds one KV call of a binding or the API: the store's
// own deadline, should the caller's context have none.
const kvCallTimeout = 10 * time.Second

func (n *storeKV) Get(ctx context.Context, key string, opts isolate.KVGetOptions) (*isolate.KVEntry, error) {
	c, err := replication.ParseConsistency(opts.Consistency)
	if err != nil {
		return nil, guestKVError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, kvCallTimeout)
	defer cancel()
	v, err := n.kv.GetWithMetadata(ctx, n.ns, key, c)
	if errors.Is(err, replication.ErrKVNotFound) {
		return nil, nil // null in the Worker, as in Workers KV
	}
	if err != nil {
		return nil, guestKVError(err)
	}
	e := isolate.KVEntry(v)
	return &e, nil
}

// putContext bounds a KV put of value by timeout, unless the value is a
// large one (replication.LargeWrite): the replicated store gives that the
// time its size needs, from the rate it measures, within ctx's own
// deadline if it has one.
func putContext(ctx context.Context, value []byte, timeout time.Duration) (context.Context, context.CancelFunc) {
	if len(value) >= replication.LargeWrite {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, timeout)
}

func (n *storeKV) Put(ctx context.Context, key string, value []byte, opts isolate.KVPutOptions) error {
	ctx, cancel := putContext(ctx, value, kvCallTimeout)
	defer cancel()
	return guestKVError(n.kv.Put(ctx, n.ns, key, value, replication.KVPutOptions{
		Expiration:    opts.Expiration,
		ExpirationTTL: opts.ExpirationTTL,
		Metadata:      opts.Metadata,
	}))
}

func (n *storeKV) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, kvCallTimeout)
	defer cancel()
	return guestKVError(n.kv.Delete(ctx, n.ns, key))
}

func (n *storeKV) List(ctx context.Context, opts isolate.KVListOptions) (*isolate.KVList, error) {
	c, err := replication.ParseConsistency(opts.Consistency)
	if err != nil {
		return nil, guestKVError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, kvCallTimeout)
	defer cancel()
	res, err := n.kv.List(ctx, n.ns, replication.KVListOptions{Prefix: opts.Prefix, Cursor: opts.Cursor, Limit: opts.Limit}, c)
	if err != nil {
		return nil, guestKVError(err)
	}
	l := &isolate.KVList{Keys: make([]isolate.KVKey, len(res.Keys)), ListComplete: res.ListComplete, Cursor: res.Cursor}
	for i, k := range res.Keys {
		l.Keys[i] = isolate.KVKey(k)
	}
	return l, nil
}

// guestKVError is the error a Worker sees: an *isolate.KVError carrying
// the code of the store's error, and for a broken rule of Workers KV a
// message naming the field and the rule, without the store's package
// names. nil stays nil.
func guestKVError(err error) error {
	if err == nil {
		return nil
	}
	var ie *replication.KVInvalidError
	if errors.As(err, &ie) {
		err = kvRuleError{ie}
	}
	return &isolate.KVError{Code: guestKVCode(err), Err: err}
}

// guestKVCode maps replication.KVErrorCode to the codes of isolate.
func guestKVCode(err error) string {
	switch replication.KVErrorCode(err) {
	case "invalid":
		return isolate.KVCodeInvalid
	case "unavailable", "closed":
		return isolate.KVCodeUnavailable
	case "full":
		return isolate.KVCodeFull
	}
	if errors.Is(err, context.Canceled) {
		return isolate.KVCodeUnavailable
	}
	return isolate.KVCodeStorage
}

// kvRuleError is a broken rule of Workers KV, as guests read it.
type kvRuleError struct{ e *replication.KVInvalidError }

func (r kvRuleError) Error() string { return r.e.Field + ": " + r.e.Reason }
func (r kvRuleError) Unwrap() error { return r.e }

// The contract types, for the binary's commands (cmd imports node only).
type (
	// Code is the code object (docs/code-object.md).
	Code = isolate.Code
	// Request is a Worker's HTTP request.
	Request = isolate.Request
	// Result is the result contract (docs/result.md).
	Result = isolate.Result
	// Limits bound an invocation.
	Limits = isolate.Limits
	// Invocation is one call.
	Invocation = isolate.Invocation
	// Binding is what a name in env reaches (a KV namespace, a Durable
	// Object namespace).
	Binding = isolate.Binding
	// DurableObjectBinding names a Durable Object namespace.
	DurableObjectBinding = isolate.DurableObjectBinding
	// ScheduledEvent asks for a Worker's scheduled handler.
	ScheduledEvent = isolate.ScheduledEvent
	// BodyPipe carries a streamed response body (Invocation.StreamTo).
	BodyPipe = isolate.BodyPipe
)

// NewBodyPipe returns a pipe for a streamed response body.
func NewBodyPipe() *BodyPipe { return isolate.NewBodyPipe() }

// InitSecret writes a new mesh secret to path (mode 0600; never overwrites).
func InitSecret(path string) error {
	s, err := mesh.GenerateSecret()
	if err != nil {
		return err
	}
	return mesh.WriteSecret(path, s)
}
