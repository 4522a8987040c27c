// Package placement decides where replication's Raft groups live: a pure
// function from what the meta group knows of the mesh to the membership
// changes its leader should carry out next. It does no I/O and keeps no
// state; the leader owns Raft, the clock and the network.
//
// # The model
//
// Every key and Durable Object id hashes to one of NumSlots slots (SlotOf).
// The slot map (SlotMap) names the data group that owns each slot. A data
// group is a Raft group with 3 voters on distinct nodes; it has fewer only
// while the mesh has fewer than 3 nodes that can hold one, and its
// GroupStatus says so (Wanted, Degraded). The meta group (Meta) holds the
// slot map and the groups' memberships; it has 3 voters, or 5 once 5 nodes
// can hold one, and every other node is not a member of it. A group of 2
// voters, on a 2-node mesh, survives the loss of neither: that mesh trades
// availability for a second copy of every write.
//
// The number of data groups is fixed when the mesh is formed (NewSlotMap,
// DefaultGroups: one group per 8 slots) and does not grow with the mesh:
// what grows is the number of nodes the groups' replicas spread over.
// Splitting a group means moving slots, and so data, between two Raft
// groups; that needs a hand-off protocol with the state machines and is not
// done here. 32 groups of 3 replicas spread over meshes of up to 96 nodes,
// while on a 3-node mesh every node runs a replica of every group, which
// keeps the count low.
//
// # Plan
//
// Plan takes the State (slot map, groups and their replicas, nodes and
// their health, changes still being carried out, the time) and returns the
// changes to carry out next, and each group's status. Calling it again with
// the state that results from them continues the work; the plan is a
// function of what is, never of what was intended, so a new meta leader
// picks up where the old one stopped.
//
// The rules, in the order Plan applies them to each group:
//
//   - A group whose reachable (alive or suspect) voters are fewer than a
//     quorum of its voters can commit no change: it gets none, and its
//     status says Unavailable, until enough of its voters come back or an
//     operator recovers it.
//   - A node leaves when it is draining, has left the mesh, is not in
//     State.Nodes, or has been dead for the grace period (Config.Grace). A
//     node that is suspect, or dead for less than the grace period, keeps
//     its replicas and gets no new ones.
//   - A failed replica (Replica.Failed: stopped on a node that lives) is
//     lost, as if its node had been dead for the grace period; its node
//     keeps its other replicas. Once it is removed, its node may receive
//     the group again, as a new replica.
//   - A replica on a leaving node is rebuilt elsewhere: add a nonvoter on
//     the least loaded alive node not in the group, promote it once caught
//     up, then remove the leaving replica. A leaving replica with no
//     replacement possible (too few nodes) is removed without one. The meta
//     group is placed the same way, on the nodes with the fewest data
//     replicas, and is never moved for balance.
//   - A group with fewer replicas than wanted gains one the same way; one
//     with more voters than wanted loses one: on a node not alive first,
//     then one sharing a zone with another, then the most loaded.
//   - A voter set is never changed (promote, remove) to one whose alive
//     members are fewer than its quorum.
//   - Each group gets at most one change at a time: none while it has a
//     change pending (State.Pending), and at most one per call. Raft applies
//     configuration changes one at a time.
//   - When no group needs repair, replicas move from the most to the least
//     loaded nodes (add, catch up, promote, remove the most loaded member)
//     until every node that can hold replicas holds within one of every
//     other. Moves in flight share no node, so each completes as planned and
//     strictly evens the load; a stable mesh converges.
//   - At most Config.MaxChanges changes are in flight (pending and new),
//     the most urgent first: the meta group, then groups to create, then
//     groups by how close they are to losing quorum, then moves.
//   - Load is the number of data-group replicas a node holds. Ties between
//     nodes are broken by zone (a node whose zone the group lacks first) and
//     then by node id; the same State gives the same plan, whatever the order
//     of its slices.
package placement
