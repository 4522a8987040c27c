/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// DB.Sync msyncs the value log only when a value went there since the
// last sync: values below ValueThreshold live in the LSM tree and its WAL.
func TestSyncSkipsCleanValueLog(t *testing.T) {
	opt := getTestOptions("")
	opt.ValueThreshold = 1 << 10
	runBadgerTest(t, &opt, func(t *testing.T, db *DB) {
		set := func(k string, n int) {
			require.NoError(t, db.Update(func(txn *Txn) error {
				return txn.Set([]byte(k), make([]byte, n))
			}))
		}
		syncs := func() int64 {
			require.NoError(t, db.Sync())
			return db.vlog.fileSyncs.Load()
		}
		s0 := syncs() // the first sync of an open database always runs
		set("small", 100)
		require.Equal(t, s0, syncs(), "a value in the LSM tree msynced the value log")
		set("large", 4<<10)
		require.Equal(t, s0+1, syncs(), "a value in the value log was not synced")
		require.Equal(t, s0+1, syncs(), "a clean value log was msynced again")
		set("small2", 100)
		require.Equal(t, s0+1, syncs())
	})
}

// Values written to value log files that rotate out stay readable after a
// reopen, and values are still synced after a rotation.
func TestValueLogRotationKeepsValues(t *testing.T) {
	dir := t.TempDir()
	opt := getTestOptions(dir)
	opt.ValueThreshold = 1 << 10
	opt.ValueLogFileSize = 1 << 20
	db, err := Open(opt)
	require.NoError(t, err)
	val := make([]byte, 100<<10) // ten values a file
	for i := range 35 {
		require.NoError(t, db.Update(func(txn *Txn) error {
			return txn.Set([]byte(fmt.Sprintf("key%03d", i)), val)
		}))
		// The commit synced its value (before its pointer went into the
		// WAL), in whichever file it went to.
		require.Equal(t, db.vlog.written.Load()+1, db.vlog.syncedWrites.Load(), "value %d was not synced", i)
		require.NoError(t, db.Sync())
	}
	require.Greater(t, db.vlog.maxFid, uint32(1), "the value log did not rotate")
	require.NoError(t, db.Close())

	db, err = Open(opt)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(txn *Txn) error {
		for i := range 35 {
			item, err := txn.Get([]byte(fmt.Sprintf("key%03d", i)))
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) != len(val) {
				return fmt.Errorf("key%03d: %d bytes", i, len(v))
			}
		}
		return nil
	}))
}
