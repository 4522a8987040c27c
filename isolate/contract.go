package isolate

import (
	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/webapi"
)

// The result contract, the limits, and the types of bindings, Durable
// Objects and scheduled events are defined in internal/contract, which
// the runtime shares with its engines; these aliases keep them here.

// Binding says what a name in env reaches (docs/http-api.md): exactly one of
// its fields is set.
type Binding = contract.Binding

// DurableObjectBinding names a Durable Object namespace.
type DurableObjectBinding = contract.DurableObjectBinding

// Exception is an uncaught error, with its stack mapped to the author's sources.
type Exception = contract.Exception

// KVEntry is a stored value.
type KVEntry = contract.KVEntry

// KVGetOptions are the options of get and getWithMetadata that reach the
// host (the type of the value is the binding's business).
type KVGetOptions = contract.KVGetOptions

// KVKey is one listed key.
type KVKey = contract.KVKey

// KVList is one page of keys.
type KVList = contract.KVList

// KVListOptions are the options of list.
type KVListOptions = contract.KVListOptions

// KVPutOptions are the options of put.
type KVPutOptions = contract.KVPutOptions

// Limits bound one invocation (docs/code-object.md). A zero field means "the default".
type Limits = contract.Limits

// Log is one console.* call.
type Log = contract.Log

// ObjectError is an error a Durable Object threw, as DurableObjectNamespace
// reports it: a stub rethrows it with that name and message.
type ObjectError = contract.ObjectError

// ObjectRef names one Durable Object.
type ObjectRef = contract.ObjectRef

// ObjectResult is what one event gave.
type ObjectResult = contract.ObjectResult

// Outcome is how an invocation ended; the names are Cloudflare's (docs/result.md).
type Outcome = contract.Outcome

// Request is the HTTP request handed to the Worker's fetch handler.
type Request = contract.Request

// RequestCF is request.cf of an incoming request.
type RequestCF = contract.RequestCF

// Response is what the Worker answered.
type Response = contract.Response

// Result is the outcome of one invocation (docs/result.md).
type Result = contract.Result

// ScheduledEvent asks an invocation to run the Worker's scheduled handler,
// as a Cloudflare Cron Trigger does.
type ScheduledEvent = contract.ScheduledEvent

// StorageBatch is one atomic group of writes to one object's storage.
type StorageBatch = contract.StorageBatch

// StorageEntry is one stored key and its (structured-clone encoded) value.
type StorageEntry = contract.StorageEntry

// StorageListOptions as ctx.storage.list takes them.
type StorageListOptions = contract.StorageListOptions

// StoragePut is one written key.
type StoragePut = contract.StoragePut

// Telemetry says where and how an invocation ran.
type Telemetry = contract.Telemetry

// Outcomes.
const (
	OutcomeOK               = contract.OutcomeOK
	OutcomeException        = contract.OutcomeException
	OutcomeExceededCPU      = contract.OutcomeExceededCPU
	OutcomeExceededMemory   = contract.OutcomeExceededMemory
	OutcomeExceededWallTime = contract.OutcomeExceededWallTime
	OutcomeCanceled         = contract.OutcomeCanceled
	OutcomeLoadShed         = contract.OutcomeLoadShed
	OutcomeInternalError    = contract.OutcomeInternalError
	OutcomeDenied           = contract.OutcomeDenied
)

// Outcomes are every outcome a result may have (Outcome.Known).
var Outcomes = contract.Outcomes

// DefaultURL is the URL of a request that names none.
const DefaultURL = contract.DefaultURL

// CheckRequestURL reports why raw cannot be a Request's url in a
// JavaScript Worker (the URL Standard's parser refuses it, or it is too
// long or costly to read), without repeating raw; nil if it can be. A
// request an embedder hands Run with such a URL ends in
// OutcomeInternalError: the runtime cannot build the Request.
func CheckRequestURL(raw string) error { return webapi.CheckRequestURL(raw) }

// The consistencies of a KV read: the Consistency of KVGetOptions and
// KVListOptions ("" means strong).
const (
	// KVStrong reads see every write acknowledged before they began.
	KVStrong = contract.KVStrong
	// KVEventual reads answer from the nearest replica, which may lag.
	KVEventual = contract.KVEventual
)

// The codes of KV errors (KVError.Code). A Worker sees them as err.code,
// upper-cased with a KV_ prefix (docs/workers-api.md): "KV_INVALID", ...
const (
	// KVCodeInvalid: an argument broke a rule of Workers KV (a key over
	// 512 bytes, a TTL under 60 s, a bad cursor). The guest's TypeError.
	KVCodeInvalid = contract.KVCodeInvalid
	// KVCodeUnavailable: the store cannot answer now (no quorum, a
	// deadline, no storage on this runtime); retrying may succeed.
	KVCodeUnavailable = contract.KVCodeUnavailable
	// KVCodeDenied: the call was not allowed (a forwarded invocation whose
	// caller withheld its go-ahead).
	KVCodeDenied = contract.KVCodeDenied
	// KVCodeStorage: the store failed; any error without a code.
	KVCodeStorage = contract.KVCodeStorage
	// KVCodeFull: a write was refused for want of disk (nothing changed).
	KVCodeFull = contract.KVCodeFull
)

// What one call reports is bounded, so that a flood of logs or a huge
// exception never costs the call its result: in a sandbox worker the
// result travels to the node in one frame of at most 64 MiB, and a larger
// frame kills the worker and loses everything. The worst case, a response
// of MaxResponseBytes with full logs and exceptions, is about 40 MiB.
const (
	// MaxLogBytes bounds the bytes of log messages a call keeps. The first
	// message that does not fit is dropped, and so is every later one; one
	// final entry (level "warn") then says how many messages and bytes were
	// dropped.
	MaxLogBytes = contract.MaxLogBytes
	// MaxLogs bounds the number of log entries a call keeps, in the same way.
	MaxLogs = contract.MaxLogs
	// MaxLogMessageBytes bounds one log message, marker included: a longer
	// one is cut, with a marker saying how many bytes were cut.
	MaxLogMessageBytes = contract.MaxLogMessageBytes
	// MaxExceptionFieldBytes bounds the name, the message and the stack of
	// an exception, each, marker included; a longer one is cut with a
	// marker.
	MaxExceptionFieldBytes = contract.MaxExceptionFieldBytes
	// MaxExceptions bounds the exceptions a call reports (the one that ended
	// it always among them); one final entry says how many more were dropped.
	MaxExceptions = contract.MaxExceptions
	// MaxResponseBytes bounds a response, body and headers together; a
	// larger one is a RangeError (outcome exception).
	MaxResponseBytes = contract.MaxResponseBytes
)

// The kinds of ObjectEvent.
const (
	ObjectFetch = contract.ObjectFetch // instance.fetch(request)
	ObjectCall  = contract.ObjectCall  // instance[method](...args)
	ObjectAlarm = contract.ObjectAlarm // instance.alarm()
)

// Bounds of Durable Object storage (Cloudflare's).
const (
	// MaxStorageKeyBytes bounds a storage key (UTF-8).
	MaxStorageKeyBytes = contract.MaxStorageKeyBytes
	// MaxStorageValueBytes bounds a stored value, structured-clone encoded.
	MaxStorageValueBytes = contract.MaxStorageValueBytes
	// MaxStorageKeysPerCall bounds the keys of one get, put or delete.
	MaxStorageKeysPerCall = contract.MaxStorageKeysPerCall
	// MaxStorageBatchBytes bounds the keys and values of the writes one
	// StorageBatch carries: an event's writes past it are committed in
	// more than one batch (each put, delete or transaction stays whole),
	// and one put, delete or transaction over it is a RangeError.
	// It is the replicated store's bound on one atomic batch.
	MaxStorageBatchBytes = contract.MaxStorageBatchBytes
	// MaxStorageBatchKeys bounds the keys one StorageBatch writes, in the
	// same way.
	MaxStorageBatchKeys = contract.MaxStorageBatchKeys
	// MaxObjectRPCBytes bounds the encoded arguments and return value of a
	// Durable Object RPC call.
	MaxObjectRPCBytes = contract.MaxObjectRPCBytes
)

// BackgroundLimit bounds the ctx.waitUntil work of a call after its
// response is out, as on Cloudflare; a call's wall-time limit, if smaller,
// bounds it instead. The call's CPU and memory limits cover that work too.
const BackgroundLimit = contract.BackgroundLimit
