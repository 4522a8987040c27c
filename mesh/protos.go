package mesh

import "fmt"

// The stream protocols of warren, in one list so that two packages never
// pick the same byte. The first byte of every QUIC stream is one of these
// (bytes below FirstUserProto are the mesh's own; see conns.go). A new
// protocol takes the next free byte here, with a name for ProtoName and a
// version constant.
//
// Versions: a versioned protocol sends its version as the first byte after
// the protocol byte, and the receiver refuses, with a message naming the
// versions it speaks, a version it does not know. Changing a protocol's
// wire format in a way an older peer cannot read means a new version; a
// node may serve several at once during a rolling upgrade. A peer with no
// handler at all for a protocol byte resets the stream, and the opener's
// error wraps ErrNoHandler and names the protocol.
const (
	// ProtoInvoke forwards an invocation to the peer that runs it
	// (package node); the version byte comes before the invocation's
	// frame.
	ProtoInvoke byte = 32
	// ProtoRaft carries the Raft RPCs of every replication group on a
	// node; a stream names its group after the version byte (package
	// replication).
	ProtoRaft byte = 33
	// ProtoRepl carries replication's requests between nodes: KV
	// operations sent to a group's leader, group status, the meta
	// group's view, and placement's orders (package replication). One
	// request and one response per stream, or, on a pipe, many.
	ProtoRepl byte = 34
	// ProtoObject carries a call to a Durable Object to the node that
	// owns it (package node). One call and one reply per stream.
	ProtoObject byte = 35
)

// Current versions of the protocols above.
const (
	// ProtoInvokeVersion is the version of the forwarding frames
	// (node). Version 1 is the first with a version byte: a node from
	// before it sent none, and it and a node of version 1 refuse each
	// other's frames (as a bad frame, or an unknown answer).
	ProtoInvokeVersion byte = 1
	// ProtoRaftVersion is the version of the Raft stream header
	// (replication). Version 2 streams carry AppendEntries in raft's
	// compact encoding (third_party/raft patch 0008), which version 1
	// nodes do not read: they refuse a version 2 stream, and the opener
	// then sends them version 1 streams (msgpack) for a while; a version
	// 2 node takes version 1 streams too. So nodes of both versions
	// replicate together during a rolling upgrade.
	ProtoRaftVersion byte = 2
	// ProtoRaftMinVersion is the oldest Raft stream version a node takes.
	ProtoRaftMinVersion byte = 1
	// ProtoReplVersion is the version of replication's request frames:
	// one request and one answer per stream.
	ProtoReplVersion byte = 1
	// ProtoReplPipeVersion, as a ProtoRepl stream's version byte, opens
	// a pipe: many requests on one long-lived stream, each tagged with
	// an id that its answer carries (replication/pipe.go). A node that
	// speaks only ProtoReplVersion refuses it, and the opener goes back
	// to a stream per request.
	ProtoReplPipeVersion byte = 2
	// ProtoObjectVersion is the version of the object call frames
	// (node).
	ProtoObjectVersion byte = 1
)

// ProtoName names a protocol byte for logs and errors: "invoke", "raft",
// "gossip", or "protocol 40" for a byte the list does not have.
func ProtoName(proto byte) string {
	switch proto {
	case protoGossip:
		return "gossip"
	case ProtoInvoke:
		return "invoke"
	case ProtoRaft:
		return "raft"
	case ProtoRepl:
		return "repl"
	case ProtoObject:
		return "object"
	}
	return fmt.Sprintf("protocol %d", proto)
}
