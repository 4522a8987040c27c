// Package jswasm is the WebAssembly JavaScript API of a JS Worker, on
// wazero: WebAssembly.Module, Instance, Memory, Global, Table (funcref),
// validate, compile, instantiate, and the CompileError, LinkError and
// RuntimeError classes.
//
// # Runtime and caching
//
// All isolates of a process share one wazero runtime; a module is compiled
// once per process and kept, by the sha256 of its bytes, in a bounded LRU
// (an evicted module is closed once no isolate holds it); SetCacheDir adds
// wazero's on-disk compilation cache, for new processes. Instances are
// anonymous: imports are resolved through wazero's import resolver, so
// instances of different isolates never see each other. A State (one per
// goja runtime) is built on first use of the WebAssembly global and closes
// its instances when the isolate ends (Close).
//
// # Imports and exports
//
// JS functions are imported through a host module built from the import
// section's signatures; values convert as the JS API says (i32 by
// ToInt32, i64 as BigInt, f32 and f64 as numbers). When a module name also
// provides memories or globals (WebAssembly.Memory or Global objects, or
// numbers for immutable globals), a small generated shim module imports
// them from their instances and re-exports them with the functions.
// Memory and Global objects made in JS are backed by generated one-entry
// modules. Exports are functions, memories, globals and funcref tables
// (table.go: wazero has no table API, so a generated helper module that
// imports the table answers length, get, grow and set, and calls an
// entry through call_indirect trampolines); a Table made in JS can be
// imported. externref tables are not exported or imported, and externref,
// funcref and v128 values cannot cross to JS (a TypeError).
//
// A JS import that throws unwinds the wasm frames and the exception
// reaches the JS that called into wasm unchanged; a trap is a RuntimeError
// with wazero's message ("integer divide by zero", "stack overflow", ...).
// Calls nest freely (wasm calls JS that calls wasm).
//
// Memory.buffer aliases the linear memory (goja's NewArrayBuffer over the
// memory's own bytes, no copy). When the memory has grown, by grow() or by
// memory.grow in wasm, the next read of buffer detaches the old
// ArrayBuffer and returns a new one (grow() detaches at once). A memory
// made with {shared: true} (a maximum is required) answers
// SharedArrayBuffers instead, which are never detached: its bytes are
// allocated to the maximum when it is made (counted against the memory
// limit then), so they never move and every buffer it handed out keeps
// aliasing them. wasm threads are off, so no module declares a shared
// memory, and importing a shared one is a LinkError.
//
// # Limits
//
// Wasm runs under Options.Context with wazero's close-on-context-done: the
// isolate cancels it when the CPU limit (or wall time) ends the call, which
// stops a spinning loop in wasm; the call then throws a RuntimeError that
// the interrupted isolate never lets the guest catch. Every linear memory
// of the isolate is allocated by the State, which refuses to grow them
// past Options.MemoryLimit in total (memory.grow returns -1, Memory.grow
// throws a RangeError); the entries of the tables its modules define (8
// bytes each) count against the same total, for as long as the isolate
// lives (table.grow returns -1, and a module that declares more fails to
// instantiate). Deep recursion in wasm traps with wazero's stack
// overflow, a RuntimeError. Compiling is not interruptible, so a module is
// at most MaxModuleBytes; the compile of a module bundled with the code is
// not the guest's CPU time (Options.Compiling), that of bytes the guest
// makes at run time is.
package jswasm
