package raftbadger

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Small-memory settings. badger's defaults reserve about 86 MB of Go heap
// per database (64 MB memtables ×5, a 256 MB block cache filled on use); a
// node keeps one database for all its groups, and most nodes are small.
// The memtables are 16 MiB because a batch (15 % of one) must hold the
// largest single entry of the KV state machine, about 2 MiB.
const (
	memTableSize   = 16 << 20
	numMemtables   = 2
	blockCacheSize = 8 << 20
	// valueThreshold: larger values go to the value log. badger refuses
	// (panics at Open) a threshold above 15 % of the memtable (a batch
	// must fit one); 256 KiB keeps typical log entries and KV values in
	// the LSM tree, where compaction frees them once deleted.
	valueThreshold = 256 << 10
	// valueLogFileSize: the value log is memory-mapped file by file; the
	// default 1 GiB files are far more than a node's values need.
	valueLogFileSize = 64 << 20
)

// Options returns the badger options of a node's database in dir: the
// small-memory settings above, commits unsynced (the log store syncs its
// own, several groups' appends with one fsync, before raft counts them as
// stored; the KV state machine needs no sync of its own), no conflict detection
// (each group writes from one goroutine), no metrics, and badger's log
// sent to logger (nil: slog.Default()) with its chatter at debug level.
func Options(dir string, logger *slog.Logger) badger.Options {
	if logger == nil {
		logger = slog.Default()
	}
	return badger.DefaultOptions(dir).
		WithSyncWrites(false). // the log store syncs its commits together (syncer.go)
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		// A flushed memtable is compacted at once: its deletions reach
		// the value log's discard statistics (replication's value log
		// collection) without waiting for a second one.
		WithNumLevelZeroTables(1).
		WithNumLevelZeroTablesStall(numMemtables * 4).
		WithBlockCacheSize(blockCacheSize).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(valueLogFileSize).
		WithNumCompactors(2).
		WithCompression(options.Snappy).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithLogger(slogAdapter{logger.With("component", "badger")})
}

// OpenDB opens (creating it if needed) the database in dir with Options.
func OpenDB(dir string, logger *slog.Logger) (*badger.DB, error) {
	db, err := badger.Open(Options(dir, logger))
	if err != nil {
		return nil, fmt.Errorf("raftbadger: opening %s: %w", dir, err)
	}
	return db, nil
}

// slogAdapter is badger's Logger over slog. badger logs every table it
// opens and every compaction at INFO; those go to debug, so that a node's
// log shows only what needs a look.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) log(level slog.Level, format string, args ...any) {
	if !a.l.Enabled(context.Background(), level) {
		return
	}
	a.l.Log(context.Background(), level, strings.TrimSuffix(fmt.Sprintf(format, args...), "\n"))
}

func (a slogAdapter) Errorf(f string, v ...any)   { a.log(slog.LevelError, f, v...) }
func (a slogAdapter) Warningf(f string, v ...any) { a.log(slog.LevelWarn, f, v...) }
func (a slogAdapter) Infof(f string, v ...any)    { a.log(slog.LevelDebug, f, v...) }
func (a slogAdapter) Debugf(f string, v ...any)   { a.log(slog.LevelDebug, f, v...) }
