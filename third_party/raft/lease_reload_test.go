// Copyright (c) HashiCorp, Inc.
// SPDX-License-Identifier: MPL-2.0

package raft

import (
	"testing"
	"time"
)

// ReloadConfig sets LeaderLeaseTimeout; zero leaves it as it is, and a
// lease above the heartbeat timeout is refused.
func TestReloadConfig_LeaderLeaseTimeout(t *testing.T) {
	conf := inmemConfig(t)
	c := MakeCluster(1, t, conf)
	defer c.Close()
	r := c.rafts[0]

	rc := r.ReloadableConfig()
	if rc.LeaderLeaseTimeout != conf.LeaderLeaseTimeout {
		t.Fatalf("ReloadableConfig reports a lease of %v, want %v", rc.LeaderLeaseTimeout, conf.LeaderLeaseTimeout)
	}
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = time.Second, time.Second, 400*time.Millisecond
	if err := r.ReloadConfig(rc); err != nil {
		t.Fatal(err)
	}
	if got := r.config().LeaderLeaseTimeout; got != 400*time.Millisecond {
		t.Fatalf("lease %v after the reload, want 400ms", got)
	}
	rc.LeaderLeaseTimeout = 0
	if err := r.ReloadConfig(rc); err != nil {
		t.Fatal(err)
	}
	if got := r.config().LeaderLeaseTimeout; got != 400*time.Millisecond {
		t.Fatalf("a zero lease in ReloadConfig changed it to %v", got)
	}
	rc.LeaderLeaseTimeout = 2 * time.Second
	if err := r.ReloadConfig(rc); err == nil {
		t.Fatal("a lease longer than the heartbeat timeout was accepted")
	}
	if got := r.config().LeaderLeaseTimeout; got != 400*time.Millisecond {
		t.Fatalf("a refused reload changed the lease to %v", got)
	}
}

// A leader cut off from its followers keeps its office for as long as the
// lease it was given by ReloadConfig, and steps down once a shorter lease
// given back has passed.
func TestLeaderLease_Reloaded(t *testing.T) {
	conf := inmemConfig(t)
	c := MakeCluster(3, t, conf)
	defer c.Close()
	leader := c.Leader()

	rc := leader.ReloadableConfig()
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 4*time.Second, 4*time.Second, 2*time.Second
	if err := leader.ReloadConfig(rc); err != nil {
		t.Fatal(err)
	}
	c.Disconnect(leader.localAddr)
	// Ten of the old leases; a quarter of the new one.
	time.Sleep(500 * time.Millisecond) // checking that nothing happens
	if leader.State() != Leader {
		t.Fatalf("the leader stepped down after 500ms cut off with a lease of 2s (%v)", leader.State())
	}

	// Shortened: the followers count as contacted at the reload, and the
	// lease check is rearmed for the new lease, so the leader keeps its
	// office for one new lease, then steps down (not at the check the old
	// lease had set, 1.5s away).
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	reloaded := time.Now()
	if err := leader.ReloadConfig(rc); err != nil {
		t.Fatal(err)
	}
	for leader.State() == Leader {
		if time.Since(reloaded) > 5*time.Second {
			t.Fatal("the leader kept its office 5s after its lease was shortened to 300ms")
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(reloaded)
	t.Logf("stepped down %v after the lease was shortened", took)
	if took < 250*time.Millisecond {
		t.Fatalf("stepped down %v after its lease was shortened to 300ms: the silence before the reload was held against it", took)
	}
	if took > time.Second {
		t.Fatalf("stepped down %v after its lease was shortened to 300ms: the lease check was not rearmed", took)
	}
}
