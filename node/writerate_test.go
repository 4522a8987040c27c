package node

import (
	"testing"
	"time"
)

// TestWriteRate: a key writes its burst at once, then at the rate, in the
// order of its reservations; other keys are not held by it; a key that
// kept within the rate never waits.
func TestWriteRate(t *testing.T) {
	now := time.Unix(1000, 0)
	w := newWriteRate(1<<20, 2*time.Second) // 1 MiB a second, 2 s ahead
	w.now = func() time.Time { return now }
	const mib = 1 << 20
	for i, want := range []time.Duration{0, 0, 0, time.Second, 2 * time.Second} {
		if got := w.reserve("flood", mib); got != want {
			t.Errorf("reservation %d of a MiB: wait %v, want %v", i, got, want)
		}
	}
	if got := w.reserve("other", 3*mib); got != 0 {
		t.Errorf("another key waits %v", got)
	}
	// Time passes: the debt is paid at the rate.
	now = now.Add(3 * time.Second)
	if got := w.reserve("flood", mib); got != 0 {
		t.Errorf("after 3 s, wait %v, want 0", got)
	}
	// A steady writer within the rate never waits.
	for i := range 20 {
		now = now.Add(time.Second)
		if got := w.reserve("steady", mib/2); got != 0 {
			t.Fatalf("steady write %d waits %v", i, got)
		}
	}
	var off *writeRate
	if off.reserve("x", mib) != 0 || newWriteRate(0, 0).reserve("x", mib) != 0 {
		t.Error("a nil or unlimited pace waits")
	}
}
