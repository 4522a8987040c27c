package kvsm

import (
	"encoding/binary"
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

// BenchmarkApplyPutOnce applies puts as the replicated KV store proposes
// them (a request id each, 64-byte values, keys drawn from 1,000 that all
// exist), one entry a batch as raft mostly commits them under 16 clients
// spread over 33 groups, to a group whose DB holds 100,000 other keys: the
// state machine's part of a replicated write, per replica.
func BenchmarkApplyPutOnce(b *testing.B) {
	db, err := badger.Open(badger.DefaultOptions(b.TempDir()).WithLogger(nil).WithMemTableSize(16 << 20).WithNumMemtables(2))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := Open(db, []byte("g001"))
	if err != nil {
		b.Fatal(err)
	}
	other, err := Open(db, []byte("g002"))
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 64)
	var index uint64
	put := func(s *Store, key string) {
		index++
		var id [16]byte
		binary.LittleEndian.PutUint64(id[:], index*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(id[8:], index)
		r := s.Apply(Entry{Index: index, Data: EncodePutOnce(id, 1_700_000_060+int64(index/1000), "ns", key, value, nil, 0)})
		if r.Err != nil || r.Duplicate {
			b.Fatal(r)
		}
	}
	for i := range 100_000 {
		put(other, keyN(i))
	}
	for i := range 1000 {
		put(s, keyN(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		put(s, keyN(int(uint64(i)*7919%1000)))
	}
}
