package placement

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios runs the scenario files in testdata/scenarios. Each plays a mesh
// through membership events and prints what Plan does; the harness carries
// out every change at once and lets a nonvoter catch up one step after it
// joins, and fails on any plan that breaks a rule (sim.check). Regenerate
// the expected output with -rewrite and review the diff.
//
// Commands:
//
//	init groups=N [grace=D] [max-changes=N] nodes=(n1,...) [zones=(z1,...)]
//	                                    a mesh after bootstrap: the meta group is n1 alone
//	add-node ID... [zone=Z]             new alive nodes
//	kill ID...                          dead from now
//	suspect|revive|drain|undrain|leave|forget ID...
//	tick D                              advance the clock
//	plan                                print the plan, apply nothing
//	step [n=N]                          plan and carry out, N times
//	run [max=N]                         step until nothing is left to do, then print the layout
//	layout                              print nodes, groups (with status) and loads
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		var s *sim
		rng := rand.New(rand.NewPCG(1, 2))
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if s == nil && d.Cmd != "init" {
				d.Fatalf(t, "init first")
			}
			switch d.Cmd {
			case "init":
				groups := DefaultGroups
				d.MaybeScanArgs(t, "groups", &groups)
				var cfg Config
				if d.HasArg("grace") {
					cfg.Grace = durationArg(t, d, "grace")
				}
				d.MaybeScanArgs(t, "max-changes", &cfg.MaxChanges)
				var names []string
				d.ScanArgs(t, "nodes", &names)
				ids := make([]NodeID, len(names))
				for i, n := range names {
					ids[i] = NodeID(n)
				}
				s = newSim(groups, cfg, ids...)
				var zones []string
				d.MaybeScanArgs(t, "zones", &zones)
				for i, z := range zones {
					s.st.Nodes[i].Zone = z
				}
				return ""
			case "add-node":
				var zone string
				d.MaybeScanArgs(t, "zone", &zone)
				for _, id := range nodeArgs(d) {
					if s.node(id) != nil {
						d.Fatalf(t, "%s exists", id)
					}
					s.st.Nodes = append(s.st.Nodes, Node{ID: id, Zone: zone})
				}
				return ""
			case "kill", "suspect", "revive", "drain", "undrain", "leave":
				for _, id := range nodeArgs(d) {
					n := s.node(id)
					if n == nil {
						d.Fatalf(t, "no node %s", id)
					}
					switch d.Cmd {
					case "kill":
						n.Health, n.DeadSince = Dead, s.st.Now
					case "suspect":
						n.Health = Suspect
					case "revive":
						n.Health, n.DeadSince = Alive, time.Time{}
					case "drain":
						n.Draining = true
					case "undrain":
						n.Draining = false
					case "leave":
						n.Health = Left
					}
				}
				return ""
			case "forget":
				for _, id := range nodeArgs(d) {
					for i, n := range s.st.Nodes {
						if n.ID == id {
							s.st.Nodes = append(s.st.Nodes[:i], s.st.Nodes[i+1:]...)
							break
						}
					}
				}
				return ""
			case "tick":
				s.st.Now = s.st.Now.Add(durationArg(t, d, ""))
				return ""
			case "plan":
				changes, status := Plan(s.st, s.cfg)
				if err := s.check(changes); err != nil {
					d.Fatalf(t, "%v", err)
				}
				var b strings.Builder
				for _, ch := range changes {
					fmt.Fprintln(&b, ch)
				}
				if len(changes) == 0 {
					b.WriteString("no changes\n")
				}
				for _, st := range status {
					if note := statusNote(st); note != "" {
						fmt.Fprintf(&b, "%v:%s\n", st.Group, note)
					}
				}
				return b.String()
			case "step":
				n := 1
				d.MaybeScanArgs(t, "n", &n)
				var b strings.Builder
				for range n {
					changes := step(t, d, s, rng)
					fmt.Fprintf(&b, "%d: %s\n", s.step, joinChanges(changes))
				}
				return b.String()
			case "run":
				limit := 200
				d.MaybeScanArgs(t, "max", &limit)
				var b strings.Builder
				for i := 0; ; i++ {
					if i == limit {
						d.Fatalf(t, "still changing after %d steps:\n%s", limit, b.String())
					}
					waiting := s.catchingUp()
					changes := step(t, d, s, rng)
					if len(changes) == 0 && !waiting {
						break
					}
					fmt.Fprintf(&b, "%d: %s\n", s.step, joinChanges(changes))
				}
				_, status := Plan(s.st, s.cfg)
				b.WriteString(s.layout(status))
				return b.String()
			case "layout":
				_, status := Plan(s.st, s.cfg)
				return s.layout(status)
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}

// step plans once, carries the plan out at once, and lets nonvoters that
// joined in an earlier step catch up.
func step(t *testing.T, d *datadriven.TestData, s *sim, rng *rand.Rand) []Change {
	changes, _, err := s.plan(rng)
	if err != nil {
		d.Fatalf(t, "step %d: %v", s.step, err)
	}
	s.start(changes, func(Change) int { return 0 }, func(Change) int { return 1 })
	s.catchUp()
	return changes
}

func joinChanges(changes []Change) string {
	if len(changes) == 0 {
		return "-"
	}
	parts := make([]string, len(changes))
	for i, ch := range changes {
		parts[i] = ch.String()
	}
	return strings.Join(parts, "; ")
}

func nodeArgs(d *datadriven.TestData) []NodeID {
	var ids []NodeID
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 {
			ids = append(ids, NodeID(a.Key))
		}
	}
	return ids
}

// durationArg reads key=D, or with key "" the first bare argument.
func durationArg(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	var v string
	if key == "" {
		if len(d.CmdArgs) == 0 {
			d.Fatalf(t, "%s: want a duration", d.Cmd)
		}
		v = d.CmdArgs[0].Key
	} else {
		d.ScanArgs(t, key, &v)
	}
	dur, err := time.ParseDuration(v)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	return dur
}
