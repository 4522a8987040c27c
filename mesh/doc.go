// Package mesh is the node-to-node fabric of warren: one UDP socket per node
// carrying QUIC (mutual TLS from the mesh CA) and memberlist gossip, the
// peer table (state, address, tags, API address, load, RTT), RPC streams
// between nodes, and the ranking that picks where an invocation runs
// (rank.go). It imports nothing else of warren.
//
// # Membership secret
//
// A mesh is defined by its Secret (GenerateSecret, WriteSecret, LoadSecret):
// an ECDSA P-256 CA and a 32-byte gossip key in one PEM file of mode 0600.
// Each node issues itself a fresh certificate at start (IssueNodeCert:
// CommonName = node name, subject serial number = node id, DNS SAN
// "<id>.warren.mesh", valid one year, client and server auth). QUIC uses
// TLS 1.3 with ALPN "warren/1"; both ends must present a certificate that
// chains to the mesh CA and to nothing else. The peer's name on a stream is
// taken from its verified certificate, never from a payload. Gossip is
// encrypted and authenticated (AES-GCM) with the gossip key through
// memberlist's keyring. A host without the secret can neither complete a
// handshake nor produce a gossip packet anyone accepts, nor read one.
//
// # One socket
//
// Start opens one net.PacketConn (or takes Config.PacketConn) and hands it
// to a quic.Transport, which serves both the QUIC listener and dialled
// connections. Gossip shares it:
//
//   - Datagrams: memberlist's custom Transport sends with
//     quic.Transport.WriteTo, every datagram prefixed with the byte 0x01.
//     quic-go passes a datagram whose first byte has neither 0x80 (long
//     header) nor 0x40 (fixed bit) to ReadNonQUICPacket; QUIC packets
//     always have one of them (quic-go does not grease the fixed bit), so
//     the two never mix. A dedicated goroutine drains ReadNonQUICPacket
//     (quic-go queues only 32), drops what does not start with 0x01, strips
//     the marker and feeds memberlist. memberlist's Label is not used (its
//     header byte, 244, would look like QUIC).
//   - Streams: memberlist's stream operations (join and periodic push/pull
//     state sync, the fallback ping) are QUIC streams whose first byte is
//     0x01, on the same per-peer connections as everything else.
//
// Every QUIC stream starts with one protocol byte (sent with the first
// data, so a request is one packet). Bytes below FirstUserProto (16) belong
// to the mesh; callers register handlers for the others with Handle and
// open streams with Open. Every byte in use is listed in protos.go
// (ProtoInvoke, ProtoRaft, ...) with its version, so that two packages never
// collide and a peer can refuse a version it does not know; a stream for a
// byte nobody handles is reset, and the opener's error wraps ErrNoHandler
// and names the protocol. One QUIC connection is
// kept per peer (dialled on demand, shared by concurrent callers, redialled
// when it fails; a connection the peer opened is used too). Connections to
// a peer that is declared dead or left, or that restarted (its gossiped
// boot nonce changed), are closed at once so that callers fail fast. The
// QUIC stateless-reset key is derived from the secret and the node id, so
// that a node restarted on the same address resets stale connections.
//
// # Idle connections
//
// QUIC's keep-alives are off, so that a quiet mesh does not ping every
// peer a node ever talked to. Once a second a node looks at each of its
// connections' packet counts: while one of the peer's streams is being
// served on a connection (a handler runs) and nothing was sent or
// received on it for 1.5 s, it sends a one-byte QUIC datagram, which the
// peer acknowledges; every stream has a handler at its accepting end, so
// a call that is silent for minutes keeps its connection on both ends. A
// connection with no packet either way for 5 s and no handler running
// carries no stream: it is closed (application error 0x203, "idle"),
// and the next Open dials again: a call on a new connection took 1.4-3.1
// ms (p50) and 1.6-2.0 ms of CPU on both ends together, against 53-75 µs
// on a kept one (BenchmarkRedial, BenchmarkStreamRoundTrip). Connections that carry traffic
// (Raft heartbeats, calls) send nothing extra. QUIC's idle timeout, 8 s,
// still ends a connection that hears nothing at all (a link cut while the
// peer stays alive to gossip through others). A node never closes a
// connection it is opening a stream on (both take the same lock); a
// stream the peer opens in the instant (one network delay) before the
// close reaches it fails like one on a failed connection. A node that does not negotiate datagrams (before this
// scheme) keeps its connections alive with QUIC keep-alives itself.
//
// # Failure detection (memberlist tuning)
//
// Starting from memberlist.DefaultLANConfig (measured on loopback, 5 nodes,
// 2 shared vCPUs; see the tests' logs):
//
//   - ProbeInterval 400 ms, ProbeTimeout 150 ms: each node probes one peer
//     every 400 ms; a missed direct ack is followed by indirect probes via
//     3 others and a ping over a QUIC stream before the interval ends.
//     (300 ms before; 400 ms sends a quarter fewer probes on a quiet mesh,
//     and SuspicionMult 3 keeps the suspicion window where it was.)
//   - SuspicionMult 3, SuspicionMaxTimeoutMult 2 (Lifeguard): a suspected
//     node is declared dead after 2.4 s if nobody else confirms, 1.2 s
//     after one independent confirmation (below 10 nodes; × log10 n
//     above; below 3 nodes no confirmation is expected and it is 1.2 s).
//     A real death is confirmed by the other probers within a second or
//     so; a node that is merely slow (or whose single prober is slow) gets
//     1.2-2.4 s to refute, with Lifeguard's self-awareness
//     (AwarenessMaxMultiplier 8) stretching the probing of an overloaded
//     node. Measured (race detector, 5 nodes): a silenced node is dead
//     everywhere in 1.8-2.0 s (1.6-1.8 s with the former 300 ms probes
//     and SuspicionMult 4). With SuspicionMult 2 and 300 ms (a fixed 1 s)
//     detection was ~1.9 s but a CPU-saturation test (race detector, two
//     busy goroutines per core on a shared machine) produced a false death
//     in about 1 run in 10; the former values produced none in 25 runs,
//     these none in 9 (suspicions yes, all refuted).
//   - RetransmitMult 8: each broadcast is sent 8 × ceil(log10(n+1)) times
//     by every node that learns it. FINDINGS showed the stock Local value 2
//     stalling detection; with 4, about 1 burst of 5 joins in 200 left a
//     node unaware of another until the next push/pull (15-30 s); with 8,
//     none in 500 (worst 0.32 s). Rapid load updates do not pile up:
//     memberlist keeps only the newest alive message per node in its
//     queue.
//   - GossipInterval 200 ms (3 nodes per round): state changes reach
//     everyone in a few hundred milliseconds. A round with nothing to send
//     sends nothing, and with third_party/memberlist's QuietGossip the
//     ticker stops while memberlist's broadcast queue is empty, so a quiet
//     mesh's gossip timer does not wake the node at all; a queued
//     broadcast restarts it and goes out at once.
//   - EnableCompression off: memberlist's LZW allocates and clears a
//     64 KiB table for every packet it sends, probes of a few dozen bytes
//     included, most too small to shrink. Compressed messages (an older
//     node's) are still understood.
//   - PushPullInterval 30 s (memberlist's LAN default; full state sync over
//     a QUIC stream, stretched by memberlist above 32 nodes); TCPTimeout
//     5 s for stream operations. Gossip carries every change (see
//     RetransmitMult), push/pull is the backstop. With 10 s it made most
//     of the QUIC handshakes of an idle mesh (each to a random peer, on a
//     connection closed again after connIdleClose), and the handshakes
//     took about a sixth of an idle node's CPU.
//
// Every knob can be overridden in Config. memberlist's log goes to the
// slog logger at debug level.
//
// # Peer table
//
// Each node gossips its metadata in memberlist's node meta (at most
// 512 bytes, compact binary; see meta.go): id, API address, tags, slots,
// free slots, load, a boot nonce and a leaving flag. SetLoad records the
// local state; a loop re-gossips it (memberlist UpdateNode) when it has
// changed, at once but at most every 200 ms, and tries again after
// RefreshInterval (1 s) if that broadcast failed; it sleeps while
// nothing changes. Members returns every member with its state:
// "alive", "suspect" (our own probe of it failed; memberlist exposes no
// suspect state, so this is taken from its log line and cleared by the next
// ack or after the longest suspicion timeout), "dead" or "left" (Leave
// gossips the leaving flag before memberlist's leave message). Dead and
// left members stay ReapAfter (10 min); dead ones are re-joined every
// ReconnectInterval (10 s) so that a healed partition merges even after
// memberlist stopped gossiping to them.
//
// Marks: SetMark sets one of a node's few numbered marks (at most 4),
// versions of something it holds that its peers compare with theirs
// without asking (Marks): replication announces the version of its view,
// the cron loop the time of its last deploy. They travel in the
// metadata as tags under "~" (so nodes of older versions see tags, and
// nothing breaks), which Peer.Tags leaves out and Config.Tags may not use;
// a change wakes the peers' OnChange and NotifyChanges. Vouches says
// whether the table takes a node to be up (alive, not suspected by this
// node): what a sleeping Raft group's followers trust instead of their
// leader's heartbeats.
//
// RTT: for a peer with an open QUIC connection, quic-go's minimum RTT of
// that connection (Peer.RTTSource "quic"; the smoothed RTT starts from
// handshake samples inflated by certificate work and converges slowly on a
// quiet connection, and load is ranked separately); for 10 minutes after
// such a connection closed (idle), the minimum RTT it measured, also
// "quic" (a path's latency seldom changes); otherwise the distance between Vivaldi
// coordinates (github.com/hashicorp/serf/coordinate), which every ping ack
// carries and every completed probe updates ("vivaldi"); otherwise unknown
// (""). Coordinates rank peers; they never set a timeout.
package mesh
