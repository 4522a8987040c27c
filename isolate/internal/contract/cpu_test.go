package contract

import (
	"testing"
	"time"
)

func TestCountedCPU(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct{ busy, cpu, want time.Duration }{
		{100 * ms, 100 * ms, 100 * ms},             // it had a processor throughout
		{100 * ms, 90 * ms, 90 * ms},               // it waited 10 ms for one
		{100 * ms, 10 * ms, 10 * ms},               // it waited 90 ms: not charged for the wait
		{StarveGrace, 0, 0},                        // a whole grace of waiting costs nothing
		{StarveGrace + 400*ms, 360 * ms, 360 * ms}, // then over seven eighths of a processor: what it used
		{StarveGrace + 400*ms, 100 * ms, 350 * ms}, // less: seven eighths of the busy time past the grace
		{100 * ms, 300 * ms, 100 * ms},             // the collector on other threads: never more than busy
		{0, 0, 0},
	} {
		if got := CountedCPU(c.busy, c.cpu); got != c.want {
			t.Errorf("CountedCPU(%v, %v) = %v, want %v", c.busy, c.cpu, got, c.want)
		}
	}
}

// A CPUTimer whose clock says the call used no CPU (it waited for a
// processor) expires only at StarveGrace plus 8/7 of its limit on the wall
// clock; one with no clock at its limit.
func TestCPUTimer(t *testing.T) {
	const limit = 70 * time.Millisecond
	for _, c := range []struct {
		name  string
		clock func() time.Duration
		least time.Duration
	}{
		{"no clock", nil, limit},
		{"starved", func() time.Duration { return time.Second }, StarveGrace + limit*8/7},
	} {
		done := make(chan struct{})
		start := time.Now()
		ct := StartCPUTimer(c.clock, limit, func() { close(done) })
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: never expired", c.name)
		}
		if took := time.Since(start); took < c.least {
			t.Errorf("%s: expired after %v, want at least %v", c.name, took, c.least)
		}
		if used := NewCPUMeter(c.clock).Used(StarveGrace + 80*time.Millisecond); c.clock != nil && used != 70*time.Millisecond {
			t.Errorf("%s: Used(StarveGrace + 80ms) = %v, want 70ms (seven eighths of what passed the grace)", c.name, used)
		}
		ct.Stop()
	}
}

// A paused CPUTimer (a call waiting on a host call) neither counts the
// pause nor expires during it.
func TestCPUTimerPause(t *testing.T) {
	const limit = 50 * time.Millisecond
	expired := make(chan time.Time, 1)
	ct := StartCPUTimer(nil, limit, func() { expired <- time.Now() })
	defer ct.Stop()
	ct.Pause()
	time.Sleep(2 * limit) // the host call's wait
	if used := ct.Used(); used >= limit {
		t.Fatalf("Used() = %v after a pause of %v and almost no busy time", used, 2*limit)
	}
	select {
	case <-expired:
		t.Fatal("expired while paused")
	default:
	}
	resumed := time.Now()
	ct.Resume()
	select {
	case at := <-expired:
		if at.Sub(resumed) < limit/2 {
			t.Errorf("expired %v after the pause ended, with %v of the limit left", at.Sub(resumed), limit)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("never expired")
	}
}
