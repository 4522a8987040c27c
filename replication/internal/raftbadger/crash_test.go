package raftbadger

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/warrenmesh/warren/replication/internal/badgerfault"
)

// crashImage copies the regular files of a live database directory into
// to: the disk as a sync of every commit so far leaves it.
func crashImage(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		src, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
}

// walEnd returns the one memtable WAL of the database in dir and the
// offset after its last byte that is not zero.
func walEnd(t *testing.T, dir string) (string, int64) {
	t.Helper()
	mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
	if len(mems) != 1 {
		t.Fatalf("want one memtable WAL, got %v", mems)
	}
	b, err := os.ReadFile(mems[0])
	if err != nil {
		t.Fatal(err)
	}
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return mems[0], int64(end)
}

// A suffix deleted (raft truncating a follower's conflicting tail) in
// several transactions leaves, at whatever point a crash stops it, one run
// of entries from the first on: never the start of the tail deleted and its
// end still there, a hole raft cannot append across.
func TestSuffixDeleteCrashLeavesNoHole(t *testing.T) {
	dir := t.TempDir()
	db := openDisk(t, dir)
	s := newStore(t, db, "g")
	const n = 3*deleteChunk + 500 // all in one memtable: the WAL holds the whole history
	for i := uint64(1); i <= n; i += 500 {
		var logs []*raft.Log
		for j := i; j < i+500; j++ {
			logs = append(logs, entry(j, 2, "old leader's entry"))
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
	}
	_, before := walEnd(t, dir)
	if err := s.DeleteRange(6, n); err != nil {
		t.Fatal(err)
	}
	if _, last := bounds(t, s); last != 5 {
		t.Fatalf("last %d after the suffix delete, want 5", last)
	}
	wal, after := walEnd(t, dir)
	saved := t.TempDir()
	crashImage(t, dir, saved)
	db.Close()

	// Any prefix of the WAL is a state a crash can leave: cut it at points
	// through the delete's transactions.
	for k := range 8 {
		cut := before + (after-before)*int64(k)/8
		image := t.TempDir()
		crashImage(t, saved, image)
		f, err := os.OpenFile(filepath.Join(image, filepath.Base(wal)), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		if _, err := f.WriteAt(make([]byte, st.Size()-cut), cut); err != nil {
			t.Fatal(err)
		}
		f.Close()
		db2 := openDisk(t, image)
		s2 := newStore(t, db2, "g")
		first, last := bounds(t, s2)
		for i := first; i <= last; i++ {
			var l raft.Log
			if err := s2.GetLog(i, &l); err != nil {
				t.Fatalf("cut at %d of %d-%d: entries %d-%d, and %d: %v", cut, before, after, first, last, i, err)
			}
		}
		if first != 1 || last < 5 {
			t.Fatalf("cut at %d: entries %d-%d, want 1 to 5 or more", cut, first, last)
		}
		db2.Close()
	}
}

// An append that fails left nothing of itself: when a write batch of the
// database (many groups' appends) fails at a memtable rotation, the
// appends the batch wrote before the failure succeed, and the others
// fail with nothing stored; a store's bounds are what the database holds.
// (badger gave every request of the batch the error, and entries of an
// append raft was told had failed survived past its last index.)
func TestFailedAppendLeavesNothing(t *testing.T) {
	for range 4 {
		dir := t.TempDir()
		db := openDisk(t, dir)
		// The rotation fails, as on a full disk or an I/O error.
		if _, err := badgerfault.BlockRotation(dir); err != nil {
			t.Fatal(err)
		}
		const groups = 32
		stores := make([]*Store, groups)
		for g := range stores {
			stores[g] = newStore(t, db, fmt.Sprintf("g%d", g))
		}
		data := strings.Repeat("x", 2000)
		failedAt := make([]uint64, groups)
		var wg sync.WaitGroup
		for g, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := uint64(1); ; i += 3 {
					if err := s.StoreLogs([]*raft.Log{entry(i, 2, data), entry(i+1, 2, data), entry(i+2, 2, data)}); err != nil {
						failedAt[g] = i
						return
					}
				}
			}()
		}
		wg.Wait()
		for g, s := range stores {
			var l raft.Log
			for i := failedAt[g]; i < failedAt[g]+3; i++ {
				if err := s.GetLog(i, &l); err == nil {
					t.Fatalf("group %d: the append of %d-%d failed, and entry %d is there", g, failedAt[g], failedAt[g]+2, i)
				}
			}
			s.mu.Lock()
			first, last := s.first, s.last
			s.reloadBoundsLocked()
			if s.first != first || s.last != last || s.last != failedAt[g]-1 {
				t.Errorf("group %d: bounds %d-%d, the database's %d-%d, the last append ended at %d", g, first, last, s.first, s.last, failedAt[g]-1)
			}
			s.mu.Unlock()
		}
		db.Close()
	}
}
