// Package wasmrun runs WebAssembly modules that follow the WASI preview1
// *command* contract as warren Workers, on wazero.
//
// # The contract
//
// A module is a WASI command: it exports a linear memory named "memory" and a
// function "_start", and it may import only functions of
// "wasi_snapshot_preview1". One invocation is one run of _start in a fresh
// instance:
//
//   - stdin is the request body (Input.Stdin), read to EOF;
//   - stdout is the response body (Output.Stdout); writing more than
//     Input.StdoutLimit bytes (16 MiB by default) ends the run with
//     ErrOutputTooLarge;
//   - stderr is kept for diagnostics (Output.Stderr, truncated silently at
//     1 MiB) and travels with a failure;
//   - argv is Input.Args (argv[0] is the module name; "main.wasm" when Args is
//     empty); environ is Input.Env, sorted by key;
//   - exit status 0 (returning from _start, or proc_exit(0)) is success; any
//     other status is a failure reported as *ExitError, which carries stderr;
//   - a trap (unreachable, out-of-bounds access, stack overflow...) is a
//     failure wrapping wazero's error, and Output still holds what was written
//     so far.
//
// # What is denied
//
// No filesystem (no preopened directories: opening any path fails), no
// sockets, no host clock (wazero's deterministic fake clocks: walltime starts
// at 2022-01-01 or at Input.Walltime and advances 1 ms per reading, nanotime
// starts at 0 and advances 1 ms per reading, sleeps return at once) unless
// Input.RealTime grants it, and no host entropy: random_get reads a ChaCha8
// stream seeded from Input.Seed, so a run is reproducible for a given seed.
// Modules never share state: every call instantiates the compiled module
// afresh and closes the instance afterwards.
//
// # Limits
//
//   - Time: the caller's context. The runtime is built with
//     WithCloseOnContextDone(true), so a spinning guest is stopped promptly
//     once the context is done, and Run returns an error that matches
//     ctx.Err() with errors.Is.
//   - Memory: Input.MemoryLimitBytes, rounded down to whole 64 KiB pages,
//     caps the guest's linear memory for that call. wazero's
//     RuntimeConfig.WithMemoryLimitPages is runtime-wide and applied when a
//     module is compiled, which would tie each compiled module to one limit;
//     instead each call installs a custom experimental.MemoryAllocator that
//     refuses to grow past the call's cap (memory.grow returns -1). A module
//     whose declared initial memory exceeds the cap is refused before it is
//     instantiated. The entries of the module's tables (8 bytes each, the
//     host's words) count against the same cap (the allocator is the
//     call's experimental.TableLimiter too): table.grow past it returns -1,
//     and a module that declares more fails to instantiate (ErrMemoryLimit).
//
// # Classifying memory exhaustion (heuristic)
//
// A guest that is refused memory usually fails in its own way: a Go guest
// prints "fatal error: out of memory" and exits with status 2, C guests get
// NULL from malloc and may trap or exit non-zero. Because every memory.grow
// goes through the per-call allocator, Run knows exactly whether a grow was
// refused. The rule is: if at least one grow was refused because of the cap
// and the run then failed (trap or non-zero exit), the error matches
// ErrMemoryLimit (and also wraps the underlying *ExitError or trap). A guest
// that survives a refused grow and exits 0 is a success. Output.MemoryBytes
// reports the linear memory size at the end of the run (its peak, since wasm
// memory never shrinks).
//
// # Caching
//
// Compiled modules are cached in memory in a bounded LRU keyed by the
// caller's Input.Hash (Options.MaxCompiled entries), and on disk through
// wazero's compilation cache when Options.CacheDir is set, so a new process
// compiles a known module in tens of milliseconds instead of seconds. The
// hash is trusted: the caller must make it identify the bytes (a sha256 of
// them; Run computes one when Hash is empty). Concurrent cold calls for one
// hash compile once. A disk cache that cannot store a module (a full or
// read-only disk) does not fail the call: the module compiles in memory,
// and so do all later ones of that Engine.
package wasmrun
