package kvsm

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

const objA = "worker\x00Counter\x00" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func ms(v int64) *int64 { return &v }

// applyAt applies commands as one batch at fresh indices, in log entries
// of term term.
func (g *group) applyAt(term uint64, cmds ...[]byte) []Result {
	g.t.Helper()
	es := make([]Entry, len(cmds))
	for i, c := range cmds {
		es[i] = Entry{Index: g.next, Term: term, Data: c}
		g.next++
	}
	rs := g.s.ApplyBatch(es)
	for _, r := range rs {
		if errors.Is(r.Err, ErrStorage) {
			g.t.Fatalf("entry %d: %v", r.Index, r.Err)
		}
	}
	return rs
}

func (g *group) objGet(obj string, keys ...string) map[string]string {
	g.t.Helper()
	m, err := g.s.ObjectGet(obj, keys)
	if err != nil {
		g.t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func (g *group) objList(obj string, opts ObjectListOptions) []string {
	g.t.Helper()
	es, err := g.s.ObjectList(obj, opts)
	if err != nil {
		g.t.Fatal(err)
	}
	out := []string{}
	for _, e := range es {
		out = append(out, e.Key+"="+string(e.Value))
	}
	return out
}

func TestObjectBatch(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "o1")
	puts := func(kv ...string) []ObjectPut {
		var ps []ObjectPut
		for i := 0; i < len(kv); i += 2 {
			ps = append(ps, ObjectPut{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return ps
	}
	rs := g.applyAt(5, EncodeObjectBatch(5, objA, &ObjectBatch{Puts: puts("a", "1", "b", "2", "c", "3", "", "empty")}))
	if rs[0].Err != nil || rs[0].Op != OpObject {
		t.Fatalf("%+v", rs[0])
	}
	if got := g.objGet(objA, "a", "b", "x", ""); !maps.Equal(got, map[string]string{"a": "1", "b": "2", "": "empty"}) {
		t.Fatalf("get: %v", got)
	}
	// Another object's keys never mix with this one's, nor do KV keys.
	g.applyAt(5, EncodeObjectBatch(5, objA+"x", &ObjectBatch{Puts: puts("a", "other")}), EncodePut("ns", "a", []byte("kv"), nil, 0))
	if got := g.objList(objA, ObjectListOptions{}); !slices.Equal(got, []string{"=empty", "a=1", "b=2", "c=3"}) {
		t.Fatalf("list: %v", got)
	}

	// deleteAll, puts and deletes in one batch: all or nothing, in order.
	rs = g.applyAt(5, EncodeObjectBatch(5, objA, &ObjectBatch{DeleteAll: true, Puts: puts("d", "4", "e", "5"), Deletes: []string{"e", "a"}}))
	if rs[0].Err != nil {
		t.Fatal(rs[0].Err)
	}
	if got := g.objList(objA, ObjectListOptions{}); !slices.Equal(got, []string{"d=4"}) {
		t.Fatalf("after deleteAll: %v", got)
	}
	if got := g.objList(objA+"x", ObjectListOptions{}); !slices.Equal(got, []string{"a=other"}) {
		t.Fatalf("the other object: %v", got)
	}
	// The old generation is garbage until expire collects it.
	if n := countKeys(t, g.s, tagObjData); n != 6 {
		t.Fatalf("%d object keys before collection, want 6", n)
	}
	rs = g.must(EncodeExpire(t0, 2))
	if rs[0].Collected != 2 || !rs[0].More {
		t.Fatalf("expire with limit 2: %+v", rs[0])
	}
	rs = g.must(EncodeExpire(t0, 10))
	if rs[0].Collected != 3 || rs[0].More { // two keys and the mark
		t.Fatalf("expire: %+v", rs[0])
	}
	if n, m := countKeys(t, g.s, tagObjData), countKeys(t, g.s, tagObjGarbage); n != 2 || m != 0 {
		t.Fatalf("%d object keys and %d marks after collection", n, m)
	}
	// deleteAll of an empty object changes nothing.
	g.applyAt(5, EncodeObjectBatch(5, objA+"y", &ObjectBatch{DeleteAll: true}))
	if n := countKeys(t, g.s, tagObjGen); n != 1 {
		t.Fatalf("%d generations", n)
	}

	// Alarms.
	g.applyAt(5, EncodeObjectBatch(5, objA, &ObjectBatch{Alarm: ms(2000)}), EncodeObjectBatch(5, objA+"x", &ObjectBatch{Alarm: ms(1000)}))
	if at, err := g.s.ObjectAlarm(objA); err != nil || at != 2000 {
		t.Fatalf("alarm: %d, %v", at, err)
	}
	due := func(now int64, limit int) []DueAlarm {
		d, err := g.s.DueAlarms(now, limit)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	next := func() (int64, bool) {
		at, ok, err := g.s.NextAlarm()
		if err != nil {
			t.Fatal(err)
		}
		return at, ok
	}
	if at, ok := next(); !ok || at != 1000 {
		t.Fatalf("next alarm: %d %v, want 1000", at, ok)
	}
	if d := due(1500, 10); !slices.Equal(d, []DueAlarm{{objA + "x", 1000}}) {
		t.Fatalf("due at 1500: %v", d)
	}
	if d := due(2000, 10); !slices.Equal(d, []DueAlarm{{objA + "x", 1000}, {objA, 2000}}) {
		t.Fatalf("due at 2000: %v", d)
	}
	if d := due(2000, 1); len(d) != 1 {
		t.Fatalf("limit 1: %v", d)
	}
	// Moving an alarm moves its index entry; 0 deletes it.
	g.applyAt(5, EncodeObjectBatch(5, objA+"x", &ObjectBatch{Alarm: ms(3000)}), EncodeObjectBatch(5, objA, &ObjectBatch{Alarm: ms(0)}))
	if d := due(2999, 10); len(d) != 0 {
		t.Fatalf("due at 2999: %v", d)
	}
	if at, ok := next(); !ok || at != 3000 {
		t.Fatalf("next alarm after the moves: %d %v, want 3000", at, ok)
	}
	g.applyAt(5, EncodeObjectBatch(5, objA+"x", &ObjectBatch{Alarm: ms(0)}))
	if at, ok := next(); ok {
		t.Fatalf("next alarm with none set: %d", at)
	}
	g.applyAt(5, EncodeObjectBatch(5, objA+"x", &ObjectBatch{Alarm: ms(3000)}))
	if at, _ := g.s.ObjectAlarm(objA); at != 0 {
		t.Fatalf("deleted alarm: %d", at)
	}
	if n, m := countKeys(t, g.s, tagAlarm), countKeys(t, g.s, tagAlarmIndex); n != 1 || m != 1 {
		t.Fatalf("%d alarms, %d index entries", n, m)
	}
}

// A batch whose epoch is not its entry's term is rejected whole.
func TestObjectStaleEpoch(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "o2")
	g.applyAt(3, EncodeObjectBatch(3, objA, &ObjectBatch{Puts: []ObjectPut{{"a", []byte("1")}}}))
	h := g.hash()
	rs := g.applyAt(4, EncodeObjectBatch(3, objA, &ObjectBatch{DeleteAll: true, Puts: []ObjectPut{{"b", []byte("2")}}, Alarm: ms(9)}))
	if !errors.Is(rs[0].Err, ErrStaleOwner) || errors.Is(rs[0].Err, ErrInvalid) {
		t.Fatalf("%+v", rs[0])
	}
	if g.s.Applied() != rs[0].Index {
		t.Fatal("a rejected batch does not count as applied")
	}
	// Only the applied index moved: the hash covers it, so compare data.
	if got := g.objList(objA, ObjectListOptions{}); !slices.Equal(got, []string{"a=1"}) {
		t.Fatalf("after a stale batch: %v", got)
	}
	if at, _ := g.s.ObjectAlarm(objA); at != 0 || h == [32]byte{} {
		t.Fatalf("alarm %d", at)
	}
	if HTTPStatus(rs[0].Err) != 409 {
		t.Fatal(HTTPStatus(rs[0].Err))
	}
}

func TestObjectLimits(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "o3")
	big := bytes.Repeat([]byte("v"), MaxStorageValueLen)
	for _, tc := range []struct {
		name string
		obj  string
		b    ObjectBatch
		ok   bool
	}{
		{"largest value", objA, ObjectBatch{Puts: []ObjectPut{{"k", big}}}, true},
		{"longest key", objA, ObjectBatch{Puts: []ObjectPut{{strings.Repeat("k", MaxStorageKeyLen), nil}}}, true},
		{"value too large", objA, ObjectBatch{Puts: []ObjectPut{{"k", append(big, 0)}}}, false},
		{"key too long", objA, ObjectBatch{Deletes: []string{strings.Repeat("k", MaxStorageKeyLen+1)}}, false},
		{"empty object key", "", ObjectBatch{}, false},
		{"object key too long", strings.Repeat("o", MaxObjectKeyLen+1), ObjectBatch{}, false},
		{"negative alarm", objA, ObjectBatch{Alarm: ms(-1)}, false},
		{"too many keys", objA, ObjectBatch{Deletes: make([]string, MaxObjectBatchKeys+1)}, false},
		{"most keys", objA, ObjectBatch{Deletes: make([]string, MaxObjectBatchKeys)}, true},
		{"too many bytes", objA, ObjectBatch{Puts: slices.Repeat([]ObjectPut{{"k", big}}, MaxObjectBatchBytes/len(big)+1)}, false},
	} {
		err := ValidateObjectBatch(tc.obj, &tc.b)
		r := g.applyAt(1, EncodeObjectBatch(1, tc.obj, &tc.b))[0]
		if tc.ok != (err == nil) || tc.ok != (r.Err == nil) || !tc.ok && !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("%s: validate %v, apply %v", tc.name, err, r.Err)
		}
	}
	// The largest batch, of most keys and most bytes with the longest
	// object key, fits the smallest transaction Open allows.
	obj := strings.Repeat("o", MaxObjectKeyLen)
	var b ObjectBatch
	per := MaxObjectBatchBytes / MaxObjectBatchKeys
	for i := range MaxObjectBatchKeys {
		k := fmt.Sprintf("%08d", i)
		b.Puts = append(b.Puts, ObjectPut{k, make([]byte, per-len(k))})
	}
	if err := ValidateObjectBatch(obj, &b); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, "", false)
	if db.MaxBatchSize() > 3<<20 {
		t.Fatalf("the test DB's batch size %d is not near the minimum", db.MaxBatchSize())
	}
	g2 := newGroup(t, db, "big")
	if r := g2.applyAt(1, EncodeObjectBatch(1, obj, &b), EncodeObjectBatch(1, obj, &ObjectBatch{DeleteAll: true, Deletes: b.Deletes})); r[0].Err != nil || r[1].Err != nil {
		t.Fatalf("%v, %v", r[0].Err, r[1].Err)
	}
	if n := countKeys(t, g2.s, tagObjData); n != MaxObjectBatchKeys {
		t.Fatalf("%d keys", n)
	}
	for {
		r := g2.must(EncodeExpire(t0, MaxExpireLimit))[0]
		if !r.More {
			break
		}
	}
	if n := countKeys(t, g2.s, tagObjData); n != 0 {
		t.Fatalf("%d keys after collection", n)
	}
}

// objModel is one object's storage.
type objModel map[string]string

func (m objModel) list(o ObjectListOptions) []string {
	var keys []string
	for k := range m {
		if !strings.HasPrefix(k, o.Prefix) || k < o.Start || o.StartAfter != "" && k <= o.StartAfter || o.End != "" && k >= o.End {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if o.Reverse {
		slices.Reverse(keys)
	}
	if o.Limit > 0 && len(keys) > o.Limit {
		keys = keys[:o.Limit]
	}
	out := []string{}
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return out
}

func drawStorageKey(t *rapid.T, label string) string {
	return rapid.SampledFrom([]string{"", "a", "ab", "abc", "b", "b\x00", "b\x00c", "ba", "\xff", "\xff\xff", "é", "z"}).Draw(t, label)
}

// TestObjectModel: batches, lists, stale epochs, expire's collection and
// snapshots agree with a map per object.
func TestObjectModel(t *testing.T) {
	db := openDB(t, "", false)
	var groups int
	fresh := func(t *rapid.T) *group {
		groups++
		return newGroup(t, db, fmt.Sprintf("om%05d", groups))
	}
	objs := []string{objA, objA + "2", "o"}
	rapid.Check(t, func(t *rapid.T) {
		g := fresh(t)
		m := map[string]objModel{}
		alarms := map[string]int64{}
		for _, o := range objs {
			m[o] = objModel{}
		}
		var term uint64 = 1
		t.Repeat(map[string]func(*rapid.T){
			"batch": func(t *rapid.T) {
				obj := rapid.SampledFrom(objs).Draw(t, "object")
				var b ObjectBatch
				b.DeleteAll = rapid.IntRange(0, 5).Draw(t, "deleteAll") == 0
				for range rapid.IntRange(0, 4).Draw(t, "puts") {
					b.Puts = append(b.Puts, ObjectPut{drawStorageKey(t, "put"), []byte(rapid.StringN(0, 3, 3).Draw(t, "value"))})
				}
				for range rapid.IntRange(0, 2).Draw(t, "deletes") {
					b.Deletes = append(b.Deletes, drawStorageKey(t, "delete"))
				}
				if rapid.Bool().Draw(t, "alarm?") {
					b.Alarm = ms(rapid.Int64Range(0, 5).Draw(t, "alarm"))
				}
				stale := rapid.IntRange(0, 4).Draw(t, "stale") == 0
				epoch := term
				if stale {
					epoch = term - 1
				}
				r := g.applyAt(term, EncodeObjectBatch(epoch, obj, &b))[0]
				if stale {
					if !errors.Is(r.Err, ErrStaleOwner) {
						t.Fatalf("stale batch: %+v", r)
					}
					return
				}
				if r.Err != nil {
					t.Fatalf("%+v", r)
				}
				om := m[obj]
				if b.DeleteAll {
					clear(om)
				}
				for _, p := range b.Puts {
					om[p.Key] = string(p.Value)
				}
				for _, k := range b.Deletes {
					delete(om, k)
				}
				if b.Alarm != nil {
					if *b.Alarm == 0 {
						delete(alarms, obj)
					} else {
						alarms[obj] = *b.Alarm
					}
				}
			},
			"term": func(t *rapid.T) { term++ },
			"list": func(t *rapid.T) {
				obj := rapid.SampledFrom(objs).Draw(t, "object")
				o := ObjectListOptions{Reverse: rapid.Bool().Draw(t, "reverse"), Limit: rapid.IntRange(0, 4).Draw(t, "limit")}
				if rapid.Bool().Draw(t, "start?") {
					o.Start = drawStorageKey(t, "start")
				}
				if rapid.Bool().Draw(t, "startAfter?") {
					o.StartAfter = drawStorageKey(t, "startAfter")
				}
				if rapid.Bool().Draw(t, "end?") {
					o.End = drawStorageKey(t, "end")
				}
				if rapid.Bool().Draw(t, "prefix?") {
					o.Prefix = drawStorageKey(t, "prefix")
				}
				if got, want := g.objList(obj, o), m[obj].list(o); !slices.Equal(got, want) {
					t.Fatalf("list %+v: %q, want %q", o, got, want)
				}
			},
			"get": func(t *rapid.T) {
				obj := rapid.SampledFrom(objs).Draw(t, "object")
				keys := []string{drawStorageKey(t, "k1"), drawStorageKey(t, "k2")}
				want := map[string]string{}
				for _, k := range keys {
					if v, ok := m[obj][k]; ok {
						want[k] = v
					}
				}
				if got := g.objGet(obj, keys...); !maps.Equal(got, want) {
					t.Fatalf("get %q: %v, want %v", keys, got, want)
				}
			},
			"expire": func(t *rapid.T) {
				g.must(EncodeExpire(t0, rapid.IntRange(1, 3).Draw(t, "limit")))
			},
			"snapshot": func(t *rapid.T) {
				h := g.hash()
				g2 := fresh(t)
				if err := g2.s.Restore(bytes.NewReader(g.snapshot())); err != nil {
					t.Fatal(err)
				}
				if g2.hash() != h {
					t.Fatal("restored hash differs")
				}
				g2.next = g.next
				g = g2
			},
			"": func(t *rapid.T) {
				for _, o := range objs {
					if got, want := g.objList(o, ObjectListOptions{}), m[o].list(ObjectListOptions{}); !slices.Equal(got, want) {
						t.Fatalf("%q: %q, want %q", o, got, want)
					}
					if at, err := g.s.ObjectAlarm(o); err != nil || at != alarms[o] {
						t.Fatalf("alarm of %q: %d, %v; want %d", o, at, err, alarms[o])
					}
				}
				due, err := g.s.DueAlarms(3, 100)
				if err != nil {
					t.Fatal(err)
				}
				want := 0
				for _, at := range alarms {
					want += btoi(at <= 3)
				}
				if len(due) != want || countKeys(t, g.s, tagAlarmIndex) != len(alarms) {
					t.Fatalf("due %v, alarms %v", due, alarms)
				}
			},
		})
	})
}

// A version 2 snapshot (before objects) restores; objects in one are
// refused.
func TestRestoreV2Snapshot(t *testing.T) {
	db := openDB(t, "", false)
	src := newGroup(t, db, "src")
	src.must(EncodePut("ns", "a", []byte("1"), nil, 0), EncodeDeleteOnce(reqID(1), at(10).Unix(), "ns", "x"))
	v3 := src.snapshot()
	v2 := append([]byte(snapMagicV2), v3[len(snapMagic):len(v3)-6]...)
	v2 = append(v2, crcOf(v2)...)
	dst := newGroup(t, db, "dst")
	dst.applyAt(0, EncodeObjectBatch(0, objA, &ObjectBatch{Puts: []ObjectPut{{"k", nil}}, Alarm: ms(5)}))
	if err := dst.s.Restore(bytes.NewReader(v2)); err != nil {
		t.Fatal(err)
	}
	if dst.hash() != src.hash() || countKeys(t, dst.s, tagObjData) != 0 || countKeys(t, dst.s, tagAlarmIndex) != 0 {
		t.Fatal("v2 restore differs")
	}
	withObj := dst
	withObj.next = dst.s.Applied() + 1
	withObj.applyAt(0, EncodeObjectBatch(0, objA, &ObjectBatch{Puts: []ObjectPut{{"k", nil}}}))
	s := withObj.snapshot()
	bad := append([]byte(snapMagicV2), s[len(snapMagic):len(s)-6]...)
	bad = append(bad, crcOf(bad)...)
	g := newGroup(t, db, "bad")
	if err := g.s.Restore(bytes.NewReader(bad)); err == nil {
		t.Fatal("restored a v2 stream with objects")
	}
}

// BenchmarkObjectBatch applies object batches of one 100-byte put, one
// entry per transaction, as a group applies them under light load.
func BenchmarkObjectBatch(b *testing.B) {
	g := newGroup(b, openDB(b, "", false), "bench")
	value := make([]byte, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		cmd := EncodeObjectBatch(1, objA, &ObjectBatch{Puts: []ObjectPut{{keyN(i % 1000), value}}})
		if r := g.s.Apply(Entry{Index: g.next, Term: 1, Data: cmd}); r.Err != nil {
			b.Fatal(r.Err)
		}
		g.next++
	}
}

// TestObjectListBounded: a list reads at most MaxObjectListBytes of keys
// and values into memory; past it the list fails (ErrInvalid) rather than
// hold all of an object's storage, which has no bound of its own. A limit
// or a range that selects less still lists.
func TestObjectListBounded(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "o1")
	value := bytes.Repeat([]byte("v"), 128<<10)
	const perBatch = 7 // 7 × 128 KiB fit a batch of 1 MiB
	n := 0
	for n*len(value) <= MaxObjectListBytes {
		var b ObjectBatch
		for range perBatch {
			b.Puts = append(b.Puts, ObjectPut{Key: keyN(n), Value: value})
			n++
		}
		if r := g.applyAt(1, EncodeObjectBatch(1, objA, &b))[0]; r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for _, reverse := range []bool{false, true} {
		es, err := g.s.ObjectList(objA, ObjectListOptions{Reverse: reverse})
		if !errors.Is(err, ErrInvalid) || HTTPStatus(err) != 413 {
			t.Fatalf("reverse %v: list of %d keys of %d bytes: %d entries, %v; want ErrInvalid (413)", reverse, n, len(value), len(es), err)
		}
	}
	es, err := g.s.ObjectList(objA, ObjectListOptions{Limit: 10, Reverse: true})
	if err != nil || len(es) != 10 || es[0].Key != keyN(n-1) {
		t.Fatalf("list with a limit: %d entries, %v", len(es), err)
	}
	if es, err := g.s.ObjectList(objA, ObjectListOptions{Start: keyN(n - 20)}); err != nil || len(es) != 20 {
		t.Fatalf("list of a range: %d entries, %v", len(es), err)
	}
	// Tiny entries count for their overhead too: a million empty values
	// under keys of 8 bytes.
	const objB = objA + "b"
	tiny := 0
	for tiny < 1_000_000 {
		var b ObjectBatch
		for range MaxObjectBatchKeys {
			b.Puts = append(b.Puts, ObjectPut{Key: fmt.Sprintf("t%07d", tiny), Value: []byte{}})
			tiny++
		}
		if r := g.applyAt(1, EncodeObjectBatch(1, objB, &b))[0]; r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if es, err := g.s.ObjectList(objB, ObjectListOptions{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("list of %d empty values: %d entries, %v; want ErrInvalid", tiny, len(es), err)
	}
}

// TestObjectListBoundedEscaped: a list's keys count as JSON writes them,
// escaped, which is how the answer reaches the Worker (and must fit its
// 64 MiB frame): 8000 keys of 2000 '<' (6 bytes each escaped: 96 MB of
// JSON from 16 MB of keys) exceed MaxObjectListBytes. Before, the list
// passed, and the node built hundreds of MB of JSON for a frame the
// sandbox then refused.
func TestObjectListBoundedEscaped(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "o1")
	prefix := strings.Repeat("<", 2000)
	n := 0
	for n < 8000 {
		var b ObjectBatch
		for range 400 {
			b.Puts = append(b.Puts, ObjectPut{Key: fmt.Sprintf("%s%05d", prefix, n), Value: []byte{1}})
			n++
		}
		if r := g.applyAt(1, EncodeObjectBatch(1, objA, &b))[0]; r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	if es, err := g.s.ObjectList(objA, ObjectListOptions{}); !errors.Is(err, ErrInvalid) || HTTPStatus(err) != 413 {
		t.Fatalf("list of %d keys of 2005 bytes, mostly '<': %d entries, %v; want ErrInvalid (413)", n, len(es), err)
	}
	if es, err := g.s.ObjectList(objA, ObjectListOptions{Limit: 1000}); err != nil || len(es) != 1000 {
		t.Fatalf("the same with a limit of 1000: %d entries, %v", len(es), err)
	}
	for _, c := range []struct {
		s    string
		want int
	}{{"abc", 3}, {"é", 2}, {`"\`, 4}, {"\n\t", 4}, {"\x00\x1f", 12}, {"<>&", 18}, {"\xff", 6}, {"\u2028", 6}} {
		if got := jsonLen(c.s); got < c.want {
			t.Errorf("jsonLen(%q) = %d, want at least %d", c.s, got, c.want)
		}
	}
}
