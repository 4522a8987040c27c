package placement

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestPlanProperties plays random membership histories against Plan: nodes
// join, die, turn suspect, come back, drain, leave and are forgotten, while
// the clock moves and the simulated leader carries out each plan, some
// changes only after a delay, with nonvoters catching up after a random
// lag. Every plan must keep the rules (sim.check: one change per group at
// a time, never a voter set without an alive quorum, promotions only of
// caught-up nonvoters, at most MaxChanges in flight, the same plan for any
// order of the state's slices). Once membership stops changing and the
// grace period has passed, the plans must run out (no oscillation) at a
// placement where every group has min(3, healthy nodes) voters on distinct
// healthy nodes (the meta group 5 from 5 nodes), balanced within one.
func TestPlanProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		grace := time.Minute
		cfg := Config{Grace: grace, MaxChanges: rapid.IntRange(1, 12).Draw(t, "maxChanges")}
		groups := rapid.IntRange(1, 8).Draw(t, "groups")
		zoned := rapid.Bool().Draw(t, "zoned")
		var ids []NodeID
		next := 0
		newID := func() NodeID {
			next++
			return NodeID(fmt.Sprintf("n%02d", next))
		}
		for range rapid.IntRange(1, 6).Draw(t, "nodes") {
			ids = append(ids, newID())
		}
		s := newSim(groups, cfg, ids...)
		zone := func() string {
			if !zoned {
				return ""
			}
			return rapid.SampledFrom([]string{"", "a", "b", "c"}).Draw(t, "zone")
		}
		for i := range s.st.Nodes {
			s.st.Nodes[i].Zone = zone()
		}
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 0))
		delay := func(Change) int { return rapid.IntRange(0, 2).Draw(t, "delay") }
		lag := func(Change) int { return rapid.IntRange(0, 3).Draw(t, "lag") }
		step := func() []Change {
			s.finish()
			changes, _, err := s.plan(rng)
			if err != nil {
				t.Fatalf("step %d: %v\n%s", s.step, err, s.layout(nil))
			}
			s.start(changes, delay, lag)
			s.catchUp()
			return changes
		}
		pick := func(label string, ok func(n Node) bool) *Node {
			var c []NodeID
			for _, n := range s.st.Nodes {
				if ok(n) {
					c = append(c, n.ID)
				}
			}
			if len(c) == 0 {
				return nil
			}
			return s.node(rapid.SampledFrom(c).Draw(t, label))
		}
		healthy := func() int {
			h := 0
			for _, n := range s.st.Nodes {
				if n.Health == Alive && !n.Draining {
					h++
				}
			}
			return h
		}
		// A node may fail if the groups survive it and a healthy node
		// remains.
		mayFail := func(n Node) bool {
			return n.Health <= Suspect && s.canLose(n.ID) && (n.Health != Alive || n.Draining || healthy() > 1)
		}

		for range rapid.IntRange(0, 25).Draw(t, "events") {
			switch rapid.IntRange(0, 9).Draw(t, "event") {
			case 0:
				s.st.Nodes = append(s.st.Nodes, Node{ID: newID(), Zone: zone()})
			case 1:
				if n := pick("kill", mayFail); n != nil {
					n.Health, n.DeadSince = Dead, s.st.Now
				}
			case 2:
				if n := pick("suspect", func(n Node) bool { return n.Health == Alive && mayFail(n) }); n != nil {
					n.Health = Suspect
				}
			case 3:
				if n := pick("revive", func(n Node) bool { return n.Health == Suspect || n.Health == Dead }); n != nil {
					n.Health, n.DeadSince = Alive, time.Time{}
				}
			case 4:
				if n := pick("drain", func(n Node) bool { return !n.Draining && (n.Health != Alive || healthy() > 1) }); n != nil {
					n.Draining = true
				}
			case 5:
				if n := pick("undrain", func(n Node) bool { return n.Draining }); n != nil {
					n.Draining = false
				}
			case 6:
				if n := pick("leave", mayFail); n != nil {
					n.Health = Left
				}
			case 7:
				if n := pick("forget", func(n Node) bool { return n.Health == Left || n.Health == Dead }); n != nil {
					s.st.Nodes = slices.DeleteFunc(s.st.Nodes, func(m Node) bool { return m.ID == n.ID })
				}
			case 8:
				s.st.Now = s.st.Now.Add(10 * time.Second)
			case 9:
				s.st.Now = s.st.Now.Add(2 * grace)
			}
			for range rapid.IntRange(0, 6).Draw(t, "steps") {
				step()
			}
		}

		// Membership is stable from here: suspects are settled one way or
		// the other, and the grace period passes.
		for i := range s.st.Nodes {
			if n := &s.st.Nodes[i]; n.Health == Suspect {
				if rapid.Bool().Draw(t, "suspect dies") && mayFail(*n) {
					n.Health, n.DeadSince = Dead, s.st.Now
				} else {
					n.Health = Alive
				}
			}
		}
		s.st.Now = s.st.Now.Add(grace)
		const limit = 2000
		for i := 0; ; i++ {
			if i == limit {
				t.Fatalf("no convergence after %d steps:\n%s", limit, s.layout(nil))
			}
			waiting := len(s.st.Pending) > 0 || s.catchingUp()
			if len(step()) == 0 && !waiting {
				break
			}
		}
		if err := s.converged(); err != nil {
			t.Fatalf("converged to a wrong placement: %v\n%s", err, s.layout(nil))
		}
	})
}
