// Copyright (c) HashiCorp, Inc.
// SPDX-License-Identifier: MPL-2.0

package raft

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// unreadableLogs is a log store whose reads of entries at or past an index
// fail once armed, as a disk that returns read errors would.
type unreadableLogs struct {
	LogStore
	from *atomic.Uint64 // 0: reads work
}

var errUnreadable = errors.New("unreadable entry")

func (u unreadableLogs) GetLog(index uint64, log *Log) error {
	if f := u.from.Load(); f != 0 && index >= f {
		return errUnreadable
	}
	return u.LogStore.GetLog(index, log)
}

// A server that cannot read back a committed entry to apply it shuts down
// (it used to panic, ending the process and every other Raft in it); the
// rest of the cluster goes on committing.
func TestRaft_UnreadableCommittedLogShutsDown(t *testing.T) {
	froms := make([]*atomic.Uint64, 3)
	for i := range froms {
		froms[i] = new(atomic.Uint64)
	}
	c := MakeClusterCustom(t, &MakeClusterOpts{
		Peers: 3, Bootstrap: true, Conf: inmemConfig(t),
		WrapLogStore: func(i int, logs LogStore) LogStore {
			return unreadableLogs{LogStore: logs, from: froms[i]}
		},
	})
	defer c.Close()
	leader := c.Leader()
	if err := leader.Apply([]byte("before"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	c.EnsureSame(t)
	victim := c.Followers()[0]
	froms[c.IndexOf(victim)].Store(victim.LastIndex() + 1)

	for i := 0; i < 5; i++ {
		if err := leader.Apply([]byte("after"), time.Second).Error(); err != nil {
			t.Fatalf("apply %d with one follower down: %v", i, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for victim.State() != Shutdown {
		if time.Now().After(deadline) {
			t.Fatalf("the follower that cannot read its log is %v, want Shutdown", victim.State())
		}
		time.Sleep(time.Millisecond)
	}
	if got := victim.AppliedIndex(); got >= leader.AppliedIndex() {
		t.Fatalf("the stopped follower applied %d, the leader %d: it applied entries it could not read", got, leader.AppliedIndex())
	}
}
