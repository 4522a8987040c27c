package kvsm

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Value is a stored entry. Its fields match isolate.KVEntry one for one (a
// conversion isolate.KVEntry(v) compiles).
type Value struct {
	Value      []byte          `json:"value"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	Expiration int64           `json:"expiration,omitempty"` // unix seconds; 0 = never
}

// ListOptions are the options of List; they match isolate.KVListOptions.
type ListOptions struct {
	// Prefix restricts the page to keys that start with it.
	Prefix string `json:"prefix,omitempty"`
	// Cursor is "" for the first page, else the Cursor of the previous page
	// of a List with the same Prefix.
	Cursor string `json:"cursor,omitempty"`
	// Limit is the most keys on the page: 0 means MaxListLimit, otherwise
	// 1..MaxListLimit.
	Limit int `json:"limit,omitempty"`
}

// ListResult is one page of keys; it matches isolate.KVList (Keys convert
// element by element).
type ListResult struct {
	Keys         []Key  `json:"keys"`
	ListComplete bool   `json:"list_complete"`
	Cursor       string `json:"cursor,omitempty"`
	// ExpiredByClock says that the page left out a key that expired by
	// the reader's clock but not yet by the group's (see
	// ErrExpiredByClock).
	ExpiredByClock bool `json:"-"`
}

// Key is one listed key; it matches isolate.KVKey.
type Key struct {
	Name       string          `json:"name"`
	Expiration int64           `json:"expiration,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
}

// maxListSkip bounds the expired keys one List page steps over, so that a
// page's work stays bounded; a page cut short by it has fewer keys than the
// limit (maybe none) and a Cursor, which Workers KV allows.
const maxListSkip = 10 * MaxListLimit

// Get returns the value of key in namespace ns as of now: a key whose
// expiration is at or before now is not found even if no expire command has
// removed it yet (ErrExpiredByClock where only now says so, the group's
// floor being earlier). The returned slices belong to the caller. Errors
// wrap ErrNotFound, ErrInvalid (bad ns or key), ErrUnavailable or
// ErrStorage.
func (s *Store) Get(ns, key string, now time.Time) (Value, error) {
	return s.GetAdmitted(ns, key, now, nil)
}

// GetAdmitted is Get, asking admit (if not nil) before it copies a value
// kept apart from its record (one over 4 KiB) with the value's size; an
// error from admit is Get's, and then nothing was copied. A caller bounds
// the memory of the values it reads at once with it.
func (s *Store) GetAdmitted(ns, key string, now time.Time, admit func(size int) error) (Value, error) {
	if err := ValidateNamespace(ns); err != nil {
		return Value{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Value{}, err
	}
	if err := s.readable(); err != nil {
		return Value{}, err
	}
	var v Value
	floor, t := s.floor.Load(), now.Unix()
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(s.l.dataKey(ns, key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return storageErr(err)
		}
		buf, err := item.ValueCopy(nil)
		if err != nil {
			return storageErr(err)
		}
		rec, err := parseRecord(buf)
		if err != nil {
			return storageErr(fmt.Errorf("%q: %w", key, err))
		}
		if expired(rec.exp, floor) {
			return ErrNotFound
		}
		if expired(rec.exp, t) {
			return ErrExpiredByClock
		}
		v.Expiration = rec.exp
		if len(rec.meta) > 0 {
			v.Metadata = json.RawMessage(rec.meta)
		}
		v.Value = rec.value
		if rec.external() {
			item, err := txn.Get(s.l.blobKey(ns, key))
			if err != nil {
				return storageErr(fmt.Errorf("value of %q: %w", key, err))
			}
			if admit != nil {
				if err := admit(int(item.ValueSize())); err != nil {
					return err
				}
			}
			if v.Value, err = item.ValueCopy(nil); err != nil {
				return storageErr(err)
			}
		}
		if v.Value == nil {
			v.Value = []byte{}
		}
		return nil
	})
	if err != nil {
		return Value{}, fmt.Errorf("kvsm: get %s/%q: %w", ns, key, err)
	}
	return v, nil
}

// List returns a page of the keys of namespace ns that start with
// opts.Prefix and have not expired as of now (ExpiredByClock: some only
// by now, not by the group's floor), in byte order, with their
// expiration and metadata (which belong to the caller). When ListComplete is
// false, Cursor resumes after the page: it is opaque, URL-safe, names the
// last key the page looked at and is checked (a malformed or foreign
// cursor is ErrInvalid, not a fresh start). A page may hold fewer keys than
// the limit, even none, and still not be complete. Errors wrap ErrInvalid,
// ErrUnavailable or ErrStorage.
func (s *Store) List(ns string, opts ListOptions, now time.Time) (ListResult, error) {
	if err := ValidateNamespace(ns); err != nil {
		return ListResult{}, err
	}
	limit := opts.Limit
	if limit == 0 {
		limit = MaxListLimit
	}
	if limit < 0 || limit > MaxListLimit {
		return ListResult{}, invalid("limit", http.StatusBadRequest, "%d is not in 1..%d", opts.Limit, MaxListLimit)
	}
	nsp := s.l.nsPrefix(tagData, ns, len(opts.Prefix)+1+MaxKeyLen)
	base := len(nsp)
	prefix := append(nsp, opts.Prefix...)
	seek := prefix
	if opts.Cursor != "" {
		after, err := decodeCursor(opts.Cursor, opts.Prefix)
		if err != nil {
			return ListResult{}, err
		}
		seek = append(append(append([]byte(nil), nsp[:base]...), after...), 0)
	}
	if err := s.readable(); err != nil {
		return ListResult{}, err
	}
	res := ListResult{Keys: []Key{}}
	floor, t := s.floor.Load(), now.Unix()
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		var last []byte
		scanned := 0
		for it.Seek(seek); it.Valid(); it.Next() {
			if len(res.Keys) == limit || scanned == limit+maxListSkip {
				break
			}
			scanned++
			item := it.Item()
			last = append(last[:0], item.Key()[base:]...) // valid past Next
			err := item.Value(func(v []byte) error {
				rec, err := parseRecord(v)
				if err != nil {
					return storageErr(fmt.Errorf("%q: %w", last, err))
				}
				if expired(rec.exp, floor) {
					return nil
				}
				if expired(rec.exp, t) {
					res.ExpiredByClock = true
					return nil
				}
				k := Key{Name: string(last), Expiration: rec.exp}
				if len(rec.meta) > 0 {
					k.Metadata = json.RawMessage(append([]byte(nil), rec.meta...))
				}
				res.Keys = append(res.Keys, k)
				return nil
			})
			if err != nil {
				return err
			}
		}
		if it.Valid() {
			res.Cursor = encodeCursor(opts.Prefix, last)
		} else {
			res.ListComplete = true
		}
		return nil
	})
	if err != nil {
		return ListResult{}, fmt.Errorf("kvsm: list %s: %w", ns, err)
	}
	return res, nil
}

func (s *Store) readable() error {
	if d := s.down.Load(); d != nil {
		return *d
	}
	if s.db.IsClosed() {
		return storageErr(badger.ErrDBClosed)
	}
	return nil
}

// A cursor is base64url (unpadded) of: version byte | be32 CRC-32C of
// (prefix, 0, last key) | last key. The CRC ties it to its prefix and
// catches damage; it is not a secret.
const cursorV1 = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func cursorSum(prefix string, last []byte) uint32 {
	c := crc32.Update(0, castagnoli, []byte(prefix))
	c = crc32.Update(c, castagnoli, []byte{0})
	return crc32.Update(c, castagnoli, last)
}

func encodeCursor(prefix string, last []byte) string {
	b := make([]byte, 0, 5+len(last))
	b = append(b, cursorV1)
	b = binary.BigEndian.AppendUint32(b, cursorSum(prefix, last))
	b = append(b, last...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the last key a cursor names.
func decodeCursor(c, prefix string) ([]byte, error) {
	if len(c) > base64.RawURLEncoding.EncodedLen(5+MaxKeyLen) {
		return nil, invalid("cursor", http.StatusBadRequest, "too long (%d bytes)", len(c))
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, invalid("cursor", http.StatusBadRequest, "not a cursor of this API (%v)", err)
	}
	if len(b) < 6 || b[0] != cursorV1 {
		return nil, invalid("cursor", http.StatusBadRequest, "not a cursor of this API")
	}
	last := b[5:]
	if binary.BigEndian.Uint32(b[1:]) != cursorSum(prefix, last) || !strings.HasPrefix(string(last), prefix) {
		return nil, invalid("cursor", http.StatusBadRequest, "damaged, or from a list with another prefix")
	}
	return last, nil
}

// CursorAfter is the cursor of a list with prefix that resumes after key:
// what a page ending at key returns. Lists merged from several groups'
// pages use it to resume after the merged page.
func CursorAfter(prefix, key string) string { return encodeCursor(prefix, []byte(key)) }

// CursorKey returns the key a cursor of a list with prefix resumes after.
// Errors wrap ErrInvalid.
func CursorKey(cursor, prefix string) (string, error) {
	k, err := decodeCursor(cursor, prefix)
	return string(k), err
}
