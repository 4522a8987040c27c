package replication

import (
	"errors"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The value log's garbage. badger keeps values of 256 KiB or more (large
// KV values, the log entries that carry them, Durable Object writes near
// their 1 MiB limit) in its value log, and frees a value log file only
// when told to collect it (RunValueLogGC): until then a deleted or
// overwritten value, and a compacted log entry, stays on the disk, and a
// node that takes large writes fills its disk for good.
//
// badger learns which values are garbage as its compactions drop the keys
// that pointed to them, and a memtable of small keys (log entries and
// records whose values are in the value log) may hold their deletions for
// a long time before it is full and flushed. So a round of collection
// collects the files its statistics say are at least vlogGCRatio garbage
// (up to vlogGCMax), then rotates the memtable (badger patch 0010), so
// that what it holds reaches the compactions and the next round. Rounds
// run every vlogGCEvery, and after a group compacted its log for its bytes
// (Group.compactBig: entries just deleted) vlogGCQuick rounds run
// vlogGCAfterCompaction apart: two rotations put two tables in level 0,
// which a compaction then merges, and the third round finds their
// garbage. A collected file's live values are moved, and synced before the
// file goes (badger patch 0009).
const (
	vlogGCEvery           = 10 * time.Minute
	vlogGCAfterCompaction = 10 * time.Second
	vlogGCQuick           = 3
	// vlogGCRatio: a large put's value is written twice, in its log
	// entry and in the state machine's record, next to each other, so a
	// file is about half garbage once the log is compacted; at 0.4 such
	// files are collected, at the cost of moving the live 60 %.
	vlogGCRatio = 0.4
	vlogGCMax   = 16
)

// vlogTiming is when collectValueLog runs its rounds.
type vlogTiming struct {
	every, quickEvery time.Duration
	quick             int
}

// vlogDefault is the timing of the constants above.
var vlogDefault = vlogTiming{every: vlogGCEvery, quickEvery: vlogGCAfterCompaction, quick: vlogGCQuick}

// collectValueLog runs db's value log collection until stop is closed: a
// round every tm.every, and tm.quick rounds tm.quickEvery apart after each
// kick.
func collectValueLog(db *badger.DB, log *slog.Logger, tm vlogTiming, kick <-chan struct{}, stop <-chan struct{}) {
	t := time.NewTimer(tm.every)
	defer t.Stop()
	quick := 0
	for {
		select {
		case <-stop:
			return
		case <-kick:
			if quick == 0 {
				t.Reset(tm.quickEvery)
			}
			quick = tm.quick
			continue
		case <-t.C:
		}
		if n, err := collectValueLogOnce(db, stop); err != nil {
			log.Warn("collecting the value log", "files", n, "err", err)
		} else if n > 0 {
			log.Debug("collected the value log", "files", n)
		}
		if _, err := db.RotateMemtable(); err != nil {
			log.Warn("rotating the memtable for the value log's collection", "err", err)
		}
		next := tm.every
		if quick > 0 {
			quick--
			next = tm.quickEvery
		}
		t.Reset(next)
	}
}

// collectValueLogOnce collects up to vlogGCMax value log files of db that
// are at least vlogGCRatio garbage, until stop is closed, and says how
// many it collected.
func collectValueLogOnce(db *badger.DB, stop <-chan struct{}) (int, error) {
	for n := 0; n < vlogGCMax; n++ {
		select {
		case <-stop:
			return n, nil
		default:
		}
		err := db.RunValueLogGC(vlogGCRatio)
		switch {
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
			return n, nil
		case err != nil:
			return n, err
		}
	}
	return vlogGCMax, nil
}
