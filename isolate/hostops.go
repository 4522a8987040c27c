package isolate

import (
	"context"
	"errors"
	"fmt"
)

// hostOp is the operation of a host call: what guest code asks of its
// host. Each op's properties are in hostOps, the one table of them.
type hostOp uint8

// The host call operations. The zero hostOp is none: a call without an op
// is refused.
const (
	opCode          hostOp = iota + 1 // the program of a hash
	opRespond                         // the response is out; waitUntil work goes on
	opWait                            // collect the answer of a started call
	opFetch                           // egress fetch
	opKV                              // a Workers KV binding's method
	opDOFetch                         // a Durable Object stub's fetch
	opDOCall                          // a Durable Object stub's RPC call
	opStorageGet                      // a live object's ctx.storage: read keys
	opStorageList                     // ... list entries
	opStorageCommit                   // ... commit buffered writes
	opStorageAlarm                    // ... read the committed alarm
	numHostOps
)

// hostSide is who answers a host call.
type hostSide uint8

const (
	// sideRuntime: the Runtime running the invocation (the program it
	// prepared, the response so far).
	sideRuntime hostSide = iota + 1
	// sideChannel: the relay of a sandbox worker's channel to the node;
	// such calls never reach a dispatcher.
	sideChannel
	// sideHost: the node, through the invocation's Host.
	sideHost
	// sideObject: the node, through the ObjectHost of a live object's
	// event; refused outside one.
	sideObject
)

// hostOpInfo describes a host call operation.
type hostOpInfo struct {
	// name is the op on the wire between a sandbox worker and the node.
	name string
	// async: the guest may start the call and collect its answer later
	// (hostConn.start); otherwise the loop waits for it (hostConn.call).
	async bool
	// side answers the call.
	side hostSide
	// fallback is the code of a failure whose error names none (see
	// errorCode).
	fallback hostErrCode
}

// hostOps is the table of host call operations.
var hostOps = [numHostOps]hostOpInfo{
	opCode:          {name: "code", side: sideRuntime, fallback: codeInternal},
	opRespond:       {name: "respond", side: sideRuntime, fallback: codeInternal},
	opWait:          {name: "wait", side: sideChannel, fallback: codeInternal},
	opFetch:         {name: "fetch", async: true, side: sideHost, fallback: codeUnavailable},
	opKV:            {name: "kv", async: true, side: sideHost, fallback: codeStorage},
	opDOFetch:       {name: "do.fetch", async: true, side: sideHost, fallback: codeUnavailable},
	opDOCall:        {name: "do.call", async: true, side: sideHost, fallback: codeUnavailable},
	opStorageGet:    {name: "sget", side: sideObject, fallback: codeStorage},
	opStorageList:   {name: "slist", side: sideObject, fallback: codeStorage},
	opStorageCommit: {name: "scommit", side: sideObject, fallback: codeStorage},
	opStorageAlarm:  {name: "salarm", side: sideObject, fallback: codeStorage},
}

// hostOpByName maps wire names to ops.
var hostOpByName = func() map[string]hostOp {
	m := make(map[string]hostOp, len(hostOps))
	for op, info := range hostOps {
		if info.name != "" {
			m[info.name] = hostOp(op)
		}
	}
	return m
}()

// valid reports whether op is one of the table's.
func (op hostOp) valid() bool { return op > 0 && op < numHostOps }

// info is op's entry in hostOps (the zero entry for an invalid op).
func (op hostOp) info() hostOpInfo {
	if !op.valid() {
		return hostOpInfo{fallback: codeInternal}
	}
	return hostOps[op]
}

func (op hostOp) String() string {
	if !op.valid() {
		return fmt.Sprintf("hostOp(%d)", uint8(op))
	}
	return hostOps[op].name
}

// MarshalText encodes op as its wire name.
func (op hostOp) MarshalText() ([]byte, error) {
	if !op.valid() {
		return nil, fmt.Errorf("no host call op %d", uint8(op))
	}
	return []byte(hostOps[op].name), nil
}

// UnmarshalText decodes a wire name, refusing one not in the table.
func (op *hostOp) UnmarshalText(b []byte) error {
	o, ok := hostOpByName[string(b)]
	if !ok {
		return fmt.Errorf("unknown host call op %q", b)
	}
	*op = o
	return nil
}

// hostErrCode is the code of a failed host call (hostReply.Code): part of
// every op's answer. The KV codes are the guest-visible ones of KV errors
// (err.code "KV_INVALID", ...; see docs/workers-api.md).
type hostErrCode string

const (
	// codeInvalid: the call broke a rule (a bad argument, not a binding
	// of that kind).
	codeInvalid hostErrCode = KVCodeInvalid
	// codeUnavailable: the host cannot answer now (no such service on
	// this runtime, a deadline, a store without quorum); retrying may
	// succeed.
	codeUnavailable hostErrCode = KVCodeUnavailable
	// codeDenied: the call was not allowed.
	codeDenied hostErrCode = KVCodeDenied
	// codeStorage: a store failed.
	codeStorage hostErrCode = KVCodeStorage
	// codeInternal: the host itself failed.
	codeInternal hostErrCode = "internal"
)

// errorCode is the code of a failure of an op: that of the first KVCoder
// in err's chain (hostError is one), codeUnavailable for a context's
// deadline or cancellation, else the op's fallback. It is "" for nil.
func errorCode(op hostOp, err error) hostErrCode {
	var c KVCoder
	switch {
	case err == nil:
		return ""
	case errors.As(err, &c) && c.KVCode() != "":
		return hostErrCode(c.KVCode())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return codeUnavailable
	}
	return op.info().fallback
}

// hostError is a host call's failure with its code.
type hostError struct {
	code hostErrCode
	msg  string
}

// hostErrorf makes a hostError.
func hostErrorf(code hostErrCode, format string, args ...any) *hostError {
	return &hostError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (e *hostError) Error() string { return e.msg }

// KVCode makes a hostError a KVCoder, so that errorCode reads its code.
func (e *hostError) KVCode() string { return string(e.code) }

// failReply is the reply of op failed with err; its code is errorCode's.
func failReply(op hostOp, err error) *hostReply {
	return &hostReply{Error: err.Error(), Code: errorCode(op, err)}
}
