package kvsm

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/warrenmesh/warren/replication/internal/badgerfault"
)

// An entry that fails to apply (a storage failure: here a memtable
// rotation that cannot make its WAL) stops the replica: the entries raft
// hands it next are not applied, even once the disk would take them, and
// it answers no read and takes no snapshot, until it is opened again; then
// the log's replay applies the failed entry and the rest, and the replica
// equals one that never failed. (It went on applying, and the failed entry
// fell below the applied index, lost to every replay.)
func TestStorageFailureStopsTheReplica(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, false)
	g := newGroup(t, db, "g1")
	ref := newGroup(t, openDB(t, "", false), "g1")

	unblock, err := badgerfault.BlockRotation(dir)
	if err != nil {
		t.Fatal(err)
	}
	val := bytes.Repeat([]byte("v"), 512<<10)
	var failed uint64
	var cmds [][]byte
	for i := 0; i < 200 && failed == 0; i++ {
		cmd := EncodePut("ns", fmt.Sprintf("k%03d", i), val, nil, 0)
		cmds = append(cmds, cmd)
		r := g.s.ApplyBatch([]Entry{{Index: g.next, Data: cmd}})[0]
		switch {
		case r.Err == nil:
		case errors.Is(r.Err, ErrStorage):
			failed = g.next
		default:
			t.Fatalf("entry %d: %v", g.next, r.Err)
		}
		g.next++
	}
	if failed == 0 {
		t.Fatal("no storage failure happened")
	}
	if err := unblock(); err != nil { // the disk has room again
		t.Fatal(err)
	}
	after := EncodePut("ns", "after", []byte("x"), nil, 0)
	cmds = append(cmds, after)
	if r := g.s.ApplyBatch([]Entry{{Index: g.next, Data: after}})[0]; !errors.Is(r.Err, ErrStorage) {
		t.Fatalf("the entry after the failed one: %+v, want ErrStorage", r)
	}
	g.next++
	if got := g.s.Applied(); got != failed-1 {
		t.Fatalf("Applied() = %d after entry %d failed", got, failed)
	}
	if _, err := g.s.Get("ns", "k000", t0); !errors.Is(err, ErrStorage) {
		t.Errorf("a read of the failed replica: %v, want ErrStorage", err)
	}
	if _, err := g.s.Snapshot(); !errors.Is(err, ErrStorage) {
		t.Errorf("a snapshot of the failed replica: %v, want ErrStorage", err)
	}

	// Reopened, the replica replays the log from its applied index.
	s2, err := Open(db, []byte("g1"))
	if err != nil {
		t.Fatal(err)
	}
	for i := failed; i < g.next; i++ {
		if r := s2.Apply(Entry{Index: i, Data: cmds[i-1]}); r.Err != nil || r.Skipped {
			t.Fatalf("replaying entry %d: %+v", i, r)
		}
	}
	ref.must(cmds...)
	h1, err1 := s2.Hash()
	h2, err2 := ref.s.Hash()
	if err1 != nil || err2 != nil || h1 != h2 || s2.Applied() != ref.s.Applied() {
		t.Errorf("after the replay: applied %d, hash %x (%v); a replica that never failed: %d, %x (%v)", s2.Applied(), h1[:6], err1, ref.s.Applied(), h2[:6], err2)
	}
}
