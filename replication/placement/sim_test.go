package placement

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"time"
)

// sim plays the meta leader against Plan: it holds the state, carries out
// the changes Plan returns (at once, or after a delay while they are
// pending), lets nonvoters on alive nodes catch up after a lag, and checks
// every plan against the rules that must never break.
type sim struct {
	st  State
	cfg Config
	// step counts the plans made.
	step int
	// caughtUpAt holds, for each nonvoter not yet caught up, the step at
	// whose end it catches up if its node is alive.
	caughtUpAt map[groupNode]int
	// doneAt holds, for each pending change, the step at whose start it
	// takes effect; parallel to st.Pending.
	doneAt []int
}

type groupNode struct {
	g GroupID
	n NodeID
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newSim returns a mesh of the given nodes whose meta group is the first of
// them alone, as after bootstrap, and whose slot map names groups data
// groups.
func newSim(groups int, cfg Config, nodes ...NodeID) *sim {
	s := &sim{cfg: cfg.withDefaults(), caughtUpAt: map[groupNode]int{}}
	s.st.Now = epoch
	s.st.Slots = NewSlotMap(groups)
	for _, n := range nodes {
		s.st.Nodes = append(s.st.Nodes, Node{ID: n})
	}
	if len(nodes) > 0 {
		s.st.Groups = []Group{{ID: Meta, Replicas: []Replica{{Node: nodes[0], Voter: true}}}}
	}
	return s
}

func (s *sim) node(id NodeID) *Node {
	for i := range s.st.Nodes {
		if s.st.Nodes[i].ID == id {
			return &s.st.Nodes[i]
		}
	}
	return nil
}

func (s *sim) group(id GroupID) *Group {
	for i := range s.st.Groups {
		if s.st.Groups[i].ID == id {
			return &s.st.Groups[i]
		}
	}
	return nil
}

func (s *sim) alive(id NodeID) bool {
	n := s.node(id)
	return n != nil && n.Health == Alive
}

func (s *sim) healthy(id NodeID) bool {
	n := s.node(id)
	return n != nil && n.Health == Alive && !n.Draining
}

// quorate reports whether rs's voters have a quorum of alive members.
func (s *sim) quorate(rs []Replica) bool {
	n, alive := 0, 0
	for _, r := range rs {
		if r.Voter {
			n++
			if s.alive(r.Node) {
				alive++
			}
		}
	}
	return n > 0 && alive >= quorum(n)
}

// plan calls Plan, checks what it returns, and checks that Plan gives the
// same answer for the state with its slices shuffled.
func (s *sim) plan(rng *rand.Rand) ([]Change, []GroupStatus, error) {
	s.step++
	before := deepCopy(s.st)
	changes, status := Plan(s.st, s.cfg)
	if !reflect.DeepEqual(before, s.st) {
		return changes, status, fmt.Errorf("Plan modified the state")
	}
	if err := s.check(changes); err != nil {
		return changes, status, err
	}
	if rng != nil {
		c2, st2 := Plan(shuffled(s.st, rng), s.cfg)
		if !reflect.DeepEqual(changes, c2) || !reflect.DeepEqual(status, st2) {
			return changes, status, fmt.Errorf("plan depends on the order of the state:\n%v\n%v", changes, c2)
		}
	}
	return changes, status, nil
}

func deepCopy(st State) State {
	st.Nodes = slices.Clone(st.Nodes)
	st.Pending = slices.Clone(st.Pending)
	for i := range st.Pending {
		st.Pending[i].Nodes = slices.Clone(st.Pending[i].Nodes)
	}
	st.Groups = slices.Clone(st.Groups)
	for i := range st.Groups {
		st.Groups[i].Replicas = slices.Clone(st.Groups[i].Replicas)
	}
	return st
}

func shuffled(st State, rng *rand.Rand) State {
	st.Nodes = slices.Clone(st.Nodes)
	rng.Shuffle(len(st.Nodes), func(i, j int) { st.Nodes[i], st.Nodes[j] = st.Nodes[j], st.Nodes[i] })
	st.Pending = slices.Clone(st.Pending)
	rng.Shuffle(len(st.Pending), func(i, j int) { st.Pending[i], st.Pending[j] = st.Pending[j], st.Pending[i] })
	st.Groups = slices.Clone(st.Groups)
	for i := range st.Groups {
		rs := slices.Clone(st.Groups[i].Replicas)
		rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		st.Groups[i].Replicas = rs
	}
	rng.Shuffle(len(st.Groups), func(i, j int) { st.Groups[i], st.Groups[j] = st.Groups[j], st.Groups[i] })
	return st
}

// check verifies the rules every plan keeps.
func (s *sim) check(changes []Change) error {
	if n := len(changes) + len(s.st.Pending); n > s.cfg.MaxChanges {
		return fmt.Errorf("%d changes in flight, more than %d: %v", n, s.cfg.MaxChanges, changes)
	}
	seen := map[GroupID]bool{}
	for _, ch := range s.st.Pending {
		seen[ch.Group] = true
	}
	for _, ch := range changes {
		if seen[ch.Group] {
			return fmt.Errorf("%v: a second change for %v at once", ch, ch.Group)
		}
		seen[ch.Group] = true
		g := s.group(ch.Group)
		if ch.Op == CreateGroup {
			if g != nil {
				return fmt.Errorf("%v: the group exists", ch)
			}
			if !slices.Contains(s.st.Slots.Groups(), ch.Group) || len(ch.Nodes) == 0 || len(ch.Nodes) > replicas {
				return fmt.Errorf("%v: not a group to create", ch)
			}
			for i, n := range ch.Nodes {
				if !s.healthy(n) || slices.Contains(ch.Nodes[:i], n) {
					return fmt.Errorf("%v: %s is not a healthy distinct node", ch, n)
				}
			}
			continue
		}
		if g == nil {
			return fmt.Errorf("%v: no such group", ch)
		}
		i := slices.IndexFunc(g.Replicas, func(r Replica) bool { return r.Node == ch.Node })
		after := slices.Clone(g.Replicas)
		switch ch.Op {
		case AddNonvoter:
			if i >= 0 {
				return fmt.Errorf("%v: already a member", ch)
			}
			if !s.healthy(ch.Node) {
				return fmt.Errorf("%v: onto a node that is not healthy", ch)
			}
			continue
		case Promote:
			if i < 0 || g.Replicas[i].Voter || !g.Replicas[i].CaughtUp || !s.healthy(ch.Node) {
				return fmt.Errorf("%v: not a caught-up nonvoter on a healthy node", ch)
			}
			after[i].Voter = true
		case Remove:
			if i < 0 {
				return fmt.Errorf("%v: not a member", ch)
			}
			if !g.Replicas[i].Voter {
				continue
			}
			after = slices.Delete(after, i, i+1)
		default:
			return fmt.Errorf("%v: unknown op", ch)
		}
		if !s.quorate(after) {
			return fmt.Errorf("%v: leaves %v without a quorum of alive voters (%v)", ch, ch.Group, s.replicas(after))
		}
	}
	return nil
}

// apply carries out ch.
func (s *sim) apply(ch Change) {
	s.st.Groups = applyTo(s.st.Groups, ch)
	if ch.Op == Remove {
		delete(s.caughtUpAt, groupNode{ch.Group, ch.Node})
	}
}

// applyTo returns groups with ch carried out; it modifies groups.
func applyTo(groups []Group, ch Change) []Group {
	i := slices.IndexFunc(groups, func(g Group) bool { return g.ID == ch.Group })
	if ch.Op == CreateGroup {
		if i >= 0 {
			return groups
		}
		g := Group{ID: ch.Group}
		for _, n := range ch.Nodes {
			g.Replicas = append(g.Replicas, Replica{Node: n, Voter: true})
		}
		return append(groups, g)
	}
	if i < 0 {
		return groups
	}
	applyToGroup(&groups[i], ch)
	return groups
}

func applyToGroup(g *Group, ch Change) {
	i := slices.IndexFunc(g.Replicas, func(r Replica) bool { return r.Node == ch.Node })
	switch ch.Op {
	case AddNonvoter:
		if i < 0 {
			g.Replicas = append(g.Replicas, Replica{Node: ch.Node})
		}
	case Promote:
		if i >= 0 {
			g.Replicas[i].Voter = true
		}
	case Remove:
		if i >= 0 {
			g.Replicas = slices.Delete(g.Replicas, i, i+1)
		}
	}
}

// canLose reports whether node id may stop being alive without any group
// losing a quorum of alive voters, as the groups are and as they will be
// once the pending changes are carried out. The simulation only plays
// failures that the groups survive: one that they do not is beyond what
// placement can repair.
func (s *sim) canLose(id NodeID) bool {
	ok := func(groups []Group) bool {
		for _, g := range groups {
			n, alive := 0, 0
			for _, r := range g.Replicas {
				if r.Voter {
					n++
					if r.Node != id && s.alive(r.Node) {
						alive++
					}
				}
			}
			if n > 0 && alive < quorum(n) {
				return false
			}
		}
		return true
	}
	after := slices.Clone(s.st.Groups)
	for i := range after {
		after[i].Replicas = slices.Clone(after[i].Replicas)
	}
	for _, ch := range s.st.Pending {
		after = applyTo(after, ch)
	}
	return ok(s.st.Groups) && ok(after)
}

// start carries out the changes of one plan: each after delay(ch) steps,
// at once for 0. A nonvoter added catches up lag(ch) steps after it joins.
func (s *sim) start(changes []Change, delay, lag func(Change) int) {
	for _, ch := range changes {
		if ch.Op == AddNonvoter {
			s.caughtUpAt[groupNode{ch.Group, ch.Node}] = s.step + delay(ch) + lag(ch)
		}
		if d := delay(ch); d > 0 {
			s.st.Pending = append(s.st.Pending, ch)
			s.doneAt = append(s.doneAt, s.step+d)
			continue
		}
		s.apply(ch)
	}
}

// finish carries out the pending changes whose time has come, before the
// next plan.
func (s *sim) finish() {
	for i := 0; i < len(s.st.Pending); {
		if s.doneAt[i] <= s.step {
			s.apply(s.st.Pending[i])
			s.st.Pending = slices.Delete(s.st.Pending, i, i+1)
			s.doneAt = slices.Delete(s.doneAt, i, i+1)
			continue
		}
		i++
	}
}

// catchUp marks caught up the nonvoters whose lag has passed, on alive
// nodes.
func (s *sim) catchUp() {
	for i := range s.st.Groups {
		g := &s.st.Groups[i]
		for j := range g.Replicas {
			r := &g.Replicas[j]
			at, ok := s.caughtUpAt[groupNode{g.ID, r.Node}]
			if !r.Voter && !r.CaughtUp && (!ok || at <= s.step) && s.alive(r.Node) {
				r.CaughtUp = true
				delete(s.caughtUpAt, groupNode{g.ID, r.Node})
			}
		}
	}
}

// catchingUp reports whether some nonvoter on an alive node has yet to
// catch up.
func (s *sim) catchingUp() bool {
	for _, g := range s.st.Groups {
		for _, r := range g.Replicas {
			if !r.Voter && !r.CaughtUp && s.alive(r.Node) {
				return true
			}
		}
	}
	return false
}

// loads counts each node's data-group replicas.
func (s *sim) loads() map[NodeID]int {
	l := map[NodeID]int{}
	for _, n := range s.st.Nodes {
		l[n.ID] = 0
	}
	for _, g := range s.st.Groups {
		if g.ID == Meta {
			continue
		}
		for _, r := range g.Replicas {
			l[r.Node]++
		}
	}
	return l
}

// converged checks the placement a stable mesh must reach: every group of
// the slot map exists with its wanted number of voters, all on distinct
// healthy nodes, and no nonvoters; the meta group likewise; replicas
// balanced within one over the healthy nodes when no node has a zone.
func (s *sim) converged() error {
	var healthy []NodeID
	zones := false
	for _, n := range s.st.Nodes {
		if n.Health == Alive && !n.Draining {
			healthy = append(healthy, n.ID)
		}
		zones = zones || n.Zone != ""
	}
	want := func(g GroupID) int {
		if g == Meta && len(healthy) >= metaLarge {
			return metaLarge
		}
		return min(replicas, len(healthy))
	}
	ids := append([]GroupID{Meta}, s.st.Slots.Groups()...)
	for _, id := range ids {
		g := s.group(id)
		if g == nil {
			return fmt.Errorf("%v does not exist", id)
		}
		for _, r := range g.Replicas {
			if !r.Voter || !s.healthy(r.Node) {
				return fmt.Errorf("%v: %v is not a voter on a healthy node", id, s.replicas(g.Replicas))
			}
		}
		if len(g.Replicas) != want(id) {
			return fmt.Errorf("%v: %d voters, want %d", id, len(g.Replicas), want(id))
		}
	}
	if !zones {
		lo, hi := -1, -1
		l := s.loads()
		for _, n := range healthy {
			if lo < 0 || l[n] < lo {
				lo = l[n]
			}
			hi = max(hi, l[n])
		}
		if hi-lo > 1 {
			return fmt.Errorf("unbalanced: %s", s.layout(nil))
		}
	}
	return nil
}

func (s *sim) replicas(rs []Replica) string {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b Replica) int { return strings.Compare(string(a.Node), string(b.Node)) })
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch {
		case r.Voter:
			b.WriteString(string(r.Node))
		case r.CaughtUp:
			fmt.Fprintf(&b, "(%s*)", r.Node)
		default:
			fmt.Fprintf(&b, "(%s)", r.Node)
		}
	}
	return b.String()
}

// layout prints the nodes, each group's members and status, and the loads.
func (s *sim) layout(status []GroupStatus) string {
	var b strings.Builder
	nodes := slices.Clone(s.st.Nodes)
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(string(a.ID), string(b.ID)) })
	b.WriteString("nodes:")
	for _, n := range nodes {
		var tags []string
		if n.Health != Alive {
			t := n.Health.String()
			if n.Health == Dead {
				t += " " + s.st.Now.Sub(n.DeadSince).String()
			}
			tags = append(tags, t)
		}
		if n.Draining {
			tags = append(tags, "draining")
		}
		if n.Zone != "" {
			tags = append(tags, "zone "+n.Zone)
		}
		fmt.Fprintf(&b, " %s", n.ID)
		if len(tags) > 0 {
			fmt.Fprintf(&b, "(%s)", strings.Join(tags, ", "))
		}
	}
	b.WriteByte('\n')
	groups := slices.Clone(s.st.Groups)
	slices.SortFunc(groups, func(a, b Group) int { return int(a.ID) - int(b.ID) })
	for _, g := range groups {
		fmt.Fprintf(&b, "%v: %s", g.ID, s.replicas(g.Replicas))
		for _, st := range status {
			if st.Group == g.ID {
				b.WriteString(statusNote(st))
			}
		}
		b.WriteByte('\n')
	}
	for _, st := range status {
		if s.group(st.Group) == nil {
			fmt.Fprintf(&b, "%v: -%s\n", st.Group, statusNote(st))
		}
	}
	l := s.loads()
	b.WriteString("load:")
	for _, n := range nodes {
		fmt.Fprintf(&b, " %s=%d", n.ID, l[n.ID])
	}
	for _, n := range slices.Sorted(maps.Keys(l)) {
		if s.node(n) == nil {
			fmt.Fprintf(&b, " %s?=%d", n, l[n])
		}
	}
	b.WriteByte('\n')
	return b.String()
}

func statusNote(st GroupStatus) string {
	var notes []string
	if st.Voters < st.Wanted {
		notes = append(notes, fmt.Sprintf("voters %d/%d", st.Voters, st.Wanted))
	}
	if st.Degraded {
		notes = append(notes, fmt.Sprintf("degraded, wanted %d", st.Wanted))
	}
	if st.Unavailable {
		notes = append(notes, "unavailable")
	}
	if len(notes) == 0 {
		return ""
	}
	return " [" + strings.Join(notes, "; ") + "]"
}
