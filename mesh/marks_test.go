package mesh

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"
)

// A mark set on one node reaches the others in its metadata, wakes
// NotifyChanges, and stays out of Peer.Tags; marks are bounded, and a tag
// under the marks' prefix is refused.
func TestMarks(t *testing.T) {
	nodes := startCluster(t, 3, clusterOpts{})
	changed := make(chan struct{}, 1)
	nodes[2].NotifyChanges(changed)
	waitFor(t, 10*time.Second, "all alive", func() (bool, string) {
		n := 0
		for _, p := range nodes[2].Members() {
			if p.State == StateAlive {
				n++
			}
		}
		return n == 3, fmt.Sprint(n)
	})
	select {
	case <-changed: // the joins
	default:
	}
	if err := nodes[0].SetMark("view", 7); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].SetMark("view", 9); err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"n0": 7, "n1": 9}
	waitFor(t, 10*time.Second, "the marks gossiped", func() (bool, string) {
		got := nodes[2].Marks("view")
		return maps.Equal(got, want), fmt.Sprint(got)
	})
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("a peer's new mark did not signal NotifyChanges")
	}
	if got := nodes[0].Marks("view"); got["n0"] != 7 {
		t.Fatalf("a node's own mark: %v", got)
	}
	if got := nodes[2].Marks("other"); len(got) != 0 {
		t.Fatalf("marks nobody set: %v", got)
	}
	p, _ := nodes[2].Peer("n0")
	if len(p.Tags) != 2 || p.Tags["zone"] != "z0" {
		t.Fatalf("a peer's tags with a mark set: %v", p.Tags)
	}

	for i := range 3 {
		if err := nodes[0].SetMark(fmt.Sprint("m", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := nodes[0].SetMark("one-too-many", 1); err == nil {
		t.Fatal("a fifth mark was accepted")
	}
	if err := nodes[0].SetMark("view", 8); err != nil {
		t.Fatalf("changing a mark when there are 4: %v", err)
	}
	if err := nodes[0].SetMark("a-name-longer-than-16", 1); err == nil {
		t.Fatal("a long mark name was accepted")
	}
	waitFor(t, 10*time.Second, "the changed mark gossiped", func() (bool, string) {
		got := nodes[2].Marks("view")
		return got["n0"] == 8, fmt.Sprint(got)
	})

	_, err := Start(context.Background(), Config{Name: "x", ID: "x", Secret: testSecret(), Bind: "127.0.0.1:0", Tags: map[string]string{"~view": "1"}})
	if err == nil {
		t.Fatal("a tag under the marks' prefix was accepted")
	}
}
