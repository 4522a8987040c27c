package jsengine

import (
	"runtime"
	"runtime/metrics"
	"sync"
)

// HeapRatio is how many bytes of goja's heap count as one byte of V8's:
// memoryMb means what it means on Cloudflare, so a call may grow the live
// heap of its worker by HeapRatio × memoryMb MiB, and its
// telemetry.memoryBytes is that growth divided by HeapRatio.
//
// The figure is measured, not guessed: isolate/testdata/memory holds
// data-heavy Workers (objects, numbers, strings, typed arrays, Maps and
// Sets, parsed JSON, closures), with the memory Node's V8 holds for each
// (v8.json, made by v8measure.js). goja holds 0.7× (short strings) to
// 7.7× (parsed JSON) as much; 8 is the smallest whole ratio at or above every
// one of them, so that whatever fits in 128 MB in V8 fits here
// (TestMemoryCorpusRatio checks each Worker against it).
const HeapRatio = 8

// preCleanMax is the most a call's baseline may have grown since the last
// collection at a call's start before the call collects first (less for
// small limits: an eighth of the call's heap allowance).
const preCleanMax = 64 << 20

// HeapMeter reads the Go heap of a sandbox worker for the memory limit. The
// heap in use, cheap to read, counts garbage not yet collected too; only a
// collection tells the live heap. So a call whose heap in use passes its
// limit asks for a full collection (in the background, the guest runs on)
// and is judged by the live heap that collection finds.
type HeapMeter struct {
	mu      sync.Mutex
	samples []metrics.Sample
	asked   uint64 // collections asked for
	done    uint64 // the last ask the collector has answered
	live    int64  // the live heap it found
	running bool   // the collector goroutine is running
	floor   int64  // the heap in use after the last collection baseline ran
}

// NewHeapMeter returns a meter of this process's heap.
func NewHeapMeter() *HeapMeter {
	return &HeapMeter{samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
	}}
}

// read returns the heap in use (live and not yet collected objects) and
// the live heap as of the last collection.
func (m *HeapMeter) read() (inUse, live int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	metrics.Read(m.samples)
	return int64(m.samples[0].Value.Uint64()), int64(m.samples[1].Value.Uint64())
}

// allocated is the total the process has allocated on the heap so far.
func (m *HeapMeter) allocated() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	metrics.Read(m.samples)
	return int64(m.samples[2].Value.Uint64())
}

// InUse is the heap in use: live objects and garbage not yet collected.
func (m *HeapMeter) InUse() int64 {
	h, _ := m.read()
	return h
}

// baseline is the heap a call starts from, for a call that may grow it by
// allowance: the heap in use, after a collection if it has grown by more
// than an eighth of allowance (at most preCleanMax) since the last one
// here. Garbage earlier calls left would otherwise sit in the baseline and
// be collected during the call, which then could grow its live heap by
// that much more than its allowance.
func (m *HeapMeter) baseline(allowance int64) int64 {
	h, _ := m.read()
	m.mu.Lock()
	floor := m.floor
	m.mu.Unlock()
	if h-floor > min(preCleanMax, allowance/8) {
		runtime.GC()
		h, _ = m.read()
		m.mu.Lock()
		m.floor = h
		m.mu.Unlock()
	}
	return h
}

// ask asks for a full collection that starts after now and returns the
// ticket to pass to found.
func (m *HeapMeter) ask() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.asked++
	if !m.running {
		m.running = true
		go m.collect()
	}
	return m.asked
}

// collect runs collections until every ask is answered.
func (m *HeapMeter) collect() {
	for {
		m.mu.Lock()
		if m.done >= m.asked {
			m.running = false
			m.mu.Unlock()
			return
		}
		target := m.asked
		m.mu.Unlock()
		allocs := m.allocated()
		fullCollection()
		_, live := m.read()
		// The collector marks what the guest allocates while it runs as
		// live (a guest churning through buffers would look as if it
		// held them): what was allocated meanwhile is left out. What of
		// it is really live counts at the next collection.
		live -= m.allocated() - allocs
		m.mu.Lock()
		m.done, m.live = target, live
		m.mu.Unlock()
	}
}

// found returns the live heap found by a collection that started after
// ticket's ask, once there is one.
func (m *HeapMeter) found(ticket uint64) (live int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done < ticket {
		return 0, false
	}
	return m.live, true
}

// fullCollection runs a full collection with at least two Ps. A sandbox
// worker runs on one (GOMAXPROCS=1), where the collector has only a
// fraction of the P the guest is busy on: a collection the watchdog waits
// for then takes hundreds of milliseconds while the guest goes on
// allocating. With a second P it has a mark worker of its own and takes
// about as long as the marking (~10 ms for a 1 GiB string).
func fullCollection() {
	if prev := runtime.GOMAXPROCS(0); prev < 2 {
		runtime.GOMAXPROCS(2)
		defer runtime.GOMAXPROCS(prev)
	}
	runtime.GC()
}
