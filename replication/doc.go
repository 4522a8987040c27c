// Package replication holds the Raft groups on badger: the meta group, the
// slot map, data groups and the KV and Durable Object state machines.
//
// Built so far: the KV state machine (internal/kvsm) and LocalKV, a
// single-node KV store on it for the embedded runtime of warren run, which
// applies each command at once instead of through a group. The Raft groups
// are not built yet.
package replication
