// Copyright (c) HashiCorp, Inc.
// SPDX-License-Identifier: MPL-2.0

package raft

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

var errStableFull = errors.New("stable store: no space left on device")

// failingStableStore is a StableStore whose writes fail while fail is set,
// as a store on a full disk does; reads still work.
type failingStableStore struct {
	StableStore
	fail    atomic.Bool
	refused atomic.Int64 // writes refused so far
}

func (s *failingStableStore) Set(key, val []byte) error {
	if s.fail.Load() {
		s.refused.Add(1)
		return errStableFull
	}
	return s.StableStore.Set(key, val)
}

func (s *failingStableStore) SetUint64(key []byte, val uint64) error {
	if s.fail.Load() {
		s.refused.Add(1)
		return errStableFull
	}
	return s.StableStore.SetUint64(key, val)
}

// makeFailingStableCluster is a bootstrapped cluster of n whose stable
// stores can be made to fail, one per peer in the order of c.rafts.
func makeFailingStableCluster(t *testing.T, n int, conf *Config) (*cluster, []*failingStableStore) {
	t.Helper()
	if conf == nil {
		// Timeouts long enough that no election but the test's happens
		// on a loaded machine.
		conf = inmemConfig(t)
		conf.HeartbeatTimeout = 500 * time.Millisecond
		conf.ElectionTimeout = 500 * time.Millisecond
		conf.LeaderLeaseTimeout = 500 * time.Millisecond
	}
	stores := make([]*failingStableStore, n)
	c := MakeClusterCustom(t, &MakeClusterOpts{
		Peers:     n,
		Bootstrap: true,
		Conf:      conf,
		WrapStableStore: func(i int, s StableStore) StableStore {
			stores[i] = &failingStableStore{StableStore: s}
			return stores[i]
		},
	})
	return c, stores
}

func indexOf(t *testing.T, c *cluster, r *Raft) int {
	t.Helper()
	for i, x := range c.rafts {
		if x == r {
			return i
		}
	}
	t.Fatalf("%v is not in the cluster", r.localID)
	return -1
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A follower whose stable store fails refuses an AppendEntries and a
// RequestVote from a newer term, without adopting the term, appending or
// granting; it stays up, and grants the vote once its store works again.
func TestUnpersistedTerm_FollowerRefuses(t *testing.T) {
	c, stores := makeFailingStableCluster(t, 3, nil)
	defer c.Close()
	c.Leader()
	followers := c.Followers()
	f, g := followers[0], followers[1]
	fi, gi := indexOf(t, c, f), indexOf(t, c, g)

	term := f.getCurrentTerm()
	lastIdx, lastTerm := f.getLastEntry()
	stores[fi].fail.Store(true)

	// A leader of a newer term (g's address stands in for it) sends an
	// entry.
	ae := &AppendEntriesRequest{
		RPCHeader:         g.getRPCHeader(),
		Term:              term + 1,
		PrevLogEntry:      lastIdx,
		PrevLogTerm:       lastTerm,
		Entries:           []*Log{{Index: lastIdx + 1, Term: term + 1, Type: LogNoop}},
		LeaderCommitIndex: lastIdx,
	}
	var aeResp AppendEntriesResponse
	err := c.trans[gi].AppendEntries(f.localID, f.localAddr, ae, &aeResp)
	if err == nil || aeResp.Success {
		t.Fatalf("AppendEntries in an unstored term: err %v, success %v; want an error", err, aeResp.Success)
	}
	if got := f.getCurrentTerm(); got != term {
		t.Fatalf("follower adopted term %d it could not store (was %d)", got, term)
	}
	if got := f.getLastIndex(); got != lastIdx {
		t.Fatalf("follower appended up to %d in an unstored term (was %d)", got, lastIdx)
	}

	// A candidate of a newer term (g) asks for a vote; LeadershipTransfer
	// lets it past f's knowing a leader.
	rv := &RequestVoteRequest{
		RPCHeader:          g.getRPCHeader(),
		Term:               term + 1,
		LastLogIndex:       lastIdx,
		LastLogTerm:        lastTerm,
		LeadershipTransfer: true,
	}
	var rvResp RequestVoteResponse
	err = c.trans[gi].RequestVote(f.localID, f.localAddr, rv, &rvResp)
	if err == nil || rvResp.Granted {
		t.Fatalf("RequestVote in an unstored term: err %v, granted %v; want an error", err, rvResp.Granted)
	}
	if got := f.getCurrentTerm(); got != term {
		t.Fatalf("follower adopted term %d it could not store (was %d)", got, term)
	}
	if got, _ := c.stores[fi].GetUint64(keyCurrentTerm); got != term {
		t.Fatalf("stored term %d, want %d", got, term)
	}
	if stores[fi].refused.Load() == 0 {
		t.Fatal("the follower wrote nothing to its stable store: the test tested nothing")
	}
	if s := f.State(); s != Follower {
		t.Fatalf("follower is %v", s)
	}

	// The disk has room again: the same request is granted and stored.
	stores[fi].fail.Store(false)
	rvResp = RequestVoteResponse{}
	if err := c.trans[gi].RequestVote(f.localID, f.localAddr, rv, &rvResp); err != nil {
		t.Fatal(err)
	}
	if !rvResp.Granted || rvResp.Term != term+1 {
		t.Fatalf("after the store healed: granted %v in term %d, want granted in %d", rvResp.Granted, rvResp.Term, term+1)
	}
	if got, _ := c.stores[fi].GetUint64(keyCurrentTerm); got < term+1 {
		t.Fatalf("stored term %d, want at least %d", got, term+1)
	}
	voteTerm, _ := c.stores[fi].GetUint64(keyLastVoteTerm)
	voteCand, _ := c.stores[fi].Get(keyLastVoteCand)
	if voteTerm == term+1 && !bytes.Equal(voteCand, rv.Addr) {
		t.Fatalf("stored vote in term %d for %q, want %q", voteTerm, voteCand, rv.Addr)
	}
	if voteTerm < term+1 {
		t.Fatalf("stored vote in term %d, want at least %d", voteTerm, term+1)
	}
}

// A candidate that cannot store its new term abandons the election before
// asking anyone for a vote: a leadership transfer to a follower whose
// stable store fails times out, the follower does not lead and the rest of
// the cluster stays in its term; once the store works, the transfer
// succeeds.
func TestUnpersistedTerm_CandidateAbandons(t *testing.T) {
	c, stores := makeFailingStableCluster(t, 3, nil)
	defer c.Close()
	leader := c.Leader()
	f := c.Followers()[0]
	fi := indexOf(t, c, f)
	term := leader.getCurrentTerm()
	stores[fi].fail.Store(true)

	if err := leader.LeadershipTransferToServer(f.localID, f.localAddr).Error(); err == nil {
		t.Fatal("leadership transferred to a node that cannot store its term")
	}
	if stores[fi].refused.Load() == 0 {
		t.Fatal("the transfer's target never tried to store a term: the test tested nothing")
	}
	if s := f.State(); s == Leader {
		t.Fatal("a candidate that could not store its term became leader")
	}
	for _, r := range c.rafts {
		if got := r.getCurrentTerm(); got != term {
			t.Fatalf("%v is in term %d, want %d: an abandoned election reached it", r.localID, got, term)
		}
	}
	if c.Leader() != leader {
		t.Fatal("the leader changed")
	}
	// The abandoned candidacy does not leave the node claiming a leadership
	// transfer in its later elections.
	waitUntil(t, 5*time.Second, "the transfer flag is cleared", func() bool {
		return !f.candidateFromLeadershipTransfer.Load()
	})

	stores[fi].fail.Store(false)
	// The leader marks the failed transfer over just after reporting it.
	waitUntil(t, 5*time.Second, "a transfer to the healed node is accepted", func() bool {
		err := leader.LeadershipTransferToServer(f.localID, f.localAddr).Error()
		if err != nil && !errors.Is(err, ErrLeadershipTransferInProgress) {
			t.Fatalf("transfer after the store healed: %v", err)
		}
		return err == nil
	})
	waitUntil(t, 5*time.Second, "the healed node leads", func() bool { return f.State() == Leader })
	if err := f.Apply([]byte("after"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
}

// A cluster whose remaining nodes cannot store a term elects no leader and
// keeps running; it elects one once their stores work again, and the old
// leader rejoins.
func TestUnpersistedTerm_ClusterRecovers(t *testing.T) {
	conf := inmemConfig(t)
	c, stores := makeFailingStableCluster(t, 3, conf)
	defer c.Close()
	leader := c.Leader()
	var rest []int
	for i, r := range c.rafts {
		if r != leader {
			rest = append(rest, i)
			stores[i].fail.Store(true)
		}
	}
	c.Disconnect(leader.localAddr)

	// Each has tried to store a new term, more than once (an abandoned
	// election is tried again), and none leads.
	waitUntil(t, 10*time.Second, "the followers tried several elections", func() bool {
		for _, i := range rest {
			if stores[i].refused.Load() < 3 {
				return false
			}
			if c.rafts[i].State() == Leader {
				t.Fatalf("%v leads in a term it could not store", c.rafts[i].localID)
			}
		}
		return true
	})
	for _, i := range rest {
		if c.rafts[i].State() == Leader {
			t.Fatalf("%v leads in a term it could not store", c.rafts[i].localID)
		}
		if c.rafts[i].State() == Shutdown {
			t.Fatalf("%v shut down", c.rafts[i].localID)
		}
	}

	for _, i := range rest {
		stores[i].fail.Store(false)
	}
	waitUntil(t, 10*time.Second, "a healed node leads", func() bool {
		for _, i := range rest {
			if c.rafts[i].State() == Leader {
				return true
			}
		}
		return false
	})
	c.FullyConnect()
	waitUntil(t, 10*time.Second, "one leader among three", func() bool {
		return len(c.GetInState(Leader)) == 1 && len(c.GetInState(Follower)) == 2
	})
	if err := c.Leader().Apply([]byte("after"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
}

// A leader whose stable store fails, sent an AppendEntries from a newer
// term, refuses it and steps down in its own term; the cluster elects a
// leader again once the store works.
func TestUnpersistedTerm_LeaderStepsDown(t *testing.T) {
	c, stores := makeFailingStableCluster(t, 3, nil)
	defer c.Close()
	leader := c.Leader()
	li := indexOf(t, c, leader)
	g := c.Followers()[0]
	gi := indexOf(t, c, g)
	term := leader.getCurrentTerm()
	lastIdx, lastTerm := leader.getLastEntry()
	stores[li].fail.Store(true)

	ae := &AppendEntriesRequest{
		RPCHeader:    g.getRPCHeader(),
		Term:         term + 1,
		PrevLogEntry: lastIdx,
		PrevLogTerm:  lastTerm,
	}
	var resp AppendEntriesResponse
	if err := c.trans[gi].AppendEntries(leader.localID, leader.localAddr, ae, &resp); err == nil {
		t.Fatal("a leader that could not store a newer term accepted its AppendEntries")
	}
	if s := leader.State(); s != Follower {
		t.Fatalf("the leader is %v after an AppendEntries from a newer term, want follower", s)
	}
	if got := leader.getCurrentTerm(); got != term {
		t.Fatalf("the old leader adopted term %d it could not store (was %d)", got, term)
	}

	stores[li].fail.Store(false)
	waitUntil(t, 10*time.Second, "a leader and two followers", func() bool {
		return len(c.GetInState(Leader)) == 1 && len(c.GetInState(Follower)) == 2
	})
	if err := c.Leader().Apply([]byte("after"), time.Second).Error(); err != nil {
		t.Fatal(err)
	}
}

// failingReadLogStore fails every GetLog after the first n.
type failingReadLogStore struct {
	LogStore
	n atomic.Int64
}

func (s *failingReadLogStore) GetLog(index uint64, log *Log) error {
	if s.n.Add(-1) < 0 {
		return errors.New("log store: read error")
	}
	return s.LogStore.GetLog(index, log)
}

// NewRaft returns an error, where it panicked, when it cannot read back the
// log entries it scans for configurations.
func TestNewRaft_LogReadError(t *testing.T) {
	conf := inmemConfig(t)
	conf.LocalID = "s1"
	store := NewInmemStore()
	snaps := NewInmemSnapshotStore()
	addr, trans := NewInmemTransport("")
	defer trans.Close()
	servers := Configuration{Servers: []Server{{Suffrage: Voter, ID: conf.LocalID, Address: addr}}}
	if err := BootstrapCluster(conf, store, store, snaps, trans, servers); err != nil {
		t.Fatal(err)
	}
	// The first read is the last entry's; the scan's fails.
	logs := &failingReadLogStore{LogStore: store}
	logs.n.Store(1)
	r, err := NewRaft(conf, &MockFSM{}, logs, store, snaps, trans)
	if err == nil {
		_ = r.Shutdown().Error()
		t.Fatal("NewRaft started on a log it could not read")
	}
	t.Logf("NewRaft: %v", err)
}
