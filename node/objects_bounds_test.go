package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// TestActorsPerWorker: one Worker's objects (newUniqueId in a loop, up to
// 50 new objects a call) take at most maxActorsPerWorker of the node's
// maxActors actors, so that other Workers' objects still open. Before,
// one Worker could hold every actor of the node for as long as it kept
// calling (an actor is kept objectIdle after its last call), and every
// other Worker's new objects there were refused.
func TestActorsPerWorker(t *testing.T) {
	o := newObjects(nil)
	ref := func(worker string, i int) isolate.ObjectRef {
		return isolate.ObjectRef{Worker: worker, Class: "C", ID: fmt.Sprintf("%064x", i)}
	}
	made := 0
	for i := range maxActors {
		if _, err := o.actor(ref("flood", i)); err == nil {
			made++
		}
	}
	if made > maxActorsPerWorker {
		t.Fatalf("one Worker holds %d actors, want at most %d", made, maxActorsPerWorker)
	}
	if _, err := o.actor(ref("flood", 0)); err != nil {
		t.Fatalf("an actor the Worker holds: %v", err)
	}
	if _, err := o.actor(ref("other", 0)); err != nil {
		t.Fatalf("another Worker's object: %v", err)
	}
	// The idle sweep gives the Worker's share back.
	o.sweep(time.Now().Add(2 * objectIdle))
	if n := o.active(); n != 0 {
		t.Fatalf("%d actors after the sweep", n)
	}
	if _, err := o.actor(ref("flood", maxActors)); err != nil {
		t.Fatalf("a new object after the sweep: %v", err)
	}
}
