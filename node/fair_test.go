package node

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// withWall is the sleeper asking for wallMs of wall time.
func withWall(ms int, wallMs int64) *RunRequest {
	var c isolate.Code
	if err := json.Unmarshal(sleeper, &c); err != nil {
		panic(err)
	}
	c.Limits = &isolate.Limits{WallMs: wallMs}
	b, _ := json.Marshal(&c)
	r := sleepReq(ms)
	r.Code = b
	return r
}

// TestMaxWallMs: a call asking for more wall time than a node allows is
// denied, whether it would run there or on a peer that allows more; a peer
// applies its own ceiling to what it is forwarded. A call that asks for
// nothing gets the lower of the default and the ceiling.
func TestMaxWallMs(t *testing.T) {
	c := newCluster(t, 16, "low", "high")
	c.tune = func(cfg *Config) {
		if cfg.Name == "low" {
			cfg.MaxWallMs = 1000
		}
	}
	low := c.start("low", c.secret, 1)
	high := c.start("high", c.secret, 1, "low")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(low, "low", "high") && sees(high, "low", "high") })
	if high.cfg.MaxWallMs != DefaultMaxWallMs {
		t.Fatalf("default MaxWallMs %d", high.cfg.MaxWallMs)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		req  *RunRequest
		want isolate.Outcome
	}{
		{withWall(0, 1000), isolate.OutcomeOK},
		{withWall(0, 1001), isolate.OutcomeDenied},
		{sleepReq(0), isolate.OutcomeOK},
	} {
		if r := low.Run(ctx, tc.req); r.Outcome != tc.want || strings.Join(r.Telemetry.Hops, ">") != "low" {
			t.Errorf("on low: %s %q hops %v, want %s on low", r.Outcome, r.Error, r.Telemetry.Hops, tc.want)
		}
	}
	// The default wall time on low is its ceiling: the runtime stops a
	// call there, not 30 s later.
	if r := low.Run(ctx, sleepReq(5000)); r.Outcome != isolate.OutcomeExceededWallTime {
		t.Errorf("a 5 s sleeper on low: %s %q, want exceededWallTime", r.Outcome, r.Error)
	}
	// low is full: a call over its ceiling is denied, not sent to high.
	hold, release := context.WithCancel(ctx)
	defer release()
	go low.Run(hold, withWall(20000, 1000))
	waitFor(t, 5*time.Second, "low busy", func() bool { return low.running.Load() == 1 })
	ran := high.ran.Load()
	r := low.Run(ctx, withWall(0, 5000))
	if r.Outcome != isolate.OutcomeDenied || !strings.Contains(r.Error, "limits.wallMs 5000") || high.ran.Load() != ran {
		t.Errorf("over low's ceiling while low is full: %s %q, high ran %d more", r.Outcome, r.Error, high.ran.Load()-ran)
	}
	if r := low.Run(ctx, withWall(0, 1000)); !r.OK() || strings.Join(r.Telemetry.Hops, ">") != "low>high" {
		t.Errorf("within the ceiling while low is full: %s %q hops %v, want ok on high", r.Outcome, r.Error, r.Telemetry.Hops)
	}
	// high is full: a call within its ceiling but over low's, forwarded to
	// low, is denied there.
	holdHigh, releaseHigh := context.WithCancel(ctx)
	defer releaseHigh()
	go high.Run(holdHigh, sleepReq(20000))
	waitFor(t, 5*time.Second, "high busy", func() bool { return high.running.Load() == 1 })
	release()
	waitFor(t, 5*time.Second, "low free", func() bool { return low.running.Load() == 0 && len(low.slots) == 0 })
	r = high.Run(ctx, withWall(0, 5000))
	if r.Outcome != isolate.OutcomeDenied || strings.Join(r.Telemetry.Hops, ">") != "high>low" || !strings.Contains(r.Error, "maximum of 1000") {
		t.Errorf("over low's ceiling, forwarded to low: %s %q hops %v", r.Outcome, r.Error, r.Telemetry.Hops)
	}
}
