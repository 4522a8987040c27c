package raftbadger

import (
	"sync"
	"time"

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
// An append announces itself before it commits (begin), and a sync about
// to start waits, up to maxGather, for the appends committing at that
// moment: concurrent appends of several groups commit together (badger
// writes concurrent transactions in one batch) but reach the syncer a few
// microseconds apart, and without the wait the first would start a sync
// that the others just miss, so that they need a second one. A sync costs
// the node tens of microseconds of CPU (msync of badger's memory-mapped
// write-ahead log, page-table work included), more than the append
// itself. An append alone (one writer) finds nothing committing and
// starts its sync at once.
type syncer struct {
	db *badger.DB

	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // syncs begun
	done    uint64 // syncs ended
	running bool
	errs    map[uint64]error // the error of each failed sync still awaited
	calls   uint64           // sync calls (what the syncs covered)
	// committing counts the appends announced (begin) that have not yet
	// called sync or given up (abandon).
	committing int
}

// maxGather bounds how long a sync waits for the appends committing
// when it is due.
var maxGather = 500 * time.Microsecond

// begin announces an append that will commit and then call sync(true)
// or, if its commit fails, abandon.
func (s *syncer) begin() {
	s.mu.Lock()
	s.committing++
	s.mu.Unlock()
}

// abandon withdraws an announced append whose commit failed.
func (s *syncer) abandon() {
	s.mu.Lock()
	s.arrivedLocked()
	s.mu.Unlock()
}

func (s *syncer) arrivedLocked() {
	s.committing--
	if s.committing == 0 {
		s.cond.Broadcast()
	}
}

var syncers sync.Map // *badger.DB -> *syncer

func syncerOf(db *badger.DB) *syncer {
	if s, ok := syncers.Load(db); ok {
		return s.(*syncer)
	}
	s := &syncer{db: db, errs: map[uint64]error{}}
	s.cond = sync.NewCond(&s.mu)
	actual, _ := syncers.LoadOrStore(db, s)
	return actual.(*syncer)
}

// sync returns once what the caller committed before calling it is on
// disk. With SyncWrites on, commits are synced already.
// announced says whether the caller announced its append with begin.
func (s *syncer) sync(announced bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if announced {
		s.arrivedLocked()
	}
	if s.db.Opts().SyncWrites {
		return nil
	}
	s.calls++
	need := s.started + 1 // the first sync to begin from now on covers us
	for s.done < need {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true // callers from now on wait for the sync about to begin
		if s.committing > 0 {
			s.gatherLocked()
		}
		s.started++
		n := s.started
		s.mu.Unlock()
		err := s.db.Sync()
		s.mu.Lock()
		s.running = false
		s.done = n
		if err != nil {
			s.errs[n] = err
		}
		s.cond.Broadcast()
	}
	// Sync number need is the first to begin after the call: it decides.
	// Failures are kept for the waiters that may still read them.
	err := s.errs[need]
	if len(s.errs) > 64 {
		for n := range s.errs {
			if n+1024 < s.done {
				delete(s.errs, n)
			}
		}
	}
	return err
}

// gatherLocked waits, up to maxGather, until no announced append is
// still committing.
func (s *syncer) gatherLocked() {
	deadline := time.Now().Add(maxGather)
	t := time.AfterFunc(maxGather, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer t.Stop()
	for s.committing > 0 && time.Now().Before(deadline) {
		s.cond.Wait()
	}
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
