package kvsm

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func commandSeeds() [][]byte {
	return [][]byte{
		EncodePut("ns", "key", []byte("value"), []byte(`{"a":1}`), 1_700_000_000),
		EncodePut("ns", "k", nil, nil, 0),
		EncodeDelete("ns", "key"),
		EncodeExpire(t0, 10),
		EncodeExpire(time.Unix(-1, 0), -1),
		EncodePutOnce([16]byte{1}, 1_700_000_060, "ns", "key", []byte("value"), nil, 0),
		EncodeDeleteOnce([16]byte{15: 2}, 1_700_000_060, "ns", "key"),
		EncodeDeleteOnce([16]byte{3}, 0, "ns", "key"),
		EncodeObjectBatch(0, objA, &ObjectBatch{DeleteAll: true, Puts: []ObjectPut{{"k", []byte("v")}, {"", nil}}, Deletes: []string{"d"}, Alarm: ms(1)}),
		EncodeObjectBatch(7, "o", &ObjectBatch{Alarm: ms(0)}),
		EncodeObjectBatch(0, "o", &ObjectBatch{}),
		{commandV1, byte(OpObject), 0, 1, 'o', 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		{commandV2, byte(OpDelete), 1, 2},
		{commandV1, byte(OpPut), 0x80},
		{commandV1, byte(OpDelete), 5, 'a'},
		{},
	}
}

// FuzzDecodeCommand: decoding never panics, fails only with ErrInvalid, and
// what decodes re-encodes to the same command.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range commandSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		var enc []byte
		switch c.Op {
		case OpPut:
			enc = EncodePut(c.Namespace, c.Key, c.Value, c.Metadata, c.Expiration)
			if c.HasID() {
				enc = EncodePutOnce(c.ID, c.Deadline, c.Namespace, c.Key, c.Value, c.Metadata, c.Expiration)
			}
		case OpDelete:
			enc = EncodeDelete(c.Namespace, c.Key)
			if c.HasID() {
				enc = EncodeDeleteOnce(c.ID, c.Deadline, c.Namespace, c.Key)
			}
		case OpExpire:
			enc = EncodeExpire(time.Unix(c.Now, 0), c.Limit)
		case OpObject:
			enc = EncodeObjectBatch(c.Epoch, c.Object, &c.Batch)
			c2, err := DecodeCommand(enc)
			if err != nil || c2.Epoch != c.Epoch || c2.Object != c.Object || !reflect.DeepEqual(c2.Batch, c.Batch) {
				t.Fatalf("%+v re-decodes as %+v, %v", c, c2, err)
			}
		default:
			t.Fatalf("decoded op %v", c.Op)
		}
		c2, err := DecodeCommand(enc)
		if err != nil || c2.Op != c.Op || c2.Namespace != c.Namespace || c2.Key != c.Key || !bytes.Equal(c2.Value, c.Value) ||
			!bytes.Equal(c2.Metadata, c.Metadata) || c2.Expiration != c.Expiration || c2.Now != c.Now || c2.Limit != c.Limit ||
			c2.ID != c.ID || c2.Deadline != c.Deadline {
			t.Fatalf("%+v re-decodes as %+v, %v", c, c2, err)
		}
	})
}

// FuzzApply: applying any bytes never panics and never fails for storage
// reasons: a command either takes effect or is rejected as ErrInvalid.
func FuzzApply(f *testing.F) {
	for _, s := range commandSeeds() {
		f.Add(s)
	}
	g := newGroup(f, openDB(f, "", false), "fz")
	f.Fuzz(func(t *testing.T, data []byte) {
		r := g.s.Apply(Entry{Index: g.next, Data: data})
		g.next++
		_, derr := DecodeCommand(data)
		switch {
		case r.Skipped || errors.Is(r.Err, ErrStorage) || r.Duplicate && r.Err != nil:
			t.Fatalf("%+v", r)
		case derr != nil && !errors.Is(r.Err, ErrInvalid):
			t.Fatalf("undecodable command gave %+v", r)
		case r.Err != nil && !errors.Is(r.Err, ErrInvalid) && !errors.Is(r.Err, ErrStaleOwner):
			t.Fatalf("%+v", r)
		}
		if g.s.Applied() != r.Index {
			t.Fatalf("Applied %d after %d", g.s.Applied(), r.Index)
		}
	})
}

// FuzzRestore: restoring any bytes never panics; a stream that is accepted
// leaves a usable group.
func FuzzRestore(f *testing.F) {
	db := openDB(f, "", false)
	src := newGroup(f, db, "src")
	src.must(EncodePut("ns", "a", []byte("1"), []byte("[]"), 1_700_000_000), EncodePut("ns", "b", make([]byte, inlineMax+1), nil, 0))
	src.must(EncodeDeleteOnce([16]byte{1}, 1_700_000_060, "ns", "c"), EncodeDeleteOnce([16]byte{2}, 1_700_000_000, "ns", "c"))
	src.applyAt(0, EncodeObjectBatch(0, objA, &ObjectBatch{Puts: []ObjectPut{{"k", []byte("v")}, {"", nil}}, Alarm: ms(5)}))
	good := src.snapshot()
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte(snapMagic))
	f.Add(append([]byte(snapMagicV1), make([]byte, 8+2+4)...))
	g := newGroup(f, db, "dst")
	g.s.noSync = true
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := g.s.Restore(bytes.NewReader(data)); err != nil {
			if _, err := g.s.Get("ns", "a", t0); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Get after a failed restore: %v", err)
			}
			return
		}
		if _, err := g.s.Hash(); err != nil {
			t.Fatal(err)
		}
		if _, err := g.s.List("ns", ListOptions{}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := g.s.ObjectList(objA, ObjectListOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := g.s.DueAlarms(1<<62, 10); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzListCursor: any cursor is a page or ErrInvalid, never a panic.
func FuzzListCursor(f *testing.F) {
	g := newGroup(f, openDB(f, "", false), "c")
	g.must(EncodePut("ns", "a", nil, nil, 0), EncodePut("ns", "ab", nil, nil, 0), EncodePut("ns", "b", nil, nil, 0))
	page, err := g.s.List("ns", ListOptions{Limit: 1}, t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(page.Cursor, "")
	f.Add(page.Cursor, "a")
	f.Add("AQ", "")
	f.Fuzz(func(t *testing.T, cursor, prefix string) {
		_, err := g.s.List("ns", ListOptions{Prefix: prefix, Cursor: cursor, Limit: 1}, t0)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
	})
}
