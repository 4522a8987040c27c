package mesh

import "testing"

func TestProtocolRegistry(t *testing.T) {
	// Every registered protocol is a user byte and has its own name.
	seen := map[string]byte{}
	for _, p := range []byte{ProtoInvoke, ProtoRaft, ProtoRepl, ProtoObject} {
		if p < FirstUserProto {
			t.Errorf("protocol byte %d is reserved for the mesh", p)
		}
		name := ProtoName(p)
		if q, dup := seen[name]; dup {
			t.Errorf("bytes %d and %d share the name %q", q, p, name)
		}
		seen[name] = p
	}
	for _, tc := range []struct {
		b    byte
		want string
	}{{protoGossip, "gossip"}, {ProtoInvoke, "invoke"}, {ProtoRaft, "raft"}, {ProtoRepl, "repl"}, {ProtoObject, "object"}, {99, "protocol 99"}} {
		if got := ProtoName(tc.b); got != tc.want {
			t.Errorf("ProtoName(%d) = %q, want %q", tc.b, got, tc.want)
		}
	}
}
