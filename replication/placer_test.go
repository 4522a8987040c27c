package replication

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmesh/warren/replication/placement"
)

// TestStartChangeBacksOff: a group whose placement change fails is not
// changed again before its wait (changeBackoffMin, doubling), where it was
// started again as fast as the loop asked, thousands of times a second; a
// change that succeeds clears the wait.
func TestStartChangeBacksOff(t *testing.T) {
	c := &Cluster{
		log: slog.New(slog.DiscardHandler), kick: make(chan struct{}, 1),
		pending: map[placement.GroupID]placement.Change{}, retry: map[placement.GroupID]changeRetry{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	defer c.cancel()
	ch := placement.Change{Op: placement.CreateGroup, Group: 7}
	var tries atomic.Int32
	fail := func(context.Context) error { tries.Add(1); return errors.New("too many open files") }

	// The reconcile loop asking without pause for 350 ms: tries at 0, then
	// after 100 ms and 200 ms more waits (at 100 and 300 ms).
	for end := time.Now().Add(350 * time.Millisecond); time.Now().Before(end); {
		c.startChange(ch, fail)
		c.wg.Wait()
	}
	if n := tries.Load(); n < 2 || n > 4 {
		t.Fatalf("a failing change was tried %d times in 350 ms, want 2 to 4 (100 ms, then 200 ms between)", n)
	}
	c.pmu.Lock()
	r := c.retry[ch.Group]
	c.pmu.Unlock()
	if r.failures != int(tries.Load()) || !r.at.After(time.Now()) {
		t.Fatalf("retry %+v after %d failures, want the failures counted and a wait ahead", r, tries.Load())
	}

	// Asked again, the change runs once the wait is over, and its
	// success clears the wait.
	var ok atomic.Int32
	for deadline := time.Now().Add(5 * time.Second); ok.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the change never ran again after its wait")
		}
		c.startChange(ch, func(context.Context) error { ok.Add(1); return nil })
		c.wg.Wait()
		if ok.Load() == 0 && time.Now().Before(r.at) {
			time.Sleep(10 * time.Millisecond) // polling, at the loop's pace
		}
	}
	if since := time.Since(r.at); since < 0 {
		t.Fatalf("the change ran again %v before its wait was over", -since)
	}
	c.pmu.Lock()
	_, waiting := c.retry[ch.Group]
	c.pmu.Unlock()
	if ok.Load() != 1 || waiting {
		t.Fatalf("after the wait: the change ran %d times, wait kept %v; want it run once and the wait gone", ok.Load(), waiting)
	}
}
