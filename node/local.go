package node

import (
	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/policy"
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
}

// NewLocal starts the embedded runtime: no mesh, no storage, egress as
// granted.
func NewLocal(o LocalOptions) (*isolate.Runtime, error) {
	kind := isolate.Sandboxed
	if o.InProcess {
		kind = isolate.InProcess
	}
	return isolate.New(isolate.Options{
		Executor: kind,
		Workers:  o.Workers,
		CacheDir: o.CacheDir,
		Host:     NewEgress(policy.Egress{Grants: o.AllowNet}),
		Node:     "local",
	})
}

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
)

// InitSecret writes a new mesh secret to path (mode 0600; never overwrites).
func InitSecret(path string) error {
	s, err := mesh.GenerateSecret()
	if err != nil {
		return err
	}
	return mesh.WriteSecret(path, s)
}
