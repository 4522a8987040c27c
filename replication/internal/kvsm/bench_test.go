package kvsm

import (
	"fmt"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// BenchmarkApplyBatch applies batches of 64 puts of 100-byte values (keys
// drawn from 100,000, so later batches overwrite) and reports writes/s.
// groups > 1 runs that many groups of one DB at once, as a node does.
func BenchmarkApplyBatch(b *testing.B) {
	for _, synced := range []bool{false, true} {
		for _, groups := range []int{1, 4} {
			b.Run(fmt.Sprintf("sync=%v/groups=%d", synced, groups), func(b *testing.B) {
				benchApply(b, synced, groups)
			})
		}
	}
}

func benchApply(b *testing.B, synced bool, groups int) {
	const batch = 64
	db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithLogger(nil).WithSyncWrites(synced))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	value := make([]byte, 100)
	stores := make([]*Store, groups)
	for i := range stores {
		if stores[i], err = Open(db, fmt.Appendf(nil, "g%03d", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for g, s := range stores {
		wg.Go(func() {
			var index uint64
			entries := make([]Entry, batch)
			for n := g; n < b.N; n += groups {
				for i := range entries {
					index++
					entries[i] = Entry{Index: index, Data: EncodePut("bench", keyN(int(index*7919%100_000)), value, nil, 0)}
				}
				for _, r := range s.ApplyBatch(entries) {
					if r.Err != nil {
						b.Error(r.Err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "writes/s")
}
