package kvsm

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"

	"github.com/dgraph-io/badger/v4"
)

// Snapshot stream, version 4:
//
//	"wkvsnap" | 0x04 | be64 applied index
//	per key, in data-key order (namespace length, namespace, key):
//	  0x01 | uvarint len(ns) | ns | uvarint len(key) | key | uvarint expiration
//	       | uvarint len(meta) | meta | uvarint len(value) | value
//	per recorded request id, in order of (deadline, id):
//	  0x02 | id (16 bytes) | uvarint deadline
//	per key of Durable Object storage, in order of (object key length,
//	object key, key):
//	  0x03 | uvarint len(object) | object | uvarint len(key) | key | uvarint len(value) | value
//	per object alarm, in object key order:
//	  0x04 | uvarint len(object) | object | uvarint at (unix ms)
//	0x00 | uvarint number of keys | uvarint number of ids
//	     | uvarint number of object keys | uvarint number of alarms
//	     | be32 CRC-32C of every byte before it
//
// It holds the logical state only (the expiration index, the request id
// index, the alarm index, the split of large values and the generations
// of object data are rebuilt by Restore), so equal states give equal
// streams. A group with a clock floor (Store.Floor, not 0) writes version
// 5, the same stream with the floor after the applied index:
//
//	"wkvsnap" | 0x05 | be64 applied index | be64 clock floor (unix seconds)
//
// so that a group that never expired anything still speaks version 4 to
// the nodes before the floor. Restore also accepts version 3 streams ("wkvsnap" | 0x03: the
// same entries, the request ids in id order, written when the state
// machine kept an id's record apart from its index), version 2 streams
// ("wkvsnap" | 0x02, no object entries and no counts of them: the format
// before Durable Objects) and version 1 streams ("wkvsnap" | 0x01, no id
// entries either, no id count: the format before request ids).
const (
	snapMagicV5 = "wkvsnap\x05"
	snapMagic   = "wkvsnap\x04"
	snapMagicV3 = "wkvsnap\x03"
	snapMagicV2 = "wkvsnap\x02"
	snapMagicV1 = "wkvsnap\x01"
)

const (
	snapEnd    = 0
	snapEntry  = 1
	snapID     = 2
	snapObject = 3
	snapAlarm  = 4
)

// Snapshot is a consistent, point-in-time view of a group's state, read
// from a badger read transaction: applies that happen after Snapshot
// returned do not show in it. It holds that transaction (and so keeps
// badger from discarding the versions it sees) until Close.
type Snapshot struct {
	s     *Store
	txn   *badger.Txn
	index uint64
	floor int64
}

// Snapshot captures the group's current state cheaply; stream it with
// WriteTo (possibly later, while applies go on) and then Close it. Errors
// wrap ErrUnavailable or ErrStorage.
func (s *Store) Snapshot() (*Snapshot, error) {
	if err := s.readable(); err != nil {
		return nil, fmt.Errorf("kvsm: snapshot: %w", err)
	}
	txn := s.db.NewTransaction(false)
	index, floor, err := readApplied(txn, s.l)
	if err != nil {
		txn.Discard()
		return nil, fmt.Errorf("kvsm: snapshot: %w", storageErr(err))
	}
	return &Snapshot{s: s, txn: txn, index: index, floor: floor}, nil
}

// Index is the applied index of the snapshot's state.
func (sn *Snapshot) Index() uint64 { return sn.index }

// Close releases the snapshot's read transaction. It must be called (not
// concurrently with WriteTo); calling it again does nothing.
func (sn *Snapshot) Close() { sn.txn.Discard() }

// WriteTo streams the snapshot to w, one value in memory at a time. It may
// be called more than once (not concurrently); each call writes the same
// bytes. It implements io.WriterTo.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(cw, crc), 64<<10)
	var scratch []byte
	if sn.floor != 0 {
		scratch = append(scratch, snapMagicV5...)
		scratch = binary.BigEndian.AppendUint64(scratch, sn.index)
		scratch = binary.BigEndian.AppendUint64(scratch, uint64(sn.floor))
	} else {
		scratch = append(scratch, snapMagic...)
		scratch = binary.BigEndian.AppendUint64(scratch, sn.index)
	}
	if _, err := bw.Write(scratch); err != nil {
		return cw.n, fmt.Errorf("kvsm: snapshot: %w", err)
	}
	count, err := sn.writeEntries(bw)
	if err != nil {
		return cw.n, fmt.Errorf("kvsm: snapshot: %w", err)
	}
	ids, err := sn.writeIDs(bw)
	if err != nil {
		return cw.n, fmt.Errorf("kvsm: snapshot: %w", err)
	}
	objs, err := sn.writeObjects(bw)
	if err != nil {
		return cw.n, fmt.Errorf("kvsm: snapshot: %w", err)
	}
	alarms, err := sn.writeAlarms(bw)
	if err != nil {
		return cw.n, fmt.Errorf("kvsm: snapshot: %w", err)
	}
	scratch = append(scratch[:0], snapEnd)
	scratch = binary.AppendUvarint(scratch, count)
	scratch = binary.AppendUvarint(scratch, ids)
	scratch = binary.AppendUvarint(scratch, objs)
	scratch = binary.AppendUvarint(scratch, alarms)
	if _, err := bw.Write(scratch); err != nil {
		return cw.n, fmt.Errorf("kvsm: snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("kvsm: snapshot: %w", err)
	}
	if _, err := cw.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return cw.n, fmt.Errorf("kvsm: snapshot: %w", err)
	}
	return cw.n, nil
}

func (sn *Snapshot) writeEntries(bw *bufio.Writer) (uint64, error) {
	l := sn.s.l
	dp := l.tag(tagData)
	it := sn.txn.NewIterator(badger.IteratorOptions{Prefix: dp})
	defer it.Close()
	var count uint64
	var hdr []byte
	for it.Seek(dp); it.Valid(); it.Next() {
		item := it.Item()
		ns, key, ok := l.parseDataKey(item.Key())
		if !ok {
			return count, storageErr(fmt.Errorf("%w: data key %q", errCorrupt, item.Key()))
		}
		var rec record
		err := item.Value(func(v []byte) error {
			var err error
			if rec, err = parseRecord(v); err != nil {
				return err
			}
			hdr = append(hdr[:0], snapEntry)
			hdr = appendString(hdr, ns)
			hdr = appendString(hdr, key)
			hdr = binary.AppendUvarint(hdr, uint64(rec.exp))
			hdr = appendString(hdr, string(rec.meta))
			if rec.external() {
				return nil
			}
			hdr = appendString(hdr, string(rec.value))
			_, err = bw.Write(hdr)
			return err
		})
		if err == nil && rec.external() {
			err = sn.writeBlob(bw, hdr, ns, key)
		}
		if err != nil {
			return count, storageErr(fmt.Errorf("%s/%q: %w", ns, key, err))
		}
		count++
	}
	return count, nil
}

// writeIDs writes the recorded request ids, in the order of their index
// (deadline, then id).
func (sn *Snapshot) writeIDs(bw *bufio.Writer) (uint64, error) {
	l := sn.s.l
	qp := l.tag(tagIDIndex)
	it := sn.txn.NewIterator(badger.IteratorOptions{Prefix: qp, PrefetchValues: false})
	defer it.Close()
	var count uint64
	var b []byte
	for it.Seek(qp); it.Valid(); it.Next() {
		deadline, id, ok := l.parseIDIndexKey(it.Item().Key())
		if !ok || deadline <= 0 {
			return count, storageErr(fmt.Errorf("%w: request id index key %q", errCorrupt, it.Item().Key()))
		}
		b = append(b[:0], snapID)
		b = append(b, id[:]...)
		b = binary.AppendUvarint(b, uint64(deadline))
		if _, err := bw.Write(b); err != nil {
			return count, storageErr(fmt.Errorf("request id %x: %w", id, err))
		}
		count++
	}
	return count, nil
}

// writeObjects writes the keys of the current generation of every
// object's data, in order of (object, key).
func (sn *Snapshot) writeObjects(bw *bufio.Writer) (uint64, error) {
	l := sn.s.l
	op := l.tag(tagObjData)
	it := sn.txn.NewIterator(badger.IteratorOptions{Prefix: op})
	defer it.Close()
	var count uint64
	var b []byte
	var lastObj string
	var lastGen uint64
	haveObj := false
	for it.Seek(op); it.Valid(); it.Next() {
		item := it.Item()
		obj, gen, key, ok := l.parseObjDataKey(item.Key())
		if !ok {
			return count, storageErr(fmt.Errorf("%w: object data key %q", errCorrupt, item.Key()))
		}
		if !haveObj || obj != lastObj {
			cur, err := readGen(sn.txn, l, obj)
			if err != nil {
				return count, storageErr(err)
			}
			lastObj, lastGen, haveObj = obj, cur, true
		}
		if gen != lastGen {
			continue // garbage that DeleteAll left
		}
		err := item.Value(func(v []byte) error {
			b = append(b[:0], snapObject)
			b = appendString(b, obj)
			b = appendString(b, key)
			b = binary.AppendUvarint(b, uint64(len(v)))
			if _, err := bw.Write(b); err != nil {
				return err
			}
			_, err := bw.Write(v)
			return err
		})
		if err != nil {
			return count, storageErr(fmt.Errorf("object %q key %q: %w", obj, key, err))
		}
		count++
	}
	return count, nil
}

// writeAlarms writes the objects' alarms, in object key order.
func (sn *Snapshot) writeAlarms(bw *bufio.Writer) (uint64, error) {
	l := sn.s.l
	ap := l.tag(tagAlarm)
	it := sn.txn.NewIterator(badger.IteratorOptions{Prefix: ap})
	defer it.Close()
	var count uint64
	var b []byte
	for it.Seek(ap); it.Valid(); it.Next() {
		item := it.Item()
		obj := item.Key()[len(ap):]
		err := item.Value(func(v []byte) error {
			at, err := parseAlarm(v)
			if err != nil {
				return err
			}
			b = append(b[:0], snapAlarm)
			b = appendString(b, string(obj))
			b = binary.AppendUvarint(b, uint64(at))
			_, err = bw.Write(b)
			return err
		})
		if err != nil {
			return count, storageErr(fmt.Errorf("alarm of %q: %w", obj, err))
		}
		count++
	}
	return count, nil
}

func (sn *Snapshot) writeBlob(bw *bufio.Writer, hdr []byte, ns, key string) error {
	item, err := sn.txn.Get(sn.s.l.blobKey(ns, key))
	if err != nil {
		return fmt.Errorf("value: %w", err)
	}
	return item.Value(func(v []byte) error {
		hdr = binary.AppendUvarint(hdr, uint64(len(v)))
		if _, err := bw.Write(hdr); err != nil {
			return err
		}
		_, err := bw.Write(v)
		return err
	})
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Hash returns the SHA-256 of the group's snapshot stream: replicas with
// the same state at the same applied index have the same hash, however
// they got there (log or restore).
func (s *Store) Hash() ([32]byte, error) {
	sn, err := s.Snapshot()
	if err != nil {
		return [32]byte{}, err
	}
	defer sn.Close()
	h := sha256.New()
	if _, err := sn.WriteTo(h); err != nil {
		return [32]byte{}, err
	}
	return [32]byte(h.Sum(nil)), nil
}

// restoreFlush is how many bytes Restore loads before waiting for badger.
const restoreFlush = 64 << 20

// Restore replaces the group's state with the snapshot stream r (as
// written by Snapshot.WriteTo), reading it once. Other groups in the DB are
// untouched. It must not run concurrently with Apply; reads during it fail
// with ErrUnavailable.
//
// Crash safety: Restore first records, synced, that a restore is under way
// and removes the applied index; then it deletes the group's keys, loads
// the stream in batches, and last, in one synced transaction, writes the
// snapshot's applied index and clears the mark. A crash in between leaves
// the mark: Open rolls the group back to empty with applied index 0, and the
// group must be restored again. If Restore fails (a damaged or truncated
// stream, whose CRC or count is checked at the end, or a storage error) the
// Store stays unavailable (ErrUnavailable) until a Restore succeeds: it never
// applies entries on a partial state.
func (s *Store) Restore(r io.Reader) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db.IsClosed() {
		return fmt.Errorf("kvsm: restore: %w", storageErr(badger.ErrDBClosed))
	}
	s.down.Store(&ErrUnavailable)
	s.ids.invalidate()
	s.extras.invalidate()
	if err := s.update(func(txn *badger.Txn) error {
		if err := txn.Set(s.l.restoreKey(), nil); err != nil {
			return err
		}
		return txn.Delete(s.l.appliedKey())
	}); err != nil {
		return fmt.Errorf("kvsm: restore: %w", storageErr(err))
	}
	s.applied.Store(0)
	s.floor.Store(0)
	if err := s.wipe(); err != nil {
		return fmt.Errorf("kvsm: restore: %w", storageErr(err))
	}
	index, floor, err := s.load(r)
	if err != nil {
		return fmt.Errorf("kvsm: restore: %w", err)
	}
	if err := s.ids.build(s.db, s.l); err != nil {
		return fmt.Errorf("kvsm: restore: reading the request ids: %w", storageErr(err))
	}
	if err := s.extras.build(s.db, s.l); err != nil {
		return fmt.Errorf("kvsm: restore: reading the expiration index: %w", storageErr(err))
	}
	if err := s.sync(); err != nil {
		return fmt.Errorf("kvsm: restore: %w", storageErr(err))
	}
	if err := s.update(func(txn *badger.Txn) error {
		if err := txn.Set(s.l.appliedKey(), appliedValue(index, floor)); err != nil {
			return err
		}
		return txn.Delete(s.l.restoreKey())
	}); err != nil {
		return fmt.Errorf("kvsm: restore: %w", storageErr(err))
	}
	s.applied.Store(index)
	s.floor.Store(floor)
	s.down.Store(nil) // the state is the snapshot's, whole
	return nil
}

// wipe deletes the group's data, blobs, expiration index, request ids and
// object storage (not the applied index or the restore mark).
func (s *Store) wipe() error {
	var prefixes [][]byte
	for _, t := range []byte{tagData, tagBlob, tagExpiry, tagIDIndex, tagObjData, tagObjGen, tagObjGarbage, tagAlarm, tagAlarmIndex} {
		prefixes = append(prefixes, s.l.tag(t))
	}
	return DeletePrefixes(s.db, prefixes...)
}

// DeletePrefixes deletes every key under the prefixes, in write batches.
// (badger's DropPrefix would block the writes of every other group of the
// database while it runs.)
func DeletePrefixes(db *badger.DB, prefixes ...[]byte) error {
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	err := db.View(func(txn *badger.Txn) error {
		for _, p := range prefixes {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
			for it.Seek(p); it.Valid(); it.Next() {
				if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
					it.Close()
					return err
				}
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return wb.Flush()
}

// load reads a snapshot stream into the (wiped) group and returns its
// applied index and clock floor. Every entry is checked as an apply would check it.
func (s *Store) load(r io.Reader) (index uint64, floor int64, err error) {
	sr := &snapReader{r: bufio.NewReaderSize(r, 64<<10), crc: crc32.New(castagnoli)}
	head := sr.read(len(snapMagic) + 8)
	if sr.err != nil {
		return 0, 0, sr.err
	}
	var version int
	switch string(head[:len(snapMagic)]) {
	case snapMagicV5:
		version = 5
	case snapMagic:
		version = 4
	case snapMagicV3:
		version = 3
	case snapMagicV2:
		version = 2
	case snapMagicV1:
		version = 1
	default:
		return 0, 0, errors.New("not a kvsm snapshot (or an unknown version)")
	}
	// The highest entry tag of the version: entries come in tag order.
	maxTag := map[int]byte{1: snapEntry, 2: snapID, 3: snapAlarm, 4: snapAlarm, 5: snapAlarm}[version]
	index = binary.BigEndian.Uint64(head[len(snapMagic):])
	if version == 5 {
		fb := sr.read(8)
		if sr.err != nil {
			return 0, 0, sr.err
		}
		if floor = int64(binary.BigEndian.Uint64(fb)); floor <= 0 {
			return 0, 0, fmt.Errorf("a version 5 snapshot with clock floor %d", floor)
		}
	}
	wb := s.db.NewWriteBatch()
	defer func() { wb.Cancel() }()
	var counts [snapAlarm + 1]uint64
	var pending int
	var prev []byte
	var phase byte = snapEntry
	// added counts bytes written since the last flush, and flushes.
	added := func(n int) error {
		if pending += n; pending > restoreFlush {
			if err := wb.Flush(); err != nil {
				return storageErr(err)
			}
			wb, pending = s.db.NewWriteBatch(), 0
		}
		return nil
	}
	// ordered checks that key k follows the previous one of its kind.
	ordered := func(tag byte, k []byte) error {
		if tag != phase {
			phase, prev = tag, nil
		}
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("snapshot entry %d of kind %d is out of order", counts[tag], tag)
		}
		prev = k
		return nil
	}
	for {
		tag := sr.byte()
		switch {
		case sr.err != nil:
			return 0, 0, sr.err
		case tag == snapEnd:
			var n [snapAlarm + 1]uint64
			n[snapEntry] = sr.uvarint()
			if version >= 2 {
				n[snapID] = sr.uvarint()
			}
			if version >= 3 {
				n[snapObject] = sr.uvarint()
				n[snapAlarm] = sr.uvarint()
			}
			sum := sr.crc.Sum32()
			crc := sr.read(4)
			if sr.err != nil {
				return 0, 0, sr.err
			}
			if n != counts {
				return 0, 0, fmt.Errorf("snapshot ends after %v entries of each kind but says %v", counts[1:], n[1:])
			}
			if binary.BigEndian.Uint32(crc) != sum {
				return 0, 0, errors.New("snapshot checksum mismatch")
			}
			if err := wb.Flush(); err != nil {
				return 0, 0, storageErr(err)
			}
			return index, floor, nil
		case tag > maxTag || tag < phase:
			return 0, 0, fmt.Errorf("bad snapshot entry tag %d after %v entries of each kind", tag, counts[1:])
		case tag == snapID:
			id := sr.read(16)
			deadline := sr.uvarint()
			if sr.err != nil {
				return 0, 0, sr.err
			}
			if deadline == 0 || deadline > math.MaxInt64 || [16]byte(id) == [16]byte{} {
				return 0, 0, fmt.Errorf("snapshot request id %d: id %x, deadline %d", counts[tag], id, deadline)
			}
			qk := s.l.idIndexKey(int64(deadline), [16]byte(id))
			// Version 4 orders ids as their index does; earlier ones by id.
			order := qk[len(s.l.prefix)+1:]
			if version < 4 {
				order = id
			}
			if err := ordered(tag, order); err != nil {
				return 0, 0, err
			}
			if err := wb.Set(qk, nil); err != nil {
				return 0, 0, storageErr(err)
			}
			counts[tag]++
			if err := added(64); err != nil {
				return 0, 0, err
			}
		case tag == snapObject:
			obj := string(sr.field(MaxObjectKeyLen, "object key"))
			key := string(sr.field(MaxStorageKeyLen, "storage key"))
			value := sr.field(MaxStorageValueLen, "storage value")
			if sr.err != nil {
				return 0, 0, sr.err
			}
			if err := ValidateObjectKey(obj); err != nil {
				return 0, 0, fmt.Errorf("snapshot object key %d: %w", counts[tag], err)
			}
			dk := s.l.objDataKey(obj, 0, key)
			if err := ordered(tag, dk); err != nil {
				return 0, 0, err
			}
			if err := wb.Set(dk, value); err != nil {
				return 0, 0, storageErr(err)
			}
			counts[tag]++
			if err := added(len(dk) + len(value)); err != nil {
				return 0, 0, err
			}
		case tag == snapAlarm:
			obj := string(sr.field(MaxObjectKeyLen, "object key"))
			at := sr.uvarint()
			if sr.err != nil {
				return 0, 0, sr.err
			}
			if err := ValidateObjectKey(obj); err != nil {
				return 0, 0, fmt.Errorf("snapshot alarm %d: %w", counts[tag], err)
			}
			if at == 0 || at > math.MaxInt64 {
				return 0, 0, fmt.Errorf("snapshot alarm %d: at %d", counts[tag], at)
			}
			ak := s.l.alarmKey(obj)
			if err := ordered(tag, ak); err != nil {
				return 0, 0, err
			}
			if err := wb.Set(ak, binary.BigEndian.AppendUint64(nil, at)); err != nil {
				return 0, 0, storageErr(err)
			}
			if err := wb.Set(s.l.alarmIndexKey(int64(at), obj), nil); err != nil {
				return 0, 0, storageErr(err)
			}
			counts[tag]++
			if err := added(2*len(ak) + 16); err != nil {
				return 0, 0, err
			}
		default: // snapEntry
			ns := string(sr.field(MaxNamespaceLen, "namespace"))
			key := string(sr.field(MaxKeyLen, "key"))
			exp := sr.uvarint()
			meta := sr.field(MaxMetadataLen, "metadata")
			value := sr.field(MaxValueLen, "value")
			if sr.err != nil {
				return 0, 0, sr.err
			}
			if exp > math.MaxInt64 {
				return 0, 0, fmt.Errorf("snapshot key %d: expiration %d", counts[tag], exp)
			}
			if err := validatePutStatic(ns, key, value, meta, int64(exp)); err != nil {
				return 0, 0, fmt.Errorf("snapshot key %d: %w", counts[tag], err)
			}
			dk := s.l.dataKey(ns, key)
			if err := ordered(tag, dk); err != nil {
				return 0, 0, fmt.Errorf("snapshot key %d (%s/%q) is out of order", counts[tag], ns, key)
			}
			if len(value) > inlineMax {
				if err := wb.Set(s.l.blobKey(ns, key), value); err != nil {
					return 0, 0, storageErr(err)
				}
			}
			if err := wb.Set(dk, newRecord(int64(exp), meta, value)); err != nil {
				return 0, 0, storageErr(err)
			}
			if exp != 0 {
				if err := wb.Set(s.l.expiryKey(int64(exp), ns, key), nil); err != nil {
					return 0, 0, storageErr(err)
				}
			}
			counts[tag]++
			if err := added(len(value) + len(meta) + len(dk)); err != nil {
				return 0, 0, err
			}
		}
	}
}

// snapReader reads a snapshot stream and hashes what it consumed. The first
// error sticks.
type snapReader struct {
	r   *bufio.Reader
	crc hash.Hash32
	err error
}

func (sr *snapReader) fail(err error) {
	if sr.err == nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		sr.err = fmt.Errorf("reading snapshot: %w", err)
	}
}

func (sr *snapReader) byte() byte {
	if sr.err != nil {
		return 0
	}
	b, err := sr.r.ReadByte()
	if err != nil {
		sr.fail(err)
		return 0
	}
	sr.crc.Write([]byte{b})
	return b
}

func (sr *snapReader) uvarint() uint64 {
	var x uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		b := sr.byte()
		if sr.err != nil {
			return 0
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				break
			}
			return x | uint64(b)<<(7*i)
		}
		x |= uint64(b&0x7f) << (7 * i)
	}
	sr.fail(errors.New("uvarint overflows 64 bits"))
	return 0
}

// read returns the next n bytes in a new slice.
func (sr *snapReader) read(n int) []byte {
	if sr.err != nil {
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(sr.r, b); err != nil {
		sr.fail(err)
		return nil
	}
	sr.crc.Write(b)
	return b
}

// field reads a length-prefixed field of at most max bytes (checked before
// allocating).
func (sr *snapReader) field(max int, what string) []byte {
	n := sr.uvarint()
	if sr.err != nil {
		return nil
	}
	if n > uint64(max) {
		sr.fail(fmt.Errorf("%s of %d bytes exceeds %d", what, n, max))
		return nil
	}
	return sr.read(int(n))
}
