/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// DB.Sync syncs the memtable's WAL outside db.lock, holding a reference
// to the memtable: syncs running all the while memtables fill, rotate and
// are flushed (and their WALs deleted) neither fail nor lose a write.
func TestSyncWhileMemtablesRotate(t *testing.T) {
	opt := getTestOptions("")
	opt.MemTableSize = 64 << 10
	opt.NumMemtables = 2
	opt.ValueThreshold = 1 << 10
	runBadgerTest(t, &opt, func(t *testing.T, db *DB) {
		var stop atomic.Bool
		var syncs atomic.Int64
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					if err := db.Sync(); err != nil {
						t.Errorf("Sync: %v", err)
						return
					}
					syncs.Add(1)
				}
			}()
		}
		const n = 4000
		for i := range n {
			require.NoError(t, db.Update(func(txn *Txn) error {
				return txn.Set([]byte(fmt.Sprintf("k%05d", i)), make([]byte, 200))
			}))
		}
		stop.Store(true)
		wg.Wait()
		require.Greater(t, syncs.Load(), int64(10), "the syncs did not run beside the writes")
		require.NoError(t, db.View(func(txn *Txn) error {
			for i := range n {
				if _, err := txn.Get([]byte(fmt.Sprintf("k%05d", i))); err != nil {
					return fmt.Errorf("k%05d: %w", i, err)
				}
			}
			return nil
		}))
	})
}
