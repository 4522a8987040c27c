// Package testnet builds warren clusters for tests and demos.
//
// This file set is the in-process fabric: a [Fabric] of virtual hosts whose
// net.PacketConns exchange UDP datagrams in memory, with a latency matrix,
// loss, bandwidth limits, one-way and full partitions, isolation and killed
// hosts, all without root. Nodes in one test process take these conns in
// place of real sockets (quic-go and memberlist accept them), so a test can
// run a 5-node mesh and inject faults deterministically (loss is seeded).
//
// The multi-process harness (harness.go) is what `warren testnet up|down|
// stop|start|status` drives: real node processes on loopback with free
// ports and a fresh secret, described by DIR/testnet.json, for kill -9 and
// restart tests and for `make run`.
package testnet
