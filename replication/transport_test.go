package replication

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"github.com/warrenmesh/warren/mesh"
)

// TestStreamLayer: a group's streams reach the same group on the peer,
// both ways, with node names as addresses.
func TestStreamLayer(t *testing.T) {
	c := newCluster(t, 2)
	a, b := c.nodes[0], c.nodes[1]
	la, err := a.tr.layer("g")
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()
	lb, err := b.tr.layer("g")
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	if _, err := a.tr.layer("g"); err == nil {
		t.Fatal("a second layer for the same group")
	}
	if la.Addr().String() != "n0" {
		t.Fatalf("layer address %q", la.Addr())
	}

	cn, err := la.Dial("n1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	if _, err := cn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	in, err := lb.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if in.RemoteAddr().String() != "n0" || in.LocalAddr().String() != "n1" {
		t.Fatalf("accepted stream: %v -> %v", in.RemoteAddr(), in.LocalAddr())
	}
	buf := make([]byte, 4)
	in.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if _, err := in.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	cn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(cn, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("read %q, %v", buf, err)
	}

	// Closing the layer ends its streams and its Accept; the group can
	// register again.
	lb.Close()
	if _, err := lb.Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := io.ReadFull(cn, buf); err == nil {
		t.Fatal("stream still open after the peer's layer closed")
	}
	lb2, err := b.tr.layer("g")
	if err != nil {
		t.Fatalf("registering again after Close: %v", err)
	}
	lb2.Close()
}

// TestStreamRefusals: a stream for a group the peer does not run, or in a
// version it does not speak, fails with a message that says so.
func TestStreamRefusals(t *testing.T) {
	c := newCluster(t, 2)
	a := c.nodes[0]
	la, err := a.tr.layer("only-on-n0")
	if err != nil {
		t.Fatal(err)
	}
	defer la.Close()

	cn, err := la.Dial("n1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	cn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := cn.Write([]byte("rpc")); err != nil {
		t.Fatal(err)
	}
	_, err = cn.Read(make([]byte, 1))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `n1 refused group "only-on-n0": no such group on n1`) {
		t.Fatalf("unknown group: %v", err)
	}

	for _, tc := range []struct {
		name, want string
		hdr        []byte
	}{
		{"future version", "n1 speaks raft stream versions 1 to 2, not 9", []byte{9, 1, 'g'}},
		{"version 0", "n1 speaks raft stream versions 1 to 2, not 0", []byte{0, 1, 'g'}},
		{"empty group id", "group id of 0 bytes", []byte{mesh.ProtoRaftVersion, 0}},
	} {
		s, err := a.m.Open(context.Background(), "n1", mesh.ProtoRaft)
		if err != nil {
			t.Fatal(err)
		}
		s.SetDeadline(time.Now().Add(5 * time.Second))
		s.Write(tc.hdr)
		got, _ := io.ReadAll(s)
		s.Close()
		if len(got) < 2 || got[0] == statusOK || !bytes.Contains(got[2:], []byte(tc.want)) {
			t.Errorf("%s: answer %q, want a refusal saying %q", tc.name, got, tc.want)
		}
	}

	if err := ValidGroupID("../x"); err == nil {
		t.Error("ValidGroupID accepted a path")
	}
	if _, err := a.tr.layer(strings.Repeat("g", 65)); err == nil {
		t.Error("a 65-byte group id was accepted")
	}
}

// TestRaftStreamVersion1: a node takes the Raft streams of a node of the
// version before (header version 1, AppendEntries in msgpack alone), so
// that during an upgrade an old leader still reaches upgraded followers.
func TestRaftStreamVersion1(t *testing.T) {
	c := newCluster(t, 2)
	c.startGroup(c.nodes[1], "g1", nil)
	s, err := c.nodes[0].m.Open(context.Background(), "n1", mesh.ProtoRaft)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	var msg bytes.Buffer
	msg.Write([]byte{1, 2, 'g', '1', 0}) // version 1, group "g1", rpc type AppendEntries
	mp := &codec.MsgpackHandle{}
	req := raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("old"), Addr: []byte("n0")}, Term: 1}
	if err := codec.NewEncoder(&msg, mp).Encode(&req); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(msg.Bytes()); err != nil {
		t.Fatal(err)
	}
	var status [1]byte
	if _, err := io.ReadFull(s, status[:]); err != nil || status[0] != statusOK {
		t.Fatalf("status %d, %v", status[0], err)
	}
	dec := codec.NewDecoder(s, mp)
	var rpcErr string
	var resp raft.AppendEntriesResponse
	if err := dec.Decode(&rpcErr); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode(&resp); err != nil {
		t.Fatal(err)
	}
	if rpcErr != "" || resp.Term < 1 {
		t.Fatalf("answer %+v, error %q", resp, rpcErr)
	}
}

// TestMixedRaftStreamVersions: a group whose replicas run on a node of the
// current version and on nodes of the version before (they refuse version 2
// streams) still replicates, whichever leads: the current node sends the
// older ones version 1 streams (AppendEntries in msgpack) once refused.
func TestMixedRaftStreamVersions(t *testing.T) {
	c := newCluster(t, 3)
	const id = "mixed"
	newer := c.nodes[0]
	for _, nd := range c.nodes[1:] {
		nd.tr.version.Store(1)
	}
	for _, nd := range c.nodes {
		c.startGroup(nd, id, nil)
	}
	if err := newer.groups[id].Bootstrap(c.servers()...); err != nil {
		t.Fatal(err)
	}
	l := c.leader(id, 10*time.Second)
	applyN(t, c, id, "a", 100, 4)
	if l != newer {
		// The current node must lead for its streams to the older ones
		// to carry entries.
		if err := l.groups[id].TransferTo(newer.name); err != nil {
			t.Fatal(err)
		}
		c.leader(id, 10*time.Second)
	}
	applyN(t, c, id, "b", 100, 4)
	waitFor(t, 10*time.Second, "every replica applied 200 commands", func() bool {
		for _, nd := range c.nodes {
			if nd.fsms[id].len() != 200 {
				return false
			}
		}
		return true
	})
	if n := newer.tr.downgrades.Load(); n == 0 {
		t.Error("the current node opened no version 1 stream to the older ones")
	}
	for _, nd := range c.nodes[1:] {
		if n := nd.tr.downgrades.Load(); n != 0 {
			t.Errorf("%s, of the older version, downgraded %d streams", nd.name, n)
		}
	}
}
