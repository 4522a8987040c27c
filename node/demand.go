package node

import (
	"sync"
	"time"
)

// Placement toward demand.
//
// An object lives on the leader of its group wherever its callers are.
// When most of the calls its objects get come through one other node,
// the group's leader hands its leadership to that node's replica (if it
// has a voter of the group): the objects then run where they are called
// from, and their calls no longer cross the mesh. Each owner counts, per
// group, where the calls it runs come from, over windows of demandEvery;
// a group that got at least demandMin calls in a window, demandShare of
// them from one other node, moves there, and then not again for
// demandCooldown (calls that alternate between nodes must not bounce a
// group to and fro). A move resets the live instances of the group's
// objects, as any change of owner does.
//
// objectTimings are these numbers, and the alarms' backoff: a node copies
// defaultObjectTimings when it starts (tests set them shorter first).
type objectTimings struct {
	demandEvery    time.Duration
	demandMin      int
	demandShare    float64
	demandCooldown time.Duration
	// alarmBackoff is the wait before the first retry of a failed alarm;
	// it doubles with each failure.
	alarmBackoff time.Duration
}

var defaultObjectTimings = objectTimings{
	demandEvery: 10 * time.Second, demandMin: 200, demandShare: 0.8, demandCooldown: time.Minute,
	alarmBackoff: time.Second,
}

// demand counts the origins of the object calls this node runs.
type demand struct {
	ot     objectTimings
	mu     sync.Mutex
	counts map[string]map[string]int // group → origin node → calls
	moved  map[string]time.Time      // group → when it last moved
}

func newDemand(ot objectTimings) *demand {
	return &demand{ot: ot, counts: map[string]map[string]int{}, moved: map[string]time.Time{}}
}

// note counts a call of an object of group gid that came from origin.
func (d *demand) note(gid, origin string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.counts[gid]
	if m == nil {
		m = map[string]int{}
		d.counts[gid] = m
	}
	m[origin]++
}

// decide ends a window: the groups to move, and where.
func (d *demand) decide(self string, now time.Time) map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]string{}
	for gid, m := range d.counts {
		total, top, topN := 0, "", 0
		for origin, c := range m {
			total += c
			if c > topN {
				top, topN = origin, c
			}
		}
		if total < d.ot.demandMin || top == self || float64(topN) < d.ot.demandShare*float64(total) || now.Sub(d.moved[gid]) < d.ot.demandCooldown {
			continue
		}
		out[gid] = top
		d.moved[gid] = now
	}
	clear(d.counts)
	return out
}

// placeObjects moves groups toward their callers until the node stops.
func (n *Node) placeObjects() {
	t := time.NewTicker(n.objects.ot.demandEvery)
	defer t.Stop()
	for {
		select {
		case <-n.life.Done():
			return
		case now := <-t.C:
			for gid, to := range n.objects.demand.decide(n.id.Name, now) {
				if err := n.cluster.MoveObjects(gid, to); err != nil {
					n.log.Info("objects: moving a group toward its callers", "group", gid, "to", to, "err", err)
					continue
				}
				n.log.Info("objects: moved a group toward its callers", "group", gid, "to", to)
			}
		}
	}
}
