// Package pyrun runs Python (CPython 3.11 for wasm32-wasi) on wazero, one
// fresh instance per call, started from a memory snapshot.
//
// # Artifacts
//
// python.wasm and stdlib.zip are built by scripts/build-python.sh (make
// python) into build/python; nothing built is committed. Find returns them
// embedded in the binary (build tag warren_python, see embed_python.go) or
// read from the folder named by $WARREN_PYTHON_DIR (warren --python-dir);
// without either it returns ErrUnavailable.
//
// # Snapshot
//
// python.wasm is a WASI reactor with two exports written for warren
// (scripts/python/warren_main.c): warren_init starts the interpreter and
// imports the runtime (rt/_warren_rt.py) and the common stdlib modules;
// warren_run runs one call. The first Run of an Engine instantiates the
// module, calls _initialize and warren_init, and copies linear memory and
// the one mutable global (__stack_pointer, exported for this; its value is
// back at its initial value between exported calls). Every call then gets a
// new instance whose memory is grown to the snapshot's size and overwritten
// with it before warren_run: a new instance plus a memory copy, not an
// interpreter start. What the snapshot fixes for every call of a process:
// the string hash secret (as PYTHONHASHSEED would); random is reseeded from
// the host's CSPRNG at the start of each call.
//
// # Sandbox
//
// The guest sees a read-only file system with the standard library at
// /lib/python3.11 and warren's runtime at /warren, nothing else; no
// sockets (WASI preview1 has none), the real wall and monotonic clocks, and
// crypto/rand as random_get. stdin is Input.Stdin, stdout is captured up
// to Input.StdoutLimit, stderr up to 1 MiB. The caller's context bounds the
// call (the runtime closes an instance whose context is done), and
// Input.MemoryLimitBytes caps linear memory through a per-call memory
// allocator that refuses to grow past it.
//
// # Host calls
//
// The built-in module _warren imports warren.call(op, arg) -> i64 and
// warren.take(dst, n): call hands an op name and an argument to
// Input.Host and returns the answer's length (or -len-1 for an error
// message), take copies the answer into guest memory. The runtime uses
// ops "start" (the call's configuration), "file" (a module's source),
// "body", "respond", "exception"; Input.Host serves "fetch" and "kv".
package pyrun
