// Copyright IBM Corp. 2013, 2025
// SPDX-License-Identifier: MPL-2.0

package raft

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// heldLogStore is an AsyncLogStore whose entries are readable as soon as
// they are stored and become durable only when the test releases them,
// while hold is set.
type heldLogStore struct {
	LogStore

	mu      sync.Mutex
	hold    bool
	pending []func(error)
	async   int // StoreLogsAsync calls
}

func (s *heldLogStore) StoreLogsAsync(logs []*Log, durable func(error)) error {
	if err := s.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	s.mu.Lock()
	s.async++
	if !s.hold {
		s.mu.Unlock()
		durable(nil)
		return nil
	}
	s.pending = append(s.pending, durable)
	s.mu.Unlock()
	return nil
}

func (s *heldLogStore) setHold(hold bool) {
	s.mu.Lock()
	s.hold = hold
	s.mu.Unlock()
}

// release calls every pending callback with err.
func (s *heldLogStore) release(err error) {
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, durable := range pending {
		durable(err)
	}
}

func (s *heldLogStore) counts() (pending, async int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending), s.async
}

// waitPending waits until n writes wait to become durable.
func (s *heldLogStore) waitPending(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if p, _ := s.counts(); p >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d writes pending durability within 5s", n)
		}
		time.Sleep(time.Millisecond)
	}
}

func makeHeldCluster(t *testing.T, peers int) (*cluster, []*heldLogStore) {
	stores := make([]*heldLogStore, peers)
	c := MakeClusterCustom(t, &MakeClusterOpts{
		Peers:     peers,
		Bootstrap: true,
		Conf:      inmemConfig(t),
		WrapLogStore: func(i int, logs LogStore) LogStore {
			stores[i] = &heldLogStore{LogStore: logs}
			return stores[i]
		},
	})
	return c, stores
}

func storeOf(c *cluster, stores []*heldLogStore, r *Raft) *heldLogStore {
	for i, rr := range c.rafts {
		if rr == r {
			return stores[i]
		}
	}
	return nil
}

// A lone leader must not count an entry as committed before its own write
// of it is durable: with no other voter, nothing commits until then.
func TestRaft_AsyncLogStore_LeaderCountsItselfOnlyOnceDurable(t *testing.T) {
	c, stores := makeHeldCluster(t, 1)
	defer c.Close()
	leader := c.Leader()
	store := stores[0]
	if err := leader.Apply([]byte("first"), c.conf.CommitTimeout).Error(); err != nil {
		t.Fatalf("apply: %v", err)
	}

	store.setHold(true)
	f := leader.Apply([]byte("held"), 0)
	store.waitPending(t, 1)
	// The entry is in the log, and the leader's only pending vote for it
	// is the callback: nothing else may have committed it.
	if last, commit := leader.LastIndex(), leader.CommitIndex(); commit >= last {
		t.Fatalf("commit index %d reached the last index %d before the leader's write was durable", commit, last)
	}
	select {
	case <-f.(*logFuture).errCh:
		t.Fatalf("the apply finished before the leader's write was durable: %v", f.Error())
	default:
	}

	store.setHold(false)
	store.release(nil)
	if err := f.Error(); err != nil {
		t.Fatalf("apply after the write became durable: %v", err)
	}
	if last, commit := leader.LastIndex(), leader.CommitIndex(); commit < last {
		t.Fatalf("commit index %d, last index %d", commit, last)
	}
	if _, async := store.counts(); async < 2 {
		t.Fatalf("the leader wrote with StoreLogsAsync %d times, want at least 2", async)
	}
}

// A leader whose write cannot be made durable steps down, failing what
// waits on it.
func TestRaft_AsyncLogStore_StepsDownWhenNotDurable(t *testing.T) {
	c, stores := makeHeldCluster(t, 1)
	defer c.Close()
	leader := c.Leader()
	store := stores[0]
	store.setHold(true)
	f := leader.Apply([]byte("lost"), 0)
	store.waitPending(t, 1)
	store.setHold(false)
	store.release(errors.New("disk gone"))
	if err := f.Error(); !errors.Is(err, ErrLeadershipLost) {
		t.Fatalf("apply: got %v, want %v", err, ErrLeadershipLost)
	}
}

// The leader's own write runs in parallel with replication: a quorum of
// followers commits an entry while the leader's write is not durable yet.
func TestRaft_AsyncLogStore_FollowersCommitWhileLeaderWrites(t *testing.T) {
	c, stores := makeHeldCluster(t, 3)
	defer c.Close()
	leader := c.Leader()
	if err := leader.Apply([]byte("first"), c.conf.CommitTimeout).Error(); err != nil {
		t.Fatalf("apply: %v", err)
	}
	store := storeOf(c, stores, leader)
	store.setHold(true)
	f := leader.Apply([]byte("parallel"), 0)
	if err := f.Error(); err != nil {
		t.Fatalf("apply with the leader's write pending: %v", err)
	}
	if p, _ := store.counts(); p != 1 {
		t.Fatalf("%d of the leader's writes pending, want 1", p)
	}
	store.setHold(false)
	store.release(nil)
	// Followers write synchronously: they acknowledge only what is
	// durable.
	for i, s := range stores {
		if s != store {
			if _, async := s.counts(); async != 0 {
				t.Fatalf("follower %d wrote with StoreLogsAsync %d times", i, async)
			}
		}
	}
	c.EnsureSame(t)
}

// LogCache passes StoreLogsAsync on to a store that implements it, and
// otherwise stores synchronously and reports durability before returning.
func TestLogCache_StoreLogsAsync(t *testing.T) {
	held := &heldLogStore{LogStore: NewInmemStore(), hold: true}
	c, _ := NewLogCache(16, held)
	var got []error
	if err := c.StoreLogsAsync([]*Log{{Index: 1, Term: 1}}, func(err error) { got = append(got, err) }); err != nil {
		t.Fatal(err)
	}
	var l Log
	if err := c.GetLog(1, &l); err != nil || l.Index != 1 {
		t.Fatalf("entry 1 not readable before durable: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("durable called before the store said so: %v", got)
	}
	held.release(nil)
	if len(got) != 1 || got[0] != nil {
		t.Fatalf("durable calls %v, want one nil", got)
	}

	c2, _ := NewLogCache(16, NewInmemStore())
	got = nil
	if err := c2.StoreLogsAsync([]*Log{{Index: 1, Term: 1}}, func(err error) { got = append(got, err) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != nil {
		t.Fatalf("synchronous store: durable calls %v, want one nil before returning", got)
	}
}
