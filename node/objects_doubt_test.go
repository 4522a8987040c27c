package node

import (
	"context"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// TestObjectCallsProbeADoubtedOwner: once a call to an object's owner was
// lost, the caller's next calls to that node go only after it answers a
// probe. An owner cut off from the network (its connection still looks
// open: a node that died) gets no call at all: the caller looks for the
// owner again, as when a stream cannot open. Before, a call made after the
// owner died went out on that connection and was lost too, reported as one
// that "may or may not have run", while the object's group was still
// electing its new leader; an idle object's first call after its owner's
// death failed so.
func TestObjectCallsProbeADoubtedOwner(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping a 2-node replicated cluster")
	}
	c, nodes := objectClusterTuned(t, nil, "a", "b")
	a := nodes[0]
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(a, "a", "b") && sees(nodes[1], "a", "b") })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A live node answers the probe, and is trusted again.
	a.objects.doubt("b")
	if a.objects.trusted("b") {
		t.Fatal("b trusted right after a lost call")
	}
	if !a.objects.probe(ctx, "b") || !a.objects.trusted("b") {
		t.Fatalf("a live b: probe answered %v, trusted %v", a.objects.probe(ctx, "b"), a.objects.trusted("b"))
	}

	// Cut off, it gets no call: forward says "not the owner" within the
	// probe's time, having sent nothing.
	c.fabric.Isolate("b")
	a.objects.doubt("b")
	call := &objectCall{Kind: isolate.ObjectFetch, Ref: isolate.ObjectRef{Worker: "w", Class: "C", ID: "0000"}, Request: &isolate.Request{URL: "http://x/"}}
	start := time.Now()
	rep := a.objects.forward(ctx, "b", call)
	if took := time.Since(start); !rep.NotOwner || rep.Error != "" || took > 5*objectOpenTimeout {
		t.Fatalf("a call to a doubted, unreachable owner: %+v after %v, want NotOwner within the probe's time", rep, took)
	}
	if a.objects.trusted("b") {
		t.Fatal("an unreachable b trusted")
	}

	// Back on the network, it answers a probe again.
	c.fabric.Heal()
	waitFor(t, 15*time.Second, "b answering a probe after the heal", func() bool { return a.objects.probe(ctx, "b") })
	if !a.objects.trusted("b") {
		t.Fatal("b answered, not trusted")
	}
}
