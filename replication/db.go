package replication

import (
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
	"github.com/warrenmesh/warren/replication/internal/raftbadger"
)

// OpenDB opens (creating it if needed) a node's database in dir: the one
// badger database that holds the logs of all the node's groups, with
// small-memory options; log appends are synced (several groups' at once)
// before raft counts them stored. logger nil means slog.Default();
// badger's routine messages go to it at debug level.
func OpenDB(dir string, logger *slog.Logger) (*badger.DB, error) {
	db, err := raftbadger.OpenDB(dir, logger)
	if err != nil {
		return nil, fmt.Errorf("replication: %w", err)
	}
	return db, nil
}

// SyncCounts reports how many syncs of the node's database db its groups'
// logs began, and how many waits for durability (log appends and
// stable-state writes) those syncs served: waits per sync is how well
// concurrent appends share an fsync.
func SyncCounts(db *badger.DB) (syncs, waits uint64) { return raftbadger.SyncCounts(db) }
