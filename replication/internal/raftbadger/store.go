// Package raftbadger stores Raft logs and stable state of many groups in one
// badger/v4 database, each group under its own key prefix.
package raftbadger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// ErrKeyNotFound is what the StableStore methods return for a key never
// set. hashicorp/raft recognises a missing key by the text "not found"
// (err.Error() == "not found"), so the text must stay exactly that.
var ErrKeyNotFound = errors.New("not found")

// Key layout under a group's prefix P (see GroupPrefix):
//
//	P 'l' <index, 8 bytes big-endian>  a log entry (so that keys sort by index)
//	P 's' <key>                        a StableStore key
const (
	tagLog    = 'l'
	tagStable = 's'
)

// logFormat is the first byte of an encoded log entry, so that the
// encoding can change without a migration of old entries.
const logFormat byte = 1

// GroupPrefix is the key prefix of the group named id. No prefix it
// returns is a prefix of another's (the name's length precedes it), so
// groups never see each other's keys, whatever their names.
func GroupPrefix(id string) []byte {
	p := make([]byte, 0, 5+binary.MaxVarintLen64+len(id))
	p = append(p, "raft\x00"...)
	p = binary.AppendUvarint(p, uint64(len(id)))
	return append(p, id...)
}

// Store is a raft.LogStore and raft.StableStore for one group. Its methods
// are safe for concurrent use (raft calls DeleteRange from its snapshot
// goroutine while the main one appends).
//
// StoreLogs and Set return only once what they wrote is on disk: they
// commit unsynced and then wait for a sync of the database that a node's
// groups share (syncer.go), or, on a database opened with SyncWrites, for
// the commit's own sync. StoreLogsAsync returns before the sync and
// reports it to a callback (raft.AsyncLogStore).
type Store struct {
	db        *badger.DB
	logPrefix []byte // prefix + tagLog
	stPrefix  []byte // prefix + tagStable

	// mu orders the writers and guards first and last, the log's bounds
	// (0, 0 when it is empty) as of the last commit. Readers get the
	// copies in pubFirst and pubLast, so that asking for the bounds never
	// waits behind a writer.
	mu                sync.Mutex
	first, last       uint64
	pubFirst, pubLast atomic.Uint64

	// syncing counts the StoreLogsAsync calls whose durability is not
	// reported yet (Wait).
	syncing sync.WaitGroup
}

var (
	_ raft.LogStore      = (*Store)(nil)
	_ raft.AsyncLogStore = (*Store)(nil)
	_ raft.StableStore   = (*Store)(nil)
)

// New returns the store of the group whose keys start with prefix (use
// GroupPrefix; a prefix must not be a prefix of another group's). It reads
// the first and last log indexes once; after that they are cached.
func New(db *badger.DB, prefix []byte) (*Store, error) {
	if len(prefix) == 0 {
		return nil, errors.New("raftbadger: empty group prefix")
	}
	s := &Store{
		db:        db,
		logPrefix: append(append([]byte(nil), prefix...), tagLog),
		stPrefix:  append(append([]byte(nil), prefix...), tagStable),
	}
	if err := s.readBoundsLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) publishLocked() {
	s.pubFirst.Store(s.first)
	s.pubLast.Store(s.last)
}

func (s *Store) logKey(index uint64) []byte {
	k := make([]byte, len(s.logPrefix)+8)
	copy(k, s.logPrefix)
	binary.BigEndian.PutUint64(k[len(s.logPrefix):], index)
	return k
}

// seekLocked returns the index of the first log entry at or after from
// (reverse: at or before), 0 if there is none.
func (s *Store) seekLocked(txn *badger.Txn, from uint64, reverse bool) (uint64, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: s.logPrefix, Reverse: reverse})
	defer it.Close()
	it.Seek(s.logKey(from))
	if !it.Valid() {
		return 0, nil
	}
	k := it.Item().Key()
	if len(k) != len(s.logPrefix)+8 {
		return 0, fmt.Errorf("raftbadger: log key %x has the wrong length", k)
	}
	return binary.BigEndian.Uint64(k[len(s.logPrefix):]), nil
}

// FirstIndex returns the first index in the log, 0 when it is empty.
func (s *Store) FirstIndex() (uint64, error) { return s.pubFirst.Load(), nil }

// LastIndex returns the last index in the log, 0 when it is empty.
func (s *Store) LastIndex() (uint64, error) { return s.pubLast.Load(), nil }

// GetLog reads the entry at index into l; raft.ErrLogNotFound if there is
// none. l's byte slices are its own (they do not alias the database).
func (s *Store) GetLog(index uint64, l *raft.Log) error {
	// Only what lies within the bounds is the log: an entry past them (one a
	// failed write left, should a failure ever leave one) must not pass
	// raft's consistency check for an index it thinks is not there.
	if first, last := s.pubFirst.Load(), s.pubLast.Load(); index < first || index > last {
		return raft.ErrLogNotFound
	}
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(s.logKey(index))
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		return decodeLog(v, l)
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return fmt.Errorf("raftbadger: reading log %d: %w", index, err)
	}
	l.Index = index
	return nil
}

// StoreLog stores one entry.
func (s *Store) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores entries, in one transaction when they fit, and returns
// once they are on disk; a batch larger than a badger transaction goes in
// several, committed in order, so that a crash can lose a tail of the
// batch but never leave a hole in the log.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	if err := s.storeLogs(logs); err != nil {
		return err
	}
	if err := syncerOf(s.db).sync(); err != nil {
		return fmt.Errorf("raftbadger: syncing logs %d-%d: %w", logs[0].Index, logs[len(logs)-1].Index, err)
	}
	return nil
}

// StoreLogsAsync implements raft.AsyncLogStore: it commits the entries as
// StoreLogs does, so that they are readable when it returns, and calls
// durable from another goroutine once a sync has put them on disk. A
// leader uses it to append its own entries while its followers append
// theirs.
func (s *Store) StoreLogsAsync(logs []*raft.Log, durable func(error)) error {
	if len(logs) == 0 {
		durable(nil)
		return nil
	}
	if err := s.storeLogs(logs); err != nil {
		return err
	}
	s.syncing.Add(1)
	go func() {
		defer s.syncing.Done()
		err := syncerOf(s.db).sync()
		if err != nil {
			err = fmt.Errorf("raftbadger: syncing logs %d-%d: %w", logs[0].Index, logs[len(logs)-1].Index, err)
		}
		durable(err)
	}()
	return nil
}

// Wait returns once every StoreLogsAsync call has reported durability.
// Call it once raft has shut down, before the database closes: a sync of
// a closed database panics.
func (s *Store) Wait() { s.syncing.Wait() }

// storeLogs commits entries without syncing them. badger applies commits
// in order, so a later sync covers every earlier commit, and a crash
// before it loses a tail of the log, never a middle part.
func (s *Store) storeLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Blind: an append reads nothing, so it need not wait until every
	// earlier commit of the database (any group's) is readable, as an
	// ordinary transaction's start does (badger patch 0007).
	txn := s.db.NewBlindTransaction()
	defer func() { txn.Discard() }()
	lo, hi := uint64(0), uint64(0) // indexes in the open transaction
	commit := func() error {
		if err := txn.Commit(); err != nil {
			return err
		}
		s.noteStoredLocked(lo, hi)
		return nil
	}
	for _, l := range logs {
		e := badger.NewEntry(s.logKey(l.Index), encodeLog(l))
		err := txn.SetEntry(e)
		if errors.Is(err, badger.ErrTxnTooBig) && lo != 0 {
			if err = commit(); err != nil {
				s.reloadBoundsLocked()
				return fmt.Errorf("raftbadger: storing logs %d-%d: %w", lo, hi, err)
			}
			txn = s.db.NewBlindTransaction()
			lo = 0
			err = txn.SetEntry(e)
		}
		if err != nil {
			return fmt.Errorf("raftbadger: storing log %d: %w", l.Index, err)
		}
		if lo == 0 || l.Index < lo {
			lo = l.Index
		}
		hi = max(hi, l.Index)
	}
	if err := commit(); err != nil {
		s.reloadBoundsLocked()
		return fmt.Errorf("raftbadger: storing logs %d-%d: %w", lo, hi, err)
	}
	return nil
}

// readBoundsLocked reads the log's bounds from the database and publishes
// them; if the read fails, the bounds stay as they were.
func (s *Store) readBoundsLocked() error {
	var first, last uint64
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if first, err = s.seekLocked(txn, 0, false); err != nil {
			return err
		}
		last, err = s.seekLocked(txn, ^uint64(0), true)
		return err
	})
	if err != nil {
		return fmt.Errorf("raftbadger: reading the log bounds: %w", err)
	}
	s.first, s.last = first, last
	s.publishLocked()
	return nil
}

// reloadBoundsLocked reads the bounds again after a write failed: what
// reached the database is what they must say, whatever the error said (a
// failure leaves the store's view and the database's otherwise apart).
func (s *Store) reloadBoundsLocked() { _ = s.readBoundsLocked() }

func (s *Store) noteStoredLocked(lo, hi uint64) {
	if s.first == 0 || lo < s.first {
		s.first = lo
	}
	s.last = max(s.last, hi)
	s.publishLocked()
}

// deleteChunk bounds the keys one delete transaction collects, well
// below what a transaction holds with small memtables.
const deleteChunk = 1000

// DeleteRange deletes the entries from `from` to `to`, inclusive. It
// touches only the keys that exist (a key-only scan, no values read), so
// its cost follows the number of entries deleted, even across a gap in the
// log.
func (s *Store) DeleteRange(from, to uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == 0 || from > to || to < s.first || from > s.last {
		return nil
	}
	lo, hi := max(from, s.first), min(to, s.last)
	// Raft deletes a prefix (compaction) or a suffix (a follower's
	// conflicting tail), in transactions of deleteChunk keys. A suffix goes
	// from its end down, a prefix from its start up: whatever a crash or an
	// error between two transactions leaves is then still one run of
	// entries, and raft's next look repeats the deletion. (A suffix deleted
	// from its low end left a hole: the start of the old tail gone, its end
	// still there past it.)
	down := hi == s.last && lo > s.first
	fail := func(err error) error {
		s.reloadBoundsLocked()
		return fmt.Errorf("raftbadger: deleting logs %d-%d: %w", from, to, err)
	}
	at := lo
	if down {
		at = hi
	}
	for {
		keys, more, err := s.keysIn(lo, hi, at, down)
		if err != nil {
			return fail(err)
		}
		if len(keys) > 0 {
			err = s.db.Update(func(txn *badger.Txn) error {
				for _, k := range keys {
					if err := txn.Delete(k); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fail(err)
			}
		}
		if !more {
			break
		}
		// There are more: the last key is not at the end of the range.
		if last := binary.BigEndian.Uint64(keys[len(keys)-1][len(s.logPrefix):]); down {
			at = last - 1
		} else {
			at = last + 1
		}
	}
	// The new bounds are the nearest survivors.
	first, last := s.first, s.last
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if first >= lo && first <= hi {
			if first, err = s.seekLocked(txn, hi+1, false); err != nil {
				return err
			}
		}
		if last >= lo && last <= hi {
			if lo == 0 {
				last = 0
			} else if last, err = s.seekLocked(txn, lo-1, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		if first == 0 || last == 0 {
			first, last = 0, 0
		}
		s.first, s.last = first, last
	}
	s.publishLocked()
	if err != nil {
		return fmt.Errorf("raftbadger: reading the log bounds: %w", err)
	}
	return nil
}

// keysIn returns up to deleteChunk existing log keys from index at towards
// the end of lo..hi (down: towards lo), and whether there may be more.
func (s *Store) keysIn(lo, hi, at uint64, down bool) (keys [][]byte, more bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: s.logPrefix, Reverse: down})
		defer it.Close()
		end := string(s.logKey(hi))
		if down {
			end = string(s.logKey(lo))
		}
		for it.Seek(s.logKey(at)); it.Valid(); it.Next() {
			k := it.Item().Key()
			if !down && string(k) > end || down && string(k) < end {
				return nil
			}
			if len(keys) == deleteChunk {
				more = true
				return nil
			}
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	return keys, more, err
}

// Set stores a StableStore key.
func (s *Store) Set(key, val []byte) error {
	k := append(append([]byte(nil), s.stPrefix...), key...)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, val) }); err != nil {
		return fmt.Errorf("raftbadger: setting %q: %w", key, err)
	}
	if err := syncerOf(s.db).sync(); err != nil {
		return fmt.Errorf("raftbadger: setting %q: %w", key, err)
	}
	return nil
}

// Get returns a StableStore key's value, or ErrKeyNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	k := append(append([]byte(nil), s.stPrefix...), key...)
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("raftbadger: getting %q: %w", key, err)
	}
	return v, nil
}

// SetUint64 stores a StableStore key holding a number.
func (s *Store) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns a number stored with SetUint64; 0 and ErrKeyNotFound
// for a missing key.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftbadger: %q holds %d bytes, not a uint64", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// encodeLog encodes an entry but its index (the key holds it):
//
//	format byte, term uvarint, type byte, appended-at varint (Unix ns,
//	0 for the zero time), data length uvarint + data, extensions length
//	uvarint + extensions.
func encodeLog(l *raft.Log) []byte {
	b := make([]byte, 0, 2+4*binary.MaxVarintLen64+len(l.Data)+len(l.Extensions))
	b = append(b, logFormat)
	b = binary.AppendUvarint(b, l.Term)
	b = append(b, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	b = binary.AppendVarint(b, at)
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.AppendUvarint(b, uint64(len(l.Extensions)))
	return append(b, l.Extensions...)
}

var errCorrupt = errors.New("raftbadger: corrupt log entry")

// decodeLog decodes b (which l's slices then alias) into l.
func decodeLog(b []byte, l *raft.Log) error {
	if len(b) < 1 || b[0] != logFormat {
		return fmt.Errorf("%w: unknown format", errCorrupt)
	}
	b = b[1:]
	term, n := binary.Uvarint(b)
	if n <= 0 || len(b) < n+1 {
		return errCorrupt
	}
	typ := raft.LogType(b[n])
	b = b[n+1:]
	at, n := binary.Varint(b)
	if n <= 0 {
		return errCorrupt
	}
	b = b[n:]
	data, b, ok := readBytes(b)
	if !ok {
		return errCorrupt
	}
	ext, b, ok := readBytes(b)
	if !ok || len(b) != 0 {
		return errCorrupt
	}
	*l = raft.Log{Term: term, Type: typ, Data: data, Extensions: ext}
	if at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	return nil
}

func readBytes(b []byte) (v, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, false
	}
	b = b[k:]
	if n == 0 {
		return nil, b, true
	}
	return b[:n:n], b[n:], true
}
