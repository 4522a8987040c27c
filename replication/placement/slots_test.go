package placement

import (
	"fmt"
	"testing"
)

// The slot of a key is part of the stored format: these must never change.
func TestSlotOfIsStable(t *testing.T) {
	for _, tc := range []struct {
		key  string
		slot int
	}{
		{"", 0},
		{"a", 48},
		{"key", 109},
		{"kv/users/alice", 130},
		{"do/Counter/7f3e", 221},
		{"123456789", 0x83}, // CRC-32C's check value is 0xe3069283
	} {
		if got := SlotOf(tc.key); got != tc.slot {
			t.Errorf("SlotOf(%q) = %d, want %d", tc.key, got, tc.slot)
		}
	}
}

func TestSlotOfSpreads(t *testing.T) {
	var count [NumSlots]int
	const n = 100 * NumSlots
	for i := range n {
		s := SlotOf(fmt.Sprintf("key-%d", i))
		if s < 0 || s >= NumSlots {
			t.Fatalf("slot %d out of range", s)
		}
		count[s]++
	}
	for s, c := range count {
		if c < 50 || c > 150 {
			t.Errorf("slot %d holds %d of %d keys, want about 100", s, c, n)
		}
	}
}

func TestNewSlotMap(t *testing.T) {
	for _, tc := range []struct {
		groups, want, perGroup int
	}{
		{DefaultGroups, 32, 8},
		{1, 1, NumSlots},
		{0, 1, NumSlots},
		{-3, 1, NumSlots},
		{NumSlots, NumSlots, 1},
		{NumSlots + 1, NumSlots, 1},
	} {
		m := NewSlotMap(tc.groups)
		ids := m.Groups()
		if len(ids) != tc.want || ids[0] != 1 || ids[len(ids)-1] != GroupID(tc.want) {
			t.Errorf("NewSlotMap(%d).Groups() = %v, want 1..%d", tc.groups, ids, tc.want)
		}
		owned := map[GroupID]int{}
		for _, g := range m {
			owned[g]++
		}
		for g, n := range owned {
			if n != tc.perGroup {
				t.Errorf("NewSlotMap(%d): %v owns %d slots, want %d", tc.groups, g, n, tc.perGroup)
			}
		}
	}
	var zero SlotMap
	if ids := zero.Groups(); len(ids) != 0 {
		t.Errorf("zero SlotMap names %v", ids)
	}
}

func BenchmarkSlotOf(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		SlotOf("kv/users/alice")
	}
}
