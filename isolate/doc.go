// Package isolate runs one invocation of guest code — a JavaScript or
// TypeScript Worker (goja, bundled by esbuild) or a WASI command (wazero) —
// in a fresh isolate under enforced CPU, memory, wall-time and subrequest
// limits, and returns the result contract of docs/result.md.
//
// A Runtime prepares code once per hash (bundling, with inline source maps so
// exception stacks name the author's files and lines) and hands each call to
// an executor: Sandboxed (the default) runs it in a pool of pre-started
// worker processes, each with a hard memory cap, one invocation at a time,
// killed and replaced on overrun; InProcess runs it in the calling process,
// for tests and trusted code. Both give the same results on the same inputs.
//
// A code object with the compatibility flag NodeCompatFlag (nodejs_compat)
// is bundled with Node.js's built-in modules (node:buffer, node:crypto,
// ...; internal/bundle's nodejs directory) and the globals Buffer and
// process; the flag is part of its hash, so it is a program of its own.
//
// An Invocation runs the Worker's fetch handler, or, with Scheduled set,
// its scheduled(controller, env, ctx) handler, as a Cron Trigger does: no
// response, the ctx.waitUntil work part of the event, controller.noRetry()
// reported in Result.NoRetry.
//
// Guest code reaches the outside world only through a Host (egress fetch,
// KV, Durable Objects) that the node implements, and the Runtime's own
// Cache API store (internal/cache: caches.default and caches.open, kept
// across invocations, scoped by the code's hash and Invocation.CacheScope);
// in a sandbox worker those calls cross the process boundary as callback
// frames to the node. These host calls are typed operations, described in
// one table (internal/contract's HostOps): each op's wire name, whether
// the guest may start it and collect its answer later, which side answers
// it (the Runtime, the Host, a live object's ObjectHost) and the error
// code of a failure that names none. Every failed call's answer carries a code
// (invalid, unavailable, denied, storage, internal); a Worker sees those
// of KV as err.code.
//
// The layout: this package keeps the public contract (Code, Result,
// Limits, Runtime and its executors, the Host interfaces). The types it
// shares with the engines (the result and its encoding, limits, the
// binding, object and host call types) are defined in internal/contract
// and aliased here. The engines run where the guest runs (the node's
// process or a sandbox worker): internal/jsengine runs JavaScript, both
// one-shot calls and Durable Objects' live instances (its WebAssembly
// global is internal/jswasm, on wazero), and
// internal/wasmrun runs WASI commands; engine.go dispatches between them.
//
// Durable Objects: RunObject runs one event (fetch, RPC call, alarm) of an
// object in its live instance — a goja runtime holding the exported class's
// instance across events, one event at a time, made again after EvictObject,
// a new epoch or code, an idle period (ObjectIdleTimeout) or a failure. The
// InProcess executor keeps instances in the engine of the calling process;
// Sandboxed keeps them in a few sandbox workers leased from the pool
// (sandbox.Lease, beyond Options.Workers), the object's key choosing the
// worker. The instance's ctx.storage caches and buffers writes; the event's
// writes come back in ObjectResult.Writes, or go through
// ObjectHost.StorageCommit before an outbound call. An event that calls
// another object synchronously (a stub) holds its worker meanwhile: the
// node must pass that call's context on to RunObject, which then runs the
// callee in another worker; an object calling itself (or a cycle) waits for
// itself until its wall-time limit.
//
// The limits, in the order they act:
//   - CPU: the time the call's event loop is busy (running JS, and its own
//     work between slices; not waiting for timers or host calls) is
//     accounted; a watchdog interrupts the guest within ~2 ms of the
//     budget (exceededCpu).
//   - Memory: memoryMb counts memory as V8 would (HeapRatio): the heap's
//     growth divided by HeapRatio, ArrayBuffer bytes byte for byte. In a
//     worker, the watchdog samples the heap in use; past memoryMb so
//     counted it has the worker collect and interrupts if the live heap
//     still counts more (exceededMemory), as it does at once after an
//     ArrayBuffer of 256 KiB or more; a huge single allocation that the
//     interrupt cannot stop hits the worker's hard cap and the worker
//     dies, which is reported the same way.
//   - Wall time: timers and host calls wait at most wallMs (exceededWallTime);
//     the node kills a worker that has not answered a second after its
//     last deadline.
//   - ctx.waitUntil work goes on after the response (Invocation.OnResponse)
//     for at most BackgroundLimit, or wallMs if smaller, within the same
//     CPU and memory limits; what cuts it short is reported in the final
//     result's Error, and the response stands.
//   - A response whose body is a stream, for a caller that passes one on
//     (Invocation.StreamTo, a BodyPipe), goes out as the Worker writes it:
//     its head through OnResponse, its chunks through the pipe, under the
//     call's CPU, memory and wall-time limits; a reader that goes away
//     cancels the Worker's stream.
//   - A regular-expression match sees the CPU and wall-time limits'
//     interrupt at every step (regexp2 patch 0001, goja patch 0031); one
//     match is bounded by RegexpMatchTimeout as well (past it the call
//     ends exceededCpu). Native calls that still ignore interrupts (loops
//     inside Go's library) are bounded by the watchdog ending the worker
//     process.
//   - In a sandbox worker a call's CPU time is what the worker's CPU clock
//     counts (contract.CountedCPU): a call demoted on a busy host is
//     charged for what it uses, not for waiting; only past 0.25 s, a call
//     that got less than seven eighths of a processor is charged seven
//     eighths of its busy time, so it still ends within 0.25 s and 8/7 of
//     cpuMs.
//   - Recursion depth is bounded (a RangeError, as in V8).
//
// What a call reports is bounded too, so that it always fits the frame a
// worker answers in: logs by MaxLogBytes, MaxLogs and MaxLogMessageBytes,
// exceptions by MaxExceptions and MaxExceptionFieldBytes, the response by
// MaxResponseBytes. Whatever is cut or dropped is marked ("… [N more bytes
// cut]", a final "warren: N more log messages ... dropped" entry), and the
// outcome is never lost to it.
package isolate
