package kvsm

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"pgregory.net/rapid"
)

func TestPutGetDelete(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	exp := at(3600).Unix()
	g.must(
		EncodePut("ns", "a", []byte("one"), []byte(`{"n":1}`), 0),
		EncodePut("ns", "b", []byte("two"), nil, exp),
		EncodePut("ns", "e", nil, nil, 0),
	)
	if got := g.s.Applied(); got != 3 {
		t.Fatalf("Applied = %d", got)
	}
	for _, c := range []struct {
		key  string
		want Value
	}{
		{"a", Value{Value: []byte("one"), Metadata: []byte(`{"n":1}`)}},
		{"b", Value{Value: []byte("two"), Expiration: exp}},
		{"e", Value{Value: []byte{}}},
	} {
		v, err := g.s.Get("ns", c.key, t0)
		if err != nil || !bytes.Equal(v.Value, c.want.Value) || !bytes.Equal(v.Metadata, c.want.Metadata) || v.Expiration != c.want.Expiration || v.Value == nil {
			t.Errorf("Get(%q) = %+v, %v; want %+v", c.key, v, err, c.want)
		}
	}
	// Overwrite replaces value, metadata and expiration together.
	g.must(EncodePut("ns", "a", []byte("uno"), nil, exp))
	if v, err := g.s.Get("ns", "a", t0); err != nil || string(v.Value) != "uno" || v.Metadata != nil || v.Expiration != exp {
		t.Fatalf("after overwrite: %+v, %v", v, err)
	}
	// Same key in another namespace is another key.
	if _, err := g.s.Get("other", "a", t0); !errors.Is(err, ErrNotFound) || HTTPStatus(err) != http.StatusNotFound {
		t.Fatalf("other namespace: %v", err)
	}
	g.must(EncodeDelete("ns", "a"), EncodeDelete("ns", "missing"))
	if _, err := g.s.Get("ns", "a", t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if got := names(listAll(t, g.s, "ns", "", 0, t0)); !slices.Equal(got, []string{"b", "e"}) {
		t.Fatalf("keys = %q", got)
	}
}

// countKeys counts the badger keys of a group under one tag.
func countKeys(t rapid.TB, s *Store, tag byte) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		p := s.l.tag(tag)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Seek(p); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLargeValues(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	big := bytes.Repeat([]byte("x"), 3<<20)
	for _, n := range []int{inlineMax, inlineMax + 1, len(big)} {
		g.must(EncodePut("ns", "k", big[:n], []byte(`"m"`), at(100).Unix()))
		v, err := g.s.Get("ns", "k", t0)
		if err != nil || len(v.Value) != n || string(v.Metadata) != `"m"` {
			t.Fatalf("value of %d bytes: got %d, %v", n, len(v.Value), err)
		}
		if got, want := countKeys(t, g.s, tagBlob), btoi(n > inlineMax); got != want {
			t.Fatalf("value of %d bytes: %d blobs, want %d", n, got, want)
		}
	}
	g.must(EncodePut("ns", "k", []byte("small"), nil, 0))
	if countKeys(t, g.s, tagBlob) != 0 || countKeys(t, g.s, tagExpiry) != 0 {
		t.Fatal("overwrite with a small value left a blob or an index entry")
	}
	g.must(EncodePut("ns", "k", big, nil, at(100).Unix()), EncodeDelete("ns", "k"))
	for _, tag := range []byte{tagData, tagBlob, tagExpiry} {
		if n := countKeys(t, g.s, tag); n != 0 {
			t.Fatalf("after delete: %d keys under %q", n, tag)
		}
	}
	g.must(EncodePut("ns", "k", big, nil, at(100).Unix()), EncodeExpire(at(100), 10))
	for _, tag := range []byte{tagData, tagBlob, tagExpiry} {
		if n := countKeys(t, g.s, tag); n != 0 {
			t.Fatalf("after expire: %d keys under %q", n, tag)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestListOrderAndPrefix(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	keys := []string{"b", "é", "a", ", ", "!", "ab", "a/b", "a/c", "A"}
	var cmds [][]byte
	for _, k := range keys {
		cmds = append(cmds, EncodePut("ns", k, []byte(k), []byte(`{"k":"`+k+`"}`), at(int64(len(k))*100).Unix()))
	}
	cmds = append(cmds, EncodePut("ns2", "a", nil, nil, 0))
	g.must(cmds...)
	sorted := slices.Clone(keys)
	slices.Sort(sorted) // byte order
	all := listAll(t, g.s, "ns", "", 0, t0)
	if got := names(all); !slices.Equal(got, sorted) {
		t.Fatalf("order = %q, want %q", got, sorted)
	}
	for _, k := range all {
		if string(k.Metadata) != `{"k":"`+k.Name+`"}` || k.Expiration != at(int64(len(k.Name))*100).Unix() {
			t.Fatalf("key %+v", k)
		}
	}
	for prefix, want := range map[string][]string{
		"a":   {"a", "a/b", "a/c", "ab"},
		"a/":  {"a/b", "a/c"},
		"zzz": nil,
		"é":   {"é"},
	} {
		for _, limit := range []int{0, 1, 2, 1000} {
			if got := names(listAll(t, g.s, "ns", prefix, limit, t0)); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("prefix %q limit %d: %q, want %q", prefix, limit, got, want)
			}
		}
	}
}

func TestListPaging2500(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	var want []string
	for i := 0; i < 2500; i += 50 {
		var cmds [][]byte
		for j := i; j < i+50; j++ {
			cmds = append(cmds, EncodePut("ns", keyN(j), []byte("v"), nil, 0))
			want = append(want, keyN(j))
		}
		g.must(cmds...)
	}
	var got []string
	var sizes []int
	opts := ListOptions{}
	for {
		res, err := g.s.List("ns", opts, t0)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(res.Keys))
		got = append(got, names(res.Keys)...)
		if res.ListComplete {
			break
		}
		if strings.ContainsAny(res.Cursor, "+/=") {
			t.Fatalf("cursor %q is not URL-safe", res.Cursor)
		}
		opts.Cursor = res.Cursor
	}
	if !slices.Equal(sizes, []int{1000, 1000, 500}) || !slices.Equal(got, want) {
		t.Fatalf("pages %v; keys equal: %v", sizes, slices.Equal(got, want))
	}
	// A cursor resumes after its key even if the key is gone, and sees keys
	// added after it was made.
	first, _ := g.s.List("ns", ListOptions{Limit: 10}, t0)
	g.must(EncodeDelete("ns", keyN(9)), EncodeDelete("ns", keyN(10)), EncodePut("ns", keyN(9)+"x", nil, nil, 0))
	next, err := g.s.List("ns", ListOptions{Limit: 2, Cursor: first.Cursor}, t0)
	if err != nil || !slices.Equal(names(next.Keys), []string{keyN(9) + "x", keyN(11)}) {
		t.Fatalf("resume = %q, %v", names(next.Keys), err)
	}
	// With a prefix, paging stays inside it.
	if got := listAll(t, g.s, "ns", "k012", 7, t0); len(got) != 100 || got[0].Name != "k01200" || got[99].Name != "k01299" {
		t.Fatalf("prefix k012: %d keys", len(got))
	}
}

func TestListBadCursorAndLimit(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	var cmds [][]byte
	for i := 0; i < 5; i++ {
		cmds = append(cmds, EncodePut("ns", "p"+keyN(i), nil, nil, 0))
	}
	g.must(cmds...)
	page, err := g.s.List("ns", ListOptions{Prefix: "p", Limit: 2}, t0)
	if err != nil || page.Cursor == "" {
		t.Fatal(page, err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(page.Cursor)
	tampered := slices.Clone(raw)
	tampered[len(tampered)-1] ^= 1
	for name, opts := range map[string]ListOptions{
		"garbage":      {Cursor: "%%%"},
		"padded":       {Prefix: "p", Cursor: page.Cursor + "=="},
		"junk":         {Cursor: base64.RawURLEncoding.EncodeToString([]byte("bad"))},
		"empty key":    {Cursor: base64.RawURLEncoding.EncodeToString([]byte{1, 0, 0, 0, 0})},
		"version":      {Prefix: "p", Cursor: base64.RawURLEncoding.EncodeToString(append([]byte{2}, raw[1:]...))},
		"tampered":     {Prefix: "p", Cursor: base64.RawURLEncoding.EncodeToString(tampered)},
		"other prefix": {Prefix: "q", Cursor: page.Cursor},
		"no prefix":    {Cursor: page.Cursor},
		"too long":     {Cursor: strings.Repeat("A", 2000)},
		"limit -1":     {Limit: -1},
		"limit 1001":   {Limit: 1001},
	} {
		_, err := g.s.List("ns", opts, t0)
		var ie *InvalidError
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &ie) || HTTPStatus(err) != http.StatusBadRequest {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want := map[bool]string{true: "limit", false: "cursor"}[strings.HasPrefix(name, "limit")]; ie.Field != want {
			t.Errorf("%s: field %q", name, ie.Field)
		}
	}
}

func TestExpirationFiltersReads(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	exp := at(100).Unix()
	g.must(EncodePut("ns", "k", []byte("v"), nil, exp), EncodePut("ns", "forever", []byte("v"), nil, 0))
	if _, err := g.s.Get("ns", "k", at(99)); err != nil {
		t.Fatalf("before expiration: %v", err)
	}
	if _, err := g.s.Get("ns", "k", at(100)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("at expiration: %v", err)
	}
	if got := names(listAll(t, g.s, "ns", "", 0, at(99))); !slices.Equal(got, []string{"forever", "k"}) {
		t.Fatalf("list before: %q", got)
	}
	if got := names(listAll(t, g.s, "ns", "", 0, at(100))); !slices.Equal(got, []string{"forever"}) {
		t.Fatalf("list after: %q", got)
	}
}

// A page steps over at most limit+maxListSkip keys, expired ones included.
func TestListSkipsExpiredBounded(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	const dead = MaxListLimit + maxListSkip + 500
	for i := 0; i < dead; i += 500 {
		var cmds [][]byte
		for j := i; j < i+500; j++ {
			cmds = append(cmds, EncodePut("ns", keyN(j), nil, nil, at(10).Unix()))
		}
		g.must(cmds...)
	}
	g.must(EncodePut("ns", "z", nil, nil, 0))
	page, err := g.s.List("ns", ListOptions{}, at(10))
	if err != nil || len(page.Keys) != 0 || page.ListComplete || page.Cursor == "" {
		t.Fatalf("first page: %d keys, complete %v, %v", len(page.Keys), page.ListComplete, err)
	}
	page, err = g.s.List("ns", ListOptions{Cursor: page.Cursor}, at(10))
	if err != nil || !slices.Equal(names(page.Keys), []string{"z"}) || !page.ListComplete {
		t.Fatalf("second page: %q, complete %v, %v", names(page.Keys), page.ListComplete, err)
	}
}

func TestExpireCommand(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	g.must(
		EncodePut("ns", "a", nil, nil, at(10).Unix()),
		EncodePut("ns", "b", nil, nil, at(20).Unix()),
		EncodePut("ns2", "b", nil, nil, at(20).Unix()),
		EncodePut("ns", "c", nil, nil, at(30).Unix()),
		EncodePut("ns", "d", nil, nil, 0),
		// Re-put without expiration, and with a later one: the old index
		// entries must not expire them.
		EncodePut("ns", "e", nil, nil, at(10).Unix()),
		EncodePut("ns", "e", nil, nil, 0),
		EncodePut("ns", "f", nil, nil, at(10).Unix()),
		EncodePut("ns", "f", nil, nil, at(40).Unix()),
	)
	if r := g.must(EncodeExpire(at(9), 100))[0]; r.Op != OpExpire || r.Expired != 0 || r.More {
		t.Fatalf("expire(9) = %+v", r)
	}
	if r := g.must(EncodeExpire(at(20), 2))[0]; r.Expired != 2 || !r.More {
		t.Fatalf("expire(20, limit 2) = %+v", r)
	}
	// Index order is expiration, namespace, key: a@10 and ns/b@20 went.
	for _, c := range []struct {
		ns, key string
		gone    bool
	}{{"ns", "a", true}, {"ns", "b", true}, {"ns2", "b", false}, {"ns", "c", false}, {"ns", "d", false}, {"ns", "e", false}, {"ns", "f", false}} {
		// The records themselves: reads judge by the floor the command
		// raised to 20 too, and would hide ns2/b as well.
		if gone := !hasRecord(t, g.s, c.ns, c.key); gone != c.gone {
			t.Errorf("%s/%s gone = %v", c.ns, c.key, gone)
		}
	}
	if r := g.must(EncodeExpire(at(20), 2))[0]; r.Expired != 1 || r.More {
		t.Fatalf("second expire(20) = %+v", r)
	}
	if r := g.must(EncodeExpire(at(1000), MaxExpireLimit))[0]; r.Expired != 2 || r.More {
		t.Fatalf("expire(1000) = %+v", r)
	}
	if got := names(listAll(t, g.s, "ns", "", 0, t0)); !slices.Equal(got, []string{"d", "e"}) {
		t.Fatalf("left: %q", got)
	}
	if n := countKeys(t, g.s, tagExpiry); n != 0 {
		t.Fatalf("%d index entries left", n)
	}
}

// hasRecord reports whether ns/key has a record, expired or not.
func hasRecord(t *testing.T, s *Store, ns, key string) bool {
	t.Helper()
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(s.l.dataKey(ns, key))
		return err
	})
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestValidatePut(t *testing.T) {
	now := t0
	ok := func(ns, key string, value, meta []byte, exp, ttl, want int64) {
		t.Helper()
		got, err := ValidatePut(ns, key, value, meta, exp, ttl, now)
		if err != nil || got != want {
			t.Errorf("ValidatePut(%q, %q, exp %d, ttl %d) = %d, %v; want %d", ns, key, exp, ttl, got, err, want)
		}
	}
	ok("ns", "k", nil, nil, 0, 0, 0)
	ok("a-Z_0.9", strings.Repeat("é", MaxKeyLen/2), make([]byte, MaxValueLen), []byte(`{"a":`+strings.Repeat(" ", MaxMetadataLen-7)+`1}`), 0, 0, 0)
	ok("ns", "k", nil, nil, now.Unix()+MinTTL, 0, now.Unix()+MinTTL)
	ok("ns", "k", nil, nil, 0, MinTTL, now.Unix()+MinTTL)
	ok("ns", "k", nil, nil, now.Unix()+1, 3600, now.Unix()+3600) // TTL wins
	ok("ns", "k", nil, nil, MaxExpiration, 0, MaxExpiration)
	ok("ns", "k", nil, nil, 0, MaxExpiration-now.Unix(), MaxExpiration)
	for _, c := range []struct {
		name, ns, key string
		value, meta   []byte
		exp, ttl      int64
		field         string
		status        int
		says          string
	}{
		{"empty key", "ns", "", nil, nil, 0, 0, "key", 400, "must not be empty"},
		{"dot", "ns", ".", nil, nil, 0, 0, "key", 400, `"."`},
		{"dotdot", "ns", "..", nil, nil, 0, 0, "key", 400, `".."`},
		{"long key", "ns", strings.Repeat("k", MaxKeyLen+1), nil, nil, 0, 0, "key", 414, "513 exceeds key length limit of 512"},
		{"bad utf8", "ns", "\xff", nil, nil, 0, 0, "key", 400, "UTF-8"},
		{"big value", "ns", "k", make([]byte, MaxValueLen+1), nil, 0, 0, "value", 413, "26214401 exceeds limit of 26214400"},
		{"big metadata", "ns", "k", nil, []byte(`"` + strings.Repeat("m", MaxMetadataLen-1) + `"`), 0, 0, "metadata", 413, "1025 exceeds limit of 1024"},
		{"bad metadata", "ns", "k", nil, []byte(`{"a":`), 0, 0, "metadata", 400, "JSON"},
		{"empty ns", "", "k", nil, nil, 0, 0, "namespace", 400, "empty"},
		{"long ns", strings.Repeat("n", MaxNamespaceLen+1), "k", nil, nil, 0, 0, "namespace", 400, "65 exceeds limit of 64"},
		{"ns char", "n/s", "k", nil, nil, 0, 0, "namespace", 400, "[A-Za-z0-9_.-]"},
		{"ns dot", ".", "k", nil, nil, 0, 0, "namespace", 400, "not allowed"},
		{"past", "ns", "k", nil, nil, now.Unix(), 0, "expiration", 400, "greater than the current"},
		{"negative", "ns", "k", nil, nil, -5, 0, "expiration", 400, "greater than the current"},
		{"soon", "ns", "k", nil, nil, now.Unix() + MinTTL - 1, 0, "expiration", 400, "at least 60 seconds in the future"},
		{"short ttl", "ns", "k", nil, nil, 0, MinTTL - 1, "expirationTtl", 400, "at least 60"},
		{"negative ttl", "ns", "k", nil, nil, 0, -1, "expirationTtl", 400, "greater than 0"},
		{"huge ttl", "ns", "k", nil, nil, 0, math.MaxInt64 - 10, "expirationTtl", 400, "too large"},
		{"ttl past 2^53", "ns", "k", nil, nil, 0, MaxExpiration - now.Unix() + 1, "expirationTtl", 400, "too large"},
		{"expiration past 2^53", "ns", "k", nil, nil, MaxExpiration + 1, 0, "expiration", 400, "too large"},
		{"largest expiration", "ns", "k", nil, nil, math.MaxInt64, 0, "expiration", 400, "too large"},
	} {
		_, err := ValidatePut(c.ns, c.key, c.value, c.meta, c.exp, c.ttl, now)
		var ie *InvalidError
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &ie) || ie.Field != c.field || HTTPStatus(err) != c.status || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v (status %d)", c.name, err, HTTPStatus(err))
		}
	}
}

// Commands that break a rule are rejected on apply, change nothing, and
// still count as applied.
func TestApplyRejectsInvalid(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	g.must(EncodePut("ns", "k", []byte("v"), nil, 0))
	before := g.hash()
	bad := [][]byte{
		nil,
		{},
		{commandV1},
		{9, byte(OpPut)},
		{commandV1, 77},
		EncodePut("ns", "", nil, nil, 0),
		EncodePut("ns", "..", nil, nil, 0),
		EncodePut("n s", "k", nil, nil, 0),
		EncodePut("ns", "k", make([]byte, MaxValueLen+1), nil, 0),
		EncodePut("ns", "k", nil, []byte("{"), 0),
		EncodePut("ns", "k", nil, nil, -1),
		EncodeDelete("ns", strings.Repeat("k", MaxKeyLen+1)),
		EncodeExpire(at(10), 0),
		EncodeExpire(at(10), MaxExpireLimit+1),
		EncodeExpire(at(10), -1),
		append(EncodeDelete("ns", "k"), 0),
		EncodeDelete("ns", "k")[:5],
	}
	rs := g.apply(bad...)
	for i, r := range rs {
		if !errors.Is(r.Err, ErrInvalid) || r.Skipped {
			t.Errorf("command %d (%q): %+v", i, bad[i], r)
		}
	}
	if g.s.Applied() != g.next-1 {
		t.Fatalf("Applied = %d, want %d", g.s.Applied(), g.next-1)
	}
	h := g.hash()
	if before == h {
		t.Fatal("hash ignores the applied index")
	}
	// Same state, same applied index elsewhere: same hash.
	g2 := newGroup(t, g.s.db, "g2")
	g2.next = g.next - 1
	g2.must(EncodePut("ns", "k", []byte("v"), nil, 0))
	if g2.hash() != h {
		t.Fatal("invalid commands changed the state")
	}
}

func TestSkipApplied(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	rs := g.s.ApplyBatch([]Entry{
		{Index: 5, Data: EncodePut("ns", "k", []byte("5"), nil, 0)},
		{Index: 5, Data: EncodePut("ns", "k", []byte("again"), nil, 0)},
		{Index: 3, Data: EncodePut("ns", "k", []byte("3"), nil, 0)},
		{Index: 8, Data: EncodePut("ns", "k", []byte("8"), nil, 0)},
	})
	if rs[0].Skipped || !rs[1].Skipped || !rs[2].Skipped || rs[3].Skipped || rs[3].Err != nil {
		t.Fatalf("results %+v", rs)
	}
	if r := g.s.Apply(Entry{Index: 8, Data: EncodeDelete("ns", "k")}); !r.Skipped {
		t.Fatalf("re-apply: %+v", r)
	}
	if v, err := g.s.Get("ns", "k", t0); err != nil || string(v.Value) != "8" || g.s.Applied() != 8 {
		t.Fatalf("Get = %q, %v; Applied %d", v.Value, err, g.s.Applied())
	}
	// A batch of only skipped entries commits nothing.
	c := g.s.commits.Load()
	g.s.ApplyBatch([]Entry{{Index: 1}, {Index: 8}})
	if g.s.commits.Load() != c {
		t.Fatal("skipped batch committed")
	}
}

// A batch larger than badger's transaction is split between entries; the
// estimate avoids ErrTxnTooBig and, when it is wrong, ErrTxnTooBig splits.
func TestBatchSplit(t *testing.T) {
	for _, force := range []bool{false, true} {
		db := openDB(t, "", false)
		g := newGroup(t, db, "g1")
		if force {
			g.s.budget = 1 << 50 // estimate says everything fits
		}
		value := bytes.Repeat([]byte("v"), 300<<10) // 40 of them: 12 MB > 2.4 MB
		var cmds [][]byte
		for i := 0; i < 40; i++ {
			cmds = append(cmds, EncodePut("ns", keyN(i), value, nil, at(1000).Unix()), EncodeExpire(at(1), MaxExpireLimit))
		}
		g.must(cmds...)
		if c := g.s.commits.Load(); c < 4 || c > 40 {
			t.Fatalf("force %v: %d commits", force, c)
		}
		if s := g.s.tooBig.Load(); (s > 0) != force {
			t.Fatalf("force %v: %d ErrTxnTooBig retries", force, s)
		}
		if g.s.Applied() != uint64(len(cmds)) {
			t.Fatalf("Applied = %d", g.s.Applied())
		}
		for i := 0; i < 40; i++ {
			if v, err := g.s.Get("ns", keyN(i), t0); err != nil || len(v.Value) != len(value) {
				t.Fatalf("force %v: key %d: %v", force, i, err)
			}
		}
	}
}

// A transaction that does not commit (here ErrTxnTooBig, before its batch
// is split) takes back what it told the filter that lets puts skip reading
// the old record: a put that drops a key's expiration and is applied again
// must still read the record and remove the index entry.
func TestExtrasFollowTheirTransaction(t *testing.T) {
	g := newGroup(t, openDB(t, "", false), "g1")
	g.must(EncodePut("ns", "k", []byte("1"), nil, at(1000).Unix()), EncodePut("ns", "b", make([]byte, inlineMax+1), nil, 0))
	g.s.budget = 1 << 50 // estimate says everything fits
	cmds := [][]byte{EncodePut("ns", "k", []byte("2"), nil, 0), EncodePut("ns", "b", []byte("small"), nil, 0)}
	big := bytes.Repeat([]byte("v"), 300<<10)
	for i := range 20 {
		cmds = append(cmds, EncodePut("ns", keyN(i), big, nil, 0))
	}
	g.must(cmds...)
	if g.s.tooBig.Load() == 0 {
		t.Fatal("the batch did not need splitting")
	}
	if n, b := countKeys(t, g.s, tagExpiry), countKeys(t, g.s, tagBlob); n != 0 || b != 20 {
		t.Fatalf("%d expiration index entries, %d blobs; want 0, 20", n, b)
	}
	if r := g.must(EncodeExpire(at(2000), MaxExpireLimit))[0]; r.Expired != 0 {
		t.Fatalf("expire: %+v", r)
	}
	if v, err := g.s.Get("ns", "k", at(2000)); err != nil || string(v.Value) != "2" {
		t.Fatalf("k: %q, %v", v.Value, err)
	}
}

func TestReopenKeepsAppliedIndex(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, true)
	g := newGroup(t, db, "g1")
	g.must(EncodePut("ns", "k", []byte("v"), []byte("1"), at(100).Unix()), EncodePut("ns", "big", make([]byte, 10<<10), nil, 0))
	h := g.hash()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.s.Get("ns", "k", t0); err == nil {
		t.Fatal("Get on a closed DB succeeded")
	}
	if r := g.s.Apply(Entry{Index: 9, Data: EncodeDelete("ns", "k")}); !errors.Is(r.Err, ErrStorage) {
		t.Fatalf("Apply on a closed DB: %+v", r)
	}
	db = openDB(t, dir, true)
	g = newGroup(t, db, "g1")
	if g.s.Applied() != 2 || g.hash() != h {
		t.Fatalf("after reopen: Applied %d", g.s.Applied())
	}
	if r := g.s.Apply(Entry{Index: 2, Data: EncodeDelete("ns", "k")}); !r.Skipped {
		t.Fatalf("replayed entry: %+v", r)
	}
	if v, err := g.s.Get("ns", "k", t0); err != nil || string(v.Metadata) != "1" {
		t.Fatalf("Get = %+v, %v", v, err)
	}
}

func TestGroupsIsolated(t *testing.T) {
	db := openDB(t, "", false)
	a, b := newGroup(t, db, "ga"), newGroup(t, db, "gb")
	a.must(EncodePut("ns", "k", []byte("a"), nil, at(10).Unix()), EncodePut("ns", "only-a", nil, nil, 0))
	b.must(EncodePut("ns", "k", []byte("b"), nil, at(10).Unix()))
	hb := b.hash()
	a.must(EncodeDelete("ns", "k"))
	if v, err := b.s.Get("ns", "k", t0); err != nil || string(v.Value) != "b" {
		t.Fatalf("b after a's delete: %q, %v", v.Value, err)
	}
	if got := names(listAll(t, b.s, "ns", "", 0, t0)); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("b lists %q", got)
	}
	a.must(EncodePut("ns", "x", nil, nil, at(5).Unix()), EncodeExpire(at(1000), MaxExpireLimit))
	if err := a.s.Restore(bytes.NewReader(a.snapshot())); err != nil {
		t.Fatal(err)
	}
	if b.hash() != hb || b.s.Applied() != 1 {
		t.Fatal("a's expire or restore touched b")
	}
}

func TestSnapshotRestore(t *testing.T) {
	db := openDB(t, "", false)
	src := newGroup(t, db, "src")
	src.must(
		EncodePut("ns", "a", []byte("1"), []byte(`{"x":[1,2]}`), at(100).Unix()),
		EncodePut("ns", "big", bytes.Repeat([]byte("b"), 1<<20), nil, 0),
		EncodePut("ns2", "a", nil, nil, 0),
		EncodePut("ns", "dead", nil, nil, at(1).Unix()), // expired, not yet removed: still state
	)
	h := src.hash()
	sn, err := src.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	// Applies after Snapshot do not show in it.
	src.must(EncodeDelete("ns", "a"), EncodePut("ns", "later", nil, nil, 0))
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if sn.Index() != 4 {
		t.Fatalf("Index = %d", sn.Index())
	}
	dst := newGroup(t, db, "dst")
	dst.must(EncodePut("ns", "stale", nil, nil, 0), EncodePut("ns", "old", nil, nil, at(50).Unix()))
	if err := dst.s.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if dst.hash() != h || dst.s.Applied() != 4 {
		t.Fatalf("restored: Applied %d, hash equal %v", dst.s.Applied(), dst.hash() == h)
	}
	if v, err := dst.s.Get("ns", "big", t0); err != nil || len(v.Value) != 1<<20 {
		t.Fatalf("big: %v", err)
	}
	if got := names(listAll(t, dst.s, "ns", "", 0, at(1))); !slices.Equal(got, []string{"a", "big"}) {
		t.Fatalf("restored keys %q", got)
	}
	// The expiration index was rebuilt: expire removes a and dead, not "old".
	dst.next = 5
	if r := dst.must(EncodeExpire(at(1000), MaxExpireLimit))[0]; r.Expired != 2 {
		t.Fatalf("expire after restore: %+v", r)
	}
}

func TestRestoreDamaged(t *testing.T) {
	db := openDB(t, "", false)
	src := newGroup(t, db, "src")
	src.must(EncodePut("ns", "a", []byte("1"), nil, 0), EncodePut("ns", "b", []byte("2"), nil, 0))
	good := src.snapshot()
	dst := newGroup(t, db, "dst")
	for name, snap := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-1],
		"flipped":   flip(good, len(snapMagic)+8+5),
		"bad crc":   flip(good, len(good)-1),
		"magic":     flip(good, 0),
		"reordered": reorder(t, good),
	} {
		dst.must(EncodePut("ns", "x", nil, nil, 0))
		err := dst.s.Restore(bytes.NewReader(snap))
		if err == nil {
			t.Fatalf("%s: restored", name)
		}
		if _, err := dst.s.Get("ns", "a", t0); !errors.Is(err, ErrUnavailable) || HTTPStatus(err) != 503 {
			t.Fatalf("%s: Get after failed restore: %v", name, err)
		}
		if r := dst.s.Apply(Entry{Index: 100, Data: EncodeDelete("ns", "a")}); !errors.Is(r.Err, ErrStorage) || !errors.Is(r.Err, ErrUnavailable) {
			t.Fatalf("%s: Apply after failed restore: %+v", name, r)
		}
		if _, err := dst.s.Snapshot(); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("%s: Snapshot after failed restore: %v", name, err)
		}
		if err := dst.s.Restore(bytes.NewReader(good)); err != nil {
			t.Fatal(err)
		}
		dst.next = dst.s.Applied() + 1
	}
	if dst.hash() != src.hash() {
		t.Fatal("hash differs")
	}
}

func flip(b []byte, i int) []byte {
	b = slices.Clone(b)
	b[i] ^= 0x40
	return b
}

// reorder swaps the two entries of a two-key snapshot and fixes the CRC.
func reorder(t *testing.T, snap []byte) []byte {
	t.Helper()
	db := openDB(t, "", false)
	g := newGroup(t, db, "r")
	g.must(EncodePut("ns", "a", []byte("1"), nil, 0))
	one := g.snapshot()
	head := len(snapMagic) + 8
	const tail = 7 // tag 0, 1 key, 0 ids, crc 4
	entryA := one[head : len(one)-tail]
	entryB := snap[head+len(entryA) : len(snap)-tail]
	out := append(slices.Clone(snap[:head]), entryB...)
	out = append(out, entryA...)
	out = append(out, snap[len(snap)-tail:len(snap)-4]...)
	return append(out, crcOf(out)...)
}

func crcOf(b []byte) []byte {
	sum := crc32.Checksum(b, castagnoli)
	return []byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)}
}

// A crash during Restore leaves the mark; Open rolls the group back to empty
// with applied index 0.
func TestInterruptedRestore(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, true)
	g := newGroup(t, db, "g1")
	g.must(EncodePut("ns", "a", []byte("1"), nil, at(10).Unix()), EncodePut("ns", "b", make([]byte, 8<<10), nil, 0))
	g.must(EncodeDeleteOnce([16]byte{1}, at(10).Unix(), "ns", "c"))
	snap := g.snapshot()
	other := newGroup(t, db, "g2")
	other.must(EncodePut("ns", "a", nil, nil, 0))
	// The stream ends early, as if the node died while loading.
	if err := g.s.Restore(io.LimitReader(bytes.NewReader(snap), int64(len(snap)-20))); err == nil {
		t.Fatal("restored a cut stream")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir, true)
	g = newGroup(t, db, "g1")
	if g.s.Applied() != 0 {
		t.Fatalf("Applied = %d after an interrupted restore", g.s.Applied())
	}
	for _, tag := range []byte{tagData, tagBlob, tagExpiry, tagIDIndex, tagRestore, tagApplied} {
		if n := countKeys(t, g.s, tag); n != 0 {
			t.Fatalf("%d keys under %q", n, tag)
		}
	}
	if _, err := newGroup(t, db, "g2").s.Get("ns", "a", t0); err != nil {
		t.Fatalf("other group: %v", err)
	}
	if err := g.s.Restore(bytes.NewReader(snap)); err != nil || g.s.Applied() != 3 {
		t.Fatalf("restore again: %v", err)
	}
}

func TestHTTPStatus(t *testing.T) {
	for err, want := range map[error]int{
		nil:                               200,
		ErrNotFound:                       404,
		ErrInvalid:                        400,
		ErrUnavailable:                    503,
		ErrStorage:                        500,
		errors.New("x"):                   500,
		invalid("key", 414, "long"):       414,
		storageErr(badger.ErrConflict):    500,
		invalid("value", 413, "too much"): 413,
	} {
		if got := HTTPStatus(err); got != want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", err, got, want)
		}
	}
}

// Reads, snapshots and hashes run alongside applies; each sees a state that
// some prefix of the log produced.
func TestConcurrentReadsAndApplies(t *testing.T) {
	db := openDB(t, "", false)
	g := newGroup(t, db, "g1")
	const batches = 200
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < batches; i++ {
			rs := g.s.ApplyBatch([]Entry{
				{Index: uint64(2*i + 1), Data: EncodePut("ns", "counter", []byte{byte(i)}, nil, 0)},
				{Index: uint64(2*i + 2), Data: EncodePut("ns", keyN(i), make([]byte, inlineMax+i), nil, 0)},
			})
			for _, r := range rs {
				if r.Err != nil {
					t.Error(r.Err)
					return
				}
			}
		}
	}()
	for reads := 0; ; reads++ {
		select {
		case <-done:
			if g.s.Applied() != 2*batches {
				t.Fatalf("Applied = %d", g.s.Applied())
			}
			return
		default:
		}
		sn, err := g.s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := sn.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		idx := sn.Index()
		sn.Close()
		// The snapshot holds exactly the keys its index implies.
		r := newGroup(t, db, fmt.Sprintf("r%06d", reads))
		if err := r.s.Restore(&buf); err != nil {
			t.Fatal(err)
		}
		if n, want := countKeys(t, r.s, tagData), int(idx/2)+btoi(idx > 0); n != want {
			t.Fatalf("snapshot at %d has %d keys, want %d", idx, n, want)
		}
		if _, err := g.s.List("ns", ListOptions{Limit: 10}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := g.s.Get("ns", "counter", t0); err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
	}
}

// A leader refuses a write whose request id's deadline is too near or too
// far by its own clock: the clocks disagree, and a retry could outlive the
// id and apply twice.
func TestCheckDeadline(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	id := [16]byte{1}
	for _, tc := range []struct {
		left int64
		ok   bool
	}{{DedupWindow, true}, {MinDeadlineLeft, true}, {MinDeadlineLeft - 1, false}, {-30, false}, {MaxDeadlineAhead, true}, {MaxDeadlineAhead + 1, false}} {
		put := EncodePutOnce(id, now.Unix()+tc.left, "ns", "k", []byte("v"), nil, 0)
		del := EncodeDeleteOnce(id, now.Unix()+tc.left, "ns", "k")
		for _, cmd := range [][]byte{put, del} {
			if err := CheckDeadline(cmd, now); (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrClockSkew) {
				t.Errorf("a deadline %d s ahead: %v, want ok=%v", tc.left, err, tc.ok)
			}
		}
	}
	if err := CheckDeadline(EncodePut("ns", "k", []byte("v"), nil, 0), now); err != nil {
		t.Errorf("a put without an id: %v", err)
	}
	if err := CheckDeadline([]byte{9, 9, 9}, now); err != nil {
		t.Errorf("garbage (the state machine refuses it): %v", err)
	}
}
