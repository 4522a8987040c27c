package badger

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Without SyncWrites, value log GC syncs the values it moved, and the
// pointers to them, before it deletes the file that held them: otherwise
// a crash after the deletion loses values that were acknowledged and
// durable before the GC.
func TestValueGCSyncsBeforeDelete(t *testing.T) {
	opt := getTestOptions(t.TempDir())
	opt.SyncWrites = false
	opt.ValueLogFileSize = 1 << 20
	opt.BaseTableSize = 1 << 15
	opt.ValueThreshold = 1 << 10
	db, err := Open(opt)
	require.NoError(t, err)
	defer db.Close()

	const sz = 32 << 10
	for i := 0; i < 100; i++ {
		require.NoError(t, db.Update(func(txn *Txn) error {
			return txn.Set([]byte(fmt.Sprintf("key%d", i)), make([]byte, sz))
		}))
	}
	require.NoError(t, db.Sync())
	for i := 0; i < 45; i++ {
		txnDelete(t, db, []byte(fmt.Sprintf("key%d", i)))
	}
	db.vlog.filesLock.RLock()
	lf := db.vlog.filesMap[db.vlog.sortedFids()[0]]
	db.vlog.filesLock.RUnlock()

	before := db.syncCalls.Load()
	require.NoError(t, db.vlog.rewrite(lf))
	require.Greater(t, db.syncCalls.Load(), before, "the rewrite deleted its file without syncing what it moved")
	for i := 45; i < 100; i++ {
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
