package goja

// AllocKind says what a guarded allocation is for (SetAllocGuard).
type AllocKind int

const (
	// AllocArrayBuffer is the backing store of an ArrayBuffer or
	// SharedArrayBuffer, or the bytes a resizable one grows to.
	AllocArrayBuffer AllocKind = iota
	// AllocString is a string built whole by String.prototype.repeat,
	// padStart or padEnd; its size is in bytes (one a character for an
	// ASCII string, two for others).
	AllocString
)

// AllocGuardMin is the smallest allocation that asks the guard
// (SetAllocGuard): smaller ones are cheap whatever they are for.
const AllocGuardMin = 64 << 10

// maxStringLength is the longest string String.prototype.repeat, padStart
// and padEnd build: V8's (String::kMaxLength on 64-bit platforms), past
// which they throw a RangeError, "Invalid string length", as V8 does.
const maxStringLength = 1<<29 - 24

// SetAllocGuard sets a function the runtime asks before it allocates a
// block whose size it knows in advance, of AllocGuardMin bytes or more:
// the backing store of an ArrayBuffer, SharedArrayBuffer or typed array,
// the bytes a resizable buffer grows to (the length asked for, not the
// larger capacity it may reserve), and the strings String.prototype.repeat,
// padStart and padEnd build. If the guard returns false nothing is
// allocated and the runtime throws the RangeError V8 throws when such an
// allocation fails: "Array buffer allocation failed" or "Invalid string
// length".
//
// An embedder that limits a script's memory can refuse at once an
// allocation that could never fit, where making it would take the memory
// first (a string is written whole before the script sees it) or fail in
// Go's allocator, which ends the process (new ArrayBuffer(2 ** 40)). The
// guard runs on the runtime's goroutine; it may call Interrupt, but no
// other method of the runtime. nil (the default) removes the guard.
func (r *Runtime) SetAllocGuard(guard func(size int, kind AllocKind) bool) {
	r.allocGuard = guard
}

// guardAlloc asks the guard (SetAllocGuard) for size bytes of kind, and
// throws V8's RangeError if it refuses.
func (r *Runtime) guardAlloc(size int, kind AllocKind) {
	if g := r.allocGuard; g != nil && size >= AllocGuardMin && !g(size, kind) {
		msg := "Array buffer allocation failed"
		if kind == AllocString {
			msg = "Invalid string length"
		}
		panic(r.newError(r.getRangeError(), msg))
	}
}

// guardString checks a string of length characters that repeat, padStart
// or padEnd is about to build: V8's longest string, then the guard.
func (r *Runtime) guardString(length int64, ascii bool) {
	if length > maxStringLength {
		panic(r.newError(r.getRangeError(), "Invalid string length"))
	}
	size := length
	if !ascii {
		size = 2 * (length + 1) // UTF-16 with the leading marker
	}
	r.guardAlloc(int(size), AllocString)
}
