package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/replication/placement"
)

// nodesOf is the mesh's membership as placement reads it.
func nodesOf(members []mesh.Peer) ([]placement.Node, map[string]string) {
	nodes := make([]placement.Node, 0, len(members))
	ids := make(map[string]string, len(members))
	for _, p := range members {
		n := placement.Node{ID: placement.NodeID(p.Name), Zone: p.Tags["zone"]}
		switch p.State {
		case mesh.StateAlive, mesh.StateDraining:
			// A draining node finishes its calls before it stops: every
			// stop (a restart too) goes through it, so it moves nothing;
			// a retiring one (being decommissioned) has its replicas
			// moved off now.
			n.Health, n.Draining = placement.Alive, p.Retiring
		case mesh.StateSuspect:
			n.Health, n.Draining = placement.Suspect, p.Retiring
		default:
			// A node that left the mesh (warren node stops gracefully
			// that way) is given the grace period to come back, as a
			// dead one is: a restart must not rebuild every replica.
			n.Health, n.DeadSince = placement.Dead, p.Updated
		}
		nodes = append(nodes, n)
		ids[p.Name] = p.ID
	}
	return nodes, ids
}

// configOf is a raft configuration as the view records it.
func configOf(cf raft.Configuration) []viewReplica {
	out := make([]viewReplica, 0, len(cf.Servers))
	for _, s := range cf.Servers {
		out = append(out, viewReplica{Name: string(s.Address), ID: string(s.ID), Voter: s.Suffrage == raft.Voter})
	}
	return out
}

// settledFor reports whether a meta leader in office since since, which saw
// the membership grow last at grewAt, creates data groups at now: once it
// has led, and the membership has not grown, for settle, or once it has led
// for maxSettle.
func settledFor(now, since, grewAt time.Time, settle time.Duration) bool {
	return now.Sub(since) >= settle && now.Sub(grewAt) >= settle || now.Sub(since) >= maxSettle
}

// place is one round of placement on the meta leader: plan from the view
// and the membership, and start the changes.
func (c *Cluster) place(meta *replica) {
	term := meta.g.r.CurrentTerm()
	if c.leaderTerm != term {
		c.leaderTerm, c.leaderSince = term, time.Now()
		c.grownTo, c.grewAt = 0, time.Time{}
		c.log.Info("leading the meta group", "term", term)
		// A change the last leader made may have failed after taking
		// effect: check every group once.
		c.pmu.Lock()
		for gid := range meta.meta.current().Groups {
			if gid != placement.Meta {
				c.unsure[gid] = true
			}
		}
		c.pmu.Unlock()
	}
	f := meta.g.r.GetConfiguration()
	if f.Error() != nil {
		return
	}
	c.checkUnsure(meta)
	v := meta.meta.current()
	members := c.m.Members()
	nodes, _ := nodesOf(members)
	st := placement.State{Slots: c.slots, Nodes: nodes, Now: time.Now()}
	metaCfg := configOf(f.Configuration())
	st.Groups = append(st.Groups, c.groupOf(placement.Meta, metaCfg, meta))
	// Groups with nonvoters ask their replicas how far they are: at once,
	// so that slow or dead peers cost one timeout, not one per group.
	data := make([]placement.Group, 0, len(v.Groups))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for gid, rs := range v.Groups {
		if gid == placement.Meta {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := c.groupOf(gid, rs, nil)
			mu.Lock()
			data = append(data, g)
			mu.Unlock()
		}()
	}
	wg.Wait()
	st.Groups = append(st.Groups, data...)
	c.pmu.Lock()
	for _, ch := range c.pending {
		st.Pending = append(st.Pending, ch)
	}
	c.pmu.Unlock()
	changes, _ := placement.Plan(st, placement.Config{Grace: c.cfg.Grace})
	// Data groups are created once the membership has stopped growing for
	// Settle (nodes started together all get replicas at once, rather than
	// by moves), or at the latest maxSettle after this node took office.
	if len(nodes) > c.grownTo {
		c.grownTo, c.grewAt = len(nodes), time.Now()
	}
	settled := settledFor(time.Now(), c.leaderSince, c.grewAt, c.cfg.Settle)
	// The view records the meta group too; keep it current.
	if !sameConfig(v.Groups[placement.Meta], metaCfg) {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		if err := c.record(ctx, placement.Meta, metaCfg); err != nil {
			c.log.Debug("recording the meta group's members", "err", err)
		}
		cancel()
	}
	for _, ch := range changes {
		if ch.Op == placement.CreateGroup && !settled {
			continue
		}
		// A change that finished since v was read is recorded in a newer
		// view: the plan from v would repeat it.
		if meta.meta.current().Version != v.Version {
			break
		}
		c.pmu.Lock()
		unsure := c.unsure[ch.Group]
		c.pmu.Unlock()
		if unsure && ch.Op != placement.CreateGroup {
			continue // planned from what may not be the group's configuration
		}
		c.startChange(ch, func(ctx context.Context) error { return c.execute(ctx, ch) })
	}
}

// checkUnsure asks the leader of each group whose last change failed
// for the group's configuration, and records it where the view differs:
// a change whose leader lost office after appending it, say, may commit
// under the next leader all the same. Without this, a removal of a
// stopped replica that committed that way left the view with three
// voters and the group with two, for good: nothing planned a new
// replica. Until its check is done no change of the group is planned. A
// group whose leader does not answer stays unsure and is asked again the
// next round; the checks run in the background, one at a time a group,
// so that a group without a quorum holds up no other.
func (c *Cluster) checkUnsure(meta *replica) {
	v := meta.meta.current()
	c.pmu.Lock()
	var todo []placement.GroupID
	for gid := range c.unsure {
		if _, busy := c.pending[gid]; busy || c.checking[gid] {
			continue
		}
		if _, ok := v.Groups[gid]; !ok {
			delete(c.unsure, gid) // never created: placement creates it again
			continue
		}
		c.checking[gid] = true
		todo = append(todo, gid)
	}
	c.pmu.Unlock()
	for _, gid := range todo {
		c.wg.Go(func() {
			sure := c.checkGroup(meta, gid)
			c.pmu.Lock()
			delete(c.checking, gid)
			if sure {
				delete(c.unsure, gid)
			}
			c.pmu.Unlock()
			if sure {
				c.poke()
			}
		})
	}
}

// checkGroup records gid's configuration as its leader reports it, if the
// view says otherwise; it reports whether it learned the configuration.
func (c *Cluster) checkGroup(meta *replica, gid placement.GroupID) bool {
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
	defer cancel()
	st := c.leaderStatus(ctx, gid)
	if st == nil {
		return false
	}
	if !sameConfig(meta.meta.current().Groups[gid], st.Config) {
		if err := c.record(ctx, gid, st.Config); err != nil {
			return false
		}
		c.log.Warn("placement recorded the configuration a failed change left", "group", gid, "config", replicaNames(st.Config))
	}
	c.forgetRemoved(gid, st.Config)
	return true
}

// hasVoter says whether rs has node as a voter.
func hasVoter(rs []viewReplica, node string) bool {
	for _, r := range rs {
		if r.Name == node && r.Voter {
			return true
		}
	}
	return false
}

// replicaNames lists rs for a log line, a nonvoter marked.
func replicaNames(rs []viewReplica) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
		if !r.Voter {
			out[i] += "(nonvoter)"
		}
	}
	return out
}

// groupOf is group gid for placement; a nonvoter is caught up when its
// log is within caughtUpSlack entries of the leader's commit index.
func (c *Cluster) groupOf(gid placement.GroupID, rs []viewReplica, local *replica) placement.Group {
	g := placement.Group{ID: gid}
	var commit uint64
	var once sync.Once
	for _, r := range rs {
		pr := placement.Replica{Node: placement.NodeID(r.Name), Voter: r.Voter, Failed: c.failedNow(gid, r.Name)}
		if !r.Voter {
			once.Do(func() {
				if local != nil {
					commit = local.g.r.CommitIndex()
					return
				}
				ctx, cancel := context.WithTimeout(c.ctx, time.Second)
				defer cancel()
				if resp, _, err := c.toLeader(ctx, gid, &rpcReq{Op: opStatus, Group: gid.String()}, nil, false); err == nil && resp.Status != nil {
					commit = resp.Status.CommitIndex
				}
			})
			if commit > 0 {
				if st, err := c.statusOf(gid, r.Name); err == nil && st.LastIndex+caughtUpSlack >= commit {
					pr.CaughtUp = true
				}
			}
		}
		g.Replicas = append(g.Replicas, pr)
	}
	return g
}

// statusOf asks node name for its replica's status.
func (c *Cluster) statusOf(gid placement.GroupID, name string) (*replicaStatus, error) {
	ctx, cancel := context.WithTimeout(c.ctx, time.Second)
	defer cancel()
	resp, _, err := c.to(ctx, name, &rpcReq{Op: opStatus, Group: gid.String()}, nil)
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, errors.New("no status")
	}
	return resp.Status, nil
}

func sameConfig(a, b []viewReplica) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]viewReplica{}
	for _, r := range a {
		m[r.Name] = r
	}
	for _, r := range b {
		if m[r.Name] != r {
			return false
		}
	}
	return true
}

// changeRetry is when a group whose changes failed may be changed again.
type changeRetry struct {
	at       time.Time
	failures int
}

// Retries of a group whose change failed wait changeBackoffMin, doubling
// with each failure in a row up to changeBackoffMax. Without the wait, a
// change that fails at once (a node out of file descriptors, a full disk)
// was started again at once, thousands of times a second, each failure
// logged.
const (
	changeBackoffMin = 100 * time.Millisecond
	changeBackoffMax = 5 * time.Second
)

// startChange runs fn for ch's group unless a change of that group is
// under way, or the group's last change failed too recently.
func (c *Cluster) startChange(ch placement.Change, fn func(ctx context.Context) error) {
	c.pmu.Lock()
	if _, busy := c.pending[ch.Group]; busy {
		c.pmu.Unlock()
		return
	}
	if r, ok := c.retry[ch.Group]; ok && time.Now().Before(r.at) {
		c.pmu.Unlock()
		return
	}
	c.pending[ch.Group] = ch
	c.pmu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, changeTimeout)
		err := fn(ctx)
		cancel()
		failed := err != nil && c.ctx.Err() == nil
		c.pmu.Lock()
		delete(c.pending, ch.Group)
		if failed {
			c.unsure[ch.Group] = true
			r := c.retry[ch.Group]
			wait := min(changeBackoffMin<<min(r.failures, 20), changeBackoffMax)
			c.retry[ch.Group] = changeRetry{at: time.Now().Add(wait), failures: r.failures + 1}
		} else {
			delete(c.retry, ch.Group)
		}
		c.pmu.Unlock()
		if failed {
			c.log.Warn("placement change failed", "change", ch.String(), "err", err)
			// The reconcile loop tries again once the wait is over.
			return
		}
		c.log.Info("placement change", "change", ch.String())
		c.poke()
	}()
}

// execute carries out one change of placement and records the group's new
// configuration in the meta group.
func (c *Cluster) execute(ctx context.Context, ch placement.Change) error {
	_, ids := nodesOf(c.m.Members())
	if ch.Op == placement.CreateGroup {
		servers := make([]Server, 0, len(ch.Nodes))
		for _, n := range ch.Nodes {
			servers = append(servers, Server{ID: ids[string(n)], Name: string(n)})
		}
		var wg sync.WaitGroup
		errs := make([]error, len(servers))
		for i, s := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = c.to(ctx, s.Name, &rpcReq{Op: opCreate, Group: ch.Group.String(), Servers: servers}, nil)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		rs := make([]viewReplica, len(servers))
		for i, s := range servers {
			rs[i] = viewReplica{Name: s.Name, ID: s.ID, Voter: true}
		}
		return c.record(ctx, ch.Group, rs)
	}
	req := &changeReq{Name: string(ch.Node), ID: ids[string(ch.Node)]}
	switch ch.Op {
	case placement.AddNonvoter:
		req.Op = "add-nonvoter"
	case placement.Promote:
		req.Op = "promote"
	case placement.Remove:
		req.Op = "remove"
	default:
		return fmt.Errorf("unknown change %v", ch)
	}
	if req.ID == "" { // a node gone from the mesh: its id is in the view
		for _, r := range c.currentView().Groups[ch.Group] {
			if r.Name == req.Name {
				req.ID = r.ID
			}
		}
	}
	if req.ID == "" {
		return fmt.Errorf("no id known for node %s", req.Name)
	}
	resp, _, err := c.toLeader(ctx, ch.Group, &rpcReq{Op: opChange, Group: ch.Group.String(), Change: req}, nil, false)
	if err != nil {
		return err
	}
	if ch.Op == placement.Remove {
		// A stopped replica's report ends with it: a replica its node
		// receives again is a new one.
		c.forgetFailed(ch.Group, string(ch.Node))
	}
	return c.record(ctx, ch.Group, resp.Config)
}

// record sets gid's members in the meta group (this node leads it).
func (c *Cluster) record(ctx context.Context, gid placement.GroupID, rs []viewReplica) error {
	meta := c.replica(placement.Meta)
	if meta == nil {
		return ErrNotLeader
	}
	b, err := json.Marshal(metaCmd{Group: gid, Replicas: rs})
	if err != nil {
		return err
	}
	if v, err := meta.g.Apply(ctx, b); err != nil {
		return err
	} else if err, ok := v.(error); ok {
		return err
	}
	return nil
}

// changeLocal makes a membership change on this node's replica, which
// must lead its group, and returns the group's new configuration.
func (c *Cluster) changeLocal(r *replica, ch *changeReq) ([]viewReplica, error) {
	rf := r.g.r
	if rf.State() != raft.Leader {
		return nil, c.notLeader(r)
	}
	id, addr := raft.ServerID(ch.ID), raft.ServerAddress(ch.Name)
	r.g.wake() // the change is an entry: heartbeats at the ordinary rate go with it
	var f raft.IndexFuture
	switch ch.Op {
	case "add-nonvoter":
		f = rf.AddNonvoter(id, addr, 0, 10*time.Second)
	case "promote":
		f = rf.AddVoter(id, addr, 0, 10*time.Second)
	case "remove":
		f = rf.RemoveServer(id, 0, 10*time.Second)
	default:
		return nil, fmt.Errorf("unknown membership change %q", ch.Op)
	}
	if err := f.Error(); err != nil {
		return nil, r.g.mapErr(err)
	}
	cf := rf.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, err
	}
	return configOf(cf.Configuration()), nil
}

// create starts this node's replica of gid and bootstraps it with servers
// (a no-op for a replica that has state).
func (c *Cluster) create(gid placement.GroupID, servers []Server) error {
	r, err := c.ensure(gid)
	if err != nil {
		return err
	}
	if err := r.g.Bootstrap(servers...); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return err
	}
	return nil
}

// notLeader is the error of a replica that does not lead its group.
func (c *Cluster) notLeader(r *replica) error {
	name, _ := r.g.Leader()
	return &rpcError{Peer: c.m.Name(), Code: codeNotLeader, Msg: fmt.Sprintf("not the leader of group %v", r.id), Leader: name}
}
