// Package replication runs warren's Raft groups (hashicorp/raft) on a
// node: their logs in one badger database per node, their traffic over the
// mesh's QUIC connections. It imports nothing of warren but mesh.
//
// # What exists
//
//   - OpenDB opens a node's one badger database with small-memory options
//     (two 16 MiB memtables and an 8 MiB block cache instead of badger's
//     ~86 MB). Every group keeps its log, stable state and state machine
//     in it under its own key prefix (internal/raftbadger, kvsm). Log
//     appends and stable-state writes are synced before raft counts them
//     done (an acknowledged entry survives power loss), concurrent ones of
//     different groups with one fsync; the state machines' writes are not
//     synced, as their applied index lets raft give lost ones again.
//   - Cluster is a node's part in the replicated KV store: see
//     docs/architecture.md ("Replication") and cluster.go.
//   - Transport carries the Raft RPCs of every group of a node on one mesh
//     protocol (mesh.ProtoRaft): a stream's header names its group and the
//     protocol version, and a peer refuses a stream for a group it does
//     not run, or in a version it does not speak, with a reason the opener
//     sees (ErrRefused). Raft addresses are mesh member names; server ids
//     are mesh node ids.
//   - Replication's own requests between nodes (KV operations sent to a
//     group's leader, status, the view, placement's orders) travel on
//     mesh.ProtoRepl, one per stream, except writes, which share one
//     long-lived stream per pair of nodes (a pipe, pipe.go) with tagged
//     answers in any order.
//   - Group is this node's replica of one group: StartGroup, Bootstrap,
//     Apply, Leader, Status, Snapshot, Close, over a caller's FSM (a
//     BatchFSM takes what raft commits together at once: the data groups
//     apply it in one badger transaction, with one write of the applied
//     index).
//     Snapshots are files under the node's directory
//     (Dir/groups/<id>/snapshots); a replica that was down while the log
//     was compacted catches up from the leader's snapshot.
//   - internal/kvsm is the KV state machine with Workers KV semantics
//     (get, put with expiration and metadata, delete, list with prefix and
//     cursor), applied in batches, snapshotted from badger.
//   - placement decides where groups live: a pure function from
//     membership (alive, dead past a grace period, draining) to membership
//     changes (add a non-voter, promote it, remove), never losing quorum.
//   - Durable Object storage (objects.go) on the data groups: an object
//     belongs to the group its key hashes to and is owned by that group's
//     leader; OpenObject gives the owner a handle whose epoch is its term,
//     and Commit applies a batch only in a log entry of that term
//     (ErrStaleOwner otherwise). The FSM's Apply sees each entry's term
//     for that.
//   - LocalKV is a single-node KV store on kvsm for the embedded runtime of
//     warren run: it applies each command at once instead of through a
//     group.
//
// # Timing
//
// Idle groups must be cheap, because a node hosts many. Raft's defaults
// send each follower a message every 50 ms per group (CommitTimeout) on
// top of heartbeats; CommitTimeout is 1 s here (it only bounds how late a
// follower learns the commit index once writes stop), and with
// third_party/raft's patch 0002 a leader sends nothing on it once a
// follower has every entry and the commit index. Heartbeat and
// election timeouts stay at 1 s, lease 500 ms: a leader's crash is
// followed by a new leader in about 1.2-2.4 s (measured in the end-to-end
// test), and the leader heartbeats each follower 10 times a second (raft's
// fixed HeartbeatTimeout/10). Measured on 2 shared vCPUs, three nodes in
// one process on loopback UDP, 32 groups with a replica on each
// (BenchmarkIdleGroups): 3.3-4.4 % of a core per node for the groups, about
// 1 % for the mesh itself; with 2 s timeouts the groups cost 2.6 %, which
// is why heartbeats per pair of nodes are next rather than longer
// timeouts. One Apply with the log synced on three nodes (BenchmarkApply):
// p50 0.66-0.84 ms, p99 1.4-1.8 ms on a quiet machine; 16 concurrent
// clients: 5.8-6.2k writes/s.
//
// A Cluster's groups use 2 s timeouts (DataHeartbeatTimeout) with
// Group.Watch standing a follower after 1 s of silence, and go quiet
// (GroupConfig.QuietAfter) once their log has not grown for 5 s: the
// leader doubles its heartbeat timeout through raft's ReloadConfig, and
// so heartbeats every 400-800 ms rather than 200-400 ms, within its
// 1 s lease and the followers' 1 s; the next proposal restores it before
// it is handed to raft. In a 20-node testnet of real processes on a
// loaded machine, an idle node went from 1.7 % of a core and about 1000
// wakeups a second to 1.2-1.5 % and 800-860 (bench rows "mesh/idle ...");
// with raft's quiet pipeline (no CommitTimeout messages that carry
// nothing), quiet badger compactors and idle QUIC connections closed,
// to 1.1-1.2 % and 450-480.
//
// A group whose log has not grown for 10 s then goes to sleep
// (GroupConfig.SleepAfter and Vouch, Group.Watch): its followers stop
// expecting the leader's heartbeats while the mesh vouches for the
// leader's node (mesh.Vouches: alive, and this node's own probe of it has
// not failed) and allow it 15 times the silence (15-22 s) meanwhile; 2 s
// later its leader heartbeats every 3-6 s with a 15 s lease
// (third_party/raft's patch 0003 makes the lease reloadable). A proposal,
// a membership change or a barrier wakes the leader before raft sees it;
// a follower whose log grows, or that the mesh stops vouching for its
// leader, wakes too, and in the second case stands at once. So a dead
// leader of a sleeping group is replaced in the mesh's failure-detection
// time plus an election; a leader's replica that stops on a live node, or
// a path that carries gossip but not Raft, takes the longer silence.
// Reads confirm the leadership with a round of heartbeats (VerifyLeader),
// never with the lease, so the long lease cannot serve a stale read. The
// leader's minute expiry proposes nothing when nothing is due
// (kvsm.Store.ExpireDue), or every group would wake every minute.
//
// # What is next
//
//   - Heartbeats coalesced per pair of nodes rather than per group (as
//     etcd and CockroachDB do), so that idle cost stops growing with the
//     number of groups on small meshes (on large ones two nodes share few
//     groups).
//   - Value-log GC for the badger database (values above 256 KiB live in
//     its value log, which frees space only when collected).
//   - Wiring it together on nodes: the meta group holding the slot map,
//     the data groups running kvsm, the meta leader carrying out placement
//     (add non-voter, catch up, promote, remove), KV on mesh nodes, and
//     Durable Objects routed to their owners. kvsm wants a
//     badger batch of at least 2 MiB, so OpenDB's 4 MiB memtables must
//     grow to 16 MiB (as LocalKV's) before kvsm runs on it.
package replication
