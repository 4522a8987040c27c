package kvsm

import (
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// idFilter tells, without reading badger, that a request id is not
// recorded: it holds a 32-bit fingerprint of every recorded (id,
// deadline), by deadline. A put or delete with an id it has never seen
// (nearly every one) then skips badger's lookup of the id, which for a key
// that does not exist searches every memtable and consults every level.
// "Maybe" is answered by that lookup, so a fingerprint collision costs a
// read, never a wrong answer; what must never happen is "no" for a
// recorded id, so every path that records ids adds them (before its
// transaction commits: a commit that fails leaves only false positives)
// and the filter drops a deadline only once every id of that deadline is
// forgotten in a committed transaction.
//
// It lives in memory only: Open and Restore build it from the group's
// request id index. Its size follows the ids recorded within their
// window (kvsm.DedupWindow): about 8-10 bytes an id.
type idFilter struct {
	// valid is false while the filter does not cover the group's ids
	// (before it is built, during a Restore): everything is "maybe".
	valid bool
	// byDeadline holds the fingerprints of the ids of each deadline.
	byDeadline map[int64]map[uint32]struct{}
}

func fingerprint(id [16]byte) uint32 {
	return binary.LittleEndian.Uint32(id[:4]) ^ binary.LittleEndian.Uint32(id[12:])
}

// mayHave reports whether (id, deadline) may be recorded; false means it
// is not.
func (f *idFilter) mayHave(id [16]byte, deadline int64) bool {
	if !f.valid {
		return true
	}
	_, ok := f.byDeadline[deadline][fingerprint(id)]
	return ok
}

func (f *idFilter) add(id [16]byte, deadline int64) {
	if f.byDeadline == nil {
		f.byDeadline = map[int64]map[uint32]struct{}{}
	}
	set := f.byDeadline[deadline]
	if set == nil {
		set = map[uint32]struct{}{}
		f.byDeadline[deadline] = set
	}
	set[fingerprint(id)] = struct{}{}
}

// dropBefore forgets the fingerprints of deadlines before d: call it only
// once no id with such a deadline is recorded.
func (f *idFilter) dropBefore(d int64) {
	for k := range f.byDeadline {
		if k < d {
			delete(f.byDeadline, k)
		}
	}
}

// invalidate makes every answer "maybe" until build.
func (f *idFilter) invalidate() {
	f.valid = false
	f.byDeadline = nil
}

// build reads the group's request id index into the filter.
func (f *idFilter) build(db *badger.DB, l layout) error {
	f.invalidate()
	var built idFilter
	err := db.View(func(txn *badger.Txn) error {
		qp := l.tag(tagIDIndex)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: qp, PrefetchValues: false})
		defer it.Close()
		for it.Seek(qp); it.Valid(); it.Next() {
			deadline, id, ok := l.parseIDIndexKey(it.Item().Key())
			if !ok {
				return fmt.Errorf("%w: request id index key %q", errCorrupt, it.Item().Key())
			}
			built.add(id, deadline)
		}
		return nil
	})
	if err != nil {
		return err
	}
	f.byDeadline, f.valid = built.byDeadline, true
	return nil
}
