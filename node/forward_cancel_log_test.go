package node

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// TestForwardedCancelNotLogged: a caller that cancels its forwarded calls
// again and again does not make the forwarding node log a failure of the
// peer for each: the peer did not fail, the caller went away. Before, each
// canceled call logged "the peer failed during the invocation" at INFO,
// so a client set the rate at which the node wrote its log.
func TestForwardedCancelNotLogged(t *testing.T) {
	var logs lockedBuffer
	c := newCluster(t, 10, "q1", "q2")
	c.tune = func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	q1 := c.start("q1", c.secret, 1)
	q2 := c.start("q2", c.secret, 1, "q1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(q1, "q1", "q2") })
	hold, release := context.WithCancel(context.Background())
	defer release()
	go q1.Run(hold, sleepReq(60000))
	waitFor(t, 5*time.Second, "q1 busy", func() bool { return q1.running.Load() == 1 })
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan *isolate.Result, 1)
		go func() { done <- q1.Run(ctx, sleepReq(60000)) }()
		waitFor(t, 5*time.Second, "the call started on q2", func() bool { return q2.running.Load() == 1 && q1.remote.Load() == 1 })
		cancel()
		if r := <-done; r.Outcome != isolate.OutcomeCanceled {
			t.Fatalf("call %d: %s %q", i, r.Outcome, r.Error)
		}
		// Well before the call's own end: the cancellation freed it (a
		// reset lost with a datagram the fabric's full queue dropped is
		// sent again, later under load).
		waitFor(t, 40*time.Second, "q2 frees its slot", func() bool { return len(q2.slots) == 0 && q2.running.Load() == 0 })
	}
	if k := strings.Count(logs.String(), "the peer failed"); k > 0 {
		t.Fatalf("5 canceled calls logged %d failures of the peer:\n%s", k, logs.String())
	}
}
