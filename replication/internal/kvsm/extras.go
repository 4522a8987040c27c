package kvsm

import (
	"fmt"
	"hash/maphash"

	"github.com/dgraph-io/badger/v4"
)

// maxExtras bounds the fingerprints extraFilter keeps: past it the filter
// gives up (every put reads the old record, as without it) until the
// Store is opened or restored again.
const maxExtras = 1 << 18

// extraFilter tells, without reading badger, that a put need not read the
// record it replaces: it counts, by a 64-bit fingerprint of the data key,
// the extra keys each record has (its expiration index entry, its blob).
// A put reads the old record only to remove those; a key whose
// fingerprint counts none has none, so its put writes without the read
// (which in badger walks every memtable and level). Counts are exact per
// fingerprint: a collision only makes a put read, never skip a read it
// needs. Changes take effect at once, so later entries of the same
// transaction see them, and are undone if the transaction does not commit.
type extraFilter struct {
	valid  bool
	seed   maphash.Seed
	counts map[uint64]int32
	// undo is the changes of the transaction being built.
	undo []extraChange
}

type extraChange struct {
	fp    uint64
	delta int32
}

// extras is how many extra keys a record has.
func extras(exp int64, external bool) int32 {
	n := int32(0)
	if exp != 0 {
		n++
	}
	if external {
		n++
	}
	return n
}

func (f *extraFilter) fp(dk []byte) uint64 { return maphash.Bytes(f.seed, dk) }

// mayHave reports whether the record under data key dk may have extra
// keys; false means it has none (or does not exist).
func (f *extraFilter) mayHave(dk []byte) bool {
	return !f.valid || f.counts[f.fp(dk)] != 0
}

// change adds delta to dk's count.
func (f *extraFilter) change(dk []byte, delta int32) {
	if !f.valid || delta == 0 {
		return
	}
	fp := f.fp(dk)
	f.apply(fp, delta)
	f.undo = append(f.undo, extraChange{fp, delta})
}

func (f *extraFilter) apply(fp uint64, delta int32) {
	n := f.counts[fp] + delta
	switch {
	case n == 0:
		delete(f.counts, fp)
	case len(f.counts) >= maxExtras && f.counts[fp] == 0:
		f.invalidate()
	default:
		f.counts[fp] = n
	}
}

// begin starts a transaction's changes; commit keeps them, abort undoes
// them.
func (f *extraFilter) begin()  { f.undo = f.undo[:0] }
func (f *extraFilter) commit() { f.undo = f.undo[:0] }
func (f *extraFilter) abort() {
	for i := len(f.undo) - 1; i >= 0 && f.valid; i-- {
		f.apply(f.undo[i].fp, -f.undo[i].delta)
	}
	f.undo = f.undo[:0]
}

func (f *extraFilter) invalidate() {
	f.valid, f.counts, f.undo = false, nil, nil
}

// build counts the group's expiration index entries and blobs.
func (f *extraFilter) build(db *badger.DB, l layout) error {
	f.invalidate()
	f.seed = maphash.MakeSeed()
	f.counts, f.valid = map[uint64]int32{}, true
	err := db.View(func(txn *badger.Txn) error {
		for _, tag := range []byte{tagExpiry, tagBlob} {
			p := l.tag(tag)
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
			for it.Seek(p); it.Valid() && f.valid; it.Next() {
				k := it.Item().Key()
				var ns, key string
				ok := false
				if tag == tagExpiry {
					_, ns, key, ok = l.parseExpiryKey(k)
				} else {
					ns, key, ok = splitNameKey(k[len(l.prefix)+1:])
				}
				if !ok {
					it.Close()
					return fmt.Errorf("%w: key %q", errCorrupt, k)
				}
				f.apply(f.fp(l.dataKey(ns, key)), 1)
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		f.invalidate()
	}
	return err
}
