package replication

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

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
		{"future version", "n1 speaks raft stream version 1, not 9", []byte{9, 1, 'g'}},
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
