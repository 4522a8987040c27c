package kvsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Tags after the group prefix (see the package doc for the layout).
const (
	tagApplied = 'a' // prefix|a -> big-endian uint64: last applied index
	tagData    = 'd' // prefix|d|uvarint(len ns)|ns|key -> record
	tagRestore = 'r' // prefix|r -> empty: a Restore is under way
	tagBlob    = 'v' // prefix|v|uvarint(len ns)|ns|key -> value of an external record
	tagExpiry  = 'x' // prefix|x|be64(expiration)|uvarint(len ns)|ns|key -> empty
	tagIDIndex = 'Q' // prefix|Q|be64(deadline)|id -> empty: an applied request id, by deadline
	// 'q' (prefix|q|id -> be64(deadline)) held each id once more, keyed by
	// the id alone, until the id's lookup used the deadline the command
	// carries: it is not used.

	// Durable Object storage.
	tagObjData    = 'o' // prefix|o|uvarint(len obj)|obj|be64(gen)|key -> value
	tagObjGen     = 'g' // prefix|g|obj -> be64(gen): the object's data generation (absent = 0)
	tagObjGarbage = 'G' // prefix|G|uvarint(len obj)|obj|be64(gen) -> empty: a generation DeleteAll left
	tagAlarm      = 'l' // prefix|l|obj -> be64(unix ms): the object's alarm
	tagAlarmIndex = 'L' // prefix|L|be64(unix ms)|obj -> empty: alarms by time
)

// Record formats: the first byte of a data record.
const (
	recInline   = 1 // expiration | metadata | value
	recExternal = 2 // expiration | metadata; the value is under the blob key
)

// inlineMax is the largest value kept inside its record. Larger values go
// under their own key, so that List, which reads every record of a page,
// never reads large values.
const inlineMax = 4 << 10

// layout builds and parses the badger keys of one group. Every method
// returns a new slice: badger keeps references to what it is given until
// the transaction ends.
type layout struct{ prefix []byte }

func (l layout) tag(t byte) []byte {
	k := make([]byte, len(l.prefix)+1)
	copy(k, l.prefix)
	k[len(l.prefix)] = t
	return k
}

func (l layout) appliedKey() []byte { return l.tag(tagApplied) }
func (l layout) restoreKey() []byte { return l.tag(tagRestore) }

// nsPrefix is prefix|t|uvarint(len ns)|ns, with room for extra bytes.
func (l layout) nsPrefix(t byte, ns string, extra int) []byte {
	k := make([]byte, 0, len(l.prefix)+1+binary.MaxVarintLen64+len(ns)+extra)
	k = append(k, l.prefix...)
	k = append(k, t)
	k = binary.AppendUvarint(k, uint64(len(ns)))
	return append(k, ns...)
}

func (l layout) dataKey(ns, key string) []byte {
	return append(l.nsPrefix(tagData, ns, len(key)), key...)
}

func (l layout) blobKey(ns, key string) []byte {
	return append(l.nsPrefix(tagBlob, ns, len(key)), key...)
}

func (l layout) expiryKey(exp int64, ns, key string) []byte {
	k := make([]byte, 0, len(l.prefix)+1+8+binary.MaxVarintLen64+len(ns)+len(key))
	k = append(k, l.prefix...)
	k = append(k, tagExpiry)
	k = binary.BigEndian.AppendUint64(k, uint64(exp))
	k = binary.AppendUvarint(k, uint64(len(ns)))
	k = append(k, ns...)
	return append(k, key...)
}

func (l layout) idIndexKey(deadline int64, id [16]byte) []byte {
	k := make([]byte, 0, len(l.prefix)+1+8+len(id))
	k = append(k, l.prefix...)
	k = append(k, tagIDIndex)
	k = binary.BigEndian.AppendUint64(k, uint64(deadline))
	return append(k, id[:]...)
}

// objPrefix is prefix|t|uvarint(len obj)|obj|be64(gen), with room for
// extra bytes.
func (l layout) objPrefix(t byte, obj string, gen uint64, extra int) []byte {
	k := make([]byte, 0, len(l.prefix)+1+binary.MaxVarintLen64+len(obj)+8+extra)
	k = append(k, l.prefix...)
	k = append(k, t)
	k = binary.AppendUvarint(k, uint64(len(obj)))
	k = append(k, obj...)
	return binary.BigEndian.AppendUint64(k, gen)
}

// objDataPrefix is the prefix of the keys of generation gen of object obj.
func (l layout) objDataPrefix(obj string, gen uint64, extra int) []byte {
	return l.objPrefix(tagObjData, obj, gen, extra)
}

func (l layout) objDataKey(obj string, gen uint64, key string) []byte {
	return append(l.objDataPrefix(obj, gen, len(key)), key...)
}

func (l layout) objGarbageKey(obj string, gen uint64) []byte {
	return l.objPrefix(tagObjGarbage, obj, gen, 0)
}

func (l layout) objGenKey(obj string) []byte { return append(l.tag(tagObjGen), obj...) }
func (l layout) alarmKey(obj string) []byte  { return append(l.tag(tagAlarm), obj...) }
func (l layout) alarmIndexKey(at int64, obj string) []byte {
	k := make([]byte, 0, len(l.prefix)+1+8+len(obj))
	k = append(k, l.prefix...)
	k = append(k, tagAlarmIndex)
	k = binary.BigEndian.AppendUint64(k, uint64(at))
	return append(k, obj...)
}

// parseObjKey parses uvarint(len obj)|obj|be64(gen)|rest.
func parseObjKey(b []byte) (obj string, gen uint64, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) || len(b)-w-int(n) < 8 {
		return "", 0, nil, false
	}
	obj = string(b[w : w+int(n)])
	b = b[w+int(n):]
	return obj, binary.BigEndian.Uint64(b), b[8:], true
}

// parseObjDataKey parses a key under prefix|o.
func (l layout) parseObjDataKey(k []byte) (obj string, gen uint64, key string, ok bool) {
	obj, gen, rest, ok := parseObjKey(k[len(l.prefix)+1:])
	return obj, gen, string(rest), ok
}

// parseObjGarbageKey parses a key under prefix|G.
func (l layout) parseObjGarbageKey(k []byte) (obj string, gen uint64, ok bool) {
	obj, gen, rest, ok := parseObjKey(k[len(l.prefix)+1:])
	return obj, gen, ok && len(rest) == 0
}

// parseAlarmIndexKey parses a key under prefix|L.
func (l layout) parseAlarmIndexKey(k []byte) (at int64, obj string, ok bool) {
	b := k[len(l.prefix)+1:]
	if len(b) < 9 {
		return 0, "", false
	}
	u := binary.BigEndian.Uint64(b)
	if u == 0 || u > math.MaxInt64 {
		return 0, "", false
	}
	return int64(u), string(b[8:]), true
}

// parseIDIndexKey parses a key under prefix|Q.
func (l layout) parseIDIndexKey(k []byte) (deadline int64, id [16]byte, ok bool) {
	b := k[len(l.prefix)+1:]
	if len(b) != 8+len(id) {
		return 0, id, false
	}
	u := binary.BigEndian.Uint64(b)
	if u > math.MaxInt64 {
		return 0, id, false
	}
	copy(id[:], b[8:])
	return int64(u), id, true
}

// splitNameKey parses uvarint(len ns)|ns|key.
func splitNameKey(b []byte) (ns, key string, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return "", "", false
	}
	return string(b[w : w+int(n)]), string(b[w+int(n):]), true
}

// parseDataKey parses a key under prefix|d.
func (l layout) parseDataKey(k []byte) (ns, key string, ok bool) {
	return splitNameKey(k[len(l.prefix)+1:])
}

// parseExpiryKey parses a key under prefix|x.
func (l layout) parseExpiryKey(k []byte) (exp int64, ns, key string, ok bool) {
	b := k[len(l.prefix)+1:]
	if len(b) < 8 {
		return 0, "", "", false
	}
	u := binary.BigEndian.Uint64(b)
	if u > math.MaxInt64 {
		return 0, "", "", false
	}
	ns, key, ok = splitNameKey(b[8:])
	return int64(u), ns, key, ok
}

// record is a parsed data record; meta and value alias the parsed bytes.
type record struct {
	format byte
	exp    int64
	meta   []byte
	value  []byte // inline only
}

func (r record) external() bool { return r.format == recExternal }

// appendRecord encodes a record: format | be64 expiration | uvarint len(meta)
// | meta | value (inline only).
func appendRecord(b []byte, format byte, exp int64, meta, value []byte) []byte {
	b = append(b, format)
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	b = binary.AppendUvarint(b, uint64(len(meta)))
	b = append(b, meta...)
	if format == recInline {
		b = append(b, value...)
	}
	return b
}

func newRecord(exp int64, meta, value []byte) []byte {
	if len(value) > inlineMax {
		return appendRecord(make([]byte, 0, 1+8+binary.MaxVarintLen64+len(meta)), recExternal, exp, meta, nil)
	}
	return appendRecord(make([]byte, 0, 1+8+binary.MaxVarintLen64+len(meta)+len(value)), recInline, exp, meta, value)
}

var errCorrupt = errors.New("corrupt record")

func parseRecord(b []byte) (record, error) {
	if len(b) < 1+8+1 {
		return record{}, fmt.Errorf("%w: %d bytes", errCorrupt, len(b))
	}
	r := record{format: b[0]}
	if r.format != recInline && r.format != recExternal {
		return record{}, fmt.Errorf("%w: unknown format %d", errCorrupt, r.format)
	}
	u := binary.BigEndian.Uint64(b[1:])
	if u > math.MaxInt64 {
		return record{}, fmt.Errorf("%w: expiration %d", errCorrupt, u)
	}
	r.exp = int64(u)
	b = b[9:]
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return record{}, fmt.Errorf("%w: metadata length", errCorrupt)
	}
	r.meta = b[w : w+int(n) : w+int(n)]
	b = b[w+int(n):]
	switch {
	case r.format == recInline:
		r.value = b
	case len(b) != 0:
		return record{}, fmt.Errorf("%w: %d bytes after an external record", errCorrupt, len(b))
	}
	return r, nil
}
