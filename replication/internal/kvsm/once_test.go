package kvsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

func reqID(n byte) [16]byte { return [16]byte{15: n, 0: 0xa0} }

func TestCommandOnceRoundTrip(t *testing.T) {
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	dl := at(DedupWindow).Unix()
	for _, c := range []struct {
		data []byte
		want Command
	}{
		{EncodePutOnce(id, dl, "ns", "k", []byte("v"), []byte(`{"a":1}`), 1_700_000_100),
			Command{Op: OpPut, Namespace: "ns", Key: "k", Value: []byte("v"), Metadata: []byte(`{"a":1}`), Expiration: 1_700_000_100, ID: id, Deadline: dl}},
		{EncodePutOnce(id, 1, "ns", "k", nil, nil, 0), Command{Op: OpPut, Namespace: "ns", Key: "k", ID: id, Deadline: 1}},
		{EncodeDeleteOnce(id, dl, "ns", "k"), Command{Op: OpDelete, Namespace: "ns", Key: "k", ID: id, Deadline: dl}},
		{EncodePut("ns", "k", []byte("v"), nil, 0), Command{Op: OpPut, Namespace: "ns", Key: "k", Value: []byte("v")}},
		{EncodeDelete("ns", "k"), Command{Op: OpDelete, Namespace: "ns", Key: "k"}},
	} {
		got, err := DecodeCommand(c.data)
		if err != nil || got.Op != c.want.Op || got.Namespace != c.want.Namespace || got.Key != c.want.Key ||
			!bytes.Equal(got.Value, c.want.Value) || !bytes.Equal(got.Metadata, c.want.Metadata) ||
			got.Expiration != c.want.Expiration || got.ID != c.want.ID || got.Deadline != c.want.Deadline {
			t.Errorf("DecodeCommand(%x) = %+v, %v; want %+v", c.data, got, err, c.want)
		}
		if got.HasID() != (c.want.ID != [16]byte{}) {
			t.Errorf("%+v: HasID = %v", got, got.HasID())
		}
		if len(c.data) < 2 || Op(c.data[1]) != c.want.Op {
			t.Errorf("%x: op is not the second byte", c.data)
		}
	}
	expire := EncodeExpire(t0, 1)
	for name, data := range map[string][]byte{
		"zero id":      EncodePutOnce([16]byte{}, dl, "ns", "k", nil, nil, 0),
		"zero id del":  EncodeDeleteOnce([16]byte{}, dl, "ns", "k"),
		"short id":     EncodeDeleteOnce(id, dl, "ns", "k")[:10],
		"no deadline":  EncodeDeleteOnce(id, dl, "ns", "k")[:18],
		"v2 expire":    appendOnce(expire, id, dl),
		"trailing":     append(EncodeDeleteOnce(id, dl, "ns", "k"), 0),
		"version 3":    append([]byte{3}, EncodeDeleteOnce(id, dl, "ns", "k")[1:]...),
		"v1 with id":   append([]byte{commandV1}, EncodeDeleteOnce(id, dl, "ns", "k")[1:]...),
		"only version": {commandV2},
	} {
		if c, err := DecodeCommand(data); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %+v, %v", name, c, err)
		}
	}
}

func TestApplyOnce(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	dl := at(DedupWindow).Unix()
	putA := EncodePutOnce(reqID(1), dl, "ns", "k", []byte("a"), nil, 0)
	rs := g.must(putA, EncodePutOnce(reqID(2), dl, "ns", "k", []byte("b"), nil, 0))
	if rs[0].Duplicate || rs[1].Duplicate || rs[0].Op != OpPut {
		t.Fatalf("first attempts: %+v", rs)
	}
	h := g.hash()
	// The retry of put(a) comes after put(b): it must not undo it.
	r := g.must(putA)[0]
	if !r.Duplicate || r.Op != OpPut || r.Err != nil {
		t.Fatalf("retry: %+v", r)
	}
	if v, err := g.s.Get("ns", "k", t0); err != nil || string(v.Value) != "b" {
		t.Fatalf("after retry: %q, %v", v.Value, err)
	}
	if g.s.Applied() != 3 {
		t.Fatalf("Applied = %d", g.s.Applied())
	}
	// Nothing but the applied index changed: a replica that saw no retry,
	// at the same index, has the same hash.
	g2 := newGroup(t, g.s.db, "g2")
	g2.must(putA, EncodePutOnce(reqID(2), dl, "ns", "k", []byte("b"), nil, 0), EncodePut("ns", "k", []byte("b"), nil, 0))
	if g2.hash() != g.hash() || h == g.hash() {
		t.Fatal("a duplicate changed more than the applied index")
	}
	// Repeats in one batch: only the first takes effect. The id is the
	// operation's, not the op's: a delete with put(a)'s id is a repeat too.
	rs = g.must(
		EncodeDeleteOnce(reqID(3), dl, "ns", "k"),
		EncodePut("ns", "k", []byte("c"), nil, 0),
		EncodeDeleteOnce(reqID(3), dl, "ns", "k"),
		EncodeDeleteOnce(reqID(1), dl, "ns", "k"),
	)
	if rs[0].Duplicate || !rs[2].Duplicate || !rs[3].Duplicate || rs[2].Op != OpDelete {
		t.Fatalf("batch: %+v", rs)
	}
	if v, err := g.s.Get("ns", "k", t0); err != nil || string(v.Value) != "c" {
		t.Fatalf("after repeated delete: %q, %v", v.Value, err)
	}
	if n := countKeys(t, g.s, tagIDIndex); n != 3 {
		t.Fatalf("%d ids recorded, want 3", n)
	}
	// A command without an id is never a duplicate.
	if r := g.must(EncodePut("ns", "k", []byte("c"), nil, 0))[0]; r.Duplicate {
		t.Fatalf("v1 put: %+v", r)
	}
}

// A rejected command records nothing: its retry is rejected the same way.
func TestApplyOnceInvalid(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	dl := at(DedupWindow).Unix()
	for _, cmd := range [][]byte{
		EncodePutOnce(reqID(1), dl, "ns", "k", nil, []byte("{"), 0),
		EncodePutOnce(reqID(2), dl, "ns", "..", nil, nil, 0),
		EncodeDeleteOnce(reqID(3), dl, "n s", "k"),
		EncodeDeleteOnce(reqID(4), 0, "ns", "k"),
		EncodePutOnce(reqID(5), -1, "ns", "k", nil, nil, 0),
	} {
		rs := g.apply(cmd, cmd)
		for _, r := range rs {
			if !errors.Is(r.Err, ErrInvalid) || r.Duplicate {
				t.Fatalf("%x: %+v", cmd, rs)
			}
		}
		if rs[0].Err.Error() != rs[1].Err.Error() {
			t.Fatalf("retry error %q, first %q", rs[1].Err, rs[0].Err)
		}
	}
	if n := countKeys(t, g.s, tagIDIndex) + countKeys(t, g.s, tagData); n != 0 {
		t.Fatalf("invalid commands left %d keys", n)
	}
	// The id of a rejected command is free for a valid one.
	if r := g.must(EncodePutOnce(reqID(1), dl, "ns", "k", nil, nil, 0))[0]; r.Duplicate {
		t.Fatalf("valid command with a rejected id: %+v", r)
	}
}

func TestExpireForgetsIDs(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	g.must(
		EncodeDeleteOnce(reqID(1), at(10).Unix(), "ns", "a"),
		EncodeDeleteOnce(reqID(2), at(20).Unix(), "ns", "a"),
		EncodeDeleteOnce(reqID(3), at(20).Unix(), "ns", "a"),
		EncodeDeleteOnce(reqID(4), at(30).Unix(), "ns", "a"),
		EncodePut("ns", "x", nil, nil, at(5).Unix()),
	)
	// Ids go when their deadline is before now, not at it.
	if r := g.must(EncodeExpire(at(10), 100))[0]; r.Forgotten != 0 || r.Expired != 1 || r.More {
		t.Fatalf("expire(10) = %+v", r)
	}
	if r := g.must(EncodeExpire(at(21), 2))[0]; r.Forgotten != 2 || r.Expired != 0 || !r.More {
		t.Fatalf("expire(21, limit 2) = %+v", r)
	}
	// Index order is deadline, then id: ids 1 and 2 went, 3 remains.
	if r := g.must(EncodeDeleteOnce(reqID(3), at(20).Unix(), "ns", "a"))[0]; !r.Duplicate {
		t.Fatalf("id 3 after the first expire: %+v", r)
	}
	if r := g.must(EncodeDeleteOnce(reqID(2), at(20).Unix(), "ns", "a"))[0]; r.Duplicate {
		t.Fatalf("id 2 after the first expire: %+v", r)
	}
	if r := g.must(EncodeExpire(at(21), 2))[0]; r.Forgotten != 2 || r.More {
		t.Fatalf("second expire(21) = %+v", r) // id 3, and id 2 again
	}
	// Keys and ids each have their own limit; More if either remains.
	g.must(EncodePut("ns", "y", nil, nil, at(25).Unix()), EncodePut("ns", "z", nil, nil, at(25).Unix()))
	if r := g.must(EncodeExpire(at(1000), 1))[0]; r.Forgotten != 1 || r.Expired != 1 || !r.More {
		t.Fatalf("expire(1000, limit 1) = %+v", r)
	}
	if r := g.must(EncodeExpire(at(1000), 1))[0]; r.Forgotten != 0 || r.Expired != 1 || r.More {
		t.Fatalf("second expire(1000, limit 1) = %+v", r)
	}
	if n := countKeys(t, g.s, tagIDIndex); n != 0 {
		t.Fatalf("%d id keys left", n)
	}
}

func TestReopenKeepsIDs(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, true)
	g := newGroup(t, db, "g1")
	put := EncodePutOnce(reqID(1), at(DedupWindow).Unix(), "ns", "k", []byte("a"), nil, 0)
	g.must(put, EncodePut("ns", "k", []byte("b"), nil, 0))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	g = newGroup(t, openDB(t, dir, true), "g1")
	if r := g.must(put)[0]; !r.Duplicate {
		t.Fatalf("retry after reopen: %+v", r)
	}
	if v, err := g.s.Get("ns", "k", t0); err != nil || string(v.Value) != "b" {
		t.Fatalf("after retry: %q, %v", v.Value, err)
	}
}

func TestSnapshotKeepsIDs(t *testing.T) {
	db := openDB(t, "", false)
	src := newGroup(t, db, "src")
	put := EncodePutOnce(reqID(1), at(10).Unix(), "ns", "k", []byte("a"), nil, 0)
	del := EncodeDeleteOnce(reqID(2), at(20).Unix(), "ns", "gone")
	src.must(put, del, EncodePut("ns", "k", []byte("b"), nil, 0))
	dst := newGroup(t, db, "dst")
	dst.must(EncodeDeleteOnce(reqID(9), at(5).Unix(), "ns", "stale"))
	if err := dst.s.Restore(bytes.NewReader(src.snapshot())); err != nil {
		t.Fatal(err)
	}
	if dst.hash() != src.hash() || dst.s.Applied() != 3 {
		t.Fatalf("restored: Applied %d, hash equal %v", dst.s.Applied(), dst.hash() == src.hash())
	}
	if countKeys(t, dst.s, tagIDIndex) != 2 {
		t.Fatal("restore did not rebuild the ids")
	}
	// Both replicas skip the same repeats and forget the same ids (1 and 9).
	dst.next = src.next
	for _, g := range []*group{src, dst} {
		rs := g.must(put, EncodeDeleteOnce(reqID(9), at(5).Unix(), "ns", "k"), EncodeExpire(at(15), 10), put, del)
		if !rs[0].Duplicate || rs[1].Duplicate || rs[2].Forgotten != 2 || rs[3].Duplicate || !rs[4].Duplicate {
			t.Fatalf("%+v", rs)
		}
	}
	if dst.hash() != src.hash() {
		t.Fatal("replicas differ")
	}
	// Ids are state: the hash covers them.
	other := newGroup(t, db, "other")
	other.next = src.next
	if err := other.s.Restore(bytes.NewReader(src.snapshot())); err != nil {
		t.Fatal(err)
	}
	other.next = src.next
	src.must(EncodeDeleteOnce(reqID(7), at(50).Unix(), "ns", "none"))
	other.must(EncodeDelete("ns", "none"))
	if other.hash() == src.hash() {
		t.Fatal("hash ignores request ids")
	}
}

// A version 1 snapshot (before request ids) restores, with no ids.
func TestRestoreV1Snapshot(t *testing.T) {
	db := openDB(t, "", false)
	src := newGroup(t, db, "src")
	src.must(EncodePut("ns", "a", []byte("1"), nil, at(10).Unix()), EncodePut("ns", "b", make([]byte, inlineMax+1), nil, 0))
	v4 := src.snapshot()
	// Version 4 without ids and objects is version 1 with three more
	// uvarints (0) before the CRC.
	v1 := append([]byte(snapMagicV1), v4[len(snapMagic):len(v4)-7]...)
	v1 = append(v1, crcOf(v1)...)
	dst := newGroup(t, db, "dst")
	dst.must(EncodeDeleteOnce(reqID(1), at(10).Unix(), "ns", "x"))
	if err := dst.s.Restore(bytes.NewReader(v1)); err != nil {
		t.Fatal(err)
	}
	if dst.hash() != src.hash() || countKeys(t, dst.s, tagIDIndex) != 0 {
		t.Fatal("v1 restore differs")
	}
	// An id entry in a version 1 stream, or a key after ids, is refused.
	g := newGroup(t, db, "ids")
	g.must(EncodeDeleteOnce(reqID(1), at(10).Unix(), "ns", "x"))
	withIDs := g.snapshot()
	bad := append([]byte(snapMagicV1), withIDs[len(snapMagic):len(withIDs)-7]...)
	bad = append(bad, crcOf(bad)...)
	if err := dst.s.Restore(bytes.NewReader(bad)); err == nil {
		t.Fatal("restored a v1 stream with request ids")
	}
}

// idStream is a snapshot stream with no keys and the given request ids,
// in the order given.
func idStream(magic string, index uint64, ids ...onceID) []byte {
	b := binary.BigEndian.AppendUint64([]byte(magic), index)
	for _, id := range ids {
		b = append(b, snapID)
		b = append(b, id.id[:]...)
		b = binary.AppendUvarint(b, uint64(id.deadline))
	}
	b = append(b, snapEnd, 0)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	b = append(b, 0, 0)
	return append(b, crcOf(b)...)
}

// Version 4 streams hold the ids in the order of their index (deadline,
// then id), version 3 streams in id order: each restores, each refuses
// the other's order, and the restored ids are recorded and known to the
// filter (a retry is a duplicate; a fresh id is not).
func TestRestoreIDOrder(t *testing.T) {
	db := openDB(t, "", false)
	early, late := onceID{reqID(9), at(10).Unix()}, onceID{reqID(1), at(20).Unix()}
	src := newGroup(t, db, "src")
	src.must(EncodeDeleteOnce(late.id, late.deadline, "ns", "a"), EncodeDeleteOnce(early.id, early.deadline, "ns", "a"))
	if got, want := src.snapshot(), idStream(snapMagic, 2, early, late); !bytes.Equal(got, want) {
		t.Fatalf("snapshot\n%x\nwant\n%x", got, want)
	}
	for i, c := range []struct {
		stream []byte
		ok     bool
	}{
		{idStream(snapMagic, 2, early, late), true},
		{idStream(snapMagicV3, 2, late, early), true},
		{idStream(snapMagic, 2, late, early), false},
		{idStream(snapMagicV3, 2, early, late), false},
		{idStream(snapMagic, 2, early, early), false},
	} {
		dst := newGroup(t, db, fmt.Sprintf("dst%d", i))
		err := dst.s.Restore(bytes.NewReader(c.stream))
		if (err == nil) != c.ok {
			t.Fatalf("restore %x: %v", c.stream, err)
		}
		if !c.ok {
			continue
		}
		if dst.hash() != src.hash() {
			t.Fatal("restored ids differ")
		}
		dst.next = src.next
		rs := dst.must(EncodeDeleteOnce(late.id, late.deadline, "ns", "a"), EncodeDeleteOnce(early.id, early.deadline, "ns", "a"),
			EncodeDeleteOnce(reqID(5), late.deadline, "ns", "a"), EncodeDeleteOnce(late.id, early.deadline, "ns", "a"))
		if !rs[0].Duplicate || !rs[1].Duplicate || rs[2].Duplicate || rs[3].Duplicate {
			t.Fatalf("after restore: %+v", rs)
		}
	}
}
