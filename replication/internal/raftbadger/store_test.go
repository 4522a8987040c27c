package raftbadger

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"
	"pgregory.net/rapid"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.DiscardHandler)

func openDisk(t testing.TB, dir string) *badger.DB {
	t.Helper()
	db, err := OpenDB(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func openMem(t testing.TB) *badger.DB {
	t.Helper()
	db, err := badger.Open(Options("", quiet).WithInMemory(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newStore(t testing.TB, db *badger.DB, group string) *Store {
	t.Helper()
	s, err := New(db, GroupPrefix(group))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func entry(i, term uint64, data string) *raft.Log {
	return &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: []byte(data)}
}

// tb is what both *testing.T and *rapid.T have.
type tb interface {
	Helper()
	Fatal(...any)
}

func bounds(t tb, s *Store) (uint64, uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return f, l
}

func sameLog(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt)
}

// TestRaftConventions pins what hashicorp/raft relies on beyond the
// interfaces' signatures.
func TestRaftConventions(t *testing.T) {
	s := newStore(t, openMem(t), "g")
	if f, l := bounds(t, s); f != 0 || l != 0 {
		t.Fatalf("empty log: bounds %d, %d", f, l)
	}
	var l raft.Log
	if err := s.GetLog(1, &l); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog of a missing index: %v, want raft.ErrLogNotFound", err)
	}
	if _, err := s.Get([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("Get of a missing key: %v, want the text %q", err, "not found")
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); v != 0 || err == nil || err.Error() != "not found" {
		t.Fatalf("GetUint64 of a missing key: %d, %v", v, err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); v != 7 || err != nil {
		t.Fatalf("GetUint64: %d, %v", v, err)
	}
	// raft stores an empty candidate; it must read back as present.
	if err := s.Set([]byte("LastVoteCand"), nil); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("LastVoteCand")); err != nil || len(v) != 0 {
		t.Fatalf("Get of an empty value: %q, %v", v, err)
	}
	if err := s.Set([]byte("short"), []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUint64([]byte("short")); err == nil {
		t.Fatal("GetUint64 of a 2-byte value succeeded")
	}
}

func TestLogRoundTrip(t *testing.T) {
	// On disk: an in-memory badger refuses values above the value
	// threshold, and entry 4 is one.
	db := openDisk(t, t.TempDir())
	defer db.Close()
	s := newStore(t, db, "g")
	at := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	cases := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte("cfg"), AppendedAt: at},
		{Index: 2, Term: 1, Type: raft.LogNoop},
		{Index: 3, Term: 2, Type: raft.LogCommand, Data: []byte{0, 1, 2}, Extensions: []byte("ext")},
		{Index: 4, Term: 1 << 62, Type: raft.LogBarrier, Data: bytes.Repeat([]byte("x"), 300<<10)},
		{Index: 5, Term: 3, Type: raft.LogCommand, AppendedAt: time.Unix(0, -5)}, // before 1970
	}
	if err := s.StoreLogs(cases); err != nil {
		t.Fatal(err)
	}
	for _, want := range cases {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", want.Index, err)
		}
		if !sameLog(&got, want) {
			t.Errorf("GetLog(%d) = %+v, want %+v", want.Index, got, *want)
		}
	}
	if f, l := bounds(t, s); f != 1 || l != 5 {
		t.Fatalf("bounds %d, %d", f, l)
	}
}

// TestLargeBatch stores a batch larger than one badger transaction holds
// with the small memtables.
func TestLargeBatch(t *testing.T) {
	db := openDisk(t, t.TempDir())
	defer db.Close()
	s := newStore(t, db, "g")
	var logs []*raft.Log
	for i := uint64(1); i <= 3000; i++ {
		logs = append(logs, entry(i, 1, string(bytes.Repeat([]byte{byte(i)}, 1024))))
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if f, l := bounds(t, s); f != 1 || l != 3000 {
		t.Fatalf("bounds %d, %d", f, l)
	}
	var got raft.Log
	if err := s.GetLog(2999, &got); err != nil || !sameLog(&got, logs[2998]) {
		t.Fatalf("GetLog(2999): %v", err)
	}
	if err := s.DeleteRange(1, 2500); err != nil {
		t.Fatal(err)
	}
	if f, l := bounds(t, s); f != 2501 || l != 3000 {
		t.Fatalf("after compaction: bounds %d, %d", f, l)
	}
	if err := s.GetLog(2500, &got); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog(2500) after deletion: %v", err)
	}
}

func TestDeleteRangeBounds(t *testing.T) {
	cases := []struct {
		name            string
		from, to        uint64
		first, last     uint64
		present, absent []uint64
	}{
		{"prefix", 1, 4, 5, 10, []uint64{5, 10}, []uint64{1, 4}},
		{"suffix", 7, 10, 1, 6, []uint64{1, 6}, []uint64{7, 10}},
		{"suffix past the end", 7, 1 << 40, 1, 6, []uint64{6}, []uint64{7}},
		{"all", 0, ^uint64(0), 0, 0, nil, []uint64{1, 10}},
		{"exactly all", 1, 10, 0, 0, nil, []uint64{1, 10}},
		{"before", 0, 0, 1, 10, []uint64{1}, nil},
		{"after", 11, 20, 1, 10, []uint64{10}, nil},
		{"inverted", 5, 4, 1, 10, []uint64{4, 5}, nil},
		{"middle", 4, 6, 1, 10, []uint64{3, 7}, []uint64{4, 6}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, openMem(t), "g")
			for i := uint64(1); i <= 10; i++ {
				if err := s.StoreLog(entry(i, 1, fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.DeleteRange(tc.from, tc.to); err != nil {
				t.Fatal(err)
			}
			if f, l := bounds(t, s); f != tc.first || l != tc.last {
				t.Fatalf("bounds %d, %d; want %d, %d", f, l, tc.first, tc.last)
			}
			var l raft.Log
			for _, i := range tc.present {
				if err := s.GetLog(i, &l); err != nil {
					t.Errorf("GetLog(%d): %v", i, err)
				}
			}
			for _, i := range tc.absent {
				if err := s.GetLog(i, &l); err != raft.ErrLogNotFound {
					t.Errorf("GetLog(%d) after deletion: %v", i, err)
				}
			}
		})
	}
}

// TestGroupsIsolated: two groups on one database, with names chosen so
// that naive prefixes would overlap ("g1" is a prefix of "g1s"; "g1" + the
// stable tag 's' + a key starting with 'l' spells "g1s" + the log tag).
func TestGroupsIsolated(t *testing.T) {
	db := openMem(t)
	a, b := newStore(t, db, "g1"), newStore(t, db, "g1s")
	if err := a.StoreLogs([]*raft.Log{entry(1, 1, "a1"), entry(2, 1, "a2")}); err != nil {
		t.Fatal(err)
	}
	if err := b.StoreLogs([]*raft.Log{entry(5, 2, "b5")}); err != nil {
		t.Fatal(err)
	}
	if err := a.Set([]byte("l\x00\x00\x00\x00\x00\x00\x00\x07"), []byte("stable of a")); err != nil {
		t.Fatal(err)
	}
	if f, l := bounds(t, a); f != 1 || l != 2 {
		t.Fatalf("a: bounds %d, %d", f, l)
	}
	if f, l := bounds(t, b); f != 5 || l != 5 {
		t.Fatalf("b: bounds %d, %d", f, l)
	}
	if err := b.DeleteRange(0, 100); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := a.GetLog(2, &l); err != nil || string(l.Data) != "a2" {
		t.Fatalf("a lost a log to b's DeleteRange: %v", err)
	}
	if _, err := b.Get([]byte("l\x00\x00\x00\x00\x00\x00\x00\x07")); err != ErrKeyNotFound {
		t.Fatalf("b sees a's stable key: %v", err)
	}
	// Reloaded from disk, the bounds are still per group.
	a2, b2 := newStore(t, db, "g1"), newStore(t, db, "g1s")
	if f, l := bounds(t, a2); f != 1 || l != 2 {
		t.Fatalf("a reopened: bounds %d, %d", f, l)
	}
	if f, l := bounds(t, b2); f != 0 || l != 0 {
		t.Fatalf("b reopened: bounds %d, %d", f, l)
	}
	if !bytes.HasPrefix(GroupPrefix("g1s"), GroupPrefix("g1")[:5]) || bytes.HasPrefix(GroupPrefix("g1s"), GroupPrefix("g1")) {
		t.Fatal("GroupPrefix: one group's prefix is a prefix of another's")
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir)
	s := newStore(t, db, "g")
	var logs []*raft.Log
	for i := uint64(10); i <= 50; i++ {
		logs = append(logs, entry(i, i/10, fmt.Sprint("v", i)))
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(10, 19); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 5); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDisk(t, dir)
	defer db.Close()
	s = newStore(t, db, "g")
	if f, l := bounds(t, s); f != 20 || l != 50 {
		t.Fatalf("reopened: bounds %d, %d", f, l)
	}
	for _, want := range logs[10:] {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil || !sameLog(&got, want) {
			t.Fatalf("reopened: GetLog(%d) = %+v, %v", want.Index, got, err)
		}
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); v != 5 || err != nil {
		t.Fatalf("reopened: CurrentTerm %d, %v", v, err)
	}
	if v, err := s.Get([]byte("LastVoteCand")); string(v) != "n2" || err != nil {
		t.Fatalf("reopened: LastVoteCand %q, %v", v, err)
	}
}

// TestStoreModel runs random sequences of what raft does to a log (append,
// overwrite a conflicting tail, compact a prefix, reload) against a map,
// and checks bounds and contents after each step.
func TestStoreModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		db, err := badger.Open(Options("", quiet).WithInMemory(true))
		if err != nil {
			rt.Fatal(err)
		}
		defer db.Close()
		s, err := New(db, GroupPrefix("m"))
		if err != nil {
			rt.Fatal(err)
		}
		model := map[uint64]*raft.Log{}
		stable := map[string]uint64{}
		term := uint64(1)
		modelBounds := func() (uint64, uint64) {
			if len(model) == 0 {
				return 0, 0
			}
			keys := slices.Collect(func(yield func(uint64) bool) {
				for k := range model {
					if !yield(k) {
						return
					}
				}
			})
			return slices.Min(keys), slices.Max(keys)
		}
		rt.Repeat(map[string]func(*rapid.T){
			"append": func(rt *rapid.T) {
				_, last := modelBounds()
				start := last + 1
				if last == 0 {
					// A fresh log, or one restored from a snapshot,
					// starts anywhere.
					start = rapid.Uint64Range(1, 1000).Draw(rt, "start")
				}
				n := rapid.IntRange(1, 40).Draw(rt, "n")
				var logs []*raft.Log
				for i := range uint64(n) {
					l := entry(start+i, term, rapid.StringN(0, 20, -1).Draw(rt, "data"))
					logs = append(logs, l)
				}
				if err := s.StoreLogs(logs); err != nil {
					rt.Fatal(err)
				}
				for _, l := range logs {
					model[l.Index] = l
				}
			},
			"truncate tail": func(rt *rapid.T) {
				first, last := modelBounds()
				if last == 0 {
					rt.Skip("empty")
				}
				from := rapid.Uint64Range(first, last).Draw(rt, "from")
				if err := s.DeleteRange(from, last); err != nil {
					rt.Fatal(err)
				}
				for i := from; i <= last; i++ {
					delete(model, i)
				}
				term++
			},
			"compact": func(rt *rapid.T) {
				first, last := modelBounds()
				if last == 0 {
					rt.Skip("empty")
				}
				to := rapid.Uint64Range(first, last).Draw(rt, "to")
				if err := s.DeleteRange(0, to); err != nil {
					rt.Fatal(err)
				}
				for i := first; i <= to; i++ {
					delete(model, i)
				}
			},
			"reload": func(rt *rapid.T) {
				if s, err = New(db, GroupPrefix("m")); err != nil {
					rt.Fatal(err)
				}
			},
			"stable": func(rt *rapid.T) {
				k := rapid.SampledFrom([]string{"CurrentTerm", "LastVoteTerm", "x"}).Draw(rt, "key")
				v := rapid.Uint64().Draw(rt, "v")
				if err := s.SetUint64([]byte(k), v); err != nil {
					rt.Fatal(err)
				}
				stable[k] = v
			},
			"": func(rt *rapid.T) {
				first, last := modelBounds()
				if f, l := bounds(rt, s); f != first || l != last {
					rt.Fatalf("bounds %d, %d; model %d, %d", f, l, first, last)
				}
				if last > 0 {
					i := rapid.Uint64Range(first-min(first, 2), last+2).Draw(rt, "probe")
					var got raft.Log
					err := s.GetLog(i, &got)
					if want, ok := model[i]; ok {
						if err != nil || !sameLog(&got, want) {
							rt.Fatalf("GetLog(%d) = %+v, %v; want %+v", i, got, err, want)
						}
					} else if !errors.Is(err, raft.ErrLogNotFound) {
						rt.Fatalf("GetLog(%d) of a missing entry: %v", i, err)
					}
				}
				for k, want := range stable {
					if v, err := s.GetUint64([]byte(k)); v != want || err != nil {
						rt.Fatalf("GetUint64(%q) = %d, %v; want %d", k, v, err, want)
					}
				}
			},
		})
	})
}

func FuzzDecodeLog(f *testing.F) {
	f.Add(encodeLog(entry(1, 2, "hello")))
	f.Add(encodeLog(&raft.Log{Term: 9, Type: raft.LogConfiguration, Extensions: []byte("e"), AppendedAt: time.Unix(5, 6)}))
	f.Add([]byte{logFormat})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		if err := decodeLog(b, &l); err != nil {
			return
		}
		// What decodes re-encodes to the same bytes, except for a
		// non-minimal varint, which decoding accepts.
		var again raft.Log
		if err := decodeLog(encodeLog(&l), &again); err != nil || !sameLog(&l, &again) {
			t.Fatalf("round trip of %x: %+v vs %+v (%v)", b, l, again, err)
		}
	})
}

// TestConcurrentAppendAndCompact is raft's pattern: the main goroutine
// appends while the snapshot goroutine compacts the head and others read
// the bounds.
func TestConcurrentAppendAndCompact(t *testing.T) {
	s := newStore(t, openMem(t), "g")
	const n = 3000
	appended := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { // appender
		defer wg.Done()
		defer close(appended)
		for i := uint64(1); i <= n; i += 10 {
			var logs []*raft.Log
			for j := i; j < i+10; j++ {
				logs = append(logs, entry(j, 1, "x"))
			}
			if err := s.StoreLogs(logs); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // compactor: keeps the last 100
		defer wg.Done()
		for {
			select {
			case <-appended:
				return
			default:
			}
			if last, _ := s.LastIndex(); last > 100 {
				if err := s.DeleteRange(0, last-100); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	for running := true; running; {
		select {
		case <-appended:
			running = false
		default:
		}
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		if last != 0 && first > last+1 {
			t.Errorf("bounds %d > %d", first, last)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if f, l := bounds(t, s); l != n || f == 0 || f > n-99 {
		t.Fatalf("final bounds %d, %d", f, l)
	}
}

// TestStoreLogsAsync: the entries are readable when StoreLogsAsync
// returns, and durable is called once, after a sync that began after
// the commit has ended.
func TestStoreLogsAsync(t *testing.T) {
	db := openDisk(t, t.TempDir())
	defer db.Close()
	s := newStore(t, db, "g")
	sy := syncerOf(db)
	for round := range 20 {
		sy.mu.Lock()
		startedBefore := sy.started
		sy.mu.Unlock()
		idx := uint64(round*2 + 1)
		calls := make(chan error, 2)
		err := s.StoreLogsAsync([]*raft.Log{entry(idx, 1, "a"), entry(idx+1, 1, "b")}, func(err error) {
			sy.mu.Lock()
			synced := sy.done > startedBefore
			sy.mu.Unlock()
			if err == nil && !synced {
				err = fmt.Errorf("durable(nil) before a sync that began after the commit ended")
			}
			calls <- err
		})
		if err != nil {
			t.Fatal(err)
		}
		var got raft.Log
		if err := s.GetLog(idx+1, &got); err != nil {
			t.Fatalf("entry %d not readable when StoreLogsAsync returned: %v", idx+1, err)
		}
		if _, last := bounds(t, s); last != idx+1 {
			t.Fatalf("last index %d, want %d", last, idx+1)
		}
		if err := <-calls; err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-calls:
			t.Fatalf("durable called twice (second: %v)", err)
		default:
		}
	}
	var calls int
	if err := s.StoreLogsAsync(nil, func(error) { calls++ }); err != nil || calls != 1 {
		t.Fatalf("no entries: err %v, durable called %d times", err, calls)
	}
}

// TestSyncGathersAppends: appends of many groups that are ready at once
// share syncs. The goroutine that starts a sync yields first, so that
// the appends committing meanwhile are covered by it instead of waiting
// for the next; on one P that makes a round of 32 appends need a few
// syncs, not 32.
func TestSyncGathersAppends(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	db := openDisk(t, t.TempDir())
	defer db.Close()
	const groups, rounds = 32, 10
	stores := make([]*Store, groups)
	for g := range stores {
		stores[g] = newStore(t, db, fmt.Sprintf("g%d", g))
	}
	s0, w0 := SyncCounts(db)
	for r := range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, groups)
		for _, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.StoreLogs([]*raft.Log{entry(uint64(r+1), 1, "x")}); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	s1, w1 := SyncCounts(db)
	syncs, waits := s1-s0, w1-w0
	t.Logf("%d appends, %d syncs", waits, syncs)
	if waits != groups*rounds {
		t.Fatalf("%d waits for durability, want %d", waits, groups*rounds)
	}
	if syncs > waits/4 {
		t.Fatalf("%d syncs for %d appends ready together: the syncs do not gather them", syncs, waits)
	}
}
