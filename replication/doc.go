// Package replication runs warren's Raft groups (hashicorp/raft) on a
// node: their logs in one badger database per node, their traffic over the
// mesh's QUIC connections. It imports nothing of warren but mesh.
//
// # What exists
//
//   - OpenDB opens a node's one badger database, with synced writes (an
//     acknowledged entry survives power loss) and small-memory options
//     (about 6 MB of heap instead of badger's ~86 MB). Every group keeps
//     its log and stable state in it under its own key prefix
//     (internal/raftbadger).
//   - Transport carries the Raft RPCs of every group of a node on one mesh
//     protocol (mesh.ProtoRaft): a stream's header names its group and the
//     protocol version, and a peer refuses a stream for a group it does
//     not run, or in a version it does not speak, with a reason the opener
//     sees (ErrRefused). Raft addresses are mesh member names; server ids
//     are mesh node ids.
//   - Group is this node's replica of one group: StartGroup, Bootstrap,
//     Apply, Leader, Status, Snapshot, Close, over a caller's FSM.
//     Snapshots are files under the node's directory
//     (Dir/groups/<id>/snapshots); a replica that was down while the log
//     was compacted catches up from the leader's snapshot.
//
// # Timing
//
// Idle groups must be cheap, because a node hosts many. Raft's defaults
// send each follower a message every 50 ms per group (CommitTimeout) on
// top of heartbeats; CommitTimeout is 1 s here (it only bounds how late a
// follower learns the commit index once writes stop). Heartbeat and
// election timeouts stay at 1 s, lease 500 ms: a leader's crash is
// followed by a new leader in about 1.2-2.4 s (measured in the end-to-end
// test), and the leader heartbeats each follower 10 times a second (raft's
// fixed HeartbeatTimeout/10). Measured on 2 shared vCPUs, three nodes in
// one process, 32 groups with a replica on each: about 3.3 % of a core per
// node for the groups, 0.9 % for the mesh itself. One Apply with the log
// synced on three nodes takes about 0.7 ms at the median
// (BenchmarkApply).
//
// # What is next
//
//   - Heartbeats coalesced per pair of nodes rather than per group (as
//     etcd and CockroachDB do), so that idle cost stops growing with the
//     number of groups.
//   - Value-log GC for the badger database (values above 256 KiB live in
//     its value log, which frees space only when collected).
//   - The meta group, the slot map, data groups and their placement and
//     re-replication (add non-voter, catch up, promote, remove), and the
//     KV and Durable Object state machines with owner epochs.
package replication
