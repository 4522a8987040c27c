package kvsm

import (
	"time"

	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// Entry is one committed Raft log entry.
type Entry struct {
	// Index is the entry's Raft index: increasing, not necessarily dense.
	Index uint64
	// Data is an encoded command. ApplyBatch may keep references to it
	// until it returns; it never keeps them after.
	Data []byte
	// Term is the entry's Raft term. Only object batches look at it: they
	// apply only when it is their epoch.
	Term uint64
}

// Result is the outcome of applying one Entry.
type Result struct {
	// Index is the entry's index.
	Index uint64
	// Op is the decoded command's op, OpInvalid if it did not decode.
	Op Op
	// Skipped means Index was at or below the applied index: the entry was
	// applied before (say, before a restart) and nothing was done now.
	Skipped bool
	// Duplicate means the command's request id was applied before (by an
	// earlier entry carrying the same id: another attempt of the same
	// operation), so the command changed nothing but the applied index. Err
	// is nil: the operation took effect, once.
	Duplicate bool
	// Err is nil when the command took effect. If it wraps ErrInvalid the
	// command was rejected deterministically (every replica rejects it):
	// nothing changed but the entry counts as applied; so too if it wraps
	// ErrStaleOwner (an object batch of an earlier epoch). If it wraps
	// ErrStorage (and maybe ErrUnavailable) the entry was not applied,
	// and neither was any later entry of the batch: the state is as of
	// Applied(); the caller may retry from there or stop the group.
	Err error
	// Expired (OpExpire) is how many keys the command removed.
	Expired int
	// Forgotten (OpExpire) is how many request ids the command removed.
	Forgotten int
	// Collected (OpExpire) is how many keys of object data that DeleteAll
	// left behind the command removed (with the marks of the
	// generations it finished).
	Collected int
	// More (OpExpire) says that keys with expiration <= Now, request ids
	// with a deadline before Now, or object data to collect remain beyond
	// the command's limit: propose another expire.
	More bool
}

// minBatchSize is the smallest badger max batch size (15% of MemTableSize)
// that holds any single entry: a put writes at most ~1 MiB inline (badger's
// largest value threshold) plus keys, an expire at most 5*MaxExpireLimit
// deletions (3 per key, 2 per request id).
const minBatchSize = 2 << 20

// chunkBytes caps the bytes of entry data put into one transaction, so that
// a batch of large values does not hold them all in memory at once.
const chunkBytes = 64 << 20

// Store is the KV state machine of one Raft group: its data lives in a
// badger DB shared with other groups, under the group's prefix.
//
// Apply, ApplyBatch and Restore must be called by one goroutine at a time
// (they serialize on a mutex anyway); reads (Get, List, Snapshot, Hash) may
// run concurrently with them and with each other.
type Store struct {
	db *badger.DB
	l  layout

	mu      sync.Mutex
	applied atomic.Uint64
	// floor is the group's clock floor, unix seconds: the latest Now of
	// an applied expire command (0: none yet). Reads judge expiry by the
	// later of their clock and the floor, so a key the group recorded as
	// expired stays expired under a leader whose clock is behind
	// (ErrExpiredByClock). It is stored with the applied index and carried
	// in snapshots.
	floor atomic.Int64
	// txnFloor is, while a transaction is built, the floor it raises to
	// (under mu).
	txnFloor int64
	// ids tells, without a read, that a request id is not recorded (under
	// mu).
	ids idFilter
	// forgotBefore is, while a transaction is built, the deadline before
	// which its expire commands forgot every request id (0: none); ids
	// drops those deadlines once it commits (under mu).
	forgotBefore int64
	// extras tells, without a read, that a put replaces no record with an
	// expiration or a blob (under mu).
	extras extraFilter
	// down says why the group's state cannot be used, nil while it can:
	// ErrUnavailable while a Restore runs or after one failed, or the
	// storage failure of an entry that could not be applied. The latter
	// stops the replica until it is opened again or restored: raft counts
	// an entry as applied whatever the state machine answered, and goes on
	// handing it the next ones until the replica is shut down; had they
	// applied, the applied index would pass the failed entry, and no replay
	// after a restart would bring it back (a replica at the same index as
	// its peers, without one of their writes). No entry is applied, no
	// snapshot taken and no read answered while it is set.
	down atomic.Pointer[error]

	// commits counts committed apply transactions, tooBig the retries after
	// ErrTxnTooBig (tests observe splitting).
	commits, tooBig atomic.Uint64
	// budget overrides the estimated transaction budget (tests force
	// badger's ErrTxnTooBig path); 0 = derived from the DB.
	budget int64
	// noSync skips the explicit syncs of Restore and Open (fuzzing restores
	// thousands of times a second, where msync dominates).
	noSync bool
}

// Open returns the Store of the group under prefix in db. The caller owns db
// (Open does not close it) and must give each group a prefix that is not a
// prefix of another group's (fixed-length group ids do). At most one Store
// may be open per prefix.
//
// A Restore that a crash interrupted is rolled back here: the group is made
// empty with applied index 0, so that it is restored again (or replays its
// log from the start). db must be on disk (not Options.InMemory) and its
// MaxBatchSize at least 2 MiB (the default MemTableSize of 64 MiB gives
// 9.6 MiB).
func Open(db *badger.DB, prefix []byte) (*Store, error) {
	if len(prefix) == 0 {
		return nil, errors.New("kvsm: empty group prefix")
	}
	if db.IsClosed() {
		return nil, fmt.Errorf("kvsm: open: %w", badger.ErrDBClosed)
	}
	if db.Opts().InMemory {
		// It keeps every value in the LSM tree, so a large value does not
		// fit a transaction (and badger v4.9.6 crashes on values of 1 MiB
		// or more in that mode).
		return nil, errors.New("kvsm: an in-memory badger DB cannot hold KV values: open it on a directory")
	}
	if n := db.MaxBatchSize(); n < minBatchSize {
		return nil, fmt.Errorf("kvsm: badger's max batch size %d is below %d: raise MemTableSize (the batch size is 15%% of it)", n, minBatchSize)
	}
	if n := db.MaxBatchCount(); n < 6*MaxExpireLimit+16 {
		return nil, fmt.Errorf("kvsm: badger's max batch count %d is below %d", n, 6*MaxExpireLimit+16)
	}
	s := &Store{db: db, l: layout{prefix: bytes.Clone(prefix)}}
	var restoring bool
	var applied uint64
	var floor int64
	err := db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(s.l.restoreKey())
		switch {
		case err == nil:
			restoring = true
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		applied, floor, err = readApplied(txn, s.l)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kvsm: open: %w", storageErr(err))
	}
	if restoring {
		if err := s.wipe(); err != nil {
			return nil, fmt.Errorf("kvsm: open: rolling back an interrupted restore: %w", storageErr(err))
		}
		if err := s.update(func(txn *badger.Txn) error {
			if err := txn.Delete(s.l.appliedKey()); err != nil {
				return err
			}
			return txn.Delete(s.l.restoreKey())
		}); err != nil {
			return nil, fmt.Errorf("kvsm: open: rolling back an interrupted restore: %w", storageErr(err))
		}
		applied, floor = 0, 0
	}
	if err := s.ids.build(db, s.l); err != nil {
		return nil, fmt.Errorf("kvsm: open: reading the request ids: %w", storageErr(err))
	}
	if err := s.extras.build(db, s.l); err != nil {
		return nil, fmt.Errorf("kvsm: open: reading the expiration index: %w", storageErr(err))
	}
	s.applied.Store(applied)
	s.floor.Store(floor)
	return s, nil
}

// readApplied reads the applied index and the clock floor: be64 index,
// then be64 floor unless it is 0 (a group that never applied an expire
// command keeps the 8-byte form of the versions before the floor).
func readApplied(txn *badger.Txn, l layout) (index uint64, floor int64, err error) {
	item, err := txn.Get(l.appliedKey())
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	err = item.Value(func(v []byte) error {
		if len(v) != 8 && len(v) != 16 {
			return fmt.Errorf("applied index of %d bytes", len(v))
		}
		index = binary.BigEndian.Uint64(v)
		if len(v) == 16 {
			floor = int64(binary.BigEndian.Uint64(v[8:]))
		}
		return nil
	})
	return index, floor, err
}

// appliedValue is the applied key's value for index and floor.
func appliedValue(index uint64, floor int64) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 16), index)
	if floor != 0 {
		b = binary.BigEndian.AppendUint64(b, uint64(floor))
	}
	return b
}

// Floor returns the group's clock floor, unix seconds (0: no expire
// command applied yet): the latest time an applied expire command
// recorded. Every replica that applied the same entries has the same one.
func (s *Store) Floor() int64 { return s.floor.Load() }

// update runs fn in a read-write transaction and commits it, synced to disk.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	if err := s.db.Update(fn); err != nil {
		return err
	}
	return s.sync()
}

func (s *Store) sync() error {
	if s.noSync {
		return nil
	}
	return s.db.Sync()
}

// Applied returns the index of the last applied entry, 0 if none. It is
// persisted in the transaction that applies the entry, so after a restart
// it says which entries to skip.
func (s *Store) Applied() uint64 { return s.applied.Load() }

// Apply applies one entry: ApplyBatch of one.
func (s *Store) Apply(e Entry) Result { return s.ApplyBatch([]Entry{e})[0] }

// ApplyBatch applies entries in order and returns one Result per entry, in
// the same order. Entries at or below Applied() are skipped. The batch is
// applied in as few badger transactions as fit (one, unless it is larger
// than badger's transaction size); each transaction holds whole entries and
// records the index of its last entry as the applied index, so every entry
// is applied atomically and exactly once, even across crashes.
//
// Applying is deterministic: it depends only on the entries and the state,
// never on a clock or on the badger options (given the minimum Open
// checks). A command that breaks a rule is rejected with ErrInvalid and
// changes nothing. On a storage failure the failed entry and the rest of the
// batch get ErrStorage.
func (s *Store) ApplyBatch(entries []Entry) []Result {
	results := make([]Result, len(entries))
	for i, e := range entries {
		results[i].Index = e.Index
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < len(entries); {
		var n int
		var err error
		if d := s.down.Load(); d != nil {
			err = *d
		} else if s.db.IsClosed() {
			err = badger.ErrDBClosed
		} else {
			n, err = s.applyChunk(entries[i:], results[i:])
		}
		if err != nil {
			if s.down.Load() == nil {
				f := fmt.Errorf("%w (entry %d failed to apply: the replica applies nothing more until it is reopened)", storageErr(err), entries[i].Index)
				s.down.Store(&f)
			}
			err = fmt.Errorf("kvsm: entries from %d on not applied: %w", entries[i].Index, storageErr(err))
			for j := i; j < len(entries); j++ {
				results[j] = Result{Index: entries[j].Index, Err: err}
			}
			break
		}
		i += n
	}
	return results
}

// applyChunk applies a prefix of entries (at least one) in one transaction
// and returns its length.
func (s *Store) applyChunk(entries []Entry, results []Result) (int, error) {
	end := s.chunkEnd(entries)
	for conflicts := 0; ; {
		n, err := s.tryChunk(entries[:end], results)
		switch {
		case err == nil:
			return end, nil
		case errors.Is(err, badger.ErrTxnTooBig) && n > 0:
			s.tooBig.Add(1)
			// entries[:n] fit; n == end means all did but the applied index
			// did not. Retry with fewer.
			if n >= end {
				end--
			} else {
				end = n
			}
			if end == 0 {
				return 0, fmt.Errorf("entry %d alone exceeds badger's transaction size: %w", entries[0].Index, err)
			}
		case errors.Is(err, badger.ErrTxnTooBig):
			return 0, fmt.Errorf("entry %d alone exceeds badger's transaction size: %w", entries[0].Index, err)
		case errors.Is(err, badger.ErrConflict) && conflicts < 8:
			// Someone else wrote a key this group read: only a fingerprint
			// collision with another group can do that. Run it again.
			conflicts++
		default:
			return 0, err
		}
	}
}

// chunkEnd estimates how many leading entries fit in one transaction, at
// least one. badger's ErrTxnTooBig remains the authority (see applyChunk).
func (s *Store) chunkEnd(entries []Entry) int {
	budget := s.budget
	if budget == 0 {
		budget = min(s.db.MaxBatchSize()*3/4, chunkBytes)
	}
	count := s.db.MaxBatchCount() / 2
	keyCost := int64(len(s.l.prefix)) + 1 + 8 + binary.MaxVarintLen64 + MaxNamespaceLen + MaxKeyLen + 2 + 10
	objKeyCost := int64(len(s.l.prefix)) + 1 + binary.MaxVarintLen64 + MaxObjectKeyLen + 8 + MaxStorageKeyLen + 2 + 10
	var size, n int64
	for i, e := range entries {
		es, en := int64(len(e.Data))+6*keyCost, int64(6)
		if len(e.Data) > 1 && Op(e.Data[1]) == OpExpire {
			es, en = 5*MaxExpireLimit*keyCost+MaxExpireLimit*objKeyCost, 6*MaxExpireLimit
		}
		if len(e.Data) > 1 && Op(e.Data[1]) == OpObject {
			keys := min(int64(len(e.Data))/2, MaxObjectBatchKeys) + 8
			es, en = int64(len(e.Data))+keys*(objKeyCost-MaxStorageKeyLen), keys
		}
		size, n = size+es, n+en
		if i > 0 && (size > budget || n > count) {
			return i
		}
	}
	return len(entries)
}

// tryChunk applies entries in one transaction and commits it. On
// ErrTxnTooBig it returns how many leading entries were written in full.
func (s *Store) tryChunk(entries []Entry, results []Result) (int, error) {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	s.extras.begin()
	committed := false
	defer func() {
		if !committed {
			s.extras.abort()
		}
	}()
	last := s.applied.Load()
	wrote := false
	s.forgotBefore = 0
	s.txnFloor = s.floor.Load()
	for i, e := range entries {
		if e.Index <= last {
			results[i] = Result{Index: e.Index, Skipped: true}
			continue
		}
		r, err := s.execute(txn, e)
		if err != nil {
			return i, err
		}
		results[i] = r
		last, wrote = e.Index, true
	}
	if !wrote {
		committed = true // nothing changed
		return len(entries), nil
	}
	if err := txn.Set(s.l.appliedKey(), appliedValue(last, s.txnFloor)); err != nil {
		return len(entries), err
	}
	if err := txn.Commit(); err != nil {
		return 0, err
	}
	committed = true
	s.extras.commit()
	s.applied.Store(last)
	s.floor.Store(s.txnFloor)
	s.commits.Add(1)
	if s.forgotBefore != 0 {
		s.ids.dropBefore(s.forgotBefore)
	}
	return len(entries), nil
}

// execute applies one entry's command to txn. A rule broken is a Result
// error; the returned error is a storage failure (or ErrTxnTooBig), after
// which txn must be discarded.
func (s *Store) execute(txn *badger.Txn, e Entry) (Result, error) {
	r := Result{Index: e.Index}
	c, err := DecodeCommand(e.Data)
	if err != nil {
		r.Err = err
		return r, nil
	}
	r.Op = c.Op
	if err := c.validate(); err != nil {
		r.Err = err
		return r, nil
	}
	if c.HasID() {
		seen, err := s.seen(txn, c.ID, c.Deadline)
		if err != nil {
			return r, err
		}
		if seen {
			r.Duplicate = true
			return r, nil
		}
		if err := s.record(txn, c.ID, c.Deadline); err != nil {
			return r, err
		}
	}
	switch c.Op {
	case OpPut:
		return r, s.put(txn, &c)
	case OpDelete:
		return r, s.delete(txn, c.Namespace, c.Key)
	case OpExpire:
		s.txnFloor = max(s.txnFloor, c.Now)
		var moreKeys, moreIDs, moreData bool
		r.Expired, moreKeys, err = s.expire(txn, c.Now, c.Limit)
		if err != nil {
			return r, err
		}
		r.Forgotten, moreIDs, err = s.forget(txn, c.Now, c.Limit)
		if err != nil {
			return r, err
		}
		r.Collected, moreData, err = s.collect(txn, c.Limit)
		r.More = moreKeys || moreIDs || moreData
		return r, err
	case OpObject:
		return r, s.applyObject(txn, &r, &c, e.Term)
	}
	r.Err = badCommand("unknown op %d", c.Op) // unreachable: validate checked
	return r, nil
}

// seen reports whether request id id is recorded with deadline deadline.
// The filter answers most of them (an id never seen) without a read.
func (s *Store) seen(txn *badger.Txn, id [16]byte, deadline int64) (bool, error) {
	if !s.ids.mayHave(id, deadline) {
		return false, nil
	}
	_, err := txn.Get(s.l.idIndexKey(deadline, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// record records request id id (not recorded yet) until deadline.
func (s *Store) record(txn *badger.Txn, id [16]byte, deadline int64) error {
	// Into the filter first: should the transaction not commit, the
	// filter only says "maybe" of an id that is not there. An expire
	// earlier in this transaction must not make the filter drop it.
	s.ids.add(id, deadline)
	if s.forgotBefore > deadline {
		s.forgotBefore = deadline
	}
	return txn.Set(s.l.idIndexKey(deadline, id), nil)
}

// forget removes up to limit request ids whose deadline is before now, in
// the order of their index (deadline, then id).
func (s *Store) forget(txn *badger.Txn, now int64, limit int) (n int, more bool, err error) {
	qp := s.l.tag(tagIDIndex)
	var due [][]byte
	var last int64 // the deadline of the last id forgotten
	it := txn.NewIterator(badger.IteratorOptions{Prefix: qp, PrefetchValues: false})
	for it.Seek(qp); it.Valid(); it.Next() {
		k := it.Item().Key()
		deadline, _, ok := s.l.parseIDIndexKey(k)
		if !ok {
			it.Close()
			return 0, false, fmt.Errorf("%w: request id index key %q", errCorrupt, k)
		}
		if deadline >= now {
			break
		}
		if len(due) == limit {
			more = true
			break
		}
		due = append(due, it.Item().KeyCopy(nil))
		last = deadline
	}
	it.Close()
	for _, qk := range due {
		if err := txn.Delete(qk); err != nil {
			return 0, false, err
		}
	}
	// Every id of a deadline before the next one left (or before now, if
	// none is left) is gone once this commits.
	horizon := now
	if more {
		horizon = last
	}
	s.forgotBefore = max(s.forgotBefore, horizon)
	return len(due), more, nil
}

// readRecord reads the record under dk; found is false if there is none.
func readRecord(txn *badger.Txn, dk []byte) (rec record, found bool, err error) {
	item, err := txn.Get(dk)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, err
	}
	err = item.Value(func(v []byte) error {
		rec, err = parseRecord(v)
		rec.meta, rec.value = nil, nil // v is only valid in here
		return err
	})
	return rec, err == nil, err
}

func (s *Store) put(txn *badger.Txn, c *Command) error {
	dk := s.l.dataKey(c.Namespace, c.Key)
	var old record
	var found bool
	if s.extras.mayHave(dk) {
		// Only a record with an expiration or a blob needs anything
		// removed: without one, the put just writes.
		var err error
		if old, found, err = readRecord(txn, dk); err != nil {
			return err
		}
	}
	external := len(c.Value) > inlineMax
	s.extras.change(dk, extras(c.Expiration, external)-extras(old.exp, found && old.external()))
	if found && old.exp != 0 && old.exp != c.Expiration {
		if err := txn.Delete(s.l.expiryKey(old.exp, c.Namespace, c.Key)); err != nil {
			return err
		}
	}
	if found && old.external() && !external {
		if err := txn.Delete(s.l.blobKey(c.Namespace, c.Key)); err != nil {
			return err
		}
	}
	if external {
		// c.Value aliases the entry's data, which outlives the transaction.
		if err := txn.Set(s.l.blobKey(c.Namespace, c.Key), c.Value); err != nil {
			return err
		}
	}
	if err := txn.Set(dk, newRecord(c.Expiration, c.Metadata, c.Value)); err != nil {
		return err
	}
	if c.Expiration != 0 && !(found && old.exp == c.Expiration) {
		return txn.Set(s.l.expiryKey(c.Expiration, c.Namespace, c.Key), nil)
	}
	return nil
}

func (s *Store) delete(txn *badger.Txn, ns, key string) error {
	dk := s.l.dataKey(ns, key)
	old, found, err := readRecord(txn, dk)
	if err != nil || !found {
		return err
	}
	return s.remove(txn, dk, old, ns, key)
}

// remove deletes a present key: its record, blob and expiration index entry.
func (s *Store) remove(txn *badger.Txn, dk []byte, old record, ns, key string) error {
	s.extras.change(dk, -extras(old.exp, old.external()))
	if err := txn.Delete(dk); err != nil {
		return err
	}
	if old.external() {
		if err := txn.Delete(s.l.blobKey(ns, key)); err != nil {
			return err
		}
	}
	if old.exp != 0 {
		return txn.Delete(s.l.expiryKey(old.exp, ns, key))
	}
	return nil
}

// ExpireDue reports whether an expire command proposed at now would
// change anything: a key whose expiration is at or before now, a request
// id whose deadline is before now, or object data that DeleteAll left
// behind. A leader asks before proposing one, so that a group with nothing
// to expire grows no log entry (and can stay asleep; see
// replication.GroupConfig.SleepAfter). Errors wrap ErrUnavailable or
// ErrStorage.
func (s *Store) ExpireDue(now time.Time) (bool, error) {
	if err := s.readable(); err != nil {
		return false, err
	}
	sec := now.Unix() // as EncodeExpire carries it
	due := false
	err := s.db.View(func(txn *badger.Txn) error {
		first := func(tag byte) []byte {
			p := s.l.tag(tag)
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
			defer it.Close()
			if it.Seek(p); it.Valid() {
				return it.Item().KeyCopy(nil)[len(p):]
			}
			return nil
		}
		if k := first(tagExpiry); len(k) >= 8 && sec > 0 && int64(binary.BigEndian.Uint64(k)) <= sec {
			due = true // as expire
		} else if k := first(tagIDIndex); len(k) >= 8 && int64(binary.BigEndian.Uint64(k)) < sec {
			due = true // as forget
		} else if first(tagObjGarbage) != nil {
			due = true // as collect
		}
		return nil
	})
	if err != nil {
		return false, storageErr(err)
	}
	return due, nil
}

// expire removes up to limit keys whose expiration is <= now, in the order
// of the expiration index (expiration, then namespace, then key).
func (s *Store) expire(txn *badger.Txn, now int64, limit int) (n int, more bool, err error) {
	if now <= 0 {
		return 0, false, nil
	}
	xp := s.l.tag(tagExpiry)
	var due [][]byte
	it := txn.NewIterator(badger.IteratorOptions{Prefix: xp})
	for it.Seek(xp); it.Valid(); it.Next() {
		k := it.Item().Key()
		if len(k) < len(xp)+8 || int64(binary.BigEndian.Uint64(k[len(xp):])) > now {
			break
		}
		if len(due) == limit {
			more = true
			break
		}
		due = append(due, it.Item().KeyCopy(nil))
	}
	it.Close()
	for _, xk := range due {
		exp, ns, key, ok := s.l.parseExpiryKey(xk)
		if !ok {
			return 0, false, fmt.Errorf("%w: expiration index key %q", errCorrupt, xk)
		}
		dk := s.l.dataKey(ns, key)
		rec, found, err := readRecord(txn, dk)
		if err != nil {
			return 0, false, err
		}
		if !found || rec.exp != exp {
			return 0, false, fmt.Errorf("%w: expiration index entry %q has no matching record", errCorrupt, xk)
		}
		if err := s.remove(txn, dk, rec, ns, key); err != nil {
			return 0, false, err
		}
		n++
	}
	return n, more, nil
}
