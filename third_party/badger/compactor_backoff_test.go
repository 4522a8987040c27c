/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package badger

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// setCompactorWaits sets the compactors' pacing for one test.
func setCompactorWaits(t *testing.T, minWait, maxWait time.Duration) {
	oldMin, oldMax := compactorMinWait, compactorMaxWait
	compactorMinWait, compactorMaxWait = minWait, maxWait
	t.Cleanup(func() { compactorMinWait, compactorMaxWait = oldMin, oldMax })
}

// An idle database's compactors back off: with a 1 ms pace they would pass
// thousands of times in 3 s; backing off (doubling) they pass about a dozen
// times each.
func TestCompactorBacksOffWhenIdle(t *testing.T) {
	setCompactorWaits(t, time.Millisecond, time.Hour)
	opt := getTestOptions("")
	opt.NumCompactors = 2
	runBadgerTest(t, &opt, func(t *testing.T, db *DB) {
		start := time.Now()
		p0 := db.lc.compactPasses.Load()
		time.Sleep(3 * time.Second) // letting time pass to count the passes, not waiting for a condition
		passes := db.lc.compactPasses.Load() - p0
		t.Logf("%d passes of 2 idle compactors in %v", passes, time.Since(start).Round(time.Millisecond))
		require.Less(t, passes, int64(60), "idle compactors should back off")
	})
}

// Compactors that back off still compact at once when a table reaches L0:
// here they wait an hour between passes, and only the kick from a new L0
// table can wake them.
func TestCompactorWakesOnL0Table(t *testing.T) {
	setCompactorWaits(t, time.Hour, time.Hour)
	opt := getTestOptions("")
	opt.NumCompactors = 2
	opt.MemTableSize = 1 << 20
	opt.BaseTableSize = 1 << 20
	opt.ValueThreshold = 1 << 10
	opt.NumLevelZeroTables = 1
	opt.NumLevelZeroTablesStall = 100 // the writes below must not stall
	runBadgerTest(t, &opt, func(t *testing.T, db *DB) {
		val := make([]byte, 900)    // below ValueThreshold: kept in the LSM tree
		for i := 0; i < 5000; i++ { // about 4.5 MB: a few memtables flushed to L0
			require.NoError(t, db.Update(func(txn *Txn) error {
				return txn.Set([]byte(fmt.Sprintf("key%06d", i)), val)
			}))
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			l0, below := db.lc.levels[0].numTables(), 0
			for _, l := range db.lc.levels[1:] {
				below += l.numTables()
			}
			if below > 0 && l0 == 0 {
				break
			}
			require.True(t, time.Now().Before(deadline), "L0 not compacted: %d tables in L0, %d below", l0, below)
			time.Sleep(10 * time.Millisecond)
		}
		require.NoError(t, db.View(func(txn *Txn) error {
			_, err := txn.Get([]byte("key004999"))
			return err
		}))
	})
}
