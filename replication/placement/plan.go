package placement

import (
	"cmp"
	"slices"
	"time"
)

const (
	// replicas is the number of voters of a data group, and of the meta
	// group on a mesh of fewer than metaLarge nodes.
	replicas = 3
	// metaLarge is the number of voters of the meta group once metaLarge
	// nodes can hold one.
	metaLarge = 5
)

// quorum is the number of voters, out of n, that a Raft group needs to commit.
func quorum(n int) int { return n/2 + 1 }

// class is what a node's health and draining mean for placement.
type class uint8

const (
	// healthy: alive and not draining. Holds replicas and receives them.
	healthy class = iota
	// waiting: suspect, or dead within the grace period, and not draining.
	// Keeps its replicas and receives none.
	waiting
	// leaving: draining, left, unknown, or dead for the grace period. Sheds
	// its replicas.
	leaving
)

type nodeInfo struct {
	id        NodeID
	cls       class
	alive     bool // Health is Alive: counts towards a quorum after a change
	reachable bool // Alive or Suspect: may help commit a change now
	zone      string
}

type member struct {
	*nodeInfo
	voter, caughtUp bool
}

type group struct {
	id      GroupID
	members []member // by node id
	wanted  int
}

func (g *group) has(id NodeID) bool {
	for _, m := range g.members {
		if m.id == id {
			return true
		}
	}
	return false
}

func (g *group) voters() []member {
	var vs []member
	for _, m := range g.members {
		if m.voter {
			vs = append(vs, m)
		}
	}
	return vs
}

// unavailable reports whether g can commit no change: fewer reachable
// voters than a quorum.
func (g *group) unavailable() bool {
	vs := g.voters()
	reach := 0
	for _, m := range vs {
		if m.reachable {
			reach++
		}
	}
	return reach < quorum(len(vs)) || len(vs) == 0
}

type planner struct {
	nodes   map[NodeID]*nodeInfo
	healthy []*nodeInfo // by id
	// load counts each node's data-group replicas, voters and nonvoters,
	// with pending changes and those planned so far as done.
	load    map[NodeID]int
	busy    map[GroupID]bool // a change is pending or planned
	budget  int
	changes []Change
}

// Plan returns the membership changes to carry out next, most urgent first,
// and the status of every group: Meta first, then the data groups by id,
// those that State.Groups lacks included. The package doc lists the rules.
//
// The changes touch distinct groups, none of them in s.Pending, and number
// at most c.MaxChanges less len(s.Pending); the leader may carry them out in
// any order or at once. No changes means that nothing is to be done until
// the state changes: placement has converged, or what remains waits for a
// nonvoter to catch up, a pending change to finish, a grace period to pass
// or a group to regain quorum.
//
// Plan is deterministic and does not modify s. The caller owns the returned
// slices.
func Plan(s State, c Config) ([]Change, []GroupStatus) {
	c = c.withDefaults()
	p := &planner{
		nodes:  make(map[NodeID]*nodeInfo, len(s.Nodes)),
		load:   make(map[NodeID]int, len(s.Nodes)),
		busy:   make(map[GroupID]bool),
		budget: c.MaxChanges - len(s.Pending),
	}
	eligible := p.readNodes(s.Nodes, s.Now, c.Grace)
	dataWanted := min(replicas, eligible)
	metaWanted := dataWanted
	if eligible >= metaLarge {
		metaWanted = metaLarge
	}
	meta, data, exists := p.readGroups(s.Groups, dataWanted, metaWanted)
	p.readPending(s.Pending, data)

	if meta != nil {
		p.plan(meta)
	}
	missing := p.create(s.Slots.Groups(), exists, dataWanted)
	urgent := slices.Clone(data)
	slices.SortStableFunc(urgent, func(a, b *group) int { return cmp.Compare(margin(a), margin(b)) })
	for _, g := range urgent {
		p.plan(g)
	}
	if len(missing) == 0 {
		p.balance(data, s.Pending)
	}

	var status []GroupStatus
	if meta != nil {
		status = append(status, meta.status())
	}
	for _, g := range data {
		status = append(status, g.status())
	}
	for _, id := range missing {
		status = append(status, GroupStatus{Group: id, Wanted: dataWanted, Degraded: dataWanted < replicas, Unavailable: true})
	}
	slices.SortStableFunc(status, func(a, b GroupStatus) int { return cmp.Compare(a.Group, b.Group) })
	return p.changes, status
}

// readNodes classifies the nodes and returns how many are not leaving.
func (p *planner) readNodes(nodes []Node, now time.Time, grace time.Duration) (eligible int) {
	for _, n := range nodes {
		if _, dup := p.nodes[n.ID]; dup {
			continue
		}
		ni := &nodeInfo{id: n.ID, zone: n.Zone, alive: n.Health == Alive, reachable: n.Health <= Suspect}
		switch {
		case n.Draining || n.Health >= Left:
			ni.cls = leaving
		case n.Health == Dead && now.Sub(n.DeadSince) >= grace:
			ni.cls = leaving
		case n.Health == Alive:
			ni.cls = healthy
			p.healthy = append(p.healthy, ni)
		default:
			ni.cls = waiting
		}
		if ni.cls != leaving {
			eligible++
		}
		p.nodes[n.ID] = ni
	}
	slices.SortFunc(p.healthy, func(a, b *nodeInfo) int { return cmp.Compare(a.id, b.id) })
	return eligible
}

// readGroups returns the meta group (nil if absent), the data groups by id,
// and which groups exist; it counts the data groups' replicas into the load.
func (p *planner) readGroups(groups []Group, dataWanted, metaWanted int) (meta *group, data []*group, exists map[GroupID]bool) {
	exists = map[GroupID]bool{}
	for _, sg := range groups {
		if exists[sg.ID] {
			continue
		}
		exists[sg.ID] = true
		g := &group{id: sg.ID, wanted: dataWanted}
		for _, r := range sg.Replicas {
			if !g.has(r.Node) {
				ni := p.node(r.Node)
				if r.Failed {
					// This replica alone is lost: its node stays as it is
					// for the node's other replicas and as a target.
					f := *ni
					f.cls, f.alive, f.reachable = leaving, false, false
					ni = &f
				}
				g.members = append(g.members, member{nodeInfo: ni, voter: r.Voter, caughtUp: r.CaughtUp})
			}
		}
		slices.SortFunc(g.members, func(a, b member) int { return cmp.Compare(a.id, b.id) })
		if g.id == Meta {
			g.wanted = metaWanted
			meta = g
			continue
		}
		data = append(data, g)
		for _, m := range g.members {
			p.load[m.id]++
		}
	}
	slices.SortFunc(data, func(a, b *group) int { return cmp.Compare(a.id, b.id) })
	return meta, data, exists
}

// readPending marks the pending changes' groups busy and counts their
// effect into the load, where the groups do not show it yet.
func (p *planner) readPending(pending []Change, data []*group) {
	for _, ch := range pending {
		p.busy[ch.Group] = true
		if ch.Group == Meta {
			continue
		}
		i := slices.IndexFunc(data, func(g *group) bool { return g.id == ch.Group })
		in := i >= 0 && data[i].has(ch.Node)
		switch ch.Op {
		case AddNonvoter:
			if !in {
				p.load[ch.Node]++
			}
		case Remove:
			if in {
				p.load[ch.Node]--
			}
		case CreateGroup:
			if i < 0 {
				for _, n := range ch.Nodes {
					p.load[n]++
				}
			}
		}
	}
}

// node returns what is known of id; a node the state does not list is gone.
func (p *planner) node(id NodeID) *nodeInfo {
	if ni, ok := p.nodes[id]; ok {
		return ni
	}
	return &nodeInfo{id: id, cls: leaving}
}

// margin is how many more alive voters g has than it needs for a quorum.
func margin(g *group) int {
	vs := g.voters()
	alive := 0
	for _, m := range vs {
		if m.alive {
			alive++
		}
	}
	return alive - quorum(len(vs))
}

func (g *group) status() GroupStatus {
	st := GroupStatus{Group: g.id, Wanted: g.wanted, Degraded: g.wanted < replicas, Unavailable: g.unavailable()}
	for _, m := range g.members {
		if m.voter && m.alive {
			st.Voters++
		}
	}
	return st
}

func (p *planner) emit(ch Change) {
	p.changes = append(p.changes, ch)
	p.budget--
	p.busy[ch.Group] = true
	if ch.Group == Meta {
		return
	}
	switch ch.Op {
	case AddNonvoter:
		p.load[ch.Node]++
	case Remove:
		p.load[ch.Node]--
	case CreateGroup:
		for _, n := range ch.Nodes {
			p.load[n]++
		}
	}
}

// create plans the creation of the groups in ids that do not exist, and
// returns those that still do not exist once the planned ones are created.
func (p *planner) create(ids []GroupID, exists map[GroupID]bool, wanted int) (missing []GroupID) {
	for _, id := range ids {
		if exists[id] {
			continue
		}
		missing = append(missing, id)
		if p.busy[id] || p.budget <= 0 {
			continue
		}
		g := &group{id: id}
		for range wanted {
			t := p.target(g)
			if t == nil {
				break
			}
			g.members = append(g.members, member{nodeInfo: t, voter: true})
			p.load[t.id]++ // so that the next pick spreads
		}
		if len(g.members) == 0 {
			continue
		}
		ch := Change{Op: CreateGroup, Group: id}
		for _, m := range g.members {
			p.load[m.id]-- // emit counts them
			ch.Nodes = append(ch.Nodes, m.id)
		}
		slices.Sort(ch.Nodes)
		p.emit(ch)
	}
	return missing
}

// plan gives g its next change, if it needs one and may have one now.
func (p *planner) plan(g *group) {
	if p.busy[g.id] || p.budget <= 0 || g.unavailable() {
		return
	}
	if ch, ok := p.next(g); ok {
		p.emit(ch)
	}
}

// next returns g's next change, following the rules in the package doc.
func (p *planner) next(g *group) (Change, bool) {
	var stay, leaveV, leaveN, joining, ready []member
	for _, m := range g.members {
		switch {
		case m.voter && m.cls == leaving:
			leaveV = append(leaveV, m)
		case m.voter:
			stay = append(stay, m)
		case m.cls == leaving:
			leaveN = append(leaveN, m)
		default:
			joining = append(joining, m)
			if m.cls == healthy && m.caughtUp {
				ready = append(ready, m)
			}
		}
	}
	w := g.wanted
	remove := func(m member) Change { return Change{Op: Remove, Group: g.id, Node: m.id} }

	// A nonvoter on a leaving node is no use, and removing it is always safe.
	if len(leaveN) > 0 {
		return remove(leaveN[0]), true
	}
	// A leaving voter goes once its replacement is a voter, or when none
	// can come; but not when no node at all can hold the group, which
	// would shrink it for nothing. Gone and dead nodes go before draining
	// (alive) ones.
	if len(leaveV) > 0 && w > 0 && (len(stay) >= w || len(joining) == 0 && p.target(g) == nil) {
		slices.SortStableFunc(leaveV, func(a, b member) int {
			if a.alive != b.alive {
				if a.alive {
					return 1
				}
				return -1
			}
			return 0
		})
		for _, m := range leaveV {
			if safe(g, m.id, false) {
				return remove(m), true
			}
		}
	}
	// A caught-up nonvoter becomes a voter, unless the group already has
	// more voters than it wants: the excess goes first.
	if len(ready) > 0 && len(stay) <= w && safe(g, ready[0].id, true) {
		return Change{Op: Promote, Group: g.id, Node: ready[0].id}, true
	}
	if len(stay)+len(joining) < w {
		if t := p.target(g); t != nil {
			return Change{Op: AddNonvoter, Group: g.id, Node: t.id}, true
		}
	}
	if len(stay) > w {
		for _, m := range p.excessOrder(stay) {
			if safe(g, m.id, false) {
				return remove(m), true
			}
		}
	}
	return Change{}, false
}

// safe reports whether g's voters, with id added (promoted) or removed,
// would still have a quorum of alive members.
func safe(g *group, id NodeID, add bool) bool {
	n, alive := 0, 0
	for _, m := range g.members {
		voter := m.voter
		if m.id == id {
			voter = add
		}
		if voter {
			n++
			if m.alive {
				alive++
			}
		}
	}
	return n > 0 && alive >= quorum(n)
}

// zonesOf counts the members in ms of each zone; the empty zone is not
// counted.
func zonesOf(ms []member) map[string]int {
	zs := map[string]int{}
	for _, m := range ms {
		if m.zone != "" {
			zs[m.zone]++
		}
	}
	return zs
}

// target returns the healthy node that should receive g's next replica, or
// nil if none can: a node not in g, preferring a zone that g's remaining
// members lack, then the least loaded, then the lowest id.
func (p *planner) target(g *group) *nodeInfo {
	var staying []member
	for _, m := range g.members {
		if m.cls != leaving {
			staying = append(staying, m)
		}
	}
	zs := zonesOf(staying)
	var best *nodeInfo
	bestZone := false
	for _, n := range p.healthy {
		if g.has(n.id) {
			continue
		}
		inZone := n.zone != "" && zs[n.zone] > 0
		if best == nil || !inZone && bestZone || inZone == bestZone && p.load[n.id] < p.load[best.id] {
			best, bestZone = n, inZone
		}
	}
	return best
}

// excessOrder returns voters in the order to remove them when a group has
// too many: those on nodes not alive first, then those sharing a zone with
// another, then the most loaded, then the lowest id.
func (p *planner) excessOrder(voters []member) []member {
	zs := zonesOf(voters)
	key := func(m member) (notAlive, dupZone bool) {
		return !m.alive, m.zone != "" && zs[m.zone] > 1
	}
	out := slices.Clone(voters)
	slices.SortStableFunc(out, func(a, b member) int {
		an, az := key(a)
		bn, bz := key(b)
		if an != bn {
			if an {
				return -1
			}
			return 1
		}
		if az != bz {
			if az {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(p.load[b.id], p.load[a.id]); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return out
}

// needsRepair reports whether g lacks anything placement owes it: it cannot
// commit, has a member on a node that is not healthy, or has fewer healthy
// voters than it wants.
func needsRepair(g *group) bool {
	if g.unavailable() {
		return true
	}
	voters := 0
	for _, m := range g.members {
		if m.cls != healthy {
			return true
		}
		if m.voter {
			voters++
		}
	}
	return voters < g.wanted
}

// balance starts moves of replicas from the most to the least loaded
// healthy nodes, when no data group needs repair. A move adds a nonvoter on
// the light node L to a group g on the heavy node; g's next changes promote
// it and remove g's most loaded voter X (excessOrder). A move starts only
// if X is not L and holds at least two more replicas than L did, so that
// each completed move lowers the sum of the squared loads. Moves in flight
// share no node, and no repair runs meanwhile, so no other change alters
// the loads that chose X.
func (p *planner) balance(data []*group, pending []Change) {
	if p.budget <= 0 {
		return
	}
	busy := map[NodeID]bool{}
	for _, g := range data {
		if needsRepair(g) {
			return
		}
		moving := len(g.voters()) != g.wanted || len(g.members) != g.wanted
		if p.busy[g.id] || moving {
			for _, m := range g.members {
				busy[m.id] = true
			}
		}
	}
	for _, ch := range append(slices.Clone(pending), p.changes...) {
		if ch.Group == Meta {
			continue
		}
		busy[ch.Node] = true
		for _, n := range ch.Nodes {
			busy[n] = true
		}
	}
	for p.budget > 0 {
		var free []*nodeInfo
		for _, n := range p.healthy {
			if !busy[n.id] {
				free = append(free, n)
			}
		}
		// Heaviest first; the lightest are taken from the end.
		slices.SortStableFunc(free, func(a, b *nodeInfo) int { return cmp.Compare(p.load[b.id], p.load[a.id]) })
		g, l := p.findMove(data, free, busy)
		if g == nil {
			return
		}
		for _, m := range g.members {
			busy[m.id] = true
		}
		busy[l.id] = true
		p.emit(Change{Op: AddNonvoter, Group: g.id, Node: l.id})
	}
}

// findMove returns the first move, heaviest source and lightest destination
// first, that balance may start, or nil.
func (p *planner) findMove(data []*group, free []*nodeInfo, busy map[NodeID]bool) (*group, *nodeInfo) {
	lightest := slices.Clone(free)
	slices.SortStableFunc(lightest, func(a, b *nodeInfo) int { return cmp.Compare(p.load[a.id], p.load[b.id]) })
	for _, h := range free {
		for _, l := range lightest {
			if p.load[h.id]-p.load[l.id] < 2 {
				break
			}
			for _, g := range data {
				if p.busy[g.id] || !g.has(h.id) || g.has(l.id) || slices.ContainsFunc(g.members, func(m member) bool { return busy[m.id] }) {
					continue
				}
				if p.moveHelps(g, l) {
					return g, l
				}
			}
		}
	}
	return nil, nil
}

// moveHelps reports whether adding l to g and then removing g's excess
// voter takes a replica from a node with at least two more than l has, and
// keeps as many zones in g.
func (p *planner) moveHelps(g *group, l *nodeInfo) bool {
	after := append(g.voters(), member{nodeInfo: l, voter: true})
	p.load[l.id]++
	x := p.excessOrder(after)[0]
	p.load[l.id]--
	if x.id == l.id || p.load[x.id] < p.load[l.id]+2 {
		return false
	}
	kept := slices.DeleteFunc(after, func(m member) bool { return m.id == x.id })
	return len(zonesOf(kept)) >= len(zonesOf(g.members))
}
