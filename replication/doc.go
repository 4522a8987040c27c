// Package replication holds the Raft groups on badger: the meta group, the
// slot map, data groups and the KV and Durable Object state machines.
// Not built yet.
package replication
