package pyrun

import (
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// Linear memory buffers are recycled between calls: every call needs one
// at least as large as the snapshot, and a fresh one from the Go heap costs
// page faults and zeroing that would dominate the call. A buffer is
// recycled only after its instance is closed, and the part beyond the
// snapshot is zeroed then (the next call overwrites the rest with the
// snapshot, and wasm requires grown pages to read as zero).
var bufPool sync.Pool // *[]byte

// freeing is set while a debug.FreeOSMemory started by release runs.
var freeing atomic.Bool

// maxPooled is the largest buffer worth keeping for calls starting from a
// snapshot of hint bytes.
func maxPooled(hint uint64) uint64 { return 2*hint + 8<<20 }

// capAllocator is a per-call experimental.MemoryAllocator that refuses to
// grow linear memory past limit bytes and records that it did.
type capAllocator struct {
	limit uint64 // 0 = none of ours
	hint  uint64 // the snapshot's size: the capacity to start with
	mem   *capMemory
}

type capMemory struct {
	buf    []byte
	limit  uint64
	denied bool
	pooled bool
	used   uint64 // bytes that may be non-zero
	free   bool
}

func (a *capAllocator) Allocate(capHint, maxBytes uint64) experimental.LinearMemory {
	m := &capMemory{limit: a.limit}
	want := max(capHint, a.hint)
	if p, ok := bufPool.Get().(*[]byte); ok && uint64(cap(*p)) >= want {
		m.buf, m.pooled = (*p)[:0], true
	} else {
		m.buf = make([]byte, 0, want)
		m.pooled = true
	}
	if a.mem == nil {
		a.mem = m
	}
	return m
}

func (m *capMemory) Reallocate(size uint64) []byte {
	if m.limit > 0 && size > m.limit {
		m.denied = true
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
	} else {
		// Outgrown: a new buffer (zeroed by make), the old one is dropped.
		// Doubling, but never past the cap.
		c := 2 * uint64(cap(m.buf))
		if m.limit > 0 {
			c = min(c, m.limit)
		}
		nb := make([]byte, size, max(size, c))
		copy(nb, m.buf)
		m.buf = nb
	}
	m.used = max(m.used, size)
	return m.buf
}

func (m *capMemory) Free() { m.free = true }

func (a *capAllocator) denied() bool { return a.mem != nil && a.mem.denied }

func (a *capAllocator) size() uint64 {
	if a.mem == nil {
		return 0
	}
	return uint64(len(a.mem.buf))
}

// release returns the buffer to the pool; call it after the instance is
// closed (Run's deferred calls run in order: close, then release).
func (a *capAllocator) release() {
	m := a.mem
	if m == nil || !m.pooled || cap(m.buf) == 0 {
		a.mem = nil
		return
	}
	if uint64(cap(m.buf)) > maxPooled(a.hint) {
		// A call that grew far past the snapshot: the pool keeps only
		// buffers most calls can use, and its memory goes back to the OS
		// now rather than at the next collection, so that it does not
		// count against the calls after it (a sandbox worker's memory is
		// capped).
		a.mem = nil
		if freeing.CompareAndSwap(false, true) {
			go func() {
				debug.FreeOSMemory()
				freeing.Store(false)
			}()
		}
		return
	}
	b := m.buf[:m.used]
	// Only the part beyond the snapshot's size needs zeroing; the rest is
	// overwritten by the next restore. But data segments and the initial
	// memory are written by wazero before the restore too, so zero all of
	// what was used beyond hint.
	if uint64(len(b)) > a.hint {
		clear(b[a.hint:])
	}
	b = b[:0]
	bufPool.Put(&b)
	a.mem = nil
}
