package jsengine

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"weak"
)

// Flat bytes: the backing stores of ArrayBuffers count byte for byte
// against memoryMb, as V8 counts them (external memory), while the rest of
// goja's heap counts at 1/HeapRatio. A store is followed by a weak pointer
// to its first byte, which a collection clears once the store is garbage
// (a transfer or a detach keeps the same bytes, so it changes nothing).
//
// A weak pointer costs a special record on the store's span (about a
// microsecond for a small store among many on one span), so small stores
// are sampled, the way Go's heap profiler samples allocations: sample
// points fall on the stream of bytes allocated at random, on average one
// every flatSampleBytes; a store of n bytes that one falls on is followed
// with the weight n / (1 − e^(−n/flatSampleBytes)), the inverse of its
// chance of being sampled, so that the sum of the weights of the stores
// still alive is, on average, the bytes of the stores still alive,
// whichever of them the guest keeps. A store of flatExactBytes or more is
// always followed, with its own size.
const (
	flatSampleBytes = 16 << 10
	flatExactBytes  = 256 << 10
)

// flatBytes follows the ArrayBuffer backing stores of a process's
// runtimes (goja's Runtime.SetArrayBufferAllocHook, and the stores the
// Web API makes).
type flatBytes struct {
	untilNext atomic.Int64 // bytes until the next sample point
	total     atomic.Int64 // the weights of the stores followed: those alive as of the last prune, and those added since

	mu       sync.Mutex
	bufs     []flatBuf
	added    uint64 // stores ever followed (the seq of the next one)
	prunedAt uint64 // the collections counted when prune last ran
}

// flatBuf is a store followed.
type flatBuf struct {
	p   weak.Pointer[byte]
	w   int64  // its weight in bytes
	seq uint64 // the order it was followed in
}

// newFlatBytes returns an empty set.
func newFlatBytes() *flatBytes {
	f := &flatBytes{}
	f.untilNext.Store(nextSample())
	return f
}

// nextSample draws the distance in bytes to the next sample point.
func nextSample() int64 {
	return int64(rand.ExpFloat64()*flatSampleBytes) + 1
}

// add follows data, a backing store just allocated, if it is large or
// sampled. It is cheap for a store that is neither: one atomic add. The
// store counts with its capacity (filter's holds room for every element).
func (f *flatBytes) add(data []byte) {
	if len(data) == 0 {
		return
	}
	n := int64(cap(data))
	var w int64
	if n >= flatExactBytes {
		w = n
	} else {
		if f.untilNext.Add(-n) > 0 {
			return
		}
		f.untilNext.Store(nextSample())
		w = int64(math.Round(float64(n) / -math.Expm1(-float64(n)/flatSampleBytes)))
	}
	p := weak.Make(&data[0])
	f.mu.Lock()
	f.bufs = append(f.bufs, flatBuf{p: p, w: w, seq: f.added})
	f.added++
	f.total.Add(w) // under mu, so that prune's total is exact
	f.mu.Unlock()
}

// seq is the seq the next store followed will have.
func (f *flatBytes) seq() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.added
}

// prune forgets the stores collections have freed, if a collection ran
// since the last prune (gcs counts them) or force is set, and returns the
// weight of those still alive that were followed before seq before. It
// walks every store followed: a store a collection freed is known to be
// gone only once its span is swept, which a weak pointer's Value ensures.
func (f *flatBytes) prune(gcs uint64, force bool, before uint64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if gcs == f.prunedAt && !force {
		return -1
	}
	f.prunedAt = gcs
	var alive, older int64
	kept := f.bufs[:0]
	for _, b := range f.bufs {
		if b.p.Value() == nil {
			continue
		}
		kept = append(kept, b)
		alive += b.w
		if b.seq < before {
			older += b.w
		}
	}
	clear(f.bufs[len(kept):])
	f.bufs = kept
	if cap(f.bufs) > 1024 && len(f.bufs) < cap(f.bufs)/4 {
		f.bufs = append([]flatBuf(nil), f.bufs...)
	}
	f.total.Store(alive)
	return older
}
