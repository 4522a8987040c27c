package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Binding says what a name in env reaches (docs/http-api.md): exactly one of
// its fields is set.
type Binding struct {
	// KV names a KV namespace.
	KV string `json:"kv,omitempty"`
	// DurableObject names a Durable Object class of a deployed Worker.
	DurableObject *DurableObjectBinding `json:"durableObject,omitempty"`
}

// DurableObjectBinding names a Durable Object namespace.
type DurableObjectBinding struct {
	Worker string `json:"worker"`
	Class  string `json:"class"`
}

func (b Binding) validate() error {
	switch {
	case b.KV != "" && b.DurableObject != nil:
		return errors.New("a binding has exactly one of kv, durableObject")
	case b.KV != "":
		return nil
	case b.DurableObject != nil:
		if err := validObjectName("worker", b.DurableObject.Worker); err != nil {
			return err
		}
		return validObjectName("class", b.DurableObject.Class)
	}
	return errors.New("empty binding: want {\"kv\": namespace} or {\"durableObject\": {...}}")
}

// BindingError is an invalid binding, named as the bindings map beside
// the code object holds it: bindings["NAME"].
type BindingError struct {
	Name string
	Err  error
}

func (e *BindingError) Error() string { return fmt.Sprintf("bindings[%q]: %v", e.Name, e.Err) }
func (e *BindingError) Unwrap() error { return e.Err }

// ValidateBindings checks a bindings map, in the order of its names:
// each binding is well formed and available, and no name is also one of
// env's. Every error is a *BindingError.
func ValidateBindings(bindings map[string]Binding, env map[string]json.RawMessage) error {
	for _, name := range sortedKeys(bindings) {
		if err := bindings[name].validate(); err != nil {
			return &BindingError{Name: name, Err: err}
		}
		if _, dup := env[name]; dup {
			return &BindingError{Name: name, Err: errors.New("name is also a plain env value")}
		}
	}
	return nil
}

// Host is what the node lends to guest code: egress and the storage behind
// bindings. Its methods may be called from any goroutine, concurrently. A nil
// Host denies all egress and has no bindings.
type Host interface {
	// Fetch performs an egress request on the guest's behalf; the Host
	// applies policy (which hosts are granted). A refusal is an error whose
	// text the guest sees.
	Fetch(ctx context.Context, req *Request) (*Response, error)
	// KV opens a KV namespace.
	KV(namespace string) (KVNamespace, error)
	// DurableObjects opens a Durable Object namespace.
	DurableObjects(b DurableObjectBinding) (DurableObjectNamespace, error)
}

// KVNamespace is the storage behind a KV binding (Workers KV semantics).
//
// An error a guest should tell apart carries a code: a *KVError, or any
// error with a KVCode method (KVCoder) in its chain. Without one it counts
// as KVCodeStorage.
type KVNamespace interface {
	// Get returns the entry, or (nil, nil) when the key is absent or
	// expired, read as opts.Consistency asks.
	Get(ctx context.Context, key string, opts KVGetOptions) (*KVEntry, error)
	Put(ctx context.Context, key string, value []byte, opts KVPutOptions) error
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, opts KVListOptions) (*KVList, error)
}

// The consistencies of a KV read: the Consistency of KVGetOptions and
// KVListOptions ("" means strong).
const (
	// KVStrong reads see every write acknowledged before they began.
	KVStrong = "strong"
	// KVEventual reads answer from the nearest replica, which may lag.
	KVEventual = "eventual"
)

// KVGetOptions are the options of get and getWithMetadata that reach the
// host (the type of the value is the binding's business).
type KVGetOptions struct {
	// Consistency is "", KVStrong or KVEventual.
	Consistency string `json:"consistency,omitempty"`
}

// KVEntry is a stored value.
type KVEntry struct {
	Value      []byte          `json:"value"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	Expiration int64           `json:"expiration,omitempty"` // unix seconds; 0 = never
}

// KVPutOptions are the options of put.
type KVPutOptions struct {
	Expiration    int64           `json:"expiration,omitempty"`    // unix seconds
	ExpirationTTL int64           `json:"expirationTtl,omitempty"` // seconds from now
	Metadata      json.RawMessage `json:"metadata,omitempty"`
}

// KVListOptions are the options of list.
type KVListOptions struct {
	Prefix string `json:"prefix,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	Limit  int    `json:"limit,omitempty"` // 0 = 1000
	// Consistency is "", KVStrong or KVEventual.
	Consistency string `json:"consistency,omitempty"`
}

// KVList is one page of keys.
type KVList struct {
	Keys         []KVKey `json:"keys"`
	ListComplete bool    `json:"list_complete"`
	Cursor       string  `json:"cursor,omitempty"`
}

// KVKey is one listed key.
type KVKey struct {
	Name       string          `json:"name"`
	Expiration int64           `json:"expiration,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
}

// The codes of KV errors (KVError.Code). A Worker sees them as err.code,
// upper-cased with a KV_ prefix (docs/workers-api.md): "KV_INVALID", ...
const (
	// KVCodeInvalid: an argument broke a rule of Workers KV (a key over
	// 512 bytes, a TTL under 60 s, a bad cursor). The guest's TypeError.
	KVCodeInvalid = "invalid"
	// KVCodeUnavailable: the store cannot answer now (no quorum, a
	// deadline, no storage on this runtime); retrying may succeed.
	KVCodeUnavailable = "unavailable"
	// KVCodeDenied: the call was not allowed (a forwarded invocation whose
	// caller withheld its go-ahead).
	KVCodeDenied = "denied"
	// KVCodeStorage: the store failed; any error without a code.
	KVCodeStorage = "storage"
)

// KVCoder is an error that names its KV code.
type KVCoder interface {
	KVCode() string
}

// KVError is a KV failure with its code, for Host implementations to
// return: the message is what the guest reads.
type KVError struct {
	// Code is one of the KVCode constants.
	Code string
	// Err is the failure; its text is the guest's message.
	Err error
}

func (e *KVError) Error() string  { return e.Err.Error() }
func (e *KVError) Unwrap() error  { return e.Err }
func (e *KVError) KVCode() string { return e.Code }

// KVErrorCode is the code of a KV error: that of the first KVCoder in its
// chain, KVCodeUnavailable for a context's deadline or cancellation, else
// KVCodeStorage (errorCode, for KV calls). It is "" for nil.
func KVErrorCode(err error) string { return string(errorCode(opKV, err)) }

// DurableObjectNamespace reaches the Durable Objects of one class. The node
// routes each call to the object's owner.
//
// An error from Fetch or Call that the object threw is an *ObjectError
// {Name, Message}: the stub rethrows it with that name and message. Any
// other error rejects the stub's promise with an Error whose message is the
// error's text.
type DurableObjectNamespace interface {
	// Fetch sends an HTTP request to the object's fetch handler.
	Fetch(ctx context.Context, obj ObjectRef, req *Request) (*Response, error)
	// Call invokes an RPC method; args is the arguments array and the
	// result the return value, both structured-clone encoded (the result
	// is nil for undefined).
	Call(ctx context.Context, obj ObjectRef, method string, args []byte) ([]byte, error)
}

// ErrNoEgress is what a nil Host answers to fetch.
var ErrNoEgress = errors.New("network access is not granted to this Worker (globalOutbound is null; grant hosts by policy, e.g. warren run --allow-net)")
