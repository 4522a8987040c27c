package raftbadger

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// A node's groups share one database, opened without SyncWrites: a
// synced commit holds up every later transaction of the database until
// its fsync ends (badger's oracle waits for earlier commits), so 32
// groups writing at once would queue behind each other's fsyncs. Instead
// each log append commits unsynced and then waits for a sync that began
// after its commit; one sync covers every append committed before it
// began, whichever group made it (group commit).
//
// The goroutine that is to start a sync first yields the processor
// (runtime.Gosched) and only then begins it: appends of other groups that
// are ready to run (their commits ending in the same badger batch, their
// raft messages arriving together) call sync meanwhile and are covered by
// it, instead of just missing it and needing a sync of their own. On an
// idle node nothing else is runnable and the yield returns at once; under
// load it waits one turn of the run queue, never a timer, so a vote's or a
// term's sync is not held up by a clock (a gathered sync that waited up to
// 0.5 ms for announced appends was dropped for that).
//
// It yields minGatherYields times, and on while each yield brought another
// caller, up to maxGatherYields: one yield let a call of another group that
// was about to arrive miss the sync, and two cut the syncs per KV write
// from 1.1-1.2 to 0.98 and raised the writes of 16 clients by 10-30 %
// (docs/performance.md).
type syncer struct {
	db *badger.DB

	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // syncs begun
	done    uint64 // syncs ended
	running bool
	// failed is the first failed sync's error: every sync from then on
	// fails with it. A failed fsync (or msync) may leave the pages it could
	// not write marked clean, and Linux reports a writeback error once, so a
	// later sync that succeeds says nothing of what an earlier one lost: a
	// commit that a later sync seemed to cover may be gone. The database must
	// be reopened (the node restarted), which replays its WAL from the disk.
	failed error
	calls  uint64 // sync calls (what the syncs served)
}

var syncers sync.Map // *badger.DB -> *syncer

func syncerOf(db *badger.DB) *syncer {
	if s, ok := syncers.Load(db); ok {
		return s.(*syncer)
	}
	s := &syncer{db: db}
	s.cond = sync.NewCond(&s.mu)
	actual, _ := syncers.LoadOrStore(db, s)
	return actual.(*syncer)
}

// The bounds of a sync's gathering yields (the type's comment).
const (
	minGatherYields = 2
	maxGatherYields = 4
)

// sync returns once what the caller committed before calling it is on
// disk. With SyncWrites on, commits are synced already.
func (s *syncer) sync() error {
	if s.db.Opts().SyncWrites {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	need := s.started + 1 // the first sync to begin from now on covers us
	for s.done < need && s.failed == nil {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		for i := range maxGatherYields {
			before := s.calls
			s.mu.Unlock()
			runtime.Gosched() // see the type's comment: callers meanwhile need this sync
			s.mu.Lock()
			if i+1 >= minGatherYields && s.calls == before {
				break
			}
		}
		s.started++
		n := s.started
		s.mu.Unlock()
		err := s.db.Sync()
		s.mu.Lock()
		s.running = false
		s.done = n
		if err != nil && s.failed == nil {
			s.failed = fmt.Errorf("%w (syncs fail from here on: restart the node)", err)
		}
		s.cond.Broadcast()
	}
	return s.failed
}

// SyncCounts reports how many syncs of db its stores began, and how many
// waits for durability they served (a log append or a stable-state write
// each): the ratio is the group commit's batching.
func SyncCounts(db *badger.DB) (syncs, waits uint64) {
	s := syncerOf(db)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started, s.calls
}
