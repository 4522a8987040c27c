// Package contract holds what package isolate and its engines share: the
// result contract of docs/result.md (Result, Log, Exception, Telemetry,
// Outcome) and its binary encoding, the bounds of what a call reports
// (BoundResult), Limits, the types of bindings, KV calls, Durable Objects
// and scheduled events, and the host call protocol between an engine and
// the node (HostCall, HostReply, HostConn, the table of ops HostOps, and
// the frames a sandbox worker exchanges with the node).
//
// Package isolate keeps the public types through aliases (isolate.Result
// is contract.Result), so that its API does not name this package; the
// engines (internal/jsengine, and isolate's dispatch to internal/wasmrun)
// use it directly.
package contract
