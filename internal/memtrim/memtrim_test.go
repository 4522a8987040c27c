package memtrim

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func released() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

var sink [][]byte

func TestTrimAfterSpike(t *testing.T) {
	debug.FreeOSMemory()
	if Trim(64 << 20) {
		t.Fatal("trimmed a heap without a spike")
	}
	// No collection while the spike builds: the test wants all of it dead at once.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for range 256 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	if e := Excess(); e < 192<<20 {
		t.Fatalf("excess after dropping 256 MiB: %d MiB, want ≥ 192", e>>20)
	}
	before := released()
	if !Trim(64 << 20) {
		t.Fatal("did not trim after a 256 MiB spike")
	}
	if got := released() - before; got < 192<<20 {
		t.Fatalf("released %d MiB, want ≥ 192", got>>20)
	}
	if e := Excess(); e > 64<<20 {
		t.Fatalf("excess after trimming: %d MiB", e>>20)
	}
}

var live [][]byte

// The last collection ran while the spike was live, so nothing looks in
// excess; once the process is quiet, the trimmer still gives the spike
// back, and only once.
func TestTrimmerAfterALiveSpike(t *testing.T) {
	debug.FreeOSMemory()
	var tr trimmer
	tr.step(64 << 20) // learn the collection count
	for range 256 {
		live = append(live, make([]byte, 1<<20))
	}
	runtime.GC() // at the peak: 256 MiB live
	live = nil
	if e := Excess(); e > 64<<20 {
		t.Fatalf("excess %d MiB: the test wants a collection at the peak", e>>20)
	}
	if tr.step(64 << 20) {
		t.Fatal("trimmed right after a collection: the process is not quiet")
	}
	before := released()
	if !tr.step(64 << 20) {
		t.Fatal("a quiet process holding a dead 256 MiB spike was not trimmed")
	}
	if got := released() - before; got < 192<<20 {
		t.Fatalf("released %d MiB, want ≥ 192", got>>20)
	}
	if tr.step(64 << 20) {
		t.Fatal("trimmed again with nothing new to give back")
	}
}

// An idle process is checked less and less often, down to MaxIdleInterval;
// a collection brings the checks back to every interval.
func TestRunBacksOffWhenIdle(t *testing.T) {
	debug.FreeOSMemory()
	var tr trimmer
	tr.step(64 << 20)
	const base = 2 * time.Second
	wait := base
	var waits []time.Duration
	for range 8 {
		tr.step(64 << 20)
		wait = tr.next(wait, base, MaxIdleInterval)
		waits = append(waits, wait)
	}
	if waits[len(waits)-1] != MaxIdleInterval {
		t.Fatalf("waits of an idle process: %v, want them to reach %v", waits, MaxIdleInterval)
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] {
			t.Fatalf("waits of an idle process shrank: %v", waits)
		}
	}
	runtime.GC()
	tr.step(64 << 20)
	if w := tr.next(wait, base, MaxIdleInterval); w != base {
		t.Fatalf("wait after a collection: %v, want %v", w, base)
	}
}
