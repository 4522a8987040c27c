package replication

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/replication/internal/kvsm"
	"github.com/warrenmesh/warren/replication/internal/raftbadger"
	"github.com/warrenmesh/warren/replication/placement"
)

// Timing of a cluster's background work.
const (
	// reconcileEvery is how often the meta leader plans placement and
	// compares the groups it runs with the view; the other nodes do so
	// every viewEvery, and at once when a newer view arrives.
	reconcileEvery = 500 * time.Millisecond
	// viewEvery is how often a node outside the meta group asks a meta
	// member for the view.
	viewEvery = 2 * time.Second
	// settledEvery is how often a node outside the meta group runs its
	// background work while it is settled (Cluster.settled); a newer
	// view announced wakes it at once. It also bounds how late a group
	// leader's expiry (expireEvery) runs.
	settledEvery = 10 * time.Second
	// viewReask is how often a node asks for the view although no peer
	// announces a newer one than its own (mesh marks, viewMark): a peer
	// of an older version announces none.
	viewReask = time.Minute
	// viewMark is the mesh mark under which a node announces the version
	// of the view it holds, so that the others ask for the view only when
	// someone has a newer one.
	viewMark = "view"
	// dropAfter is how long a replica must be missing from the view
	// before the node asks its leader whether to delete it.
	dropAfter = time.Minute
	// A replica whose state machine fails maxFSMFails times within
	// fsmFailWindow is stopped and replaced instead of restarted (fail).
	maxFSMFails   = 3
	fsmFailWindow = 10 * time.Minute
	// DefaultSettle is how long a new meta leader waits, and the mesh's
	// membership must have stopped growing, before it creates the data
	// groups, so that nodes started together all get replicas at once
	// rather than by moves; maxSettle bounds that wait, for a mesh whose
	// nodes keep coming.
	DefaultSettle = 2 * time.Second
	maxSettle     = 15 * time.Second
	// expireEvery is how often a data group's leader removes expired keys.
	expireEvery = time.Minute
	// caughtUpSlack: a nonvoter this close to the leader's commit index
	// is promoted.
	caughtUpSlack = 64
	// maxLists is how many KV lists a node gathers at once.
	maxLists = 4
	// changeTimeout bounds one membership change.
	changeTimeout = 20 * time.Second
	// DataHeartbeatTimeout is the heartbeat and election timeout of every
	// group, the meta group's too. A leader heartbeats each follower
	// every tenth of it, and a node hosts up to 33 groups: at 1 s, three
	// idle nodes cost about 6 % of a core each in packets; at 2 s half
	// that. A dead leader is still replaced in about 1-1.5 s: followers
	// stand early once it has been silent for leaderSilence (Group.Watch),
	// rather than at 2-4 s.
	DataHeartbeatTimeout = 2 * time.Second
	// leaderSilence is how long a group's leader may be silent (it
	// heartbeats every 200-400 ms) before its followers stand for
	// election, checked on time (see watchLeaders, Group.Watch): a failover
	// of 1-1.5 s without the packets of a shorter heartbeat timeout.
	leaderSilence = DataHeartbeatTimeout / 2
	watchEvery    = 100 * time.Millisecond
	// watchIdleEvery bounds watchLeaders' sleep when no leader is near
	// its silence. A replica started, or a peer's RPC answered (a new
	// leader's heartbeat, a candidate's vote request), recomputes it at
	// once; the bound only covers what no RPC shows, such as a quiet
	// leader that stepped down on its own and must get its timeouts back.
	watchIdleEvery = 2 * leaderSilence
	// watchPokeGap is the least time between two of watchLeaders'
	// checks that RPCs asked for: under a stream of RPCs it checks at
	// most 200 times a second, a few microseconds per replica each.
	watchPokeGap = 5 * time.Millisecond
	// quietAfter: a group whose log has not grown for this long goes
	// quiet (GroupConfig.QuietAfter): its leader heartbeats every
	// 400-800 ms instead of 200-400 ms until the next write, which an
	// idle mesh's packets are mostly made of.
	quietAfter = 5 * time.Second
	// sleepAfter: a group whose log has not grown for this long goes to
	// sleep (GroupConfig.SleepAfter): its followers trust the mesh's
	// failure detection for its leader's node instead of the leader's
	// heartbeats, and its leader, 2 s later, heartbeats every 3-6 s.
	sleepAfter = 10 * time.Second
)

// ClusterConfig configures a node's part in the mesh's replication.
type ClusterConfig struct {
	Mesh      *mesh.Mesh // required
	Transport *Transport // the node's Raft transport (NewTransport); required
	DB        *badger.DB // the node's database (OpenDB); required
	// Dir holds the groups' snapshots and the node's marker of having
	// joined a cluster; required.
	Dir    string
	Logger *slog.Logger // default slog.Default()
	// Bootstrap lets this node found the cluster: if it has never held a
	// replica, it starts the meta group with itself as its one voter.
	// Set it on the mesh's first node (a node started without --join).
	Bootstrap bool
	// Grace is how long a dead node keeps its replicas before they are
	// rebuilt elsewhere (default placement.DefaultGrace).
	Grace time.Duration
	// Settle is how long a new meta leader waits, and the membership must
	// have stopped growing, before it creates the data groups (default
	// DefaultSettle; at most maxSettle after it took office).
	Settle time.Duration
	// Tune adjusts each group's configuration (tests shorten timeouts).
	Tune func(*GroupConfig)
	// OnCommit is every local group's GroupConfig.OnCommit (metrics).
	OnCommit func(time.Duration)
	// DiskReserve is the free space, in bytes, this node keeps on Dir's
	// disk: a put or object write it would lead while the disk has less
	// is refused with ErrKVFull (deletes pass, to make room). 0 means
	// DefaultDiskReserve; a negative value turns the guard off.
	DiskReserve int64

	// clock, if set, is the node's clock for KV expiration (tests skew
	// one node's): puts' TTLs, the expiry reads judge, expire commands.
	clock func() time.Time
	// valuesHeld, if set, replaces MaxValuesHeld (tests).
	valuesHeld int64
}

// now is the node's clock for KV expiration (ClusterConfig.clock).
func (c *Cluster) now() time.Time {
	if c.cfg.clock != nil {
		return c.cfg.clock()
	}
	return time.Now()
}

// Cluster is a node's part in replication: its replicas of the meta group
// and of data groups, the view of where every group lives, the routing of
// KV operations to the leaders of their groups, and, while this node
// leads the meta group, placement. It implements KV and Groups.
type Cluster struct {
	cfg   ClusterConfig
	m     *mesh.Mesh
	log   *slog.Logger
	slots placement.SlotMap

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}
	// watchKick is signalled when this node answered a peer's RPC or
	// started a replica: watchLeaders then recomputes its next check.
	watchKick chan struct{}
	// meshKick is signalled when the mesh's peer table changed: a
	// sleeping group's followers must look at once at whether the mesh
	// still vouches for their leader's node.
	meshKick chan struct{}
	// vlogKick is signalled when a group compacted its log for its bytes:
	// the value log may have garbage to collect (vlog.go).
	vlogKick chan struct{}
	// alarms is signalled when a committed object batch set an alarm
	// (AlarmsChanged).
	alarms chan struct{}
	lists  chan struct{} // a token per list under way (maxLists)
	values *valueBudget  // the large values reads hold (heldvalues.go)

	// readers counts the reads of the replicas' stores under way outside
	// the groups' own goroutines (KV reads, object storage reads, alarm
	// scans): Close waits for them, so that the node can close the
	// database once Close returns (a read of a closed badger database
	// panics). A read begins only while the cluster is open (enterRead).
	readers sync.WaitGroup
	// readHook, when set (tests), runs in NextAlarm between the choice of
	// the replicas to read and their reads.
	readHook func()

	mu       sync.Mutex
	closed   bool
	replicas map[placement.GroupID]*replica
	hints    map[placement.GroupID]string // leaders learned from answers
	view     *metaView                    // the newest view known
	absent   map[placement.GroupID]time.Time
	dropping map[placement.GroupID]bool
	// stopped holds this node's replicas whose Raft stopped on its own
	// (stopReplica), by when: their data stays until their group's leader
	// shows them out of the voters (repairStopped).
	stopped map[placement.GroupID]*stoppedReplica
	// fsmFails holds when each replica's state machine failed lately
	// (fail).
	fsmFails map[placement.GroupID][]time.Time

	// Placement, while this node leads the meta group; only the loop
	// goroutine touches leaderTerm and leaderSince.
	// The last answer of Groups, and the gathering under way.
	gmu      sync.Mutex
	gcache   []GroupInfo
	gcacheAt time.Time
	gerr     error
	gwait    chan struct{}

	// pipes carry the writes this node forwards to leaders elsewhere.
	pipes pipes
	// disk refuses the writes this node leads while its disk is down to
	// the reserve.
	disk *diskGuard
	// lead admits the large writes this node leads, forward those its
	// clients make (largewrites.go).
	lead, forward *largeWrites

	pmu     sync.Mutex
	pending map[placement.GroupID]placement.Change
	// retry holds, for a group whose last change failed, when a change of
	// it may be tried again and how many failed in a row (startChange).
	retry map[placement.GroupID]changeRetry
	// unsure holds the groups whose last change failed: the change may
	// have taken effect all the same (its leader lost office after
	// appending it), so the view may no longer say what the group is
	// (checkUnsure).
	unsure map[placement.GroupID]bool
	// checking holds the unsure groups being checked.
	checking map[placement.GroupID]bool
	// failed holds, on the meta leader, the replicas their nodes
	// reported stopped (opFailed), by when each was last reported:
	// placement replaces them (Replica.Failed) while the reports are
	// fresher than failedFresh.
	failed      map[failedKey]time.Time
	leaderTerm  uint64
	leaderSince time.Time
	// grownTo is the most nodes placement has seen since this node took
	// the meta group's office, grewAt when it saw them (place).
	grownTo   int
	grewAt    time.Time
	viewAsked time.Time
	viewFrom  string // the meta member that answered the last view request
	viewAsks  int    // view requests made
}

// replica is this node's replica of one group.
type replica struct {
	id   placement.GroupID
	g    *Group
	kv   *kvsm.Store // data groups
	meta *metaFSM    // the meta group
	// readyTerm is the term in which this replica, as leader, applied a
	// barrier: from then on its state machine holds every write
	// acknowledged before, and a read needs only VerifyLeader.
	readyTerm  atomic.Uint64
	lastExpire time.Time
	// settling is held while a strong read records its clock in the
	// group's log (Cluster.settleExpiry): one expire command at a time.
	settling chan struct{}
	// verifier shares VerifyLeader among the object owners' confirmations.
	verifier verifier
}

// StartCluster starts the node's replication: the replicas it has on disk,
// the meta group if cfg.Bootstrap finds a node that never held one, and
// the background work. Call it after NewTransport and before the mesh
// joins others.
func StartCluster(cfg ClusterConfig) (*Cluster, error) {
	switch {
	case cfg.Mesh == nil, cfg.Transport == nil, cfg.DB == nil, cfg.Dir == "":
		return nil, errors.New("replication: ClusterConfig needs Mesh, Transport, DB and Dir")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Settle <= 0 {
		cfg.Settle = DefaultSettle
	}
	c := &Cluster{
		cfg: cfg, m: cfg.Mesh, log: cfg.Logger.With("component", "replication"),
		slots:     placement.NewSlotMap(placement.DefaultGroups),
		kick:      make(chan struct{}, 1),
		watchKick: make(chan struct{}, 1),
		meshKick:  make(chan struct{}, 1),
		vlogKick:  make(chan struct{}, 1),
		alarms:    make(chan struct{}, 1),
		lists:     make(chan struct{}, maxLists),
		values:    newValueBudget(cmp.Or(cfg.valuesHeld, MaxValuesHeld)),
		replicas:  map[placement.GroupID]*replica{},
		hints:     map[placement.GroupID]string{},
		absent:    map[placement.GroupID]time.Time{},
		dropping:  map[placement.GroupID]bool{},
		stopped:   map[placement.GroupID]*stoppedReplica{},
		fsmFails:  map[placement.GroupID][]time.Time{},
		failed:    map[failedKey]time.Time{},
		pending:   map[placement.GroupID]placement.Change{},
		retry:     map[placement.GroupID]changeRetry{},
		unsure:    map[placement.GroupID]bool{},
		checking:  map[placement.GroupID]bool{},
	}
	reserve := cfg.DiskReserve
	if reserve == 0 {
		reserve = DefaultDiskReserve
	}
	c.disk = newDiskGuard(cfg.Dir, reserve)
	c.lead, c.forward = newLargeWrites(leadBudget), newLargeWrites(forwardBudget)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "groups"), 0o700); err != nil {
		return nil, fmt.Errorf("replication: %w", err)
	}
	founded := c.hasMarker()
	ents, err := os.ReadDir(filepath.Join(cfg.Dir, "groups"))
	if err != nil {
		return nil, fmt.Errorf("replication: %w", err)
	}
	for _, e := range ents {
		if gid, ok := parseGroupID(e.Name()); ok && e.IsDir() {
			if _, err := c.ensure(gid); err != nil {
				// One replica's unreadable log must not keep the node,
				// and its other replicas, from starting: the replica is
				// stopped, and replaced (stopped.go).
				c.stopAtStart(gid, err)
			}
		}
	}
	if cfg.Bootstrap && !founded {
		r, err := c.ensure(placement.Meta)
		if err != nil {
			c.closeAll()
			return nil, err
		}
		local := c.m.Local()
		if err := r.g.Bootstrap(Server{ID: local.ID, Name: local.Name}); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			c.closeAll()
			return nil, err
		}
		c.log.Info("founded the cluster: this node holds the meta group")
	}
	cfg.Mesh.Handle(mesh.ProtoRepl, c.serve)
	cfg.Transport.onUnknownGroup(c.startUnknown)
	answered := c.pokeWatch
	cfg.Transport.answered.Store(&answered)
	c.wg.Add(3)
	go c.loop()
	c.m.NotifyChanges(c.meshKick)
	c.m.NotifyChanges(c.kick) // a peer's newer view (refreshView)
	go c.watchLeaders()
	go func() {
		defer c.wg.Done()
		collectValueLog(cfg.DB, c.log, vlogDefault, c.vlogKick, c.ctx.Done())
	}()
	return c, nil
}

// markerPath is the file that says this node has held a replica: it never
// founds a cluster again, even if it has since lost every replica.
func (c *Cluster) markerPath() string { return filepath.Join(c.cfg.Dir, "member") }

func (c *Cluster) hasMarker() bool {
	_, err := os.Stat(c.markerPath())
	return err == nil
}

// parseGroupID reads "meta" or "g<n>" for a data group of the slot map.
func parseGroupID(s string) (placement.GroupID, bool) {
	if s == "meta" {
		return placement.Meta, true
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "g"), 10, 32)
	if !strings.HasPrefix(s, "g") || err != nil || n < 1 || n > placement.DefaultGroups || "g"+strconv.FormatUint(n, 10) != s {
		return 0, false
	}
	return placement.GroupID(n), true
}

// ensure returns this node's replica of gid, starting it if needed.
func (c *Cluster) ensure(gid placement.GroupID) (*replica, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if r := c.replicas[gid]; r != nil {
		return r, nil
	}
	if c.dropping[gid] {
		return nil, fmt.Errorf("replication: group %v is being removed from this node", gid)
	}
	if c.stopped[gid] != nil {
		return nil, fmt.Errorf("replication: this node's replica of group %v stopped and waits to be replaced", gid)
	}
	if !c.hasMarker() {
		if err := os.WriteFile(c.markerPath(), []byte("this node has held a replica; it never founds a cluster again\n"), 0o600); err != nil {
			return nil, fmt.Errorf("replication: %w", err)
		}
	}
	r := &replica{id: gid, settling: make(chan struct{}, 1)}
	gc := GroupConfig{
		ID: gid.String(), Transport: c.cfg.Transport, DB: c.cfg.DB, Dir: c.cfg.Dir,
		Logger: c.cfg.Logger, OnStateChange: c.pokeWatch,
	}
	if gid == placement.Meta {
		r.meta = newMetaFSM(c.setView)
		gc.FSM = r.meta
	} else {
		s, err := kvsm.Open(c.cfg.DB, kvPrefixOf(gid))
		if err != nil {
			return nil, fmt.Errorf("replication: group %v: %w", gid, err)
		}
		r.kv = s
		gc.FSM = &dataFSM{s: s, failed: func(err error) { c.fail(gid, err) }}
		// The state machine's writes are not synced: after a crash it may
		// be behind the latest snapshot, whose log entries are gone; it
		// must then be restored from the snapshot.
		gc.PersistentFSM = latestSnapshot(filepath.Join(c.cfg.Dir, "groups", gid.String())) <= s.Applied()
	}
	gc.HeartbeatTimeout, gc.ElectionTimeout = DataHeartbeatTimeout, DataHeartbeatTimeout
	gc.LeaderLeaseTimeout = DataHeartbeatTimeout / 2
	gc.QuietAfter = quietAfter
	gc.SleepAfter, gc.Vouch = sleepAfter, c.m.Vouches
	gc.OnCommit = c.cfg.OnCommit
	gc.OnCompacted = func() {
		select {
		case c.vlogKick <- struct{}{}:
		default:
		}
	}
	if c.cfg.Tune != nil {
		c.cfg.Tune(&gc)
	}
	g, err := StartGroup(gc)
	if err != nil {
		return nil, err
	}
	r.g = g
	c.replicas[gid] = r
	c.log.Debug("replica started", "group", gid)
	c.pokeWatch()
	return r, nil
}

// fail stops a replica whose state machine could not apply a command: it
// must not go on without it. A restart (the group's leader's next message
// starts it again) replays the command; a replica whose state machine
// fails maxFSMFails times within fsmFailWindow is stopped for good and
// replaced (stopped.go) rather than restarted for ever, each time
// replaying its log.
func (c *Cluster) fail(gid placement.GroupID, err error) {
	now := time.Now()
	c.mu.Lock()
	fails := slices.DeleteFunc(c.fsmFails[gid], func(t time.Time) bool { return now.Sub(t) > fsmFailWindow })
	fails = append(fails, now)
	c.fsmFails[gid] = fails
	persistent := len(fails) >= maxFSMFails
	c.mu.Unlock()
	if persistent {
		c.log.Error("a replica's state machine failed again; stopping the replica for good", "group", gid, "err", err, "failures", len(fails), "within", fsmFailWindow)
	} else {
		c.log.Error("a replica's state machine failed; stopping the replica", "group", gid, "err", err)
	}
	go func() { // not in c.wg: raft's FSM goroutine calls fail, maybe while Close waits
		c.mu.Lock()
		r := c.replicas[gid]
		if c.closed {
			r = nil // Close closes it
		} else if r != nil {
			delete(c.replicas, gid)
			if persistent {
				delete(c.fsmFails, gid)
				c.stopped[gid] = &stoppedReplica{since: now}
			}
		}
		c.mu.Unlock()
		if r != nil {
			r.g.Close()
			if persistent {
				c.poke()
			}
		}
	}()
}

// startUnknown starts a replica of a group that a peer's Raft stream names:
// a leader adding this node to the group reaches it before the view does.
func (c *Cluster) startUnknown(id string) bool {
	gid, ok := parseGroupID(id)
	if !ok {
		return false
	}
	_, err := c.ensure(gid)
	return err == nil
}

// replica returns this node's replica of gid, nil if none.
func (c *Cluster) replica(gid placement.GroupID) *replica {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replicas[gid]
}

// setView adopts v if it is newer than the view known.
func (c *Cluster) setView(v *metaView) {
	c.mu.Lock()
	newer := c.view == nil || v.Version > c.view.Version
	if newer {
		c.view = v
	}
	c.mu.Unlock()
	if newer {
		if err := c.m.SetMark(viewMark, v.Version); err != nil {
			c.log.Warn("announcing the view's version", "err", err)
		}
		c.poke()
	}
}

func (c *Cluster) currentView() *metaView {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.view
}

// pokeWatch has watchLeaders recompute its next check.
func (c *Cluster) pokeWatch() {
	select {
	case c.watchKick <- struct{}{}:
	default:
	}
}

func (c *Cluster) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Close stops the node's replicas and background work. The database is
// the caller's to close, after Close.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.closePipes()
	c.wg.Wait()
	c.readers.Wait()
	return c.closeAll()
}

// errClusterClosed is what a read of a closed cluster's stores, or a KV call
// on a closed cluster, returns.
var errClusterClosed = fmt.Errorf("%w: %w", ErrKVUnavailable, ErrClosed)

// readStore runs f, a read of a replica's store, unless the cluster is
// closed (errClusterClosed).
func (c *Cluster) readStore(f func() error) error {
	if !c.enterRead() {
		return errClusterClosed
	}
	defer c.readers.Done()
	return f()
}

// isClosed reports whether Close was called.
func (c *Cluster) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// enterRead begins a read of a replica's store, unless the cluster is
// closed (false); c.readers.Done ends it.
func (c *Cluster) enterRead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.readers.Add(1)
	return true
}

func (c *Cluster) closeAll() error {
	c.mu.Lock()
	rs := make([]*replica, 0, len(c.replicas))
	for _, r := range c.replicas {
		rs = append(rs, r)
	}
	c.replicas = map[placement.GroupID]*replica{}
	c.closed = true
	c.mu.Unlock()
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.g.Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loop is the node's background work.
func (c *Cluster) loop() {
	defer c.wg.Done()
	t := time.NewTimer(reconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		c.refreshView()
		c.reconcile()
		c.leaderDuties()
		// Only the meta leader plans placement, on the mesh's membership
		// and on time: it looks every reconcileEvery. Every other node
		// is told of a new view (setView pokes the loop, from its meta
		// replica or from the view it asked for; the mesh pokes it when
		// a peer announces a newer one), so its loop sleeps viewEvery,
		// and settledEvery once it holds the newest view announced and
		// the replicas that view gives it: then the timer is only a
		// safety net, and at every viewEvery it was one of an idle
		// node's few wakeups.
		every := viewEvery
		if r := c.replica(placement.Meta); r != nil && r.g.IsLeader() {
			every = reconcileEvery
		} else if c.settled() {
			every = settledEvery
		}
		t.Reset(every)
	}
}

// watchLeaders has the groups' followers stand for election as soon
// as their leader has been silent for leaderSilence (Group.Watch). It
// sleeps until the earliest moment one may have to (Group.NextWatch), at
// least watchEvery and at most watchIdleEvery, and recomputes that moment
// whenever this node has answered a peer's RPC (pokeWatch, from the
// Transport) or started a replica: a leader's heartbeat moves its
// followers' next check past it, so on a quiet mesh, whose leaders
// heartbeat every 400-800 ms against a silence of 1 s, the watch's timer
// does not fire at all, and a silent leader is still noticed on time.
// Under a stream of RPCs it recomputes at most every watchPokeGap. It
// also tells the loop when this node has become the meta leader, and the
// alarm loop when it leads a data group it did not (AlarmsChanged): a
// replica's change of raft state pokes the watch too (OnStateChange), and
// a candidate is looked at every watchEvery, so both hear of a won
// election within about 100 ms.
func (c *Cluster) watchLeaders() {
	defer c.wg.Done()
	t := time.NewTimer(watchEvery)
	defer t.Stop()
	var (
		rs          []*replica
		last        time.Time // the last check
		wasMetaLead bool
		// the data groups this node led at the last check, and now
		led, nowLed = map[*replica]bool{}, map[*replica]bool{}
	)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		case <-c.meshKick:
		case <-c.watchKick:
			if time.Since(last) < watchPokeGap {
				// Checked just now: a burst of RPCs. The timer stays as
				// it is; a check it brings too early costs one wake-up.
				continue
			}
		}
		rs = rs[:0]
		c.mu.Lock()
		for _, r := range c.replicas {
			if r.g != nil {
				rs = append(rs, r)
			}
		}
		c.mu.Unlock()
		now := time.Now()
		last = now
		next := now.Add(watchIdleEvery)
		metaLead, gained := false, false
		clear(nowLed)
		for _, r := range rs {
			if r.g.r.State() == raft.Shutdown {
				c.stopReplica(r)
				continue
			}
			r.g.Watch(leaderSilence)
			if at := r.g.NextWatch(leaderSilence, now); at.Before(next) {
				next = at
			}
			if r.g.IsLeader() {
				metaLead = metaLead || r.meta != nil
				if r.kv != nil {
					nowLed[r] = true
					gained = gained || !led[r]
				}
			}
		}
		if metaLead && !wasMetaLead {
			c.poke() // the loop plans placement from now on, every reconcileEvery
		}
		if gained {
			// The alarms of a group led from now on are this node's to
			// run (AlarmsChanged): the alarm loop need not poll for them.
			select {
			case c.alarms <- struct{}{}:
			default:
			}
		}
		wasMetaLead = metaLead
		led, nowLed = nowLed, led
		t.Reset(max(watchEvery, next.Sub(now)))
	}
}

// refreshView keeps the view of a node outside the meta group fresh by
// asking a meta member (or, knowing none, any peer) for theirs: when a
// peer announces a newer view than this node's (mesh marks; the view's
// holders announce its version, and a change of a peer's mark pokes the
// loop), that peer first, and otherwise every viewReask.
//
// A meta replica that is not the leader may have been removed from the
// group without learning it, and would then never hear of a newer view:
// so only the leader relies on its own replica alone; the others also ask
// (setView keeps the newest).
func (c *Cluster) refreshView() {
	if r := c.replica(placement.Meta); r != nil {
		c.setView(r.meta.current())
		if r.g.IsLeader() {
			return
		}
	}
	if time.Since(c.viewAsked) < viewEvery-reconcileEvery {
		return // asked lately (the loop runs every viewEvery, and when poked)
	}
	v := c.currentView()
	var mine uint64
	if v != nil {
		mine = v.Version
	}
	var newer []string // the peers that announce a newer view, newest first
	marks := c.m.Marks(viewMark)
	for name, ver := range marks {
		if ver > mine && name != c.m.Name() {
			newer = append(newer, name)
		}
	}
	if len(newer) == 0 && time.Since(c.viewAsked) < viewReask {
		return
	}
	c.viewAsked = time.Now()
	slices.SortFunc(newer, func(a, b string) int { return cmp.Compare(marks[b], marks[a]) })
	var targets []string
	if v != nil {
		for _, r := range v.Groups[placement.Meta] {
			targets = append(targets, r.Name)
		}
	}
	if len(targets) == 0 {
		for _, p := range c.m.Members() {
			if !p.Local && p.State == mesh.StateAlive {
				targets = append(targets, p.Name)
			}
		}
	}
	rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	// Ask the member that answered last time first, so that one
	// connection stays in use rather than three being dialled in turn
	// (the mesh closes a connection idle for 5 s); every fifth time a
	// random one, so that a member removed from the group without knowing
	// it cannot keep us on its stale view.
	c.viewAsks++
	if c.viewAsks%5 != 0 {
		if i := slices.Index(targets, c.viewFrom); i > 0 {
			targets[0], targets[i] = targets[i], targets[0]
		}
	}
	targets = append(newer, targets...)
	asked, tried := 0, map[string]bool{}
	for _, t := range targets {
		if asked == 3 {
			break
		}
		if t == c.m.Name() || tried[t] {
			continue
		}
		asked++
		tried[t] = true
		ctx, cancel := context.WithTimeout(c.ctx, time.Second)
		resp, _, _, err := c.call(ctx, t, &rpcReq{Op: opView}, nil)
		cancel()
		if err == nil && resp.View != nil {
			c.setView(resp.View)
			c.viewFrom = t
			return
		}
	}
}

// settled reports whether this node holds a view no peer announces a
// newer one than, every replica that view gives it, and none it does not.
func (c *Cluster) settled() bool {
	v := c.currentView()
	if v == nil || v.Version == 0 {
		return false
	}
	for name, ver := range c.m.Marks(viewMark) {
		if ver > v.Version && name != c.m.Name() {
			return false
		}
	}
	me := c.m.Name()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.absent) > 0 {
		return false
	}
	for gid := range v.Groups {
		if v.has(gid, me) && c.replicas[gid] == nil {
			return false
		}
	}
	return true
}

// reconcile starts the replicas the view gives this node and removes
// those it no longer gives it, once their group's leader confirms.
func (c *Cluster) reconcile() {
	v := c.currentView()
	if v == nil || v.Version == 0 {
		return
	}
	me := c.m.Name()
	c.repairStopped()
	for gid := range v.Groups {
		if v.has(gid, me) && c.replica(gid) == nil && !c.isStopped(gid) {
			if _, err := c.ensure(gid); err != nil {
				c.log.Warn("starting a replica", "group", gid, "err", err)
			}
		}
	}
	now := time.Now()
	c.mu.Lock()
	var check []placement.GroupID
	for gid := range c.replicas {
		if v.has(gid, me) {
			delete(c.absent, gid)
			continue
		}
		since, ok := c.absent[gid]
		if !ok {
			c.absent[gid] = now
			continue
		}
		if now.Sub(since) >= dropAfter && !c.dropping[gid] {
			check = append(check, gid)
		}
	}
	c.mu.Unlock()
	for _, gid := range check {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.maybeDrop(gid)
		}()
	}
}

// leaderStatus is gid's status as its leader reports it, nil if no
// leader answers: a follower's configuration may be behind the leader's.
func (c *Cluster) leaderStatus(ctx context.Context, gid placement.GroupID) *replicaStatus {
	resp, _, err := c.toLeader(ctx, gid, &rpcReq{Op: opStatus, Group: gid.String()}, nil, false)
	if err != nil || resp.Status == nil {
		return nil
	}
	st := resp.Status
	if st.State != stateLeader && st.Leader != "" && st.Leader != c.m.Name() {
		if resp, _, err := c.to(ctx, st.Leader, &rpcReq{Op: opStatus, Group: gid.String()}, nil); err == nil && resp.Status != nil {
			st = resp.Status
		}
	}
	if st.State != stateLeader || len(st.Config) == 0 {
		return nil
	}
	return st
}

// maybeDrop removes this node's replica of gid, with its log and state,
// if the group's leader confirms that this node is no longer a member.
func (c *Cluster) maybeDrop(gid placement.GroupID) {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	st := c.leaderStatus(ctx, gid)
	if st == nil || st.Leader == c.m.Name() {
		return // only another node's leader confirms
	}
	for _, s := range st.Config {
		if s.Name == c.m.Name() {
			return
		}
	}
	c.mu.Lock()
	r := c.replicas[gid]
	if r == nil || c.closed {
		c.mu.Unlock()
		return
	}
	delete(c.replicas, gid)
	delete(c.absent, gid)
	c.dropping[gid] = true
	c.mu.Unlock()
	c.log.Info("removing a replica this node no longer holds", "group", gid, "leader", st.Leader)
	err := r.g.Close()
	if err == nil {
		err = c.deleteReplicaData(gid)
	}
	if err != nil {
		c.log.Warn("removing a replica", "group", gid, "err", err)
	}
	c.mu.Lock()
	delete(c.dropping, gid)
	c.mu.Unlock()
}

// deleteReplicaData deletes this node's log, state and snapshots of gid,
// whose replica is closed.
func (c *Cluster) deleteReplicaData(gid placement.GroupID) error {
	if err := kvsm.DeletePrefixes(c.cfg.DB, raftbadger.GroupPrefix(gid.String()), kvPrefixOf(gid)); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(c.cfg.Dir, "groups", gid.String()))
}

// leaderDuties: placement while this node leads the meta group; expiry
// for each data group it leads.
func (c *Cluster) leaderDuties() {
	if r := c.replica(placement.Meta); r != nil && r.g.IsLeader() {
		c.place(r)
	} else {
		c.leaderTerm = 0
	}
	c.mu.Lock()
	var lead []*replica
	for _, r := range c.replicas {
		if r.kv != nil && r.g.IsLeader() && time.Since(r.lastExpire) >= expireEvery {
			r.lastExpire = time.Now()
			lead = append(lead, r)
		}
	}
	c.mu.Unlock()
	for _, r := range lead {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.expire(r)
		}()
	}
}

// expire removes the group's expired keys, through the log, in commands
// of at most kvsm.MaxExpireLimit keys. A group with nothing to expire gets
// no command: an entry every minute would wake a sleeping group
// (GroupConfig.SleepAfter) for its SleepAfter each time.
func (c *Cluster) expire(r *replica) {
	if due, err := r.kv.ExpireDue(c.now()); err == nil && !due {
		return
	}
	for range 64 {
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		v, err := r.g.Apply(ctx, kvsm.EncodeExpire(c.now(), kvsm.MaxExpireLimit))
		cancel()
		if err != nil {
			return
		}
		if res, ok := v.(kvsm.Result); !ok || !res.More {
			return
		}
	}
}

// latestSnapshot is the index of the newest snapshot in a group's snapshot
// directory, 0 if none.
func latestSnapshot(dir string) uint64 {
	if _, err := os.Stat(dir); err != nil {
		return 0
	}
	fs, err := raft.NewFileSnapshotStoreWithLogger(dir, DefaultSnapshotsRetained, hclog.NewNullLogger())
	if err != nil {
		return 0
	}
	metas, err := fs.List()
	if err != nil || len(metas) == 0 {
		return 0
	}
	return metas[0].Index
}
