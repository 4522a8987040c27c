package kvsm

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/goleak"
	"pgregory.net/rapid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openDB opens a badger DB in dir (a new temporary one if ""), closed at the
// test's end.
func openDB(t testing.TB, dir string, sync bool) *badger.DB {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	opts := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithValueLogFileSize(64 << 20).
		WithSyncWrites(sync).
		WithMemTableSize(16 << 20).
		WithNumCompactors(2).
		WithBlockCacheSize(8 << 20)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// group is a Store with the next index to apply at.
type group struct {
	t    rapid.TB
	s    *Store
	next uint64
}

func newGroup(t rapid.TB, db *badger.DB, prefix string) *group {
	t.Helper()
	s, err := Open(db, []byte(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return &group{t: t, s: s, next: s.Applied() + 1}
}

// apply applies commands as one batch at fresh indices.
func (g *group) apply(cmds ...[]byte) []Result {
	g.t.Helper()
	es := make([]Entry, len(cmds))
	for i, c := range cmds {
		es[i] = Entry{Index: g.next, Data: c}
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

// must applies commands and fails on any rejected one.
func (g *group) must(cmds ...[]byte) []Result {
	g.t.Helper()
	rs := g.apply(cmds...)
	for _, r := range rs {
		if r.Err != nil || r.Skipped {
			g.t.Fatalf("entry %d: %+v", r.Index, r)
		}
	}
	return rs
}

func (g *group) hash() [32]byte {
	g.t.Helper()
	h, err := g.s.Hash()
	if err != nil {
		g.t.Fatal(err)
	}
	return h
}

func (g *group) snapshot() []byte {
	g.t.Helper()
	sn, err := g.s.Snapshot()
	if err != nil {
		g.t.Fatal(err)
	}
	defer sn.Close()
	var b bytes.Buffer
	n, err := sn.WriteTo(&b)
	if err != nil || n != int64(b.Len()) {
		g.t.Fatalf("WriteTo = %d, %v (wrote %d)", n, err, b.Len())
	}
	return b.Bytes()
}

// listAll pages through a namespace and returns every key.
func listAll(t rapid.TB, s *Store, ns, prefix string, limit int, now time.Time) []Key {
	t.Helper()
	var keys []Key
	opts := ListOptions{Prefix: prefix, Limit: limit}
	for pages := 0; ; pages++ {
		if pages > 100000 {
			t.Fatal("list does not end")
		}
		res, err := s.List(ns, opts, now)
		if err != nil {
			t.Fatal(err)
		}
		if limit > 0 && len(res.Keys) > limit || len(res.Keys) > MaxListLimit {
			t.Fatalf("page of %d keys, limit %d", len(res.Keys), limit)
		}
		keys = append(keys, res.Keys...)
		if res.ListComplete {
			if res.Cursor != "" {
				t.Fatalf("complete page with cursor %q", res.Cursor)
			}
			return keys
		}
		if res.Cursor == "" {
			t.Fatal("incomplete page without cursor")
		}
		opts.Cursor = res.Cursor
	}
}

func names(keys []Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.Name
	}
	return out
}

var t0 = time.Unix(1_700_000_000, 0)

func at(sec int64) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func keyN(i int) string { return fmt.Sprintf("k%05d", i) }
