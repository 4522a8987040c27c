package replication

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
	"github.com/warrenmesh/warren/mesh"
	"github.com/warrenmesh/warren/replication/internal/raftbadger"
)

// Timing of a group. Raft's defaults cost an idle group a message per
// follower every 50 ms (CommitTimeout) on top of heartbeats; a node hosts
// many mostly idle groups, so the commit timeout is 1 s: it only bounds how
// late a follower learns the commit index when writes stop (a write's own
// commit on the leader does not wait for it). Failover is what the
// heartbeat timeout sets: a follower that hears no leader for 1-2 s
// (HeartbeatTimeout, randomised up to twice) stands for election, so a
// dead leader is replaced in about 1-2 s; the leader heartbeats every
// HeartbeatTimeout/10 (raft's fixed ratio). The lease (a leader that
// cannot reach a quorum steps down) must not exceed the heartbeat timeout.
const (
	DefaultHeartbeatTimeout   = time.Second
	DefaultElectionTimeout    = time.Second
	DefaultLeaderLeaseTimeout = 500 * time.Millisecond
	DefaultCommitTimeout      = time.Second
	// DefaultSnapshotInterval is how often a group checks whether its log
	// has grown SnapshotThreshold entries past the last snapshot.
	DefaultSnapshotInterval = 30 * time.Second
	// DefaultSnapshotThreshold and DefaultTrailingLogs: a snapshot every
	// 8192 entries, keeping the last 10240 in the log, so that a follower
	// down for fewer writes catches up from the log and one down longer
	// gets the snapshot, then the log after it.
	DefaultSnapshotThreshold = 8192
	DefaultTrailingLogs      = 10240
	// DefaultSnapshotsRetained snapshots stay on disk.
	DefaultSnapshotsRetained = 2
	// DefaultRPCTimeout bounds one Raft RPC on the wire (a snapshot's
	// scales with its size).
	DefaultRPCTimeout = 5 * time.Second
)

// logCacheSize is how many recent entries a group keeps in memory, so that
// the leader replicates them without reading the store (at most
// logCacheMaxBytes of them: logCache).
const logCacheSize = 128

// maxAppendBytes bounds the data of one AppendEntries request (a larger
// entry goes alone).
const maxAppendBytes = 4 << 20

// Log compaction by bytes. raft compacts a log by its entries: a snapshot
// once SnapshotThreshold entries came since the last one, keeping
// TrailingLogs behind it. With large entries (KV values of up to 25 MiB,
// Durable Object writes of up to 1 MiB) that is hundreds of GB before the
// first compaction, and as much kept after it: a disk fills, and its
// reserve then refuses every write of the node for good. So a replica also
// snapshots once the entries stored since its last compaction reach
// logBytesBeforeSnapshot, or the size of its last snapshot if larger (a
// snapshot writes the whole state: so it costs at most about what was
// written since), and then keeps about trailingLogBytes of entries
// (TrailingLogs set from their mean size, between minTrailingLogs and the
// configured count).
const (
	logBytesBeforeSnapshot = 64 << 20
	trailingLogBytes       = 32 << 20
	minTrailingLogs        = 16
)

// maxApplyAheadBytes bounds the committed entries a replica has read for
// its state machine and not yet applied (raft patch 0010): without it, a
// follower catching up on 16 values of 25 MiB read every one at once.
const maxApplyAheadBytes = 32 << 20

var (
	// ErrNotLeader: this node does not lead the group; the error names
	// the leader when one is known.
	ErrNotLeader = errors.New("replication: not the leader")
	// ErrLeadershipLost: the leader lost its office while the command was
	// in flight. The command may or may not commit.
	ErrLeadershipLost = errors.New("replication: leadership lost; the command may or may not commit")
)

// FSM is the state machine a Group replicates. Apply, Snapshot and Restore
// are called from one goroutine, never concurrently.
type FSM interface {
	// Apply applies the command committed at index, in a log entry of
	// term term (the term of the leader that appended it, which a
	// command may check: see ObjectStore). On the leader, what it returns
	// is Group.Apply's result (an error value as the error).
	Apply(index, term uint64, cmd []byte) any
	// Snapshot captures the current state. It runs between Applies, so it
	// must be quick: copy or pin a point-in-time view and return; the
	// returned snapshot is written out while later commands apply.
	Snapshot() (Snapshot, error)
	// Restore replaces the whole state with what a Snapshot wrote (maybe
	// another node's).
	Restore(r io.Reader) error
}

// BatchFSM is an FSM that applies several committed commands at once (in
// one storage transaction, say). A Group whose FSM implements it hands it
// what raft commits together, in log order; Apply is then used by nothing.
type BatchFSM interface {
	FSM
	// ApplyBatch applies commands in order, as Apply would one by one, and
	// returns one result per command, in the same order. It must not keep
	// the commands' Data after it returns.
	ApplyBatch(cmds []Command) []any
}

// Command is a committed command: its log index and term, and its bytes.
type Command struct {
	Index, Term uint64
	Data        []byte
}

// Snapshot is a point-in-time view of an FSM's state.
type Snapshot interface {
	// Write writes the state out.
	Write(w io.Writer) error
	// Release is called when the snapshot is done with, written or not.
	Release()
}

// Server is a member of a group: its node's mesh id and name.
type Server struct {
	ID   string // the node id (mesh.Config.ID): raft's server id
	Name string // the mesh member name: raft's address
}

// ServerOf is the Server of a mesh peer.
func ServerOf(p mesh.Peer) Server { return Server{ID: p.ID, Name: p.Name} }

// GroupConfig configures a group's replica on this node.
type GroupConfig struct {
	ID        string     // the group id (ValidGroupID); required
	Transport *Transport // the node's Raft transport; required
	// DB is the node's database (OpenDB), shared by all its groups;
	// required.
	DB *badger.DB
	// Dir is the node's replication directory: the group's snapshots go
	// under Dir/groups/<id>/snapshots. Required.
	Dir    string
	FSM    FSM          // required
	Logger *slog.Logger // default slog.Default()
	// PersistentFSM says the FSM keeps its state on disk, synced, and
	// resumes from it (it skips entries it applied before): a restart
	// does not restore the last snapshot into it, and raft replays only
	// the log after that snapshot.
	PersistentFSM bool

	// OnCommit, when set, is told how long each command applied through
	// this replica took from its proposal until its result (commit and
	// apply), for metrics.
	OnCommit func(time.Duration)

	// OnCompacted, when set, is called after the replica compacted its
	// log because of its bytes (compactBig): the database may hold
	// garbage to collect.
	OnCompacted func()

	// OnStateChange, when set, is called when the replica becomes a
	// follower, a candidate or the leader, or shuts down. raft calls it
	// from its own goroutine: it must not block.
	OnStateChange func()

	// QuietAfter, when set, lets the group go quiet once its log has not
	// grown for that long: its leader then heartbeats half as often
	// (every 0.2-0.4 HeartbeatTimeout instead of 0.1-0.2; see Watch). The
	// first proposal wakes it. It needs a LeaderLeaseTimeout of at least
	// half the HeartbeatTimeout, or a quiet leader would step down
	// between heartbeats.
	QuietAfter time.Duration

	// SleepAfter and Vouch, when both set (with QuietAfter), let a group
	// whose log has not grown for SleepAfter go to sleep: its followers
	// stop expecting the leader's heartbeats for as long as Vouch vouches
	// for the leader's node (the mesh's failure detection), and allow it
	// sleepFactor times the silence they otherwise allow; a
	// HeartbeatTimeout later its leader heartbeats sleepFactor times less
	// often, with a lease sleepFactor times longer (see Watch). The first
	// proposal, membership change or barrier wakes it.
	SleepAfter time.Duration
	// Vouch reports whether the node at a Raft address (a mesh node's
	// name) is up, as the mesh's failure detection sees it.
	Vouch func(addr string) bool

	// Tuning; zero means the default above.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
	TrailingLogs       uint64
	// SnapshotBytes and TrailingBytes compact the log by its bytes as
	// well (compactBig; defaults logBytesBeforeSnapshot and
	// trailingLogBytes).
	SnapshotBytes     int64
	TrailingBytes     int64
	SnapshotsRetained int
	RPCTimeout        time.Duration
}

func (c *GroupConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	dur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	dur(&c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	dur(&c.ElectionTimeout, DefaultElectionTimeout)
	dur(&c.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	dur(&c.CommitTimeout, DefaultCommitTimeout)
	dur(&c.SnapshotInterval, DefaultSnapshotInterval)
	dur(&c.RPCTimeout, DefaultRPCTimeout)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if c.SnapshotBytes <= 0 {
		c.SnapshotBytes = logBytesBeforeSnapshot
	}
	if c.TrailingBytes <= 0 {
		c.TrailingBytes = trailingLogBytes
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = DefaultTrailingLogs
	}
	if c.SnapshotsRetained == 0 {
		c.SnapshotsRetained = DefaultSnapshotsRetained
	}
}

// Group is this node's replica of one Raft group.
type Group struct {
	id    string
	self  raft.ServerID
	r     *raft.Raft
	store *raftbadger.Store
	trans *raft.NetworkTransport
	log   *slog.Logger
	// hb is the configured heartbeat timeout; quick is set while a
	// silent leader has it shortened (Watch).
	hb, et time.Duration
	quick  atomic.Bool
	// jitter staggers Watch among a group's followers, so that one of
	// them stands first and the others vote for it.
	jitter time.Duration
	// early counts the elections Watch started.
	early atomic.Int64
	// quietAfter is GroupConfig.QuietAfter; quiet is set while this
	// replica leads a quiet group with the longer heartbeat timeout.
	// mu serialises the changes of timeouts between Watch and wake;
	// seenIdx is the log's last index Watch saw last, and seenAt when it
	// saw it change (or a proposal woke the group).
	quietAfter time.Duration
	quiet      atomic.Bool
	// sleepAfter and vouch are GroupConfig's; asleep is set while this
	// replica runs with sleepFactor times its timeouts (a sleeping
	// leader is quiet too); lease is the configured leader lease.
	sleepAfter time.Duration
	vouch      func(string) bool
	asleep     atomic.Bool
	lease      time.Duration
	mu         sync.Mutex
	seenIdx    uint64
	seenAt     time.Time
	// onCommit is GroupConfig.OnCommit.
	onCommit func(time.Duration)

	// logs and snaps are the replica's log (through its cache) and
	// snapshot store; trailing is the configured TrailingLogs; compacting
	// is set while compactBig runs; onCompacted is GroupConfig's.
	logs        *logCache
	snaps       *raft.FileSnapshotStore
	trailing    uint64
	snapBytes   int64 // GroupConfig.SnapshotBytes
	trailBytes  int64 // GroupConfig.TrailingBytes
	compacting  atomic.Bool
	onCompacted func()
}

// StartGroup starts this node's replica of a group. A replica with state
// on disk (log, snapshots) resumes from it; a new group needs Bootstrap on
// one of its nodes.
func StartGroup(cfg GroupConfig) (*Group, error) {
	if err := ValidGroupID(cfg.ID); err != nil {
		return nil, err
	}
	switch {
	case cfg.Transport == nil:
		return nil, fmt.Errorf("replication: group %q: GroupConfig.Transport is required", cfg.ID)
	case cfg.DB == nil:
		return nil, fmt.Errorf("replication: group %q: GroupConfig.DB is required", cfg.ID)
	case cfg.Dir == "":
		return nil, fmt.Errorf("replication: group %q: GroupConfig.Dir is required", cfg.ID)
	case cfg.FSM == nil:
		return nil, fmt.Errorf("replication: group %q: GroupConfig.FSM is required", cfg.ID)
	}
	cfg.setDefaults()
	if cfg.QuietAfter > 0 && cfg.LeaderLeaseTimeout < cfg.HeartbeatTimeout/2 {
		return nil, fmt.Errorf("replication: group %q: QuietAfter needs a LeaderLeaseTimeout (%v) of at least half the HeartbeatTimeout (%v)", cfg.ID, cfg.LeaderLeaseTimeout, cfg.HeartbeatTimeout)
	}
	log := cfg.Logger.With("group", cfg.ID)
	local := cfg.Transport.m.Local()

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(local.ID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	// Concurrent Applies share one log append (and one fsync) anyway:
	// the leader drains what waits on its apply channel. BatchApplyCh
	// would buffer that channel, and raft never answers what sits in the
	// buffer at shutdown: an Apply racing Close would wait forever.
	rc.BatchApplyCh = false
	// A request carries up to 64 entries, but not 64 values of 25 MiB:
	// past 4 MiB of data it takes no more (raft patch 0009).
	rc.MaxAppendEntriesBytes = maxAppendBytes
	rc.MaxApplyAheadBytes = maxApplyAheadBytes
	rc.NoSnapshotRestoreOnStart = cfg.PersistentFSM
	// A replica removed from its group keeps running until its node
	// deletes it (Cluster does, once the leader confirms the removal):
	// raft's default would shut it down under the node's feet, and a
	// leader that removes itself would take the group's view with it.
	rc.ShutdownOnRemove = false
	rc.Logger = raftLogger(log, "raft")
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("replication: group %q: %w", cfg.ID, err)
	}

	store, err := raftbadger.New(cfg.DB, raftbadger.GroupPrefix(cfg.ID))
	if err != nil {
		return nil, fmt.Errorf("replication: group %q: %w", cfg.ID, err)
	}
	logs := newLogCache(logCacheSize, store)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(cfg.Dir, "groups", cfg.ID), cfg.SnapshotsRetained, raftLogger(log, "snapshots"))
	if err != nil {
		return nil, fmt.Errorf("replication: group %q: snapshot store: %w", cfg.ID, err)
	}
	layer, err := cfg.Transport.layer(cfg.ID)
	if err != nil {
		return nil, err
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  layer,
		MaxPool: 3,
		Timeout: cfg.RPCTimeout,
		Logger:  raftLogger(log, "raft-net"),
		// A fraction of msgpack's CPU (patch 0008); every node that
		// opens streams of mesh.ProtoRaftVersion 2 reads it.
		CompactAppendEntries: true,
	})
	var fsm raft.FSM = fsmAdapter{cfg.FSM}
	if bf, ok := cfg.FSM.(BatchFSM); ok {
		fsm = batchAdapter{fsmAdapter{cfg.FSM}, bf}
	}
	r, err := raft.NewRaft(rc, fsm, logs, store, snaps, trans)
	if err != nil {
		trans.Close()
		return nil, fmt.Errorf("replication: group %q: %w", cfg.ID, err)
	}
	if f := cfg.OnStateChange; f != nil {
		// The filter is the callback: it lets nothing through to the
		// observer's (nil) channel.
		r.RegisterObserver(raft.NewObserver(nil, false, func(o *raft.Observation) bool {
			if _, ok := o.Data.(raft.RaftState); ok {
				f()
			}
			return false
		}))
	}
	g := &Group{id: cfg.ID, self: rc.LocalID, r: r, store: store, trans: trans, log: log, hb: cfg.HeartbeatTimeout, et: cfg.ElectionTimeout,
		lease: cfg.LeaderLeaseTimeout, onCommit: cfg.OnCommit, quietAfter: cfg.QuietAfter, seenAt: time.Now(),
		logs: logs, snaps: snaps, trailing: cfg.TrailingLogs, snapBytes: cfg.SnapshotBytes, trailBytes: cfg.TrailingBytes, onCompacted: cfg.OnCompacted}
	logs.onBig = g.compactBig
	logs.bigAt.Store(cfg.SnapshotBytes)
	if cfg.QuietAfter > 0 && cfg.SleepAfter > 0 && cfg.Vouch != nil {
		g.sleepAfter, g.vouch = cfg.SleepAfter, cfg.Vouch
	}
	return g, nil
}

// ID is the group's id.
func (g *Group) ID() string { return g.id }

// Bootstrap makes servers the group's first configuration, all voters. Call
// it on one node of a new group (the others learn the configuration from
// the first leader) or on each with the same servers. It fails, wrapping
// raft.ErrCantBootstrap, when this replica has state already.
func (g *Group) Bootstrap(servers ...Server) error {
	var c raft.Configuration
	for _, s := range servers {
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Name)})
	}
	if err := g.r.BootstrapCluster(c).Error(); err != nil {
		return fmt.Errorf("replication: group %q: bootstrap: %w", g.id, err)
	}
	if len(servers) > 0 && raft.ServerID(servers[standing(g.id, len(servers))].ID) == g.self {
		// One of a new group's servers stands at once; the others
		// (bootstrapped alike, or learning the group from its first
		// leader) wait their heartbeat timeouts, and vote for it.
		g.standNow()
	}
	return nil
}

// standing is which of the n servers of new group id stands for election
// at once: one picked by a hash of the id, so that the mesh's groups are
// led by all their nodes alike, as random elections spread them (the
// first listed would put the office of most groups on a few nodes).
func standing(id string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

// standNow has a new replica stand for election at once, rather than
// after its heartbeat timeout (1-2 s: a fresh mesh's meta group, then each
// of its data groups, waited so in turn, and a new node's first KV put
// took 8 s; bench row "replication/fresh node: first KV put"). Raft looks
// at a follower's timer at once when its heartbeat timeout shrinks
// (ReloadConfig): it shrinks by a nanosecond (the lease with it, which may
// not exceed it) and is restored, and the follower, never contacted by a
// leader, stands.
func (g *Group) standNow() {
	rc := g.r.ReloadableConfig()
	short := rc
	short.HeartbeatTimeout--
	short.LeaderLeaseTimeout = min(short.LeaderLeaseTimeout, short.HeartbeatTimeout)
	if err := g.r.ReloadConfig(short); err != nil {
		g.log.Debug("raft: standing for election at once", "err", err)
		return
	}
	if err := g.r.ReloadConfig(rc); err != nil {
		g.log.Warn("raft: restoring the timeouts after standing for election", "err", err)
	}
}

// Apply replicates cmd and applies it, returning what the FSM's Apply
// returned on this node (an error value comes back as the error). It
// fails with ErrNotLeader on a follower. When ctx ends first, the error
// wraps ctx.Err() and the command may still commit.
func (g *Group) Apply(ctx context.Context, cmd []byte) (any, error) {
	start := time.Now()
	f, err := g.propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	v, err := g.await(ctx, f)
	if err == nil && g.onCommit != nil {
		g.onCommit(time.Since(start))
	}
	return v, err
}

// propose hands cmd to raft: commands proposed one after another commit
// in that order. The future's error says whether it was queued.
func (g *Group) propose(ctx context.Context, cmd []byte) (raft.ApplyFuture, error) {
	if g.quiet.Load() { // so is a sleeping leader
		g.wake()
	}
	var timeout time.Duration // raft's bound on queueing the command
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return nil, fmt.Errorf("replication: group %q: %w", g.id, ctx.Err())
		}
	}
	return g.r.Apply(cmd, timeout), nil
}

// await waits for a proposed command's result, as Apply returns it.
//
// The caller is released by ctx; the goroutine that waits for raft's
// answer ends when raft answers, at the latest when the replica shuts
// down (a command queued for the state machine then was never answered,
// hashicorp/raft#498, before third_party/raft patch 0007).
func (g *Group) await(ctx context.Context, f raft.ApplyFuture) (any, error) {
	if ctx.Done() == nil {
		return g.result(f)
	}
	type res struct {
		v   any
		err error
	}
	ch := make(chan res, 1)
	go func() {
		v, err := g.result(f)
		ch <- res{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("replication: group %q: %w (the command may still commit)", g.id, ctx.Err())
	}
}

func (g *Group) result(f raft.ApplyFuture) (any, error) {
	if err := f.Error(); err != nil {
		return nil, g.mapErr(err)
	}
	v := f.Response()
	if err, ok := v.(error); ok {
		return nil, err
	}
	return v, nil
}

func (g *Group) mapErr(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		if name, _ := g.Leader(); name != "" {
			return fmt.Errorf("%w of group %q (the leader is %s)", ErrNotLeader, g.id, name)
		}
		return fmt.Errorf("%w of group %q (no leader known)", ErrNotLeader, g.id)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("group %q: %w", g.id, ErrLeadershipLost)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("replication: group %q: %w", g.id, ErrClosed)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("replication: group %q: %w: %w", g.id, context.DeadlineExceeded, err)
	}
	return fmt.Errorf("replication: group %q: %w", g.id, err)
}

// Leader returns the mesh name and node id of the group's leader as this
// replica knows it; empty when it knows none.
func (g *Group) Leader() (name, id string) {
	a, i := g.r.LeaderWithID()
	return string(a), string(i)
}

// IsLeader reports whether this replica leads the group.
func (g *Group) IsLeader() bool { return g.r.State() == raft.Leader }

// Status is a replica's view of its group.
type Status struct {
	ID           string
	State        string // "leader", "follower", "candidate" or "shutdown"
	Term         uint64
	LastIndex    uint64 // of the log
	CommitIndex  uint64
	AppliedIndex uint64 // applied to the FSM
	Leader       string // mesh name; "" when unknown
	LeaderID     string
	// SinceContact is how long ago a follower last heard from its leader
	// (0 for a leader, or one that never heard from one).
	SinceContact time.Duration
}

// Status returns this replica's view of the group.
func (g *Group) Status() Status {
	name, id := g.Leader()
	return Status{
		ID:           g.id,
		State:        strings.ToLower(g.r.State().String()),
		Term:         g.r.CurrentTerm(),
		LastIndex:    g.r.LastIndex(),
		CommitIndex:  g.r.CommitIndex(),
		AppliedIndex: g.r.AppliedIndex(),
		Leader:       name,
		LeaderID:     id,
		SinceContact: g.sinceContact(),
	}
}

func (g *Group) sinceContact() time.Duration {
	if g.r.State() == raft.Leader {
		return 0
	}
	if t := g.r.LastContact(); !t.IsZero() {
		return time.Since(t)
	}
	return 0
}

// Snapshot takes a snapshot now and compacts the log behind it (keeping
// TrailingLogs entries).
func (g *Group) Snapshot() error {
	if err := g.r.Snapshot().Error(); err != nil {
		return fmt.Errorf("replication: group %q: snapshot: %w", g.id, err)
	}
	return nil
}

// compactBig snapshots the replica and compacts its log once the entries
// stored since its last compaction are many bytes (logBytesBeforeSnapshot
// and the rest above); the log store calls it from an append, and it
// works in a goroutine of its own, one at a time.
func (g *Group) compactBig() {
	if !g.compacting.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer g.compacting.Store(false)
		// Again while appends made during one took the log past the
		// next bound (they found this one running).
		for g.compactBigOnce() {
		}
	}()
}

// compactBigOnce is one compaction of compactBig; it reports whether the
// log has since grown past the next bound.
func (g *Group) compactBigOnce() (again bool) {
	n, b := g.logs.since()
	if n == 0 {
		return false
	}
	trailing := max(min(uint64(g.trailBytes/max(b/n, 1)), g.trailing), minTrailingLogs)
	g.mu.Lock()
	rc := g.r.ReloadableConfig()
	if rc.TrailingLogs != trailing {
		rc.TrailingLogs = trailing
		if err := g.r.ReloadConfig(rc); err != nil {
			g.log.Warn("raft: setting the entries kept behind a snapshot", "trailing", trailing, "err", err)
		}
	}
	g.mu.Unlock()
	if err := g.r.Snapshot().Error(); err != nil {
		// Nothing applied since the last snapshot, or raft shut
		// down: look again a little further on.
		g.logs.bigAt.Store(b + g.snapBytes/4)
		if !errors.Is(err, raft.ErrNothingNewToSnapshot) && !errors.Is(err, raft.ErrRaftShutdown) {
			g.log.Warn("raft: a snapshot for the log's bytes", "bytes", b, "err", err)
		}
		return false
	}
	next := g.snapBytes
	if metas, err := g.snaps.List(); err == nil && len(metas) > 0 {
		next = max(next, metas[0].Size)
	}
	g.logs.bigAt.Store(next)
	g.log.Debug("raft: compacted the log for its bytes", "bytes", b, "entries", n, "trailing", trailing, "next", next)
	if g.onCompacted != nil {
		g.onCompacted()
	}
	_, since := g.logs.since()
	return since >= next
}

// Raft is the underlying raft.Raft, for what Group does not wrap yet
// (membership changes, leadership transfer, observers).
func (g *Group) Raft() *raft.Raft { return g.r }

// Close stops this replica: raft, then its streams. Its state stays on
// disk; the database is the caller's to close, after every group.
func (g *Group) Close() error {
	err := g.r.Shutdown().Error()
	// The leader's last appends may still wait for their sync, which
	// must end before the database closes.
	g.store.Wait()
	g.trans.CloseStreams()
	g.trans.Close()
	if err != nil {
		return fmt.Errorf("replication: group %q: shutdown: %w", g.id, err)
	}
	return nil
}

// fsmAdapter is the raft.FSM over an FSM.
type fsmAdapter struct{ f FSM }

func (a fsmAdapter) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand { // raft passes only commands today
		return nil
	}
	return a.f.Apply(l.Index, l.Term, l.Data)
}

// batchAdapter is the raft.BatchingFSM over a BatchFSM: raft gives it up
// to MaxAppendEntries committed entries at a time.
type batchAdapter struct {
	fsmAdapter
	bf BatchFSM
}

func (a batchAdapter) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	cmds := make([]Command, 0, len(logs))
	at := make([]int, 0, len(logs)) // the index in logs of each of cmds
	for i, l := range logs {
		if l.Type == raft.LogCommand { // configurations are raft's own
			cmds = append(cmds, Command{Index: l.Index, Term: l.Term, Data: l.Data})
			at = append(at, i)
		}
	}
	if len(cmds) == 0 {
		return out
	}
	rs := a.bf.ApplyBatch(cmds)
	for j, i := range at {
		out[i] = rs[j]
	}
	return out
}

func (a fsmAdapter) Snapshot() (raft.FSMSnapshot, error) {
	s, err := a.f.Snapshot()
	if err != nil {
		return nil, err
	}
	return snapAdapter{s}, nil
}

func (a fsmAdapter) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return a.f.Restore(rc)
}

type snapAdapter struct{ s Snapshot }

func (a snapAdapter) Persist(sink raft.SnapshotSink) error {
	if err := a.s.Write(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (a snapAdapter) Release() { a.s.Release() }

// quietFactor: a quiet group's leader runs with this many times its
// heartbeat timeout, and so heartbeats every 0.2-0.4 of the configured one
// (raft sends a heartbeat every tenth to fifth of the timeout): still
// within the leader lease and the followers' silence (Watch's, at least
// half the timeout), so that neither they nor the leader notice.
const quietFactor = 2

// sleepFactor: a sleeping group's replicas run with this many times their
// heartbeat and election timeouts, its leader with this many times its
// lease too, and its followers allow the leader this many times the
// silence while the mesh vouches for its node. A sleeping leader
// heartbeats every 1.5-3 of the configured timeout (3-6 s for a Cluster's
// groups), within its lease (7.5 of the timeout, for a lease of half of
// it) and its followers' silence (15 s and a jitter, for a Cluster's
// groups). The heartbeats that remain only cover what the mesh cannot see:
// a leader's replica that stopped while its node runs, or a path between
// two nodes that carries gossip but not Raft.
const sleepFactor = 15

// Watch makes a follower whose leader has been silent for longer than
// silence (plus a jitter of up to half of it, different on each replica)
// stand for election at once, instead of at its heartbeat timeout
// (randomised up to twice that). A leader heartbeats every tenth of the
// timeout, so a silence well above that means the leader is gone: with a
// 2 s timeout (quiet groups, few packets) and a silence of 1 s, a dead
// leader is replaced in 1-1.5 s rather than 2-4 s. It does so by
// shortening the replica's heartbeat and election timeouts to silence
// (raft checks a shortened heartbeat timeout at once), and restores them
// once the group has a leader again. A follower still in touch with the
// leader refuses to vote, so a replica cut off alone cannot unseat it.
// Call it periodically; it does nothing unless silence is below the
// heartbeat timeout and at least the leader lease.
//
// With GroupConfig.QuietAfter, Watch also lets the group go quiet: a
// leader whose log has not grown for QuietAfter doubles its heartbeat
// timeout (quietFactor), so that it heartbeats every 0.2-0.4 of the
// configured timeout instead of 0.1-0.2: half the packets of an idle
// group. A proposal restores the timeout at once (raft then heartbeats
// every follower), as does the loss of the office. Followers see nothing
// of it: a quiet leader's longest silence (0.4 of the timeout, 0.8 s for
// data groups) stays below the silence they allow (half the timeout at
// least) and below the leader lease.
//
// With GroupConfig.SleepAfter and Vouch, the group then goes to sleep. A
// follower whose log has not grown for SleepAfter, and whose leader's node
// the mesh vouches for, takes sleepFactor times its timeouts (raft's own
// election timer is then only a backstop) and allows the leader
// sleepFactor times the silence; once the mesh stops vouching for the
// leader's node (it died, left, or this node's probe of it failed), the
// follower allows the ordinary silence again, which has long passed, and
// stands at once: a sleeping group fails over in the mesh's failure
// detection time plus an election. A leader whose log has not grown for
// SleepAfter plus the heartbeat timeout (by then its followers have
// seen the same log idle for SleepAfter, and taken the longer silence)
// takes sleepFactor times its timeouts and lease (third_party/raft's
// patch 0003 makes the lease reloadable), and heartbeats sleepFactor
// times less often. A proposal, a membership change or a barrier wakes
// the leader first (Group.wake), so every entry that grows a follower's
// log comes with the leader's ordinary heartbeats, and a follower whose
// log grows takes its ordinary timeouts back. Reads stay linearizable:
// they confirm the leadership with a round of heartbeats (VerifyLeader),
// never with the lease.
func (g *Group) Watch(silence time.Duration) {
	if silence >= g.hb {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if g.jitter == 0 {
		g.jitter = time.Duration(rand.Int64N(int64(silence/2))) + 1
	}
	idle := g.idleLocked(now)
	st := g.r.State()
	last := g.r.LastContact()
	vouched := st == raft.Follower && g.vouchedLocked()
	sleepy := g.sleepAfter > 0 && idle >= g.sleepAfter && vouched
	switch {
	case st == raft.Follower && now.Sub(last) > g.allowedLocked(silence, g.asleep.Load() && vouched):
		if g.quick.Load() || last.IsZero() {
			return // shortened already, or never had a leader (a new replica)
		}
		if g.reload(silence, silence, min(g.lease, silence)) == nil {
			g.quick.Store(true)
			g.quiet.Store(false)
			g.asleep.Store(false)
			g.early.Add(1)
			g.log.Info("raft: the leader is silent; standing for election early", "group", g.id, "silent", now.Sub(last).Round(time.Millisecond))
		}
	case g.quick.Load() && (st == raft.Leader || st == raft.Follower && now.Sub(last) < silence):
		if g.restore() == nil {
			g.quick.Store(false)
		}
	case g.asleep.Load() && (st == raft.Leader && idle < g.sleepAfter+g.hb || st != raft.Leader && !sleepy):
		// A leader's log grew without wake (the no-op of a new term),
		// a follower's grew (its leader woke), the mesh no longer vouches
		// for the leader's node, or the replica lost its office.
		if g.restore() == nil {
			g.asleep.Store(false)
			g.quiet.Store(false)
		}
	case g.quiet.Load() && (st != raft.Leader || idle < g.quietAfter):
		// (A leader that slept and lost its office to another that the
		// mesh vouches for: it sleeps again below, as a follower.)
		if g.restore() == nil {
			g.quiet.Store(false)
			g.asleep.Store(false)
		}
	case !g.asleep.Load() && !g.quick.Load() && st == raft.Leader && g.sleepAfter > 0 && idle >= g.sleepAfter+g.hb:
		if g.reload(sleepFactor*g.hb, sleepFactor*max(g.hb, g.et), sleepFactor*g.lease) == nil {
			g.asleep.Store(true)
			g.quiet.Store(true)
			g.log.Debug("raft: the group is asleep; heartbeating rarely", "group", g.id)
		}
	case !g.quiet.Load() && !g.quick.Load() && st == raft.Leader && g.quietAfter > 0 && idle >= g.quietAfter:
		if q := quietFactor * g.hb; g.reload(q, max(q, g.et), g.lease) == nil {
			g.quiet.Store(true)
			g.log.Debug("raft: the group is quiet; heartbeating less often", "group", g.id)
		}
	case !g.asleep.Load() && !g.quick.Load() && sleepy:
		if g.reload(sleepFactor*g.hb, sleepFactor*max(g.hb, g.et), g.lease) == nil {
			g.asleep.Store(true)
			g.log.Debug("raft: the group is asleep; the mesh vouches for its leader", "group", g.id)
		}
	}
}

// allowedLocked is the silence Watch allows a follower's leader before it
// stands: silence plus the replica's jitter, sleepFactor times that while
// the replica sleeps and the mesh vouches for its leader's node.
func (g *Group) allowedLocked(silence time.Duration, sleeping bool) time.Duration {
	if sleeping {
		return sleepFactor * (silence + g.jitter)
	}
	return silence + g.jitter
}

// vouchedLocked reports whether the mesh vouches for the node of the
// leader this replica follows.
func (g *Group) vouchedLocked() bool {
	if g.vouch == nil {
		return false
	}
	addr, _ := g.r.LeaderWithID()
	return addr != "" && g.vouch(string(addr))
}

// idleLocked is how long the replica's log has not grown, as Watch has
// seen it (or since a proposal woke the group).
func (g *Group) idleLocked(now time.Time) time.Duration {
	if li := g.r.LastIndex(); li != g.seenIdx {
		g.seenIdx, g.seenAt = li, now
	}
	return now.Sub(g.seenAt)
}

// wake ends a quiet or sleeping leader's long heartbeat timeout (an entry
// is coming): raft then heartbeats every follower at once, and on time
// from then on. Call it before anything that appends to the log.
func (g *Group) wake() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seenAt = time.Now()
	if (g.quiet.Load() || g.asleep.Load()) && g.restore() == nil {
		g.quiet.Store(false)
		g.asleep.Store(false)
	}
}

// NextWatch is the earliest time Watch(silence) may have something to do
// on this replica: when its leader will have been silent long enough, or
// now while it stands early (Watch then restores its timeouts once a
// leader leads) or is not a follower in touch with a leader, or when a
// leader's group goes quiet or to sleep, or a follower's to sleep. A
// caller that sleeps until then (with a floor and a ceiling of its own)
// checks as early as one that checks often, for fewer wakeups. It must
// also call Watch when the mesh's view of a node changes (Vouch's answer).
func (g *Group) NextWatch(silence time.Duration, now time.Time) time.Time {
	if silence >= g.hb {
		return now.Add(time.Hour) // Watch does nothing
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.jitter == 0 {
		g.jitter = time.Duration(rand.Int64N(int64(silence/2))) + 1
	}
	g.idleLocked(now)
	last := g.r.LastContact()
	switch st := g.r.State(); {
	case st == raft.Leader && g.quietAfter > 0 && !g.quiet.Load():
		return g.seenAt.Add(g.quietAfter)
	case st == raft.Leader && g.asleep.Load():
		return now.Add(time.Hour) // a proposal wakes it; a lost office shows as another state
	case st == raft.Leader && g.quiet.Load() && g.sleepAfter > 0:
		return g.seenAt.Add(g.sleepAfter + g.hb)
	case st == raft.Leader && g.quiet.Load():
		return now.Add(time.Hour)
	case g.quick.Load() || g.quiet.Load() || st != raft.Follower || last.IsZero():
		return now
	}
	next := last.Add(g.allowedLocked(silence, g.asleep.Load()))
	if g.sleepAfter > 0 && !g.asleep.Load() {
		if at := g.seenAt.Add(g.sleepAfter); at.Before(next) {
			next = at
		}
	}
	return next
}

// reload sets the replica's heartbeat and election timeouts and its lease.
func (g *Group) reload(hb, et, lease time.Duration) error {
	rc := g.r.ReloadableConfig()
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = hb, et, lease
	return g.r.ReloadConfig(rc)
}

// restore gives the replica its configured timeouts and lease back.
func (g *Group) restore() error { return g.reload(g.hb, g.et, g.lease) }

// TransferTo hands this replica's leadership to the group's voter on the
// node named name, and returns once it has taken it or the transfer
// failed. This replica must lead the group.
func (g *Group) TransferTo(name string) error {
	if !g.IsLeader() {
		return fmt.Errorf("replication: group %q: %w", g.id, ErrNotLeader)
	}
	f := g.r.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("replication: group %q: %w", g.id, err)
	}
	for _, s := range f.Configuration().Servers {
		if string(s.Address) == name && s.Suffrage == raft.Voter {
			if err := g.r.LeadershipTransferToServer(s.ID, s.Address).Error(); err != nil {
				return fmt.Errorf("replication: group %q: transferring leadership to %s: %w", g.id, name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("replication: group %q: %s holds no voter of it", g.id, name)
}
