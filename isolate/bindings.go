package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

func validateBinding(b Binding) error {
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
	for _, name := range contract.SortedKeys(bindings) {
		if err := validateBinding(bindings[name]); err != nil {
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
// KVCodeStorage (ErrorCode, for KV calls). It is "" for nil.
func KVErrorCode(err error) string { return string(contract.ErrorCode(contract.OpKV, err)) }

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
