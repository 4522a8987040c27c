package replication

import (
	"testing"
	"time"
)

// TestLocalStatusMetrics: LocalStatus lists each replica a node holds, and
// across the nodes each group has one leader, whose commit index the
// others' applied indexes reach.
func TestLocalStatusMetrics(t *testing.T) {
	c := newKVCluster(t, 3)
	waitFor(t, 20*time.Second, "one leader per group", func() bool {
		leaders := map[string]int{}
		held := 0
		for _, nd := range c.nodes {
			for _, s := range nd.cl.LocalStatus() {
				held++
				if s.State == "leader" {
					leaders[s.ID]++
				}
				if s.AppliedIndex > s.CommitIndex || s.CommitIndex > s.LastIndex {
					return false
				}
			}
		}
		groups := len(c.nodes[0].cl.slots.Groups()) + 1 // and the meta group
		if len(leaders) != groups {
			return false
		}
		for _, k := range leaders {
			if k != 1 {
				return false
			}
		}
		return held >= groups*3
	})
	st := c.nodes[0].cl.LocalStatus()
	for i := 1; i < len(st); i++ {
		if st[i-1].ID >= st[i].ID {
			t.Fatalf("not ordered by group: %q before %q", st[i-1].ID, st[i].ID)
		}
	}
}
