package kvsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"
)

// Limits of Durable Object storage, enforced when an object batch is
// applied (and by reads). A batch must fit one badger transaction of the
// smallest size Open allows, with every key's overhead: hence the bound on
// its bytes and keys, well below what a Worker could buffer.
const (
	// MaxObjectKeyLen is the longest object key (worker, class and id).
	MaxObjectKeyLen = 512
	// MaxStorageKeyLen is the longest storage key in bytes, as
	// Cloudflare's (2 KiB).
	MaxStorageKeyLen = 2048
	// MaxStorageValueLen is the largest stored value: Cloudflare's 128 KiB
	// plus 1 KiB for the encoding of the value.
	MaxStorageValueLen = 128<<10 + 1<<10
	// MaxObjectBatchBytes bounds the sum of the keys and values of one
	// batch's puts and deletes.
	MaxObjectBatchBytes = 1 << 20
	// MaxObjectBatchKeys bounds the puts and deletes of one batch.
	MaxObjectBatchKeys = 1024
	// MaxObjectListBytes bounds the keys and values one ObjectList reads
	// into memory, each entry counted ObjectListEntryBytes over its key and
	// value: an object's storage has no bound of its own. A guest's list
	// answer could carry no more (its frame to the sandbox holds 64 MiB,
	// the values base64-encoded); the keys count as that JSON escapes them
	// (jsonLen), up to 6 bytes for one.
	MaxObjectListBytes = 48 << 20
	// ObjectListEntryBytes is what MaxObjectListBytes counts for an entry
	// besides its key and value: millions of tiny entries cost memory too.
	ObjectListEntryBytes = 64
)

// ObjectPut is one put of an object batch.
type ObjectPut struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// ObjectBatch is one atomic group of writes to one Durable Object's
// storage. It applies in this order: DeleteAll, Puts, Deletes (a key both
// put and deleted ends deleted), Alarm. DeleteAll does not touch the
// alarm.
type ObjectBatch struct {
	DeleteAll bool        `json:"deleteAll,omitempty"`
	Puts      []ObjectPut `json:"puts,omitempty"`
	Deletes   []string    `json:"deletes,omitempty"`
	// Alarm, when set, is the object's new alarm: unix milliseconds, 0
	// deletes it. nil leaves the alarm as it is.
	Alarm *int64 `json:"alarm,omitempty"`
}

// ObjectListOptions are the options of ObjectList, as Durable Object
// storage's list takes them. Keys compare as bytes (UTF-8 order).
type ObjectListOptions struct {
	Start      string // the first key, inclusive ("" = from the first)
	StartAfter string // list keys after it, exclusive ("" = unset)
	End        string // the key to stop before, exclusive ("" = to the last)
	Prefix     string // only keys that start with it
	Reverse    bool   // descending order; Limit counts from the end
	Limit      int    // the most entries; 0 = no limit
}

// ObjectEntry is one listed key and its value.
type ObjectEntry struct {
	Key   string
	Value []byte
}

// DueAlarm is an object whose alarm is due.
type DueAlarm struct {
	ObjectKey string
	At        int64 // unix milliseconds
}

// Encoding of an object batch, after the version byte (1) and OpObject:
//
//	uvarint epoch | uvarint len(object) | object | flags (1 deleteAll, 2 alarm)
//	| [varint alarm] | uvarint puts | puts × (uvarint len(key) | key | uvarint len(value) | value)
//	| uvarint deletes | deletes × (uvarint len(key) | key)
const (
	objDeleteAll = 1
	objAlarm     = 2
)

// EncodeObjectBatch encodes batch b for the object objectKey, proposed
// by an owner whose epoch is epoch: it applies only in a log entry of that
// term (else the Result's Err wraps ErrStaleOwner). The result is a new
// slice.
func EncodeObjectBatch(epoch uint64, objectKey string, b *ObjectBatch) []byte {
	n := 2 + 4*binary.MaxVarintLen64 + len(objectKey)
	for _, p := range b.Puts {
		n += 2*binary.MaxVarintLen64 + len(p.Key) + len(p.Value)
	}
	for _, k := range b.Deletes {
		n += binary.MaxVarintLen64 + len(k)
	}
	e := make([]byte, 0, n)
	e = append(e, commandV1, byte(OpObject))
	e = binary.AppendUvarint(e, epoch)
	e = appendString(e, objectKey)
	var flags byte
	if b.DeleteAll {
		flags |= objDeleteAll
	}
	if b.Alarm != nil {
		flags |= objAlarm
	}
	e = append(e, flags)
	if b.Alarm != nil {
		e = binary.AppendVarint(e, *b.Alarm)
	}
	e = binary.AppendUvarint(e, uint64(len(b.Puts)))
	for _, p := range b.Puts {
		e = appendString(e, p.Key)
		e = appendString(e, string(p.Value))
	}
	e = binary.AppendUvarint(e, uint64(len(b.Deletes)))
	for _, k := range b.Deletes {
		e = appendString(e, k)
	}
	return e
}

// decodeObject decodes the body of an object batch into c.
func (d *decoder) object(c *Command) {
	c.Epoch = d.uvarint()
	c.Object = string(d.bytes())
	flags := d.byte()
	if d.err == nil && flags&^(objDeleteAll|objAlarm) != 0 {
		d.err = badCommand("unknown object batch flags %#x", flags)
		return
	}
	c.Batch.DeleteAll = flags&objDeleteAll != 0
	if flags&objAlarm != 0 {
		a := d.varint()
		c.Batch.Alarm = &a
	}
	// Each put takes at least 2 bytes and each delete 1: a count beyond
	// what is left is malformed (and must not size an allocation).
	if n := d.uvarint(); d.err == nil {
		if n > uint64(len(d.b)/2) {
			d.fail("put count")
			return
		}
		if n > 0 {
			c.Batch.Puts = make([]ObjectPut, n)
		}
		for i := range c.Batch.Puts {
			c.Batch.Puts[i] = ObjectPut{Key: string(d.bytes()), Value: d.bytes()}
		}
	}
	if n := d.uvarint(); d.err == nil {
		if n > uint64(len(d.b)) {
			d.fail("delete count")
			return
		}
		if n > 0 {
			c.Batch.Deletes = make([]string, n)
		}
		for i := range c.Batch.Deletes {
			c.Batch.Deletes[i] = string(d.bytes())
		}
	}
}

// ValidateObjectKey checks an object key: 1..MaxObjectKeyLen bytes.
func ValidateObjectKey(objectKey string) error {
	if objectKey == "" {
		return invalid("object", http.StatusBadRequest, "the object key must not be empty")
	}
	if len(objectKey) > MaxObjectKeyLen {
		return invalid("object", http.StatusBadRequest, "object key of %d bytes exceeds %d", len(objectKey), MaxObjectKeyLen)
	}
	return nil
}

// ValidateStorageKey checks a storage key: at most MaxStorageKeyLen bytes
// (any bytes; the empty key is a key).
func ValidateStorageKey(key string) error {
	if len(key) > MaxStorageKeyLen {
		return invalid("key", http.StatusRequestURITooLong, "storage key of %d bytes exceeds %d", len(key), MaxStorageKeyLen)
	}
	return nil
}

// ValidateObjectBatch checks a batch for objectKey against the limits
// above, as applying it will.
func ValidateObjectBatch(objectKey string, b *ObjectBatch) error {
	if err := ValidateObjectKey(objectKey); err != nil {
		return err
	}
	if n := len(b.Puts) + len(b.Deletes); n > MaxObjectBatchKeys {
		return invalid("batch", http.StatusRequestEntityTooLarge, "%d keys put or deleted exceed %d", n, MaxObjectBatchKeys)
	}
	total := 0
	for _, p := range b.Puts {
		if err := ValidateStorageKey(p.Key); err != nil {
			return err
		}
		if len(p.Value) > MaxStorageValueLen {
			return invalid("value", http.StatusRequestEntityTooLarge, "value of %d bytes exceeds %d", len(p.Value), MaxStorageValueLen)
		}
		total += len(p.Key) + len(p.Value)
	}
	for _, k := range b.Deletes {
		if err := ValidateStorageKey(k); err != nil {
			return err
		}
		total += len(k)
	}
	if total > MaxObjectBatchBytes {
		return invalid("batch", http.StatusRequestEntityTooLarge, "%d bytes of keys and values exceed %d", total, MaxObjectBatchBytes)
	}
	if b.Alarm != nil && *b.Alarm < 0 {
		return invalid("alarm", http.StatusBadRequest, "%d is negative", *b.Alarm)
	}
	return nil
}

// jsonLen is at least the length of s as encoding/json writes it in a
// string, its quotes aside: '"', '\\', '\n', '\r' and '\t' take 2 bytes,
// other control characters, '<', '>', '&' (escaped for HTML), each byte
// of invalid UTF-8 and U+2028 and U+2029 take 6, the rest their own.
func jsonLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}

func staleOwner(epoch, term uint64) error {
	return fmt.Errorf("%w: the batch's epoch is %d, its log entry's term %d", ErrStaleOwner, epoch, term)
}

// applyObject applies an object batch (validated) in txn: at once if the
// entry's term is the batch's epoch, else not at all (r.Err says so). The
// error is a storage failure.
func (s *Store) applyObject(txn *badger.Txn, r *Result, c *Command, term uint64) error {
	if term != c.Epoch {
		r.Err = staleOwner(c.Epoch, term)
		return nil
	}
	b := &c.Batch
	gen, err := readGen(txn, s.l, c.Object)
	if err != nil {
		return err
	}
	if b.DeleteAll {
		// The data of the current generation becomes garbage, which
		// expire commands collect: one write, however much data.
		found, err := s.hasObjectData(txn, c.Object, gen)
		if err != nil {
			return err
		}
		if found {
			if err := txn.Set(s.l.objGarbageKey(c.Object, gen), nil); err != nil {
				return err
			}
			gen++
			if err := txn.Set(s.l.objGenKey(c.Object), binary.BigEndian.AppendUint64(nil, gen)); err != nil {
				return err
			}
		}
	}
	for _, p := range b.Puts {
		// p.Value aliases the entry's data, which outlives the transaction.
		if err := txn.Set(s.l.objDataKey(c.Object, gen, p.Key), p.Value); err != nil {
			return err
		}
	}
	for _, k := range b.Deletes {
		if err := txn.Delete(s.l.objDataKey(c.Object, gen, k)); err != nil {
			return err
		}
	}
	if b.Alarm != nil {
		return s.setAlarm(txn, c.Object, *b.Alarm)
	}
	return nil
}

func (s *Store) hasObjectData(txn *badger.Txn, obj string, gen uint64) (bool, error) {
	p := s.l.objDataPrefix(obj, gen, 0)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
	defer it.Close()
	it.Seek(p)
	return it.Valid(), nil
}

func (s *Store) setAlarm(txn *badger.Txn, obj string, at int64) error {
	old, found, err := readAlarm(txn, s.l, obj)
	if err != nil {
		return err
	}
	if found && old == at {
		return nil
	}
	if found {
		if err := txn.Delete(s.l.alarmIndexKey(old, obj)); err != nil {
			return err
		}
	}
	if at == 0 {
		if !found {
			return nil
		}
		return txn.Delete(s.l.alarmKey(obj))
	}
	if err := txn.Set(s.l.alarmKey(obj), binary.BigEndian.AppendUint64(nil, uint64(at))); err != nil {
		return err
	}
	return txn.Set(s.l.alarmIndexKey(at, obj), nil)
}

// readGen reads an object's data generation (0 if it never had one).
func readGen(txn *badger.Txn, l layout, obj string) (uint64, error) {
	item, err := txn.Get(l.objGenKey(obj))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var gen uint64
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("%w: generation of %d bytes", errCorrupt, len(v))
		}
		gen = binary.BigEndian.Uint64(v)
		return nil
	})
	return gen, err
}

// readAlarm reads an object's alarm.
func readAlarm(txn *badger.Txn, l layout, obj string) (at int64, found bool, err error) {
	item, err := txn.Get(l.alarmKey(obj))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	err = item.Value(func(v []byte) error {
		at, err = parseAlarm(v)
		return err
	})
	return at, err == nil, err
}

func parseAlarm(v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: alarm of %d bytes", errCorrupt, len(v))
	}
	u := binary.BigEndian.Uint64(v)
	if u == 0 || u > math.MaxInt64 {
		return 0, fmt.Errorf("%w: alarm %d", errCorrupt, u)
	}
	return int64(u), nil
}

// collect deletes up to limit keys of object data that DeleteAll left
// behind (counting the garbage marks it removes); more says some remain.
func (s *Store) collect(txn *badger.Txn, limit int) (n int, more bool, err error) {
	gp := s.l.tag(tagObjGarbage)
	var marks [][]byte
	it := txn.NewIterator(badger.IteratorOptions{Prefix: gp, PrefetchValues: false})
	for it.Seek(gp); it.Valid() && len(marks) < limit; it.Next() {
		marks = append(marks, it.Item().KeyCopy(nil))
	}
	more = it.Valid()
	it.Close()
	for _, mk := range marks {
		obj, gen, ok := s.l.parseObjGarbageKey(mk)
		if !ok {
			return 0, false, fmt.Errorf("%w: garbage mark %q", errCorrupt, mk)
		}
		p := s.l.objDataPrefix(obj, gen, 0)
		var keys [][]byte
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
		for it.Seek(p); it.Valid() && len(keys) < limit-n; it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		left := it.Valid()
		it.Close()
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return 0, false, err
			}
			n++
		}
		if left || n == limit {
			return n, true, nil
		}
		if err := txn.Delete(mk); err != nil {
			return 0, false, err
		}
		n++
	}
	return n, more, nil
}

// ObjectGet returns the values of keys of object objectKey; absent keys
// are absent from the map. The values belong to the caller. Errors wrap
// ErrInvalid, ErrUnavailable or ErrStorage.
func (s *Store) ObjectGet(objectKey string, keys []string) (map[string][]byte, error) {
	if err := ValidateObjectKey(objectKey); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := ValidateStorageKey(k); err != nil {
			return nil, err
		}
	}
	if err := s.readable(); err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(keys))
	err := s.db.View(func(txn *badger.Txn) error {
		gen, err := readGen(txn, s.l, objectKey)
		if err != nil {
			return storageErr(err)
		}
		for _, k := range keys {
			item, err := txn.Get(s.l.objDataKey(objectKey, gen, k))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return storageErr(err)
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return storageErr(err)
			}
			if v == nil {
				v = []byte{}
			}
			out[k] = v
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kvsm: object get: %w", err)
	}
	return out, nil
}

// ObjectList returns the entries of object objectKey that opts selects,
// in byte order of their keys (descending if opts.Reverse), with
// Cloudflare's semantics: Start inclusive, StartAfter exclusive (the
// greater bound of the two wins), End exclusive, only keys with Prefix,
// at most Limit entries. A list whose keys and values would exceed
// MaxObjectListBytes fails (ErrInvalid). Errors wrap ErrInvalid,
// ErrUnavailable or ErrStorage.
func (s *Store) ObjectList(objectKey string, opts ObjectListOptions) ([]ObjectEntry, error) {
	if err := ValidateObjectKey(objectKey); err != nil {
		return nil, err
	}
	for _, k := range []string{opts.Start, opts.StartAfter, opts.End, opts.Prefix} {
		if err := ValidateStorageKey(k); err != nil {
			return nil, err
		}
	}
	if opts.Limit < 0 {
		return nil, invalid("limit", http.StatusBadRequest, "%d is negative", opts.Limit)
	}
	if err := s.readable(); err != nil {
		return nil, err
	}
	// lo is the inclusive lower bound of the keys, hi (hasHi) the
	// exclusive upper one.
	lo := opts.Prefix
	if opts.Start > lo {
		lo = opts.Start
	}
	if opts.StartAfter != "" && opts.StartAfter+"\x00" > lo {
		lo = opts.StartAfter + "\x00"
	}
	hi, hasHi := opts.End, opts.End != ""
	out := []ObjectEntry{}
	if hasHi && hi <= lo {
		return out, nil
	}
	err := s.db.View(func(txn *badger.Txn) error {
		gen, err := readGen(txn, s.l, objectKey)
		if err != nil {
			return storageErr(err)
		}
		base := s.l.objDataPrefix(objectKey, gen, MaxStorageKeyLen+1)
		nb := len(base)
		prefix := append(base, opts.Prefix...)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: opts.Reverse})
		defer it.Close()
		var seek []byte
		if opts.Reverse {
			// A seek outside the prefix would end the iteration at once.
			if hasHi && strings.HasPrefix(hi, opts.Prefix) {
				seek = append(prefix[:nb:nb], hi...)
			} else {
				// Above every key under the prefix: keys are at most
				// MaxStorageKeyLen bytes.
				seek = append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, MaxStorageKeyLen+1-len(opts.Prefix))...)
			}
		} else {
			seek = append(prefix[:nb:nb], lo...)
		}
		read := 0 // bytes of keys and values read
		for it.Seek(seek); it.Valid(); it.Next() {
			if opts.Limit > 0 && len(out) == opts.Limit {
				break
			}
			item := it.Item()
			k := string(item.Key()[nb:])
			if hasHi && k >= hi {
				if opts.Reverse {
					continue // only the key at hi itself
				}
				break
			}
			if k < lo {
				if opts.Reverse {
					break
				}
				continue // unreachable: the seek starts at lo
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return storageErr(err)
			}
			if read += jsonLen(k) + len(v) + ObjectListEntryBytes; read > MaxObjectListBytes {
				return invalid("list", http.StatusRequestEntityTooLarge, "the keys and values listed exceed %d bytes; list with a limit or a narrower range", MaxObjectListBytes)
			}
			if v == nil {
				v = []byte{}
			}
			out = append(out, ObjectEntry{Key: k, Value: v})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kvsm: object list: %w", err)
	}
	return out, nil
}

// ObjectAlarm returns object objectKey's alarm, unix milliseconds, 0 if
// none. Errors wrap ErrInvalid, ErrUnavailable or ErrStorage.
func (s *Store) ObjectAlarm(objectKey string) (int64, error) {
	if err := ValidateObjectKey(objectKey); err != nil {
		return 0, err
	}
	if err := s.readable(); err != nil {
		return 0, err
	}
	var at int64
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		at, _, err = readAlarm(txn, s.l, objectKey)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("kvsm: object alarm: %w", storageErr(err))
	}
	return at, nil
}

// NextAlarm is the time (unix ms) of the earliest alarm in the store, and
// whether there is one.
func (s *Store) NextAlarm() (int64, bool, error) {
	if err := s.readable(); err != nil {
		return 0, false, err
	}
	var at int64
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		p := s.l.tag(tagAlarmIndex)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
		defer it.Close()
		it.Seek(p)
		if !it.Valid() {
			return nil
		}
		a, _, ok := s.l.parseAlarmIndexKey(it.Item().Key())
		if !ok {
			return fmt.Errorf("%w: alarm index key %q", errCorrupt, it.Item().Key())
		}
		at, found = a, true
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("kvsm: next alarm: %w", storageErr(err))
	}
	return at, found, nil
}

// DueAlarms returns up to limit (at least 1) objects whose alarm is at or
// before now (unix milliseconds), earliest first. Errors wrap
// ErrUnavailable or ErrStorage.
func (s *Store) DueAlarms(now int64, limit int) ([]DueAlarm, error) {
	if err := s.readable(); err != nil {
		return nil, err
	}
	limit = max(limit, 1)
	var out []DueAlarm
	err := s.db.View(func(txn *badger.Txn) error {
		p := s.l.tag(tagAlarmIndex)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
		defer it.Close()
		for it.Seek(p); it.Valid() && len(out) < limit; it.Next() {
			at, obj, ok := s.l.parseAlarmIndexKey(it.Item().Key())
			if !ok {
				return fmt.Errorf("%w: alarm index key %q", errCorrupt, it.Item().Key())
			}
			if at > now {
				break
			}
			out = append(out, DueAlarm{ObjectKey: obj, At: at})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kvsm: due alarms: %w", storageErr(err))
	}
	return out, nil
}
