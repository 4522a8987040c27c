package kvsm

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// modelKV is what the state machine should hold: the reference the property
// test compares it with.
type modelKV struct {
	value, meta []byte
	exp         int64
}

type nsKey struct{ ns, key string }

type model map[nsKey]modelKV

func (m model) visible(k nsKey, now int64) (modelKV, bool) {
	e, ok := m[k]
	return e, ok && (e.exp == 0 || e.exp > now)
}

// expire mirrors the expire command: due keys in (expiration, namespace
// length, namespace, key) order, at most limit of them.
func (m model) expire(now int64, limit int) (int, bool) {
	var due []nsKey
	for k, e := range m {
		if e.exp != 0 && e.exp <= now {
			due = append(due, k)
		}
	}
	slices.SortFunc(due, func(a, b nsKey) int {
		return cmp.Or(cmp.Compare(m[a].exp, m[b].exp), cmp.Compare(len(a.ns), len(b.ns)), strings.Compare(a.ns, b.ns), strings.Compare(a.key, b.key))
	})
	more := len(due) > limit
	if more {
		due = due[:limit]
	}
	for _, k := range due {
		delete(m, k)
	}
	return len(due), more
}

// onceID is a request id with the deadline its commands carry: every
// attempt of one operation carries both, and the pair is what is recorded.
type onceID struct {
	id       [16]byte
	deadline int64
}

// idModel is the recorded request ids.
type idModel map[onceID]struct{}

// forget mirrors the forgetting of ids by the expire command: ids whose
// deadline is before now, in (deadline, id) order, at most limit of them.
func (ids idModel) forget(now int64, limit int) (int, bool) {
	var due []onceID
	for id := range ids {
		if id.deadline < now {
			due = append(due, id)
		}
	}
	slices.SortFunc(due, func(a, b onceID) int {
		return cmp.Or(cmp.Compare(a.deadline, b.deadline), bytes.Compare(a.id[:], b.id[:]))
	})
	more := len(due) > limit
	if more {
		due = due[:limit]
	}
	for _, id := range due {
		delete(ids, id)
	}
	return len(due), more
}

// once applies a command with request id id and its deadline: fn, unless
// the pair is recorded.
func (ids idModel) once(id [16]byte, deadline int64, op Op, fn func()) Result {
	k := onceID{id, deadline}
	if _, ok := ids[k]; ok {
		return Result{Op: op, Duplicate: true}
	}
	ids[k] = struct{}{}
	fn()
	return Result{Op: op}
}

var (
	modelNamespaces = []string{"a", "bb", "c-1"}
	modelKeys       = []string{"a", "ab", "abc", "b", "b/1", "b/2", "é", "z", "zz"}
	// base is the model's clock origin, in unix seconds.
	base = t0.Unix()
)

type step struct {
	cmd     []byte
	invalid bool
	apply   func(m model, ids idModel) Result // the expected result; nil for invalid
}

func drawStep(t *rapid.T, i int) step {
	ns := rapid.SampledFrom(modelNamespaces).Draw(t, "ns")
	key := rapid.SampledFrom(modelKeys).Draw(t, "key")
	switch kind := rapid.IntRange(0, 11).Draw(t, "kind"); {
	case kind <= 4:
		n := rapid.SampledFrom([]int{0, 1, 10, inlineMax, inlineMax + 1, 3 * inlineMax}).Draw(t, "len")
		value := bytes.Repeat([]byte{byte('a' + i%26)}, n)
		var meta []byte
		if rapid.Bool().Draw(t, "meta") {
			meta = fmt.Appendf(nil, `{"i":%d}`, i)
		}
		var exp int64
		if rapid.Bool().Draw(t, "expires") {
			exp = base + rapid.Int64Range(1, 100).Draw(t, "exp")
		}
		if rapid.IntRange(0, 2).Draw(t, "once") == 0 {
			id, deadline := drawID(t)
			return step{cmd: EncodePutOnce(id, deadline, ns, key, value, meta, exp), apply: func(m model, ids idModel) Result {
				return ids.once(id, deadline, OpPut, func() { m[nsKey{ns, key}] = modelKV{value: value, meta: meta, exp: exp} })
			}}
		}
		return step{cmd: EncodePut(ns, key, value, meta, exp), apply: func(m model, _ idModel) Result {
			m[nsKey{ns, key}] = modelKV{value: value, meta: meta, exp: exp}
			return Result{Op: OpPut}
		}}
	case kind <= 6:
		if rapid.IntRange(0, 2).Draw(t, "once") == 0 {
			id, deadline := drawID(t)
			return step{cmd: EncodeDeleteOnce(id, deadline, ns, key), apply: func(m model, ids idModel) Result {
				return ids.once(id, deadline, OpDelete, func() { delete(m, nsKey{ns, key}) })
			}}
		}
		return step{cmd: EncodeDelete(ns, key), apply: func(m model, _ idModel) Result {
			delete(m, nsKey{ns, key})
			return Result{Op: OpDelete}
		}}
	case kind <= 8:
		now := rapid.Int64Range(0, 110).Draw(t, "now")
		limit := rapid.IntRange(1, 4).Draw(t, "limit")
		return step{cmd: EncodeExpire(at(now), limit), apply: func(m model, ids idModel) Result {
			n, moreKeys := m.expire(base+now, limit)
			f, moreIDs := ids.forget(base+now, limit)
			return Result{Op: OpExpire, Expired: n, Forgotten: f, More: moreKeys || moreIDs}
		}}
	case kind <= 10:
		// A retry of a recent operation: the same id with a put or a
		// delete (what the client sends again is the same command; any
		// command with a recorded id is skipped).
		id, deadline := drawID(t)
		if rapid.Bool().Draw(t, "retry put") {
			return step{cmd: EncodePutOnce(id, deadline, ns, key, []byte("r"), nil, 0), apply: func(m model, ids idModel) Result {
				return ids.once(id, deadline, OpPut, func() { m[nsKey{ns, key}] = modelKV{value: []byte("r")} })
			}}
		}
		return step{cmd: EncodeDeleteOnce(id, deadline, ns, key), apply: func(m model, ids idModel) Result {
			return ids.once(id, deadline, OpDelete, func() { delete(m, nsKey{ns, key}) })
		}}
	}
	bad := rapid.SampledFrom([][]byte{
		EncodePut(ns, "..", nil, nil, 0),
		EncodePut(ns, key, nil, []byte("{"), 0),
		EncodePut(ns, key, nil, nil, -3),
		EncodePut("", key, nil, nil, 0),
		EncodeDelete(ns, ""),
		EncodeExpire(at(5), 0),
		{commandV1, byte(OpDelete), 200},
		EncodePutOnce(reqID(1), base+50, ns, "..", nil, nil, 0),
		EncodeDeleteOnce(reqID(2), 0, ns, key),
		EncodeDeleteOnce([16]byte{}, base+50, ns, key),
	}).Draw(t, "bad")
	return step{cmd: bad, invalid: true}
}

// drawID draws a request id from a small pool, so that ids repeat, and a
// deadline from a few in the model's time range, so that pairs of both
// repeat too and the same id comes with different deadlines.
func drawID(t *rapid.T) ([16]byte, int64) {
	return reqID(byte(rapid.IntRange(1, 4).Draw(t, "id"))), base + rapid.SampledFrom([]int64{1, 30, 31, 60, 100}).Draw(t, "deadline")
}

// checkSame compares every namespace of the store, read at now, with the
// model at the later of now and floor (the latest time of an expire
// command applied), with Get and with List at a random limit.
func checkSame(t *rapid.T, s *Store, m model, now, floor int64) {
	t.Helper()
	if s.Floor() != floor {
		t.Fatalf("floor %d, want %d", s.Floor(), floor)
	}
	seen := max(now, floor)
	for _, ns := range modelNamespaces {
		var want []Key
		for k := range m {
			if e, ok := m.visible(k, seen); ok && k.ns == ns {
				want = append(want, Key{Name: k.key, Expiration: e.exp, Metadata: e.meta})
			}
		}
		slices.SortFunc(want, func(a, b Key) int { return strings.Compare(a.Name, b.Name) })
		limit := rapid.IntRange(0, 4).Draw(t, "list limit")
		prefix := rapid.SampledFrom([]string{"", "a", "b/", "z"}).Draw(t, "list prefix")
		var wantP []Key
		for _, k := range want {
			if strings.HasPrefix(k.Name, prefix) {
				wantP = append(wantP, k)
			}
		}
		got := listAll(t, s, ns, prefix, limit, at(now-base))
		if !slices.EqualFunc(got, wantP, func(a, b Key) bool {
			return a.Name == b.Name && a.Expiration == b.Expiration && bytes.Equal(a.Metadata, b.Metadata)
		}) {
			t.Fatalf("List(%s, prefix %q, limit %d, now %d) = %v, want %v", ns, prefix, limit, now-base, got, wantP)
		}
		for _, key := range modelKeys {
			v, err := s.Get(ns, key, at(now-base))
			e, ok := m.visible(nsKey{ns, key}, seen)
			_, byFloor := m.visible(nsKey{ns, key}, floor)
			switch {
			case !ok && !errors.Is(err, ErrNotFound):
				t.Fatalf("Get(%s, %q) = %v, %v; want not found", ns, key, v, err)
			case !ok && errors.Is(err, ErrExpiredByClock) != byFloor:
				t.Fatalf("Get(%s, %q) = %v; visible by the floor alone: %v", ns, key, err, byFloor)
			case ok && (err != nil || !bytes.Equal(v.Value, e.value) || !bytes.Equal(v.Metadata, e.meta) || v.Expiration != e.exp):
				t.Fatalf("Get(%s, %q) = %+v, %v; want %+v", ns, key, v, err, e)
			}
		}
	}
}

// TestModel applies random command sequences, in random batches, to a
// Store and to a map, and checks they agree: results (duplicates of request
// ids included, which the request id filter must never miss), Get and
// List at random times, the expiration index, blobs and recorded ids, and
// that snapshot → restore into a fresh prefix, or a reopened Store, gives
// the same hash and contents.
func TestModel(t *testing.T) {
	db := openDB(t, "", false)
	var groups int
	fresh := func(t *rapid.T) *group {
		groups++
		return newGroup(t, db, fmt.Sprintf("m%06d", groups))
	}
	rapid.Check(t, func(t *rapid.T) {
		g := fresh(t)
		m := model{}
		ids := idModel{}
		var floor int64
		steps := 0
		t.Repeat(map[string]func(*rapid.T){
			"batch": func(t *rapid.T) {
				n := rapid.IntRange(1, 8).Draw(t, "batch size")
				var cmds [][]byte
				var want []Result
				for range n {
					st := drawStep(t, steps)
					steps++
					cmds = append(cmds, st.cmd)
					if st.invalid {
						want = append(want, Result{})
					} else {
						want = append(want, st.apply(m, ids))
						if c, err := DecodeCommand(st.cmd); err == nil && c.Op == OpExpire {
							floor = max(floor, c.Now)
						}
					}
				}
				got := g.apply(cmds...)
				for i := range got {
					if w := want[i]; w.Op == OpInvalid {
						if !errors.Is(got[i].Err, ErrInvalid) {
							t.Fatalf("command %d: %+v, want ErrInvalid", i, got[i])
						}
					} else if got[i].Err != nil || got[i].Op != w.Op || got[i].Expired != w.Expired || got[i].More != w.More ||
						got[i].Duplicate != w.Duplicate || got[i].Forgotten != w.Forgotten {
						t.Fatalf("command %d: %+v, want %+v", i, got[i], w)
					}
				}
			},
			"read": func(t *rapid.T) {
				checkSame(t, g.s, m, base+rapid.Int64Range(0, 110).Draw(t, "read now"), floor)
			},
			"reopen": func(t *rapid.T) {
				// A restart: the request id filter is rebuilt from badger.
				s, err := Open(db, g.s.l.prefix)
				if err != nil {
					t.Fatal(err)
				}
				g.s = s
			},
			"replay": func(t *rapid.T) {
				if g.next == 1 {
					t.Skip("nothing applied")
				}
				old := rapid.Uint64Range(1, g.next-1).Draw(t, "old index")
				if r := g.s.Apply(Entry{Index: old, Data: EncodeDelete("a", "a")}); !r.Skipped {
					t.Fatalf("replayed %d: %+v", old, r)
				}
			},
			"snapshot": func(t *rapid.T) {
				h := g.hash()
				g2 := fresh(t)
				if err := g2.s.Restore(bytes.NewReader(g.snapshot())); err != nil {
					t.Fatal(err)
				}
				if g2.hash() != h || g2.s.Applied() != g.s.Applied() {
					t.Fatalf("restored: hash equal %v, applied %d vs %d", g2.hash() == h, g2.s.Applied(), g.s.Applied())
				}
				g2.next = g.next
				if rapid.Bool().Draw(t, "switch") {
					g = g2 // go on with the restored replica
				}
			},
			"": func(t *rapid.T) {
				var exps, blobs int
				for _, e := range m {
					exps += btoi(e.exp != 0)
					blobs += btoi(len(e.value) > inlineMax)
				}
				if n := countKeys(t, g.s, tagData); n != len(m) {
					t.Fatalf("%d records, model has %d", n, len(m))
				}
				if n := countKeys(t, g.s, tagExpiry); n != exps {
					t.Fatalf("%d expiration index entries, want %d", n, exps)
				}
				if n := countKeys(t, g.s, tagBlob); n != blobs {
					t.Fatalf("%d blobs, want %d", n, blobs)
				}
				if n := countKeys(t, g.s, tagIDIndex); n != len(ids) {
					t.Fatalf("%d request ids, want %d", n, len(ids))
				}
			},
		})
		checkSame(t, g.s, m, base, floor)
	})
}
