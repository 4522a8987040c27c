package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// A client is low for heavyFor after one of its calls was demoted or ended
// having used heavyCPU, and only that client; the memory stays bounded.
func TestHeavyClients(t *testing.T) {
	h := newHeavyClients()
	now := time.Now()
	if h.low("a", now) {
		t.Fatal("a client nobody marked is low")
	}
	h.mark("a", now)
	if !h.low("a", now.Add(heavyFor/2)) || h.low("b", now) {
		t.Fatalf("after marking a: a low %v, b low %v; want true, false", h.low("a", now.Add(heavyFor/2)), h.low("b", now))
	}
	if h.low("a", now.Add(heavyFor)) {
		t.Errorf("a is still low %v after its mark", heavyFor)
	}
	if n := h.n.Load(); n != 0 {
		t.Errorf("%d clients remembered after the only mark lapsed", n)
	}

	// OnDemote marks the client; so does a call that ended past heavyCPU.
	s := h.sched("c")
	if s.Low || s.OnDemote == nil {
		t.Fatalf("first call of c: %+v", s)
	}
	s.OnDemote()
	if !h.sched("c").Low {
		t.Error("a call of c was demoted, and the next is not low")
	}
	res := &isolate.Result{}
	res.Telemetry.CPUTime = float64(heavyCPU/time.Millisecond) - 1
	h.ended("d", res)
	if h.low("d", time.Now()) {
		t.Errorf("a call of %v ms made its client low", res.Telemetry.CPUTime)
	}
	res.Telemetry.CPUTime = float64(heavyCPU / time.Millisecond)
	h.ended("d", res)
	if !h.low("d", time.Now()) {
		t.Errorf("a call of %v ms left its client at the normal weight", res.Telemetry.CPUTime)
	}

	// Full: lapsed marks go first; with none lapsed, a new client is not
	// remembered, and the others stay.
	h = newHeavyClients()
	for i := range maxHeavy {
		h.mark(fmt.Sprint(i), now)
	}
	h.mark("new", now.Add(time.Millisecond))
	if h.low("new", now.Add(time.Millisecond)) || !h.low("0", now.Add(time.Millisecond)) {
		t.Error("a full memory dropped an unlapsed client for a new one")
	}
	h.mark("new", now.Add(heavyFor))
	if !h.low("new", now.Add(heavyFor)) || len(h.until) != 1 {
		t.Errorf("once the others lapsed, new is low %v with %d remembered; want true, 1", h.low("new", now.Add(heavyFor)), len(h.until))
	}
}
