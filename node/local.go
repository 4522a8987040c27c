package node

import (
	"context"
	"errors"

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
		host = &localHost{egress: egress, kv: kv}
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
func ValidateKVNamespace(ns string) error { return guestKVError(replication.ValidateKVNamespace(ns)) }

// localHost is the embedded runtime's Host with a KV store: egress as
// Egress does it, KV namespaces in the store.
type localHost struct {
	egress *Egress
	kv     *replication.LocalKV
}

func (h *localHost) Fetch(ctx context.Context, req *isolate.Request) (*isolate.Response, error) {
	return h.egress.Fetch(ctx, req)
}

func (h *localHost) KV(namespace string) (isolate.KVNamespace, error) {
	if err := ValidateKVNamespace(namespace); err != nil {
		return nil, err
	}
	return &localKV{kv: h.kv, ns: namespace}, nil
}

func (h *localHost) DurableObjects(b isolate.DurableObjectBinding) (isolate.DurableObjectNamespace, error) {
	return h.egress.DurableObjects(b)
}

// localKV is one namespace of the local store, as a binding sees it.
type localKV struct {
	kv *replication.LocalKV
	ns string
}

func (n *localKV) Get(ctx context.Context, key string) (*isolate.KVEntry, error) {
	v, err := n.kv.GetWithMetadata(ctx, n.ns, key, replication.Strong)
	if errors.Is(err, replication.ErrKVNotFound) {
		return nil, nil // null in the Worker, as in Workers KV
	}
	if err != nil {
		return nil, guestKVError(err)
	}
	e := isolate.KVEntry(v)
	return &e, nil
}

func (n *localKV) Put(ctx context.Context, key string, value []byte, opts isolate.KVPutOptions) error {
	return guestKVError(n.kv.Put(ctx, n.ns, key, value, replication.KVPutOptions{
		Expiration:    opts.Expiration,
		ExpirationTTL: opts.ExpirationTTL,
		Metadata:      opts.Metadata,
	}))
}

func (n *localKV) Delete(ctx context.Context, key string) error {
	return guestKVError(n.kv.Delete(ctx, n.ns, key))
}

func (n *localKV) List(ctx context.Context, opts isolate.KVListOptions) (*isolate.KVList, error) {
	res, err := n.kv.List(ctx, n.ns, replication.KVListOptions(opts), replication.Strong)
	if err != nil {
		return nil, guestKVError(err)
	}
	l := &isolate.KVList{Keys: make([]isolate.KVKey, len(res.Keys)), ListComplete: res.ListComplete, Cursor: res.Cursor}
	for i, k := range res.Keys {
		l.Keys[i] = isolate.KVKey(k)
	}
	return l, nil
}

// guestKVError is the error a Worker sees: a broken rule of Workers KV
// names the field and the rule, without the store's package names.
func guestKVError(err error) error {
	var ie *replication.KVInvalidError
	if errors.As(err, &ie) {
		return kvRuleError{ie}
	}
	return err
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
	// Binding is what a name in env reaches (a KV namespace).
	Binding = isolate.Binding
)

// InitSecret writes a new mesh secret to path (mode 0600; never overwrites).
func InitSecret(path string) error {
	s, err := mesh.GenerateSecret()
	if err != nil {
		return err
	}
	return mesh.WriteSecret(path, s)
}
