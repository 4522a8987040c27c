package kvsm

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// The clock floor: an applied expire command's time counts for every read
// after it, whatever the reader's clock says, and it survives a reopen and
// a snapshot; a key that expired by the reader's clock alone is told apart
// (ErrExpiredByClock) so that a strong read can record the time first.
func TestClockFloor(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, true)
	g := newGroup(t, db, "g1")
	g.must(
		EncodePut("ns", "early", []byte("v"), nil, at(50).Unix()),
		EncodePut("ns", "late", []byte("v"), nil, at(200).Unix()),
		EncodePut("ns", "forever", []byte("v"), nil, 0),
	)
	if g.s.Floor() != 0 {
		t.Fatalf("floor %d before any expire command", g.s.Floor())
	}
	// Expired by the reader's clock only.
	if _, err := g.s.Get("ns", "early", at(60)); !errors.Is(err, ErrExpiredByClock) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("get early at 60, no floor: %v", err)
	}
	if p, err := g.s.List("ns", ListOptions{}, at(60)); err != nil || !p.ExpiredByClock || !slices.Equal(names(p.Keys), []string{"forever", "late"}) {
		t.Fatalf("list at 60, no floor: %q, by clock %v, %v", names(p.Keys), p.ExpiredByClock, err)
	}
	if p, err := g.s.List("ns", ListOptions{}, at(10)); err != nil || p.ExpiredByClock || len(p.Keys) != 3 {
		t.Fatalf("list at 10: %q, by clock %v, %v", names(p.Keys), p.ExpiredByClock, err)
	}
	// An expire command at 100 with a limit of one index entry: it removes
	// "early" and raises the floor to 100.
	if r := g.must(EncodeExpire(at(100), 1))[0]; r.Expired != 1 {
		t.Fatalf("expire(100) = %+v", r)
	}
	if g.s.Floor() != at(100).Unix() {
		t.Fatalf("floor %d, want %d", g.s.Floor(), at(100).Unix())
	}
	// A key put later with an expiration behind the floor (its proposer's
	// clock was behind) is expired for every reader, even one whose clock
	// is further behind: plain ErrNotFound, nothing left to record.
	g.must(EncodePut("ns", "behind", []byte("v"), nil, at(80).Unix()))
	for _, now := range []int64{0, 79, 150} {
		if _, err := g.s.Get("ns", "behind", at(now)); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrExpiredByClock) {
			t.Fatalf("get behind at %d: %v", now, err)
		}
	}
	if p, err := g.s.List("ns", ListOptions{}, at(0)); err != nil || p.ExpiredByClock || !slices.Equal(names(p.Keys), []string{"forever", "late"}) {
		t.Fatalf("list at 0, floor 100: %q, by clock %v, %v", names(p.Keys), p.ExpiredByClock, err)
	}
	if _, err := g.s.Get("ns", "late", at(0)); err != nil {
		t.Fatalf("late at 0: %v", err)
	}
	// An older expire command does not lower it.
	g.must(EncodeExpire(at(90), 10))
	if g.s.Floor() != at(100).Unix() {
		t.Fatalf("floor lowered to %d", g.s.Floor())
	}

	// Reopened: the same floor.
	h := g.hash()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir, true)
	g2 := newGroup(t, db, "g1")
	if g2.s.Floor() != at(100).Unix() || g2.hash() != h {
		t.Fatalf("after reopen: floor %d, hash equal %v", g2.s.Floor(), g2.hash() == h)
	}
	// Snapshot (version 5) and restore into another group: the same
	// floor and state.
	snap := g2.snapshot()
	if !bytes.HasPrefix(snap, []byte(snapMagicV5)) {
		t.Fatalf("snapshot starts %q, want version 5", snap[:8])
	}
	dst := newGroup(t, db, "g2")
	if err := dst.s.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if dst.s.Floor() != at(100).Unix() || dst.hash() != h {
		t.Fatalf("restored: floor %d, hash equal %v", dst.s.Floor(), dst.hash() == h)
	}
	if _, err := dst.s.Get("ns", "behind", at(0)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("restored: behind at 0: %v", err)
	}
	// A group without a floor still writes version 4, and restoring it
	// clears a floor.
	plain := newGroup(t, db, "g3")
	plain.must(EncodePut("ns", "k", nil, nil, 0))
	snap = plain.snapshot()
	if !bytes.HasPrefix(snap, []byte(snapMagic)) {
		t.Fatalf("snapshot without a floor starts %q", snap[:8])
	}
	if err := dst.s.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if dst.s.Floor() != 0 || dst.hash() != plain.hash() {
		t.Fatalf("restored a floorless snapshot: floor %d", dst.s.Floor())
	}
	// A version 5 stream whose floor is not positive is refused.
	bad := g2.snapshot()
	copy(bad[len(snapMagicV5)+8:], make([]byte, 8))
	bad = append(bad[:len(bad)-4], crcOf(bad[:len(bad)-4])...)
	if err := dst.s.Restore(bytes.NewReader(bad)); err == nil {
		t.Fatal("restored a version 5 snapshot with floor 0")
	}
}
