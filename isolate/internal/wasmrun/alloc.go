package wasmrun

import (
	"math/bits"
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// Linear memory buffers of power-of-two capacities from 64 KiB to 16 MiB are
// recycled between calls: a fresh 64 KiB from the Go heap costs page faults,
// zeroing and GC work that dominate the start-up of a small guest. A buffer
// goes back to its pool only from Run, after the guest's call has returned
// on Run's goroutine (so no guest code can still touch it), and it is zeroed
// first (only its used length: wasm code cannot address beyond it).
const (
	minPoolShift = 16 // 64 KiB
	maxPoolShift = 24 // 16 MiB
)

var bufPools [maxPoolShift - minPoolShift + 1]sync.Pool

// poolClass returns the pool index and capacity for a buffer of at least c
// bytes, or -1 when such buffers are not pooled.
func poolClass(c uint64) (int, uint64) {
	shift := max(bits.Len64(c-1), minPoolShift)
	if c == 0 || shift > maxPoolShift {
		return -1, c
	}
	return shift - minPoolShift, 1 << shift
}

// newBuf returns a zeroed buffer of length size and capacity at least c.
func newBuf(size, c uint64) []byte {
	c = max(c, size)
	k, pc := poolClass(c)
	if k < 0 {
		return make([]byte, size, c)
	}
	if p, ok := bufPools[k].Get().(*[]byte); ok {
		return (*p)[:size]
	}
	return make([]byte, size, pc)
}

// recycleBuf zeroes buf and returns it to its pool, if it came from one.
func recycleBuf(buf []byte) {
	c := uint64(cap(buf))
	k, pc := poolClass(c)
	if k < 0 || pc != c {
		return
	}
	clear(buf)
	buf = buf[:0]
	bufPools[k].Put(&buf)
}

// capAllocator is a per-call experimental.MemoryAllocator: it backs the
// guest's linear memory with an ordinary []byte and refuses to grow it past
// limit bytes, recording that it did so. It is used by one instance only and
// read after the guest has stopped.
//
// It is the call's experimental.TableLimiter too: a table entry is a
// machine word of the host's, and the entries of the module's tables count
// against the same limit as its linear memory (tableEntryBytes each).
type capAllocator struct {
	limit uint64 // 0 = no cap of ours
	mem   *capMemory
	// tableBytes is what the module's tables hold; tableDenied records a
	// table refused because of the cap.
	tableBytes  uint64
	tableDenied bool
}

// tableEntryBytes is what one table entry costs the host.
const tableEntryBytes = 8

// GrowTable implements experimental.TableLimiter: it refuses entries that
// would take the tables and the linear memory past the limit.
func (a *capAllocator) GrowTable(n uint64) bool {
	if a.limit == 0 {
		a.tableBytes += n * tableEntryBytes
		return true
	}
	if n > a.limit/tableEntryBytes || a.size()+a.tableBytes+n*tableEntryBytes > a.limit {
		a.tableDenied = true
		return false
	}
	a.tableBytes += n * tableEntryBytes
	return true
}

func (a *capAllocator) Allocate(capHint, max uint64) experimental.LinearMemory {
	m := &capMemory{limit: a.limit, capHint: capHint, tables: &a.tableBytes}
	if a.mem == nil {
		a.mem = m // WASI commands have one memory; the first is the one that counts.
	}
	return m
}

// denied reports whether a grow was refused because of the cap (or the
// initial size already exceeded it).
func (a *capAllocator) denied() bool { return a.tableDenied || a.mem != nil && a.mem.denied }

// size is the current (= peak) length of the linear memory in bytes.
func (a *capAllocator) size() uint64 {
	if a.mem == nil {
		return 0
	}
	return uint64(len(a.mem.buf))
}

type capMemory struct {
	limit   uint64
	capHint uint64
	tables  *uint64 // the bytes of the module's tables, which count against limit
	buf     []byte
	started bool
	denied  bool
}

func (m *capMemory) Reallocate(size uint64) []byte {
	if !m.started {
		// The initial allocation must not fail: wazero slices the result to
		// the module's minimum without checking. Run refuses modules whose
		// minimum exceeds the cap before instantiating them, so this is
		// only a safety net.
		m.started = true
		if m.limit > 0 && size > m.limit {
			m.denied = true
		}
		c := max(m.capHint, size)
		if m.limit > 0 && c > m.limit {
			c = max(size, m.limit)
		}
		m.buf = newBuf(size, c)
		return m.buf
	}
	if m.limit > 0 && size+*m.tables > m.limit {
		m.denied = true
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		// Bytes beyond len were zeroed when allocated and never written
		// (memory never shrinks).
		m.buf = m.buf[:size]
		return m.buf
	}
	old := uint64(cap(m.buf))
	newCap := old * 2
	if old >= 64<<20 {
		newCap = old + old/4
	}
	newCap = max(newCap, size)
	if m.limit > 0 && newCap > m.limit {
		newCap = m.limit
	}
	// The old buffer is left to the GC rather than recycled: wazero
	// switches to the new one, but being conservative costs little.
	nb := newBuf(size, newCap)
	copy(nb, m.buf)
	m.buf = nb
	return nb
}

// recycle returns the memory's buffer to the pool. Call only once the
// guest can no longer run (its call has returned).
func (a *capAllocator) recycle() {
	if a.mem != nil && a.mem.buf != nil {
		recycleBuf(a.mem.buf)
		a.mem.buf = nil
	}
}

// Free is a no-op: Run recycles the buffer itself. wazero may call Free from
// another goroutine while the guest still runs (Runtime.Close closes running
// modules), so Free must neither recycle the buffer nor touch state Run reads.
func (m *capMemory) Free() {}
