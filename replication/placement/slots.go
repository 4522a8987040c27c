package placement

import (
	"hash/crc32"
	"slices"
)

// NumSlots is the number of slots. It is part of the on-disk format: every
// key and object id maps to a slot through SlotOf, and the slot map records
// an owner for each slot, so it never changes.
const NumSlots = 256

// DefaultGroups is the number of data groups a new mesh's slot map names:
// one per 8 slots.
const DefaultGroups = 32

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SlotOf returns the slot, in [0, NumSlots), of a key or object id: its
// CRC-32C (Castagnoli, as in iSCSI and ext4) modulo NumSlots. The result is
// the same on every platform and in every version; a change here would move
// stored data, so it must not happen.
//
// Callers hash the whole identity of the thing they place (a KV key within
// its namespace, say), so two namespaces with the same key spread over
// different slots.
func SlotOf(key string) int {
	return int(crc32.Checksum([]byte(key), castagnoli) % NumSlots)
}

// SlotMap names the data group that owns each slot. A slot that holds Meta
// (zero) is unassigned: the zero SlotMap assigns none. Meta never owns a
// slot.
type SlotMap [NumSlots]GroupID

// NewSlotMap returns the slot map of a new mesh with the given number of data
// groups, numbered 1 to groups: slot s belongs to group s%groups + 1, so the
// groups own equally many slots when groups divides NumSlots. groups is
// clamped to [1, NumSlots].
func NewSlotMap(groups int) SlotMap {
	groups = max(1, min(groups, NumSlots))
	var m SlotMap
	for s := range m {
		m[s] = GroupID(s%groups + 1)
	}
	return m
}

// Groups returns the distinct data groups the map names, in increasing
// order.
func (m *SlotMap) Groups() []GroupID {
	out := make([]GroupID, 0, NumSlots)
	for _, g := range m {
		if g != Meta {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}
