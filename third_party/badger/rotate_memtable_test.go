package badger

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// RotateMemtable flushes what the memtable holds to level 0 at once, so
// that deleted values in the value log become garbage that RunValueLogGC
// collects, where a memtable of small keys would hold the deletions for
// long; an empty memtable is not rotated.
func TestRotateMemtable(t *testing.T) {
	opt := getTestOptions(t.TempDir())
	opt.SyncWrites = false
	opt.ValueLogFileSize = 1 << 20
	opt.ValueThreshold = 1 << 10
	opt.MemTableSize = 16 << 20
	opt.NumLevelZeroTables = 1 // a flushed table is compacted at once
	opt.NumCompactors = 2
	db, err := Open(opt)
	require.NoError(t, err)
	defer db.Close()

	rotated, err := db.RotateMemtable()
	require.NoError(t, err)
	require.False(t, rotated, "an empty memtable was rotated")

	const sz = 32 << 10
	for i := 0; i < 100; i++ {
		require.NoError(t, db.Update(func(txn *Txn) error {
			return txn.Set([]byte(fmt.Sprintf("key%d", i)), make([]byte, sz))
		}))
	}
	for i := 0; i < 90; i++ {
		txnDelete(t, db, []byte(fmt.Sprintf("key%d", i)))
	}
	// The deletions are in the memtable: the value log has no garbage
	// that GC knows of.
	require.ErrorIs(t, db.RunValueLogGC(0.5), ErrNoRewrite)

	rotated, err = db.RotateMemtable()
	require.NoError(t, err)
	require.True(t, rotated)
	// Flushed to level 0, and compacted from there (NumLevelZeroTables 1).
	compacted := func() bool {
		db.lock.RLock()
		imm := len(db.imm)
		db.lock.RUnlock()
		if imm > 0 {
			return false
		}
		for _, ti := range db.Tables() {
			if ti.Level == 0 {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !compacted() {
		require.True(t, time.Now().Before(deadline), "the rotated memtable was not flushed and compacted within 10s")
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, db.RunValueLogGC(0.5), "the deleted values are garbage once flushed and compacted")
	for i := 90; i < 100; i++ {
		require.NoError(t, db.View(func(txn *Txn) error {
			item, err := txn.Get([]byte(fmt.Sprintf("key%d", i)))
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			require.Len(t, v, sz)
			return err
		}))
	}
}

// Rotations while writes go on: no batch is lost or split, during the run
// nor after a reopen (run it with -race too: the memtable is replaced by
// the goroutine that writes to it).
func TestRotateMemtableWhileWriting(t *testing.T) {
	dir := t.TempDir()
	opt := getTestOptions(dir)
	opt.SyncWrites = false
	opt.MemTableSize = 16 << 20
	opt.NumLevelZeroTables = 1
	db, err := Open(opt)
	require.NoError(t, err)

	const writers, batches = 4, 200
	stop, done := make(chan struct{}), make(chan error, 1)
	rotations := 0
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			case <-time.After(time.Millisecond):
			}
			rotated, err := db.RotateMemtable()
			if err != nil {
				done <- err
				return
			}
			if rotated {
				rotations++
			}
		}
	}()
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			for b := 0; b < batches; b++ {
				err := db.Update(func(txn *Txn) error {
					for k := 0; k < 10; k++ {
						if err := txn.Set([]byte(fmt.Sprintf("w%d-b%d-k%d", w, b, k)), []byte(fmt.Sprintf("v%d", b))); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < writers; w++ {
		require.NoError(t, <-errs)
	}
	close(stop)
	require.NoError(t, <-done)
	require.NoError(t, db.Close())
	t.Logf("%d rotations", rotations)
	require.Greater(t, rotations, 0)

	db, err = Open(opt)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(txn *Txn) error {
		for w := 0; w < writers; w++ {
			for b := 0; b < batches; b++ {
				for k := 0; k < 10; k++ {
					item, err := txn.Get([]byte(fmt.Sprintf("w%d-b%d-k%d", w, b, k)))
					if err != nil {
						return fmt.Errorf("w%d-b%d-k%d: %w", w, b, k, err)
					}
					if err := item.Value(func(v []byte) error {
						if string(v) != fmt.Sprintf("v%d", b) {
							return fmt.Errorf("w%d-b%d-k%d: %q", w, b, k, v)
						}
						return nil
					}); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}))
}
