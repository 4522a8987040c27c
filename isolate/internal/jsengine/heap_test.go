package jsengine

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// waitFound polls m for the answer to ticket, for up to 10 s.
func waitFound(t *testing.T, m *HeapMeter, ticket uint64) int64 {
	t.Helper()
	live, _ := waitFoundFlat(t, m, ticket)
	return live
}

// waitFoundFlat is waitFound with the flat bytes found too.
func waitFoundFlat(t *testing.T, m *HeapMeter, ticket uint64) (live, flat int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if live, flat, ok := m.answer(ticket); ok {
			return live, flat
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no collection answered within 10 s")
	return 0, 0
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
	clean, _ := m.baseline(1 << 20) // collects (the floor starts at 0)
	for range 64 {
		sink = append(sink[:0], make([]byte, 1<<20))
	}
	sink = nil
	if got, _ := m.baseline(64 << 20); got-clean > 16<<20 {
		t.Errorf("baseline %d holds the 63 MiB of garbage over %d", got, clean)
	}

	// Flat bytes count HeapRatio times as much: 2 MiB of garbage stores
	// are left out of a baseline for an allowance of 64 MiB (8 MiB of
	// heap, 1 MiB of flat bytes).
	_, cleanFlat := m.baseline(64 << 20)
	for range 2 {
		b := make([]byte, 1<<20)
		m.AddFlat(b)
		sink = append(sink[:0], b)
	}
	sink = nil
	if _, flat := m.baseline(64 << 20); flat != cleanFlat {
		t.Errorf("baseline's flat bytes %d hold 2 MiB of garbage over %d", flat, cleanFlat)
	}
}

// TestHeapMeterFlat: the flat bytes a collection finds are the backing
// stores still alive, large ones exactly and small ones (sampled) about
// right, whichever the holder keeps; stores made while it runs are left
// out, as the live heap leaves them out.
func TestHeapMeterFlat(t *testing.T) {
	m := NewHeapMeter()
	alloc := func(n int) []byte {
		b := make([]byte, n)
		m.AddFlat(b)
		return b
	}
	_, base := waitFoundFlat(t, m, m.ask())

	// Large stores count exactly.
	big := [][]byte{alloc(64 << 20), alloc(300 << 10)}
	_, flat := waitFoundFlat(t, m, m.ask())
	if want := int64(64<<20 + 300<<10); flat-base != want {
		t.Errorf("flat %d holding %d bytes in two large stores", flat-base, want)
	}
	if _, inUse := m.InUse(); inUse-base != flat-base {
		t.Errorf("InUse's flat %d, the collection's %d", inUse-base, flat-base)
	}
	big[0] = nil
	_, flat = waitFoundFlat(t, m, m.ask())
	if want := int64(300 << 10); flat-base != want {
		t.Errorf("flat %d after dropping the 64 MiB store, want %d", flat-base, want)
	}

	// Small stores are sampled: 40,000 of 1,000 bytes (and an empty one,
	// never followed), then every other one dropped, then all but one in
	// four.
	small := make([][]byte, 40_000)
	for i := range small {
		small[i] = alloc(1000)
	}
	alloc(0)
	check := func(what string, want int64) {
		t.Helper()
		_, flat := waitFoundFlat(t, m, m.ask())
		got := flat - base - 300<<10
		t.Logf("%s: flat %d, held %d (%.3f)", what, got, want, float64(got)/float64(want))
		// A store of 1,000 bytes is sampled with a chance of 6 %: the
		// deviation of the sum for N stores held is sqrt(0.94 / 0.06N),
		// 4 % for the 10,000 held last; 20 % is 5 deviations out.
		if got < want*8/10 || got > want*12/10 {
			t.Errorf("%s: flat %d, want about %d", what, got, want)
		}
	}
	check("40,000 small stores", 40_000*1000)
	for i := 0; i < len(small); i += 2 {
		small[i] = nil
	}
	check("every other one dropped", 20_000*1000)
	for i := range small {
		if i%4 != 1 {
			small[i] = nil
		}
	}
	check("one in four kept", 10_000*1000)
	runtime.KeepAlive(big)
	runtime.KeepAlive(small)
}

// TestCounted: flat bytes count byte for byte, the rest of the heap's
// growth at 1/HeapRatio.
func TestCounted(t *testing.T) {
	for _, c := range []struct{ grown, flat, want int64 }{
		{0, 0, 0},
		{8 << 20, 0, 1 << 20},
		{64 << 20, 64 << 20, 64 << 20},
		{72 << 20, 64 << 20, 65 << 20},
		{1, 0, 1},
	} {
		if got := counted(c.grown, c.flat); got != c.want {
			t.Errorf("counted(%d, %d) = %d, want %d", c.grown, c.flat, got, c.want)
		}
	}
}

// TestEndedCallHoldsNothing: once a call has ended, nothing of the
// process keeps its runtime: a collection right after frees what the guest
// held. The call's deadline timer (a minute away) and its watchdog's are
// stopped, but Go drops a stopped timer from its heap lazily, and their
// functions reached the loop: the next call on the worker then started
// from a baseline holding the 64 MiB, and could use that much past its
// limit unseen once they were freed.
func TestEndedCallHoldsNothing(t *testing.T) {
	m := NewHeapMeter()
	base := waitFound(t, m, m.ask())
	func() {
		l := newLoop(false)
		defer l.api.Close()
		end := l.begin(context.Background(), &jsCall{limits: contract.Limits{CPUMs: 10_000, WallMs: 60_000, MemoryMB: 1024}, heap: m})
		if _, err := l.vm.RunString(`globalThis.kept = new Uint8Array(64 << 20)`); err != nil {
			t.Fatal(err)
		}
		end()
	}()
	if live := waitFound(t, m, m.ask()); live-base > 16<<20 {
		t.Errorf("%d MiB live once the call that held 64 MiB ended, %d MiB before it", live>>20, base>>20)
	}
}
