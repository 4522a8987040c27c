package contract

import (
	"context"
	"errors"
	"fmt"
)

// HostOp is the operation of a host call: what guest code asks of its
// host. Each op's properties are in HostOps, the one table of them.
type HostOp uint8

// The host call operations. The zero HostOp is none: a call without an op
// is refused.
const (
	OpCode          HostOp = iota + 1 // the program of a hash
	OpRespond                         // the response is out; waitUntil work goes on
	OpWait                            // collect the answer of a started call
	OpFetch                           // egress fetch
	OpKV                              // a Workers KV binding's method
	OpDOFetch                         // a Durable Object stub's fetch
	OpDOCall                          // a Durable Object stub's RPC call
	OpStorageGet                      // a live object's ctx.storage: read keys
	OpStorageList                     // ... list entries
	OpStorageCommit                   // ... commit buffered writes
	OpStorageAlarm                    // ... read the committed alarm
	OpBody                            // a chunk (or the end) of a streamed response body
	OpCache                           // the Cache API: match, put, delete
	OpStoragePages                    // a live object's SQL database: read pages
	NumHostOps
)

// HostSide is who answers a host call.
type HostSide uint8

const (
	// SideRuntime: the Runtime running the invocation (the program it
	// prepared, the response so far, the node's cache).
	SideRuntime HostSide = iota + 1
	// sideChannel: the relay of a sandbox worker's channel to the node;
	// such calls never reach a dispatcher.
	sideChannel
	// SideHost: the node, through the invocation's Host.
	SideHost
	// SideObject: the node, through the ObjectHost of a live object's
	// event; refused outside one.
	SideObject
)

// HostOpInfo describes a host call operation.
type HostOpInfo struct {
	// Name is the op on the wire between a sandbox worker and the node.
	Name string
	// Async: the guest may start the call and collect its answer later
	// (HostConn.Start); otherwise the loop waits for it (HostConn.Call).
	Async bool
	// Side answers the call.
	Side HostSide
	// Fallback is the code of a failure whose error names none (see
	// ErrorCode).
	Fallback HostErrCode
}

// HostOps is the table of host call operations.
var HostOps = [NumHostOps]HostOpInfo{
	OpCode:          {Name: "code", Side: SideRuntime, Fallback: CodeInternal},
	OpRespond:       {Name: "respond", Side: SideRuntime, Fallback: CodeInternal},
	OpWait:          {Name: "wait", Side: sideChannel, Fallback: CodeInternal},
	OpFetch:         {Name: "fetch", Async: true, Side: SideHost, Fallback: CodeUnavailable},
	OpKV:            {Name: "kv", Async: true, Side: SideHost, Fallback: CodeStorage},
	OpDOFetch:       {Name: "do.fetch", Async: true, Side: SideHost, Fallback: CodeUnavailable},
	OpDOCall:        {Name: "do.call", Async: true, Side: SideHost, Fallback: CodeUnavailable},
	OpStorageGet:    {Name: "sget", Side: SideObject, Fallback: CodeStorage},
	OpStorageList:   {Name: "slist", Side: SideObject, Fallback: CodeStorage},
	OpStorageCommit: {Name: "scommit", Side: SideObject, Fallback: CodeStorage},
	OpStorageAlarm:  {Name: "salarm", Side: SideObject, Fallback: CodeStorage},
	OpBody:          {Name: "body", Side: SideRuntime, Fallback: CodeInternal},
	OpCache:         {Name: "cache", Async: true, Side: SideRuntime, Fallback: CodeInternal},
	OpStoragePages:  {Name: "spages", Side: SideObject, Fallback: CodeStorage},
}

// hostOpByName maps wire names to ops.
var hostOpByName = func() map[string]HostOp {
	m := make(map[string]HostOp, len(HostOps))
	for op, info := range HostOps {
		if info.Name != "" {
			m[info.Name] = HostOp(op)
		}
	}
	return m
}()

// Valid reports whether op is one of the table's.
func (op HostOp) Valid() bool { return op > 0 && op < NumHostOps }

// Info is op's entry in HostOps (the zero entry for an invalid op).
func (op HostOp) Info() HostOpInfo {
	if !op.Valid() {
		return HostOpInfo{Fallback: CodeInternal}
	}
	return HostOps[op]
}

func (op HostOp) String() string {
	if !op.Valid() {
		return fmt.Sprintf("hostOp(%d)", uint8(op))
	}
	return HostOps[op].Name
}

// MarshalText encodes op as its wire name.
func (op HostOp) MarshalText() ([]byte, error) {
	if !op.Valid() {
		return nil, fmt.Errorf("no host call op %d", uint8(op))
	}
	return []byte(HostOps[op].Name), nil
}

// UnmarshalText decodes a wire name, refusing one not in the table.
func (op *HostOp) UnmarshalText(b []byte) error {
	o, ok := hostOpByName[string(b)]
	if !ok {
		return fmt.Errorf("unknown host call op %q", b)
	}
	*op = o
	return nil
}

// HostErrCode is the code of a failed host call (HostReply.Code): part of
// every op's answer. The KV codes are the guest-visible ones of KV errors
// (err.code "KV_INVALID", ...; see docs/workers-api.md).
type HostErrCode string

const (
	// CodeInvalid: the call broke a rule (a bad argument, not a binding
	// of that kind).
	CodeInvalid HostErrCode = KVCodeInvalid
	// CodeUnavailable: the host cannot answer now (no such service on
	// this runtime, a deadline, a store without quorum); retrying may
	// succeed.
	CodeUnavailable HostErrCode = KVCodeUnavailable
	// CodeDenied: the call was not allowed.
	CodeDenied HostErrCode = KVCodeDenied
	// CodeStorage: a store failed.
	CodeStorage HostErrCode = KVCodeStorage
	// CodeInternal: the host itself failed.
	CodeInternal HostErrCode = "internal"
)

// ErrorCode is the code of a failure of an op: that of the first KVCoder
// in err's chain (HostError is one), CodeUnavailable for a context's
// deadline or cancellation, else the op's fallback. It is "" for nil.
func ErrorCode(op HostOp, err error) HostErrCode {
	var c interface{ KVCode() string } // isolate.KVCoder
	switch {
	case err == nil:
		return ""
	case errors.As(err, &c) && c.KVCode() != "":
		return HostErrCode(c.KVCode())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return CodeUnavailable
	}
	return op.Info().Fallback
}

// HostError is a host call's failure with its code.
type HostError struct {
	code HostErrCode
	msg  string
}

// TooManySubrequests is the error of a fetch or binding call past the
// invocation's limit (Cloudflare's wording, which Workers may match on),
// whether the engine or the node counted it.
func TooManySubrequests(limit int64) *HostError {
	return HostErrorf(CodeDenied, "Too many subrequests: the limit is %d per invocation", limit)
}

// HostErrorf makes a HostError.
func HostErrorf(code HostErrCode, format string, args ...any) *HostError {
	return &HostError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (e *HostError) Error() string { return e.msg }

// KVCode makes a HostError a KVCoder, so that ErrorCode reads its code.
func (e *HostError) KVCode() string { return string(e.code) }

// FailReply is the reply of op failed with err; its code is ErrorCode's.
func FailReply(op HostOp, err error) *HostReply {
	return &HostReply{Error: err.Error(), Code: ErrorCode(op, err)}
}
