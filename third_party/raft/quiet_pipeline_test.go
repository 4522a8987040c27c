// Copyright (c) HashiCorp, Inc.
// SPDX-License-Identifier: MPL-2.0

package raft

import (
	"sync/atomic"
	"testing"
	"time"
)

// countingTransport counts the AppendEntries requests a leader sends on
// its pipelines (heartbeats do not use them).
type countingTransport struct {
	*InmemTransport
	pipelined *atomic.Int64
}

func (c countingTransport) AppendEntriesPipeline(id ServerID, target ServerAddress) (AppendPipeline, error) {
	p, err := c.InmemTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return countingPipeline{AppendPipeline: p, n: c.pipelined}, nil
}

type countingPipeline struct {
	AppendPipeline
	n *atomic.Int64
}

func (c countingPipeline) AppendEntries(args *AppendEntriesRequest, resp *AppendEntriesResponse) (AppendFuture, error) {
	c.n.Add(1)
	return c.AppendPipeline.AppendEntries(args, resp)
}

// An idle group's leader sends its followers nothing on CommitTimeout once
// they have every entry and the commit index; a new entry, and the commit
// index that follows it, still go out.
func TestPipelineQuietWhenIdle(t *testing.T) {
	conf := inmemConfig(t)
	conf.CommitTimeout = 10 * time.Millisecond
	var pipelined atomic.Int64
	c := MakeClusterCustom(t, &MakeClusterOpts{
		Peers: 3, Bootstrap: true, Conf: conf,
		WrapTransport: func(i int, trans Transport) Transport {
			return countingTransport{InmemTransport: trans.(*InmemTransport), pipelined: &pipelined}
		},
	})
	defer c.Close()
	leader := c.Leader()
	if err := leader.Apply([]byte("one"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	c.EnsureSame(t) // the followers applied it: they learnt the commit index
	// Let the pipelines settle: the commit index of the entry goes out on
	// the next CommitTimeout.
	time.Sleep(10 * conf.CommitTimeout) // letting timers fire, not waiting for a condition
	before := pipelined.Load()
	time.Sleep(50 * conf.CommitTimeout) // counting what an idle group sends
	idle := pipelined.Load() - before
	t.Logf("%d pipelined AppendEntries to 2 followers over %v of idleness", idle, 50*conf.CommitTimeout)
	if idle > 2 {
		t.Fatalf("an idle leader sent %d AppendEntries in 50 CommitTimeouts, want none", idle)
	}
	if err := leader.Apply([]byte("two"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	c.EnsureSame(t)
	if pipelined.Load() == before+idle {
		t.Fatal("the new entry went out without the pipeline")
	}
}

// An idle group's leader keeps no CommitTimeout timer for a follower that
// has every entry and the commit index (it used to make one every
// CommitTimeout, to find there was nothing to send); the commit index of a
// new entry still reaches the followers.
func TestPipelineNoTimerWhenIdle(t *testing.T) {
	conf := inmemConfig(t)
	conf.CommitTimeout = 10 * time.Millisecond
	c := MakeClusterCustom(t, &MakeClusterOpts{Peers: 3, Bootstrap: true, Conf: conf})
	defer c.Close()
	leader := c.Leader()
	if err := leader.Apply([]byte("one"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	c.EnsureSame(t)
	time.Sleep(10 * conf.CommitTimeout) // letting timers fire, not waiting for a condition
	before := pipelineCommitTimers.Load()
	time.Sleep(50 * conf.CommitTimeout) // counting what an idle group arms
	idle := pipelineCommitTimers.Load() - before
	t.Logf("%d CommitTimeout timers armed for 2 followers over %v of idleness", idle, 50*conf.CommitTimeout)
	if idle > 2 {
		t.Fatalf("an idle leader armed %d CommitTimeout timers in 50 CommitTimeouts, want none", idle)
	}
	// A new entry: its commit index reaches the followers on the next
	// CommitTimeout (EnsureSame waits for their FSMs to apply it).
	if err := leader.Apply([]byte("two"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	c.EnsureSame(t)
	if pipelineCommitTimers.Load() == before+idle {
		t.Fatal("no CommitTimeout armed for the new entry's commit index")
	}
}
