// Copyright IBM Corp. 2013, 2025
// SPDX-License-Identifier: MPL-2.0

package raft

import "testing"

// Shutdown is a final state: a transition that a loop makes after
// Shutdown set it (a follower's heartbeat timeout that raced the
// shutdown) leaves it Shutdown, and observers are not told otherwise.
func TestSetState_ShutdownIsFinal(t *testing.T) {
	var s raftState
	s.setState(Candidate)
	if got := s.getState(); got != Candidate {
		t.Fatalf("state %v, want Candidate", got)
	}
	s.setState(Shutdown)
	for _, next := range []RaftState{Candidate, Follower, Leader} {
		s.setState(next)
		if got := s.getState(); got != Shutdown {
			t.Fatalf("after Shutdown, setState(%v) left %v", next, got)
		}
	}

	c := MakeCluster(1, t, nil)
	defer c.Close()
	r := c.rafts[0]
	obs := make(chan Observation, 8)
	r.RegisterObserver(NewObserver(obs, true, func(o *Observation) bool { _, ok := o.Data.(RaftState); return ok }))
	if err := r.Shutdown().Error(); err != nil {
		t.Fatal(err)
	}
	r.setState(Candidate)
	if got := r.State(); got != Shutdown {
		t.Fatalf("a shut down server's state: %v", got)
	}
	for len(obs) > 0 {
		if o := <-obs; o.Data.(RaftState) == Candidate {
			t.Fatal("observers were told of a Candidate after the shutdown")
		}
	}
}
