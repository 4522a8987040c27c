package goja

// SetArrayBufferAllocHook sets a function the runtime calls with the
// backing store of every ArrayBuffer or SharedArrayBuffer it allocates for
// a script: new ArrayBuffer and SharedArrayBuffer, the typed array
// constructors and from, of, slice, map, filter and the like,
// ArrayBuffer.prototype.slice and transfer, Uint8Array.fromBase64 and
// fromHex, and the larger store a resizable buffer moves to when it grows
// past its capacity (data is then the whole store, its capacity, longer
// than the buffer's length). It is called once per backing store, right
// after it is allocated and before the script sees it, and not for empty
// ones nor for the byte slices an embedder passes to NewArrayBuffer and
// its like.
//
// Backing stores are flat bytes that sit outside the runtime's object
// graph, so an embedder that meters memory may want to count them apart
// from the objects, for instance with a weak pointer to data[0] to learn
// when one is collected. The hook runs on the runtime's goroutine and must
// not call into the runtime. nil (the default) removes the hook.
func (r *Runtime) SetArrayBufferAllocHook(hook func(data []byte)) {
	r.arrayBufferAllocHook = hook
}

// allocArrayBufferData allocates a backing store of size bytes (see
// allocByteSlice), once the guard allows it (SetAllocGuard), and reports
// it to the hook.
func (r *Runtime) allocArrayBufferData(size int) []byte {
	r.guardAlloc(size, AllocArrayBuffer)
	b := allocByteSlice(size)
	r.arrayBufferAllocated(b)
	return b
}

// arrayBufferAllocated reports a backing store the runtime made to the
// hook (SetArrayBufferAllocHook).
func (r *Runtime) arrayBufferAllocated(b []byte) {
	if h := r.arrayBufferAllocHook; h != nil && len(b) > 0 {
		h(b)
	}
}

// allocData allocates a new backing store of size bytes for o (a resizable
// buffer growing) and reports it to its runtime's hook, if o has a runtime.
func (o *arrayBufferObject) allocData(size int) []byte {
	b := allocByteSlice(size)
	if o.val != nil {
		o.val.runtime.arrayBufferAllocated(b)
	}
	return b
}
