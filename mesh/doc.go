// Package mesh is the node-to-node fabric: one UDP port carrying QUIC
// (mutual TLS from the mesh CA) and memberlist gossip, the peer table with
// RTTs and load, and the ranking that picks where an invocation runs.
// Not built yet: see issue 3.
package mesh
