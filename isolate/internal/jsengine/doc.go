// Package jsengine is isolate's JavaScript engine: goja runtimes with
// their event loop (timers, host calls started and answered later,
// ctx.waitUntil work), the CPU, memory and wall-time watchdog, the globals
// a Worker sees beyond the Web API of internal/webapi (fetch, KV and
// Durable Object bindings), and Durable Objects' live instances with
// their ctx.storage.
//
// An Engine serves both kinds of call: Run runs one invocation of a
// script's fetch or scheduled handler in a fresh runtime, RunObject one
// event of a Durable Object in its live instance, kept across events.
// It caches compiled programs by hash and reaches the node only through
// a contract.HostConn, so it runs the same in the node's process and in a
// sandbox worker. Package isolate dispatches to it, and to
// internal/wasmrun for WASI commands.
//
// Memory is counted as V8 would count it: a call may use memoryMb, its
// heap's growth counted divided by HeapRatio and its ArrayBuffer backing
// stores byte for byte (flatBytes), judged by a collection once the heap
// in use (garbage included) counts more than that (HeapMeter).
package jsengine
