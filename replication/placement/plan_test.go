package placement

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseState reads a state written as the scenario layout prints it:
//
//	slots: 2                 NewSlotMap(2); default none
//	nodes: n1 n2(dead 10m) n3(suspect) n4(draining) n5(left) n6(zone a)
//	meta: n1 n2 (n3) (n4*)   voters; (nonvoter); (caught-up nonvoter*)
//	g2: n1 n2 n3!            a failed replica (Replica.Failed)
//	g1: n1 n2 n3
//	pending: add-nonvoter g1 n4
//
// Dead nodes died the given time before epoch, which is Now.
func parseState(t *testing.T, spec string) State {
	t.Helper()
	st := State{Now: epoch}
	for line := range strings.SplitSeq(strings.TrimSpace(spec), "\n") {
		head, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		rest = strings.TrimSpace(rest)
		switch {
		case head == "slots":
			n, err := strconv.Atoi(rest)
			if err != nil {
				t.Fatal(err)
			}
			st.Slots = NewSlotMap(n)
		case head == "nodes":
			for _, f := range splitNodes(rest) {
				id, tags, _ := strings.Cut(strings.TrimSuffix(f, ")"), "(")
				n := Node{ID: NodeID(id)}
				for tag := range strings.SplitSeq(tags, ",") {
					k, v, _ := strings.Cut(strings.TrimSpace(tag), " ")
					switch k {
					case "":
					case "dead":
						d, err := time.ParseDuration(v)
						if err != nil {
							t.Fatal(err)
						}
						n.Health, n.DeadSince = Dead, epoch.Add(-d)
					case "suspect":
						n.Health = Suspect
					case "left":
						n.Health = Left
					case "draining":
						n.Draining = true
					case "zone":
						n.Zone = v
					default:
						t.Fatalf("bad node tag %q", tag)
					}
				}
				st.Nodes = append(st.Nodes, n)
			}
		case head == "pending":
			f := strings.Fields(rest)
			var op Op
			for o, name := range opNames {
				if name == f[0] {
					op = Op(o)
				}
			}
			ch := Change{Op: op, Group: parseGroup(t, f[1])}
			if op == CreateGroup {
				for n := range strings.SplitSeq(f[2], ",") {
					ch.Nodes = append(ch.Nodes, NodeID(n))
				}
			} else {
				ch.Node = NodeID(f[2])
			}
			st.Pending = append(st.Pending, ch)
		default:
			g := Group{ID: parseGroup(t, head)}
			for _, f := range strings.Fields(rest) {
				r := Replica{Voter: !strings.HasPrefix(f, "(")}
				f = strings.Trim(f, "()")
				if strings.HasSuffix(f, "!") {
					r.Failed = true
					f = strings.TrimSuffix(f, "!")
				}
				if strings.HasSuffix(f, "*") {
					r.CaughtUp = true
					f = strings.TrimSuffix(f, "*")
				}
				r.Node = NodeID(f)
				g.Replicas = append(g.Replicas, r)
			}
			st.Groups = append(st.Groups, g)
		}
	}
	return st
}

// splitNodes splits "n1 n2(dead 1m, zone a)" at the spaces outside
// parentheses.
func splitNodes(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s + " " {
		switch {
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ' ' && depth == 0:
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func parseGroup(t *testing.T, s string) GroupID {
	t.Helper()
	if s == "meta" {
		return Meta
	}
	n, err := strconv.Atoi(strings.TrimPrefix(s, "g"))
	if err != nil {
		t.Fatalf("bad group %q", s)
	}
	return GroupID(n)
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		state string
		want  []string
	}{{
		name:  "empty mesh",
		state: "slots: 2",
		want:  nil,
	}, {
		name: "converged",
		state: `
			slots: 1
			nodes: n1 n2 n3
			meta: n1 n2 n3
			g1: n1 n2 n3`,
		want: nil,
	}, {
		name: "a pending change holds its group and counts against the limit",
		cfg:  Config{MaxChanges: 2},
		state: `
			slots: 3
			nodes: n1 n2 n3 n4(dead 1h)
			meta: n1 n2 n3
			g1: n1 n2 n4
			g2: n1 n3 n4
			g3: n2 n3 n4
			pending: add-nonvoter g1 n3`,
		want: []string{"add-nonvoter g2 n2"},
	}, {
		name: "a pending add counts towards the load",
		state: `
			slots: 2
			nodes: n1 n2 n3 n4 n5
			meta: n1 n2 n3
			g1: n1 n2 n3
			g2: n1 n2
			pending: add-nonvoter g1 n4`,
		want: []string{"add-nonvoter meta n5", "add-nonvoter g2 n5"},
	}, {
		name: "the limit serves the meta group, then creation, then the groups closest to losing quorum",
		cfg:  Config{MaxChanges: 3},
		state: `
			slots: 4
			nodes: n1 n2 n3 n4(dead 1h) n5 n6
			meta: n1 n2 n4
			g1: n1 n2 n3 n6
			g2: n1 n2 n4
			g3: n3 n5 n6`,
		want: []string{"add-nonvoter meta n5", "create g4 n1,n2,n5", "add-nonvoter g2 n3"},
	}, {
		name: "a group without a quorum of reachable voters gets nothing",
		state: `
			slots: 1
			nodes: n1 n2(dead 1h) n3(dead 1h) n4
			meta: n1 n4
			g1: n1 n2 n3`,
		want: nil,
	}, {
		name: "a suspect voter may help commit an add, but is not alive for quorum",
		state: `
			slots: 1
			nodes: n1 n2(suspect) n3(dead 1h) n4
			g1: n1 n2 n3`,
		want: []string{"add-nonvoter g1 n4"},
	}, {
		name: "no promotion to a voter set without an alive quorum",
		state: `
			slots: 1
			nodes: n1 n2(suspect) n3(dead 1h) n4
			g1: n1 n2 n3 (n4*)`,
		want: nil,
	}, {
		name: "a nonvoter is promoted only once caught up",
		state: `
			slots: 1
			nodes: n1 n2 n3(dead 1h) n4
			g1: n1 n2 n3 (n4)`,
		want: nil,
	}, {
		name: "then promoted",
		state: `
			slots: 1
			nodes: n1 n2 n3(dead 1h) n4
			g1: n1 n2 n3 (n4*)`,
		want: []string{"promote g1 n4"},
	}, {
		name: "a failed voter with no node to replace it is removed at once, though its node lives",
		state: `
			slots: 2
			nodes: n1 n2 n3
			meta: n1 n2 n3
			g1: n1 n2 n3!
			g2: n1 n2 n3`,
		want: []string{"remove g1 n3"},
	}, {
		name: "then its node receives the group again, as a new replica",
		state: `
			slots: 2
			nodes: n1 n2 n3
			meta: n1 n2 n3
			g1: n1 n2
			g2: n1 n2 n3`,
		want: []string{"add-nonvoter g1 n3"},
	}, {
		name: "a failed voter is replaced on another node first, where there is one",
		state: `
			slots: 1
			nodes: n1 n2 n3 n4
			meta: n1 n2 n3
			g1: n1 n2 n3!`,
		want: []string{"add-nonvoter g1 n4"},
	}, {
		name: "and removed once its replacement votes",
		state: `
			slots: 1
			nodes: n1 n2 n3 n4
			meta: n1 n2 n3
			g1: n1 n2 n3! n4`,
		want: []string{"remove g1 n3"},
	}, {
		name: "a failed voter is not alive for quorum: no promotion without an alive quorum",
		state: `
			slots: 1
			nodes: n1 n2(suspect) n3 n4
			meta: n1 n2 n3
			g1: n1 n2 n3! (n4*)`,
		want: nil,
	}, {
		name: "a group with a majority of failed voters gets nothing",
		state: `
			slots: 1
			nodes: n1 n2 n3 n4
			meta: n1 n2 n4
			g1: n1 n2! n3!`,
		want: nil,
	}, {
		name: "a failed nonvoter is removed",
		state: `
			slots: 1
			nodes: n1 n2 n3 n4
			meta: n1 n2 n3
			g1: n1 n2 n3 (n4!)`,
		want: []string{"remove g1 n4"},
	}, {
		name: "a failed meta replica is replaced like a data replica",
		state: `
			slots: 1
			nodes: n1 n2 n3 n4
			meta: n1 n2! n3
			g1: n1 n3 n4`,
		want: []string{"add-nonvoter meta n4"},
	}, {
		name: "then the dead voter removed",
		state: `
			slots: 1
			nodes: n1 n2 n3(dead 1h) n4
			g1: n1 n2 n3 n4`,
		want: []string{"remove g1 n3"},
	}, {
		name: "within the grace period nothing moves",
		state: `
			slots: 1
			nodes: n1 n2 n3(dead 4m) n4
			g1: n1 n2 n3`,
		want: nil,
	}, {
		name: "Config.Grace",
		cfg:  Config{Grace: time.Minute},
		state: `
			slots: 1
			nodes: n1 n2 n3(dead 4m) n4
			g1: n1 n2 n3`,
		want: []string{"add-nonvoter g1 n4"},
	}, {
		name: "a replica on a node the state does not list is on a gone node",
		state: `
			slots: 1
			nodes: n1 n2 n4
			g1: n1 n2 n3`,
		want: []string{"add-nonvoter g1 n4"},
	}, {
		name: "a nonvoter on a leaving node is removed first",
		state: `
			slots: 1
			nodes: n1 n2 n3 n4(left) n5
			g1: n1 n2 n3 (n4*)`,
		want: []string{"remove g1 n4"},
	}, {
		name: "a draining voter stays until its replacement is a voter",
		state: `
			slots: 1
			nodes: n1 n2 n3(draining) n4
			g1: n1 n2 n3 (n4)`,
		want: nil,
	}, {
		name: "excess voters go from the most loaded node",
		state: `
			slots: 3
			nodes: n1 n2 n3 n4
			g1: n1 n2 n3 n4
			g2: n2 n3 n4
			g3: n2 n3 n4`,
		want: []string{"remove g1 n2"},
	}, {
		name: "a new node gets one move at a time when moves would share nodes",
		state: `
			slots: 3
			nodes: n1 n2 n3 n4
			g1: n1 n2 n3
			g2: n1 n2 n3
			g3: n1 n2 n3`,
		want: []string{"add-nonvoter g1 n4"},
	}, {
		name: "moves that share no node run at once",
		state: `
			slots: 4
			nodes: n1 n2 n3 n4 n5 n6 n7 n8
			g1: n1 n2 n3
			g2: n1 n2 n3
			g3: n5 n6 n7
			g4: n5 n6 n7`,
		want: []string{"add-nonvoter g1 n4", "add-nonvoter g3 n8"},
	}, {
		name: "no moves while a group needs repair",
		state: `
			slots: 3
			nodes: n1 n2 n3 n4 n5(suspect)
			g1: n1 n2 n3
			g2: n1 n2 n3
			g3: n1 n2 n5`,
		want: nil,
	}, {
		name: "a caught-up nonvoter in a group with excess voters waits for the excess to go",
		state: `
			slots: 1
			nodes: n1 n2 n3 n4 n5
			g1: n1 n2 n3 n4 (n5*)`,
		want: []string{"remove g1 n1"},
	}, {
		name: "the meta group has 5 voters from 5 nodes",
		state: `
			nodes: n1 n2 n3 n4 n5
			meta: n1 n2 n3`,
		want: []string{"add-nonvoter meta n4"},
	}, {
		name: "and 3 below",
		state: `
			nodes: n1 n2 n3 n4 n5(left)
			meta: n1 n2 n3 n4`,
		want: []string{"remove meta n1"},
	}, {
		name: "zones: a replacement in a zone the group lacks",
		state: `
			slots: 1
			nodes: n1(zone a) n2(zone b) n3(zone c, dead 1h) n4(zone a) n5(zone c)
			g1: n1 n2 n3`,
		want: []string{"add-nonvoter g1 n5"},
	}, {
		name: "creation spreads over the least loaded nodes and zones",
		state: `
			slots: 2
			nodes: n1(zone a) n2(zone a) n3(zone b) n4
			g1: n1 n3 n4`,
		want: []string{"create g2 n2,n3,n4"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			st := parseState(t, tc.state)
			changes, _ := Plan(st, tc.cfg)
			var got []string
			for _, ch := range changes {
				got = append(got, ch.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Plan:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	st := parseState(t, `
		slots: 4
		nodes: n1 n2 n3(dead 1m) n4(dead 1h) n5(suspect)
		meta: n1 n2 n3
		g1: n1 n2 n3
		g2: n1 n4 n5
		g4: n1 n2 (n5*)`)
	_, got := Plan(st, Config{})
	want := []GroupStatus{
		// n3 is dead within the grace period: it still counts as a node
		// that can hold a replica, so 3 are wanted of the 4.
		{Group: Meta, Wanted: 3, Voters: 2},
		{Group: 1, Wanted: 3, Voters: 2},
		// n5 is suspect, not dead: it may still help commit.
		{Group: 2, Wanted: 3, Voters: 1},
		{Group: 3, Wanted: 3, Unavailable: true}, // to be created
		{Group: 4, Wanted: 3, Voters: 2},
	}
	if !slices.Equal(got, want) {
		t.Errorf("status:\n got %+v\nwant %+v", got, want)
	}

	// A 3-node mesh that lost a node runs on 2 voters, degraded.
	st = parseState(t, `
		slots: 1
		nodes: n1 n2 n3(dead 1h)
		meta: n1 n2
		g1: n1 n2`)
	_, got = Plan(st, Config{})
	want = []GroupStatus{
		{Group: Meta, Wanted: 2, Voters: 2, Degraded: true},
		{Group: 1, Wanted: 2, Voters: 2, Degraded: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("status:\n got %+v\nwant %+v", got, want)
	}

	// A 2-node mesh survives neither node: 1 alive voter of 2 is no quorum.
	st = parseState(t, `
		slots: 1
		nodes: n1 n2(dead 1h)
		meta: n1 n2
		g1: n1 n2`)
	_, got = Plan(st, Config{})
	want = []GroupStatus{
		{Group: Meta, Wanted: 1, Voters: 1, Degraded: true, Unavailable: true},
		{Group: 1, Wanted: 1, Voters: 1, Degraded: true, Unavailable: true},
	}
	if !slices.Equal(got, want) {
		t.Errorf("status:\n got %+v\nwant %+v", got, want)
	}
}

func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		got  fmt.Stringer
		want string
	}{
		{Change{Op: AddNonvoter, Group: 3, Node: "n4"}, "add-nonvoter g3 n4"},
		{Change{Op: Promote, Group: Meta, Node: "n4"}, "promote meta n4"},
		{Change{Op: Remove, Group: 1, Node: "n2"}, "remove g1 n2"},
		{Change{Op: CreateGroup, Group: 7, Nodes: []NodeID{"n1", "n2", "n3"}}, "create g7 n1,n2,n3"},
		{Op(0), "Op(0)"},
		{Op(9), "Op(9)"},
		{Dead, "dead"},
		{Health(9), "Health(9)"},
	} {
		if s := tc.got.String(); s != tc.want {
			t.Errorf("String() = %q, want %q", s, tc.want)
		}
	}
}

// BenchmarkPlan plans for DefaultGroups groups balanced over 49 nodes when
// a 50th joins: the worst case, a search for moves over every pair of nodes.
func BenchmarkPlan(b *testing.B) {
	var ids []NodeID
	for i := range 49 {
		ids = append(ids, NodeID(fmt.Sprintf("n%02d", i)))
	}
	s := newSim(DefaultGroups, Config{MaxChanges: 1000}, ids...)
	for range 100 {
		changes, _, _ := s.plan(nil)
		if len(changes) == 0 && !s.catchingUp() {
			break
		}
		s.start(changes, func(Change) int { return 0 }, func(Change) int { return 0 })
		s.catchUp()
	}
	s.st.Nodes = append(s.st.Nodes, Node{ID: "n49"})
	b.ReportAllocs()
	for b.Loop() {
		Plan(s.st, Config{})
	}
}
