// Copyright (c) HashiCorp, Inc.
// SPDX-License-Identifier: MPL-2.0

package raft

import (
	"errors"
	"testing"
	"time"
)

// A VerifyLeader or LeadershipTransfer future queued on its buffered
// channel when the server shuts down is answered with ErrRaftShutdown. Once
// shutdownCh is closed, the request's select may still pick the buffered
// channel (both cases are ready), and nothing took the future off it: its
// Error blocked for ever.
func TestRaft_FuturesQueuedAtShutdownAreAnswered(t *testing.T) {
	c := MakeCluster(1, t, inmemConfig(t))
	defer c.Close()
	r := c.Leader()
	if err := r.Shutdown().Error(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for i := 0; i < 40; i++ {
		for name, f := range map[string]Future{"VerifyLeader": r.VerifyLeader(), "LeadershipTransfer": r.LeadershipTransfer()} {
			done := make(chan error, 1)
			go func() { done <- f.Error() }()
			select {
			case err := <-done:
				if !errors.Is(err, ErrRaftShutdown) && !errors.Is(err, ErrEnqueueTimeout) {
					t.Fatalf("%s after shutdown: %v, want ErrRaftShutdown", name, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s after shutdown: no answer in 5 s (attempt %d)", name, i)
			}
		}
	}
}
