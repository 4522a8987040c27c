package jsengine

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// waitFound polls m for the answer to ticket, for up to 10 s.
func waitFound(t *testing.T, m *HeapMeter, ticket uint64) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if live, ok := m.found(ticket); ok {
			return live
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no collection answered within 10 s")
	return 0
}

var sink [][]byte

// TestHeapMeterLive: a collection asked for finds what is held and not
// what was dropped.
func TestHeapMeterLive(t *testing.T) {
	m := NewHeapMeter()
	base := waitFound(t, m, m.ask())
	sink = [][]byte{make([]byte, 64<<20)}
	held := waitFound(t, m, m.ask())
	if held-base < 60<<20 {
		t.Errorf("live grew by %d holding 64 MiB", held-base)
	}
	sink = nil
	for range 64 {
		sink = append(sink[:0], make([]byte, 1<<20)) // 63 MiB of garbage
	}
	dropped := waitFound(t, m, m.ask())
	if held-dropped < 60<<20 {
		t.Errorf("live %d after dropping 64 MiB, %d before", dropped, held)
	}
	runtime.KeepAlive(sink)
}

// TestHeapMeterBaseline: a call's baseline leaves out the garbage earlier
// calls left, once it is more than an eighth of the call's allowance.
func TestHeapMeterBaseline(t *testing.T) {
	// No collection but the meter's: the garbage stays until it collects.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	m := NewHeapMeter()
	clean := m.baseline(1 << 20) // collects (the floor starts at 0)
	for range 64 {
		sink = append(sink[:0], make([]byte, 1<<20))
	}
	sink = nil
	if got := m.baseline(64 << 20); got-clean > 16<<20 {
		t.Errorf("baseline %d holds the 63 MiB of garbage over %d", got, clean)
	}
}
