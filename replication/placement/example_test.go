package placement_test

import (
	"fmt"
	"time"

	"github.com/warrenmesh/warren/replication/placement"
)

// A 3-node mesh whose node n3 died ten minutes ago, past the default grace
// period of five, and a fourth node to rebuild on. The leader calls Plan,
// carries out the changes, and calls it again with the state that results.
func ExamplePlan() {
	now := time.Now()
	s := placement.State{
		Slots: placement.NewSlotMap(1),
		Groups: []placement.Group{
			{ID: placement.Meta, Replicas: []placement.Replica{{Node: "n1", Voter: true}, {Node: "n2", Voter: true}, {Node: "n3", Voter: true}}},
			{ID: 1, Replicas: []placement.Replica{{Node: "n1", Voter: true}, {Node: "n2", Voter: true}, {Node: "n3", Voter: true}}},
		},
		Nodes: []placement.Node{
			{ID: "n1"}, {ID: "n2"},
			{ID: "n3", Health: placement.Dead, DeadSince: now.Add(-10 * time.Minute)},
			{ID: "n4"},
		},
		Now: now,
	}
	changes, status := placement.Plan(s, placement.Config{})
	for _, ch := range changes {
		fmt.Println(ch)
	}
	for _, st := range status {
		fmt.Printf("%v: %d of %d voters alive\n", st.Group, st.Voters, st.Wanted)
	}
	// Output:
	// add-nonvoter meta n4
	// add-nonvoter g1 n4
	// meta: 2 of 3 voters alive
	// g1: 2 of 3 voters alive
}

func ExampleSlotOf() {
	m := placement.NewSlotMap(placement.DefaultGroups)
	slot := placement.SlotOf("kv/users/alice")
	fmt.Println(slot, m[slot])
	// Output: 130 g3
}
