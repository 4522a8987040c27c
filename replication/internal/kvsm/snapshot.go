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

// Snapshot stream, version 2:
//
//	"wkvsnap" | 0x02 | be64 applied index
//	per key, in data-key order (namespace length, namespace, key):
//	  0x01 | uvarint len(ns) | ns | uvarint len(key) | key | uvarint expiration
//	       | uvarint len(meta) | meta | uvarint len(value) | value
//	per recorded request id, in id order:
//	  0x02 | id (16 bytes) | uvarint deadline
//	0x00 | uvarint number of keys | uvarint number of ids
//	     | be32 CRC-32C of every byte before it
//
// It holds the logical state only (the expiration index, the request id
// index and the split of large values are rebuilt by Restore), so equal
// states give equal streams. Restore also accepts version 1 streams
// ("wkvsnap" | 0x01, no id entries, no id count: the format before request
// ids), which restore a state without recorded ids.
const (
	snapMagic   = "wkvsnap\x02"
	snapMagicV1 = "wkvsnap\x01"
)

const (
	snapEnd   = 0
	snapEntry = 1
	snapID    = 2
)

// Snapshot is a consistent, point-in-time view of a group's state, read
// from a badger read transaction: applies that happen after Snapshot
// returned do not show in it. It holds that transaction (and so keeps
// badger from discarding the versions it sees) until Close.
type Snapshot struct {
	s     *Store
	txn   *badger.Txn
	index uint64
}

// Snapshot captures the group's current state cheaply; stream it with
// WriteTo (possibly later, while applies go on) and then Close it. Errors
// wrap ErrUnavailable or ErrStorage.
func (s *Store) Snapshot() (*Snapshot, error) {
	if err := s.readable(); err != nil {
		return nil, fmt.Errorf("kvsm: snapshot: %w", err)
	}
	txn := s.db.NewTransaction(false)
	index, err := readApplied(txn, s.l)
	if err != nil {
		txn.Discard()
		return nil, fmt.Errorf("kvsm: snapshot: %w", storageErr(err))
	}
	return &Snapshot{s: s, txn: txn, index: index}, nil
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
	scratch = append(scratch, snapMagic...)
	scratch = binary.BigEndian.AppendUint64(scratch, sn.index)
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
	scratch = append(scratch[:0], snapEnd)
	scratch = binary.AppendUvarint(scratch, count)
	scratch = binary.AppendUvarint(scratch, ids)
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

// writeIDs writes the recorded request ids, in id order.
func (sn *Snapshot) writeIDs(bw *bufio.Writer) (uint64, error) {
	l := sn.s.l
	qp := l.tag(tagID)
	it := sn.txn.NewIterator(badger.IteratorOptions{Prefix: qp})
	defer it.Close()
	var count uint64
	var b []byte
	for it.Seek(qp); it.Valid(); it.Next() {
		item := it.Item()
		id, ok := l.parseIDKey(item.Key())
		if !ok {
			return count, storageErr(fmt.Errorf("%w: request id key %q", errCorrupt, item.Key()))
		}
		err := item.Value(func(v []byte) error {
			deadline, err := parseDeadline(v)
			if err != nil {
				return err
			}
			b = append(b[:0], snapID)
			b = append(b, id[:]...)
			b = binary.AppendUvarint(b, uint64(deadline))
			_, err = bw.Write(b)
			return err
		})
		if err != nil {
			return count, storageErr(fmt.Errorf("request id %x: %w", id, err))
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
	s.unavailable.Store(true)
	if err := s.update(func(txn *badger.Txn) error {
		if err := txn.Set(s.l.restoreKey(), nil); err != nil {
			return err
		}
		return txn.Delete(s.l.appliedKey())
	}); err != nil {
		return fmt.Errorf("kvsm: restore: %w", storageErr(err))
	}
	s.applied.Store(0)
	if err := s.wipe(); err != nil {
		return fmt.Errorf("kvsm: restore: %w", storageErr(err))
	}
	index, err := s.load(r)
	if err != nil {
		return fmt.Errorf("kvsm: restore: %w", err)
	}
	if err := s.sync(); err != nil {
		return fmt.Errorf("kvsm: restore: %w", storageErr(err))
	}
	if err := s.update(func(txn *badger.Txn) error {
		if err := txn.Set(s.l.appliedKey(), binary.BigEndian.AppendUint64(nil, index)); err != nil {
			return err
		}
		return txn.Delete(s.l.restoreKey())
	}); err != nil {
		return fmt.Errorf("kvsm: restore: %w", storageErr(err))
	}
	s.applied.Store(index)
	s.unavailable.Store(false)
	return nil
}

// wipe deletes the group's data, blobs, expiration index and request ids
// (not the applied index or the restore mark).
func (s *Store) wipe() error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	err := s.db.View(func(txn *badger.Txn) error {
		for _, t := range []byte{tagData, tagBlob, tagExpiry, tagID, tagIDIndex} {
			p := s.l.tag(t)
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
// applied index. Every entry is checked as an apply would check it.
func (s *Store) load(r io.Reader) (uint64, error) {
	sr := &snapReader{r: bufio.NewReaderSize(r, 64<<10), crc: crc32.New(castagnoli)}
	head := sr.read(len(snapMagic) + 8)
	if sr.err != nil {
		return 0, sr.err
	}
	v1 := bytes.Equal(head[:len(snapMagicV1)], []byte(snapMagicV1))
	if !v1 && !bytes.Equal(head[:len(snapMagic)], []byte(snapMagic)) {
		return 0, errors.New("not a kvsm snapshot (or an unknown version)")
	}
	index := binary.BigEndian.Uint64(head[len(snapMagic):])
	wb := s.db.NewWriteBatch()
	defer func() { wb.Cancel() }()
	var count, ids uint64
	var pending int
	var prev, prevID []byte
	for {
		switch tag := sr.byte(); {
		case sr.err != nil:
			return 0, sr.err
		case tag == snapEnd:
			n := sr.uvarint()
			var nids uint64
			if !v1 {
				nids = sr.uvarint()
			}
			sum := sr.crc.Sum32()
			crc := sr.read(4)
			if sr.err != nil {
				return 0, sr.err
			}
			if n != count || nids != ids {
				return 0, fmt.Errorf("snapshot ends after %d keys and %d request ids but says %d and %d", count, ids, n, nids)
			}
			if binary.BigEndian.Uint32(crc) != sum {
				return 0, errors.New("snapshot checksum mismatch")
			}
			if err := wb.Flush(); err != nil {
				return 0, storageErr(err)
			}
			return index, nil
		case tag == snapID && !v1:
			id := sr.read(16)
			deadline := sr.uvarint()
			if sr.err != nil {
				return 0, sr.err
			}
			if deadline == 0 || deadline > math.MaxInt64 || [16]byte(id) == [16]byte{} {
				return 0, fmt.Errorf("snapshot request id %d: id %x, deadline %d", ids, id, deadline)
			}
			if prevID != nil && bytes.Compare(prevID, id) >= 0 {
				return 0, fmt.Errorf("snapshot request id %d (%x) is out of order", ids, id)
			}
			prevID = id
			if err := wb.Set(s.l.idKey([16]byte(id)), binary.BigEndian.AppendUint64(nil, deadline)); err != nil {
				return 0, storageErr(err)
			}
			if err := wb.Set(s.l.idIndexKey(int64(deadline), [16]byte(id)), nil); err != nil {
				return 0, storageErr(err)
			}
			ids++
			if pending += 64; pending > restoreFlush {
				if err := wb.Flush(); err != nil {
					return 0, storageErr(err)
				}
				wb, pending = s.db.NewWriteBatch(), 0
			}
			continue
		case tag != snapEntry || ids > 0:
			return 0, fmt.Errorf("bad snapshot entry tag %d after %d keys and %d request ids", tag, count, ids)
		}
		ns := string(sr.field(MaxNamespaceLen, "namespace"))
		key := string(sr.field(MaxKeyLen, "key"))
		exp := sr.uvarint()
		meta := sr.field(MaxMetadataLen, "metadata")
		value := sr.field(MaxValueLen, "value")
		if sr.err != nil {
			return 0, sr.err
		}
		if exp > math.MaxInt64 {
			return 0, fmt.Errorf("snapshot key %d: expiration %d", count, exp)
		}
		if err := validatePutStatic(ns, key, value, meta, int64(exp)); err != nil {
			return 0, fmt.Errorf("snapshot key %d: %w", count, err)
		}
		dk := s.l.dataKey(ns, key)
		if prev != nil && bytes.Compare(prev, dk) >= 0 {
			return 0, fmt.Errorf("snapshot key %d (%s/%q) is out of order", count, ns, key)
		}
		prev = dk
		if len(value) > inlineMax {
			if err := wb.Set(s.l.blobKey(ns, key), value); err != nil {
				return 0, storageErr(err)
			}
		}
		if err := wb.Set(dk, newRecord(int64(exp), meta, value)); err != nil {
			return 0, storageErr(err)
		}
		if exp != 0 {
			if err := wb.Set(s.l.expiryKey(int64(exp), ns, key), nil); err != nil {
				return 0, storageErr(err)
			}
		}
		count++
		if pending += len(value) + len(meta) + len(dk); pending > restoreFlush {
			if err := wb.Flush(); err != nil {
				return 0, storageErr(err)
			}
			wb, pending = s.db.NewWriteBatch(), 0
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
