/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// Without SyncWrites, a value that goes to the value log is synced before
// its pointer goes into the WAL, so that no crash leaves a pointer without
// its value; a commit of small values syncs nothing.
func TestValueLogSyncedBeforePointers(t *testing.T) {
	opt := getTestOptions("")
	opt.SyncWrites = false
	opt.ValueThreshold = 1 << 10
	runBadgerTest(t, &opt, func(t *testing.T, db *DB) {
		syncs := db.vlog.fileSyncs.Load()
		require.NoError(t, db.Update(func(txn *Txn) error { return txn.Set([]byte("small"), []byte("v")) }))
		require.Equal(t, syncs, db.vlog.fileSyncs.Load(), "a commit of a small value synced the value log")

		require.NoError(t, db.Update(func(txn *Txn) error { return txn.Set([]byte("large"), bytes.Repeat([]byte("v"), 4<<10)) }))
		require.Equal(t, syncs+1, db.vlog.fileSyncs.Load(), "a value in the value log was not synced")
		require.Equal(t, db.vlog.written.Load()+1, db.vlog.syncedWrites.Load(), "the value log holds unsynced values after the commit")
	})
}
