package replication

import (
	"cmp"
	"slices"
)

// LocalStatus returns the status of each replica this node holds, by group
// id: cheap enough to call on every metrics scrape (it asks no peer).
func (c *Cluster) LocalStatus() []Status {
	c.mu.Lock()
	groups := make([]*Group, 0, len(c.replicas))
	for _, r := range c.replicas {
		if r.g != nil {
			groups = append(groups, r.g)
		}
	}
	c.mu.Unlock()
	out := make([]Status, 0, len(groups))
	for _, g := range groups {
		out = append(out, g.Status())
	}
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
