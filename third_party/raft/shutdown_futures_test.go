// Copyright (c) HashiCorp, Inc.
// SPDX-License-Identifier: MPL-2.0

package raft

import (
	"errors"
	"io"
	"sync"
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

// blockingFSM holds every Apply until release is closed.
type blockingFSM struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (f *blockingFSM) Apply(*Log) interface{} {
	f.once.Do(func() { close(f.entered) })
	<-f.release
	return nil
}
func (f *blockingFSM) Snapshot() (FSMSnapshot, error) { return nil, errors.New("no snapshots") }
func (f *blockingFSM) Restore(io.ReadCloser) error    { return nil }

// Commands committed and queued for the state machine when the server shuts
// down are answered with ErrRaftShutdown (hashicorp/raft#498): runFSM
// returns without answering what it had not applied, and an Apply's
// future waited for ever.
func TestRaft_AppliesQueuedForFSMAnsweredAtShutdown(t *testing.T) {
	fsm := &blockingFSM{entered: make(chan struct{}), release: make(chan struct{})}
	conf := inmemConfig(t)
	c := MakeClusterCustom(t, &MakeClusterOpts{Peers: 1, Bootstrap: true, Conf: conf, MakeFSMFunc: func() FSM { return fsm }})
	defer c.Close()
	r := c.Leader()
	first := r.Apply([]byte("first"), 0)
	<-fsm.entered // the state machine is busy with the first command
	base := r.LastIndex()
	var queued []ApplyFuture
	for i := 0; i < 5; i++ {
		queued = append(queued, r.Apply([]byte("queued"), 0))
	}
	// Committed, all five, before the shutdown (under -race the last ones
	// were still in flight: answered ErrLeadershipLost, rightly).
	deadline := time.Now().Add(5 * time.Second)
	for r.LastIndex() < base+5 || r.CommitIndex() < r.LastIndex() {
		if time.Now().After(deadline) {
			t.Fatalf("the queued commands were not committed within 5 s: last %d, commit %d", r.LastIndex(), r.CommitIndex())
		}
		time.Sleep(time.Millisecond)
	}
	shut := r.Shutdown()
	for i, f := range append(queued, first) {
		done := make(chan error, 1)
		go func() { done <- f.Error() }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrRaftShutdown) {
				t.Errorf("command %d: %v, want ErrRaftShutdown", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("command %d: no answer 5 s after the shutdown", i)
		}
	}
	close(fsm.release)
	if err := shut.Error(); err != nil {
		t.Fatal(err)
	}
}
