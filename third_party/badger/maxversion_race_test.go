package badger

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Value log GC reads the memtable's highest version (DB.MaxVersion) while
// the writer goroutine raises it: run with -race, it must find nothing.
func TestMaxVersionDuringWrites(t *testing.T) {
	opt := getTestOptions(t.TempDir())
	opt.ValueLogFileSize = 1 << 20
	opt.ValueThreshold = 1 << 10
	db, err := Open(opt)
	require.NoError(t, err)
	defer db.Close()
	value := make([]byte, 8<<10)
	// Garbage in the value log for GC to rewrite: overwritten values.
	for i := 0; i < 400; i++ {
		require.NoError(t, db.Update(func(txn *Txn) error {
			return txn.Set([]byte(fmt.Sprintf("key%d", i%10)), value)
		}))
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := db.Update(func(txn *Txn) error {
				return txn.Set([]byte(fmt.Sprintf("other%d", i)), []byte("v"))
			}); err != nil {
				done <- err
				return
			}
		}
	}()
	for i := 0; i < 200; i++ {
		if err := db.RunValueLogGC(0.1); err != nil && !errors.Is(err, ErrNoRewrite) && !errors.Is(err, ErrRejected) {
			t.Error(err)
		}
		for j := 0; j < 100; j++ {
			_ = db.MaxVersion()
		}
	}
	close(stop)
	require.NoError(t, <-done)
}
