package placement

import (
	"fmt"
	"strings"
	"time"
)

// NodeID names a node of the mesh (its memberlist name).
type NodeID string

// GroupID names a Raft group: Meta, or a data group numbered from 1.
type GroupID uint32

// Meta is the meta group, which holds the slot map. It owns no slot.
const Meta GroupID = 0

// String returns "meta" or "g" and the number.
func (g GroupID) String() string {
	if g == Meta {
		return "meta"
	}
	return fmt.Sprintf("g%d", uint32(g))
}

// Health is a node's state as the membership layer sees it.
type Health uint8

const (
	// Alive: the node answers.
	Alive Health = iota
	// Suspect: the node has stopped answering, not yet for long enough to
	// be declared dead. It keeps its replicas and gets no new ones.
	Suspect
	// Dead: the node has not answered for long enough. Its replicas are
	// rebuilt elsewhere once it has been dead for the grace period.
	Dead
	// Left: the node left the mesh on purpose. Its replicas are rebuilt
	// elsewhere at once.
	Left
)

var healthNames = [...]string{Alive: "alive", Suspect: "suspect", Dead: "dead", Left: "left"}

func (h Health) String() string {
	if int(h) < len(healthNames) {
		return healthNames[h]
	}
	return fmt.Sprintf("Health(%d)", uint8(h))
}

// Node is one node of the mesh.
type Node struct {
	ID     NodeID
	Health Health
	// DeadSince is when the node was declared dead; read only when Health
	// is Dead.
	DeadSince time.Time
	// Draining asks for the node's replicas to move elsewhere now, as if it
	// had been dead for the grace period, but without waiting for it.
	Draining bool
	// Zone, when not empty, is the node's failure domain (rack, site):
	// replicas of one group go to distinct zones where the nodes allow.
	Zone string
}

// Replica is one member of a group's Raft configuration.
type Replica struct {
	Node  NodeID
	Voter bool
	// CaughtUp reports that a nonvoter's log has caught up with the
	// leader's, so promoting it does not stall commits. Ignored for voters.
	CaughtUp bool
	// Failed reports that the replica has stopped on a node that lives
	// (its Raft shut down, on a log entry it cannot read back, say): it can
	// neither vote nor apply, and it counts as lost, like a replica on a
	// node dead for the grace period, without the grace.
	Failed bool
}

// Group is a Raft group and its configuration. A node appears at most once
// in Replicas.
type Group struct {
	ID       GroupID
	Replicas []Replica
}

// State is what Plan reads: the slot map and the groups as the meta group
// records them, the nodes as the membership layer reports them, the changes
// still being carried out, and the time. Plan does not modify it, and the
// order of its slices does not matter.
type State struct {
	// Slots is the slot map. Plan creates each group it names that Groups
	// lacks.
	Slots SlotMap
	// Groups holds each group once, the meta group included; a group
	// missing here does not exist yet. Without Meta, Plan plans data groups
	// only.
	Groups []Group
	// Nodes holds each node once. A replica on a node missing here is on a
	// node gone from the mesh, as if it had Left.
	Nodes []Node
	// Pending holds the changes that Plan returned and the leader has not
	// yet seen finish (succeed or fail), as not yet reflected in Groups. Plan
	// gives their groups no further change and counts them against
	// Config.MaxChanges.
	Pending []Change
	// Now is the time against which Node.DeadSince is measured.
	Now time.Time
}

// DefaultGrace is Config.Grace when it is not set.
const DefaultGrace = 5 * time.Minute

// DefaultMaxChanges is Config.MaxChanges when it is not set.
const DefaultMaxChanges = 8

// Config holds Plan's policy. The zero value is the default policy.
type Config struct {
	// Grace is how long a dead node keeps its replicas before they are
	// rebuilt elsewhere: long enough for a restart or a reboot, short
	// enough that a lost node is not a long-lived loss of redundancy.
	// Zero or less means DefaultGrace.
	Grace time.Duration
	// MaxChanges is the most changes in flight at once, State.Pending
	// included: it bounds the load that re-replication puts on the mesh.
	// Zero or less means DefaultMaxChanges.
	MaxChanges int
}

func (c Config) withDefaults() Config {
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.MaxChanges <= 0 {
		c.MaxChanges = DefaultMaxChanges
	}
	return c
}

// Op is the kind of a Change.
type Op uint8

const (
	// AddNonvoter adds Node to Group as a nonvoter: it receives the log but
	// does not count towards quorum. A no-op if Node is already a member.
	AddNonvoter Op = iota + 1
	// Promote makes Node, a caught-up nonvoter of Group, a voter.
	Promote
	// Remove removes Node, voter or nonvoter, from Group.
	Remove
	// CreateGroup starts Group with Nodes as its voters (Raft bootstrap).
	CreateGroup
)

var opNames = [...]string{AddNonvoter: "add-nonvoter", Promote: "promote", Remove: "remove", CreateGroup: "create"}

func (o Op) String() string {
	if o != 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Change is one membership change for the meta leader to carry out. Each is
// idempotent, as Raft's configuration changes are: carried out twice, it
// has the effect of once.
type Change struct {
	Op    Op
	Group GroupID
	// Node is the node added, promoted or removed; empty for CreateGroup.
	Node NodeID
	// Nodes are the first voters of a group that CreateGroup creates, in
	// increasing order; nil otherwise.
	Nodes []NodeID
}

// String returns e.g. "add-nonvoter g3 n4" or "create g1 n1,n2,n3".
func (c Change) String() string {
	if c.Op == CreateGroup {
		ns := make([]string, len(c.Nodes))
		for i, n := range c.Nodes {
			ns[i] = string(n)
		}
		return fmt.Sprintf("%v %v %s", c.Op, c.Group, strings.Join(ns, ","))
	}
	return fmt.Sprintf("%v %v %s", c.Op, c.Group, c.Node)
}

// GroupStatus is how a group stands against its placement.
type GroupStatus struct {
	Group GroupID
	// Wanted is the number of voters the group should have: 3 (the meta
	// group: 3, or 5 with 5 nodes or more), or fewer when fewer nodes can
	// hold a replica. Nodes that are suspect or dead within the grace
	// period still count.
	Wanted int
	// Voters is the number of its voters on alive nodes. Voters below
	// Wanted means a repair is under way or waiting.
	Voters int
	// Degraded reports that Wanted is below 3: the mesh has too few nodes
	// for full redundancy.
	Degraded bool
	// Unavailable reports that the group cannot commit (fewer reachable
	// voters than a quorum), or does not exist yet.
	Unavailable bool
}
