package jsengine

import (
	"runtime"
	"runtime/metrics"
	"sync"
)

// HeapRatio is how many bytes of goja's heap count as one byte of V8's:
// memoryMb means what it means on Cloudflare, so a call may grow the live
// heap of its worker by HeapRatio × memoryMb MiB of objects, and its
// telemetry.memoryBytes counts their growth divided by HeapRatio. The
// backing stores of ArrayBuffers (flat bytes, which goja holds as V8 does)
// count byte for byte instead (see counted).
//
// The figure is measured, not guessed: isolate/testdata/memory holds
// data-heavy Workers (objects, numbers, strings, typed arrays, Maps and
// Sets, parsed JSON, closures), with the memory Node's V8 holds for each
// (v8.json, made by v8measure.js). goja holds 0.7× (short strings) to
// 7.7× (parsed JSON) as much; 8 is the smallest whole ratio at or above every
// one of them, so that whatever fits in 128 MB in V8 fits here
// (TestMemoryCorpusRatio checks each Worker against it).
const HeapRatio = 8

// counted is what a call whose heap grew by grown bytes, flat of them
// ArrayBuffer backing stores, has used as V8 counts memory: the flat
// bytes byte for byte, the rest divided by HeapRatio.
func counted(grown, flat int64) int64 {
	return (grown-flat+HeapRatio-1)/HeapRatio + flat
}

// preCleanMax is the most a call's baseline may have grown since the last
// collection at a call's start before the call collects first (less for
// small limits: an eighth of the call's heap allowance).
const preCleanMax = 64 << 20

// HeapMeter reads the Go heap of a sandbox worker for the memory limit,
// and the ArrayBuffer backing stores in it (flat bytes, see flatBytes).
// The heap in use, cheap to read, counts garbage not yet collected too;
// only a collection tells the live heap. So a call whose heap in use
// passes its limit asks for a full collection (in the background, the
// guest runs on) and is judged by the live heap that collection finds.
type HeapMeter struct {
	mu       sync.Mutex
	samples  []metrics.Sample
	inUse    []metrics.Sample // the two InUse reads
	asked    uint64           // collections asked for
	done     uint64           // the last ask the collector has answered
	live     int64            // the live heap it found
	liveFlat int64            // the flat bytes it found alive
	running  bool             // the collector goroutine is running
	floor    int64            // the heap in use after the last collection baseline ran
	flatFl   int64            // the flat bytes then

	flat  *flatBytes
	found sync.Cond // on mu: the collector answered an ask
}

// NewHeapMeter returns a meter of this process's heap.
func NewHeapMeter() *HeapMeter {
	m := &HeapMeter{samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}, inUse: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}, flat: newFlatBytes()}
	m.found.L = &m.mu
	return m
}

// AddFlat follows data, an ArrayBuffer backing store just allocated for a
// guest, as flat bytes (goja.Runtime.SetArrayBufferAllocHook). Stores that
// alias memory counted otherwise (a WebAssembly memory's) must not come here.
func (m *HeapMeter) AddFlat(data []byte) { m.flat.add(data) }

// read returns the heap in use (live and not yet collected objects), the
// live heap as of the last collection, and the collections so far.
func (m *HeapMeter) read() (inUse, live int64, gcs uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	metrics.Read(m.samples)
	return int64(m.samples[0].Value.Uint64()), int64(m.samples[1].Value.Uint64()), m.samples[3].Value.Uint64()
}

// allocated is the total the process has allocated on the heap so far.
func (m *HeapMeter) allocated() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	metrics.Read(m.samples)
	return int64(m.samples[2].Value.Uint64())
}

// InUse returns the heap in use (live objects and garbage not yet
// collected) and the flat bytes in it: those alive as of the last
// collection, and those allocated since. After a collection it walks the
// stores followed once, to forget those that were freed.
func (m *HeapMeter) InUse() (inUse, flat int64) {
	m.mu.Lock()
	metrics.Read(m.inUse)
	h, gcs := int64(m.inUse[0].Value.Uint64()), m.inUse[1].Value.Uint64()
	m.mu.Unlock()
	m.flat.prune(gcs, false, 0)
	return h, m.flat.total.Load()
}

// baseline is the heap a call starts from, for a call that may grow it by
// allowance: the heap in use, after a collection if it has grown by more
// than an eighth of allowance (at most preCleanMax) since the last one
// here. Garbage earlier calls left would otherwise sit in the baseline and
// be collected during the call, which then could grow its live heap by
// that much more than its allowance. flat is the flat bytes in that heap;
// since they count HeapRatio times as much, it collects too if they have
// grown by more than a HeapRatio-th of that.
func (m *HeapMeter) baseline(allowance int64) (heap, flat int64) {
	h, flat := m.InUse()
	m.mu.Lock()
	floor, flatFloor := m.floor, m.flatFl
	m.mu.Unlock()
	if most := min(preCleanMax, allowance/8); h-floor > most || flat-flatFloor > most/HeapRatio {
		runtime.GC()
		h, flat = m.InUse()
		m.mu.Lock()
		m.floor, m.flatFl = h, flat
		m.mu.Unlock()
	}
	return h, flat
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
		seq := m.flat.seq()
		allocs := m.allocated()
		fullCollection()
		_, live, gcs := m.read()
		// The collector marks what the guest allocates while it runs as
		// live (a guest churning through buffers would look as if it
		// held them): what was allocated meanwhile is left out, flat
		// bytes too. What of it is really live counts at the next
		// collection.
		live -= m.allocated() - allocs
		flat := m.flat.prune(gcs, true, seq)
		m.mu.Lock()
		m.done, m.live, m.liveFlat = target, live, flat
		m.found.Broadcast()
		m.mu.Unlock()
	}
}

// wait waits for a collection that started after ticket's ask and returns
// the live heap it found and the flat bytes in it.
func (m *HeapMeter) wait(ticket uint64) (live, flat int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.done < ticket {
		m.found.Wait()
	}
	return m.live, m.liveFlat
}

// answer returns the live heap found by a collection that started after
// ticket's ask, and the flat bytes in it, once there is one.
func (m *HeapMeter) answer(ticket uint64) (live, flat int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done < ticket {
		return 0, 0, false
	}
	return m.live, m.liveFlat, true
}

// tidyAfter is how much a worker's heap in use may have grown since the last
// collection baseline or Tidy ran before the worker collects between calls:
// what a call's baseline collects for under the default limits (preCleanMax),
// so that the collection moves off the next caller's time without running more
// often. At 16 MiB, a worker collected after every Python call (each leaves
// its instance's memory), and Python's throughput at 16 clients fell by 7 %.
const tidyAfter = preCleanMax

// Tidy returns the work a worker does between calls, or nil when there is none:
// a collection, when the heap in use has grown by more than tidyAfter since the
// last one baseline or Tidy ran (or its flat bytes by a HeapRatio-th of that).
// A call that left that much garbage (a guest that filled its memory limit, a
// large body) would otherwise have the next call on the worker collect it first,
// in that caller's time; between calls no caller waits (sandbox.Engine.Tidy).
func (m *HeapMeter) Tidy() (work func()) {
	h, flat := m.InUse()
	m.mu.Lock()
	floor, flatFloor := m.floor, m.flatFl
	m.mu.Unlock()
	if h-floor <= tidyAfter && flat-flatFloor <= tidyAfter/HeapRatio {
		return nil
	}
	return func() {
		runtime.GC()
		h, flat := m.InUse()
		m.mu.Lock()
		m.floor, m.flatFl = h, flat
		m.mu.Unlock()
	}
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
