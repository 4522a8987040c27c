package table

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/dgraph-io/ristretto/v2/z"
)

// A builder of values that compress well reaches capacity by the memory it
// holds, not only by the compressed size its table will have on disk.
func TestBuilderCapacityBoundsUncompressed(t *testing.T) {
	opts := Options{Compression: options.Snappy, BlockSize: 4 << 10, BloomFalsePositive: 0.01,
		TableSize: 1 << 20}
	b := NewTableBuilder(opts)
	defer func() {
		b.Done() // as badger does before Close: the compressing goroutines end
		b.Close()
	}()
	value := bytes.Repeat([]byte("x"), 127<<10) // compresses about 20 to 1
	added := 0
	for i := 0; !b.ReachedCapacity(); i++ {
		if i == 1000 {
			t.Fatalf("no capacity reached after %d MiB of values", added>>20)
		}
		b.Add(y.KeyWithTs([]byte(fmt.Sprintf("k%06d", i)), 1), y.ValueStruct{Value: value}, 0)
		added += len(value)
	}
	limit := maxUncompressedFactor*int(opts.TableSize) + len(value) + 4<<10
	if added > limit {
		t.Fatalf("the builder took %d KiB of values, want at most %d", added>>10, limit>>10)
	}
	if added < int(opts.TableSize) {
		t.Fatalf("the builder stopped after %d KiB of values, under its table size", added>>10)
	}
}

// A builder whose allocator grew past its first buffer returns it to the
// pool with that buffer alone, not with all it grew.
func TestBuilderCloseTrimsAllocator(t *testing.T) {
	pool := z.NewAllocatorPool(8)
	defer pool.Release()
	opts := Options{Compression: options.Snappy, BlockSize: 4 << 10, BloomFalsePositive: 0.01,
		TableSize: 64 << 10, AllocPool: pool}
	b := NewTableBuilder(opts)
	value := bytes.Repeat([]byte("y"), 100<<10)
	for i := range 20 {
		b.Add(y.KeyWithTs([]byte(fmt.Sprintf("k%06d", i)), 1), y.ValueStruct{Value: value}, 0)
	}
	b.Done() // as badger does before Close: the compressing goroutines end
	grown := b.alloc.Allocated()
	if grown <= uint64(b.keepAlloc) {
		t.Fatalf("the allocator holds %d bytes after 2 MB of values: the test did not grow it", grown)
	}
	b.Close()
	a := pool.Get(2*int(opts.TableSize), "test")
	defer a.Release()
	if got := a.Allocated(); got > uint64(b.keepAlloc) {
		t.Fatalf("the pool handed back an allocator of %d bytes, want at most %d", got, b.keepAlloc)
	}

	// One that did not grow goes back to the pool.
	small := NewTableBuilder(opts)
	small.Add(y.KeyWithTs([]byte("k"), 1), y.ValueStruct{Value: []byte("v")}, 0)
	small.Done()
	sa := small.alloc
	small.Close()
	if got := pool.Get(2*int(opts.TableSize), "test"); got != sa {
		t.Fatal("a builder's allocator that did not grow was not pooled")
	}
}
