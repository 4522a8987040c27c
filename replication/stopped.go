package replication

import (
	"context"
	"errors"
	"time"

	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/replication/placement"
)

// A replica whose Raft stops on its own, on a node that lives, is
// replaced. raft shuts a server down when it cannot go on safely: a
// committed entry it cannot read back from its log cannot be applied nor
// skipped (third_party/raft patch 0006). A replica that cannot start from
// its data at all (an entry unreadable when raft scans the log at start)
// is stopped the same way, and the node starts without it. Such a replica can neither vote
// nor apply; left alone, its group would run one replica short for as
// long as the node lives, and a restart of the node would stop it again.
//
// The repair goes through placement, never around it: a voter that
// forgot what it acknowledged must not vote again, so the node keeps the
// replica's data (a restart finds the same fault and stops it again) and
// reports it to the meta leader every time its loop runs (opFailed); the
// meta leader, once the node confirms it, plans with the replica as lost
// (placement.Replica.Failed):
// a replacement elsewhere, or, where no other node can take it, the
// removal first. Once the group's leader shows this node out of the
// group's voters, the node deletes the replica's data; if placement
// gives it the group again, it starts over as a new nonvoter that
// catches up from a snapshot.

// failedFresh is how long the meta leader holds a report of a stopped
// replica that it has not removed (the removal ends the report): its node
// repeats it every viewEvery while the replica is a voter, so a report
// that a new meta leader, say, never acted on lapses.
const failedFresh = 15 * time.Second

// stateStopped is the State of a stopped replica in the status that
// Groups gathers; stateLeader a leader's State.
const (
	stateStopped = "stopped"
	stateLeader  = "leader"
)

// failedKey names one replica: a group and a node.
type failedKey struct {
	group placement.GroupID
	node  string
}

// stoppedReplica is one of this node's replicas whose Raft stopped.
type stoppedReplica struct {
	since  time.Time
	busy   bool // repairStopped is looking at it
	logged bool // the wait for its removal was logged
}

// stopReplica takes r, whose Raft has shut down although nothing here
// closed it, out of service: requests for its group are refused as if
// this node had no replica of it, and it waits to be replaced.
func (c *Cluster) stopReplica(r *replica) {
	c.mu.Lock()
	if c.closed || c.replicas[r.id] != r {
		c.mu.Unlock()
		return // closed by this node (Close, maybeDrop, fail)
	}
	delete(c.replicas, r.id)
	c.stopped[r.id] = &stoppedReplica{since: time.Now()}
	c.mu.Unlock()
	c.log.Error("this node's replica of a group stopped on its own (raft's error above says why); its data is kept and the meta leader is asked to replace it",
		"group", r.id)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_ = r.g.Close() // its Raft is down; this releases its streams
	}()
	c.poke()
}

// stopAtStart records this node's replica of gid, which could not start
// from its data (err), as stopped.
func (c *Cluster) stopAtStart(gid placement.GroupID, err error) {
	c.mu.Lock()
	c.stopped[gid] = &stoppedReplica{since: time.Now()}
	c.mu.Unlock()
	c.log.Error("a replica cannot start from its data; the node starts without it, keeps the data and asks the meta leader to replace it",
		"group", gid, "err", err)
}

func (c *Cluster) isStopped(gid placement.GroupID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped[gid] != nil
}

// repairStopped looks at each stopped replica once more (see the comment
// at the top of the file), each in its own goroutine.
func (c *Cluster) repairStopped() {
	c.mu.Lock()
	var todo []placement.GroupID
	for gid, s := range c.stopped {
		if !s.busy {
			s.busy = true
			todo = append(todo, gid)
		}
	}
	c.mu.Unlock()
	for _, gid := range todo {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.repairOne(gid)
			c.mu.Lock()
			if s := c.stopped[gid]; s != nil {
				s.busy = false
			}
			c.mu.Unlock()
		}()
	}
}

// repairOne asks gid's leader whether this node still votes in gid: if it
// does, it reports its stopped replica to the meta leader; if not, it
// deletes the replica's data, and this node may hold gid again.
func (c *Cluster) repairOne(gid placement.GroupID) {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	me := c.m.Name()
	st := c.leaderStatus(ctx, gid)
	if st == nil {
		return // no leader answers: the data stays, and so does the fault
	}
	if hasVoter(st.Config, me) {
		_, _, err := c.toLeader(ctx, placement.Meta, &rpcReq{Op: opFailed, Group: gid.String()}, nil, false)
		c.mu.Lock()
		st := c.stopped[gid]
		first := st != nil && !st.logged
		if first && err == nil {
			st.logged = true
		}
		c.mu.Unlock()
		if err != nil {
			c.log.Warn("reporting a stopped replica to the meta leader", "group", gid, "err", err)
		} else if first {
			c.log.Info("reported a stopped replica to the meta leader; it stays a voter until placement replaces it", "group", gid)
		}
		return
	}
	// Out of the voters (or a nonvoter): its data can go. A nonvoter's
	// next message from the leader starts a new replica here.
	if err := c.deleteReplicaData(gid); err != nil {
		c.log.Warn("deleting a stopped replica's data", "group", gid, "err", err)
		return
	}
	c.mu.Lock()
	delete(c.stopped, gid)
	c.mu.Unlock()
	c.log.Info("deleted the data of a stopped replica that is no longer a voter; placement may give this node the group again", "group", gid)
	c.poke()
}

// handleFailed serves opFailed on the meta leader: from's replica of gid
// has stopped. A node reports only its own replicas (from is the mesh's
// authenticated peer).
func (c *Cluster) handleFailed(from mesh.Peer, gid placement.GroupID) *rpcResp {
	m := c.replica(placement.Meta)
	if m == nil {
		return &rpcResp{Code: codeNoGroup, Error: c.m.Name() + " runs no replica of the meta group", Leader: c.hintOnly(placement.Meta)}
	}
	if !m.g.IsLeader() {
		return c.errResp(c.notLeader(m))
	}
	k := failedKey{gid, from.Name}
	c.pmu.Lock()
	_, known := c.failed[k]
	c.failed[k] = time.Now()
	c.pmu.Unlock()
	// A report sent just before placement removed the replica may arrive
	// after the removal forgot the reports (execute): the group's leader,
	// asked after the report was recorded, says whether from still votes.
	// Asked after, so a removal either comes after the record (and
	// forgets it) or shows here.
	if !known && !c.stillVotes(gid, from.Name) {
		c.forgetFailed(gid, from.Name)
		return &rpcResp{}
	}
	if !known {
		c.log.Warn("a node reports its replica of a group stopped: placing a new one", "group", gid, "node", from.Name)
		c.poke()
	}
	return &rpcResp{}
}

// stillVotes says whether node votes in gid as far as gid's leader knows;
// true when no leader answers (the report then stands, and failedNow's
// confirmation guards it).
func (c *Cluster) stillVotes(gid placement.GroupID, node string) bool {
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
	defer cancel()
	st := c.leaderStatus(ctx, gid)
	return st == nil || hasVoter(st.Config, node)
}

// forgetFailed drops the report of node's replica of gid, once removed.
func (c *Cluster) forgetFailed(gid placement.GroupID, node string) {
	c.pmu.Lock()
	delete(c.failed, failedKey{gid, node})
	c.pmu.Unlock()
}

// forgetRemoved drops the reports of gid's replicas that are no longer
// voters in cfg: a report ends with its replica's removal, however the
// removal came about.
func (c *Cluster) forgetRemoved(gid placement.GroupID, cfg []viewReplica) {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	for k := range c.failed {
		if k.group == gid && !hasVoter(cfg, k.node) {
			delete(c.failed, k)
		}
	}
}

// failedNow says whether node's replica of gid is to be replaced as
// stopped: reported within failedFresh, and confirmed by node now. The
// confirmation keeps a late report, of a replica since removed, from
// condemning the new replica its node received since.
func (c *Cluster) failedNow(gid placement.GroupID, node string) bool {
	if !c.reportedFailed(gid, node) {
		return false
	}
	ctx, cancel := context.WithTimeout(c.ctx, time.Second)
	defer cancel()
	_, _, err := c.to(ctx, node, &rpcReq{Op: opStatus, Group: gid.String()}, nil)
	var re *rpcError
	return errors.As(err, &re) && re.Code == codeStopped
}

// reportedFailed says whether node's replica of gid was reported stopped
// within failedFresh; it forgets older reports.
func (c *Cluster) reportedFailed(gid placement.GroupID, node string) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	k := failedKey{gid, node}
	at, ok := c.failed[k]
	if ok && time.Since(at) > failedFresh {
		delete(c.failed, k)
		return false
	}
	return ok
}
