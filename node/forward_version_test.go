package node

import (
	"bufio"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/warrenmesh/warren/mesh"
)

// TestForwardUnknownVersion: a peer refuses a forward stream of a version
// it does not speak, naming the versions it speaks, and runs nothing.
func TestForwardUnknownVersion(t *testing.T) {
	c := newCluster(t, 36, "v1", "v2")
	v1 := c.start("v1", c.secret, 1)
	v2 := c.start("v2", c.secret, 1, "v1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(v1, "v1", "v2") })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := v1.Mesh().Open(ctx, "v2", protoInvoke)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	// A well-formed invocation, behind version 99.
	fr := *sleepReq(0)
	fr.Token = adminToken(t, c.secret)
	body, err := encodeForward(&fr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(appendFrame([]byte{99}, body)); err != nil {
		t.Fatal(err)
	}
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(s)
	msg, err := r.ReadByte()
	if err != nil {
		t.Fatal(err)
	}
	if msg != fwdBadVersion {
		t.Fatalf("answer %q, want %q", msg, fwdBadVersion)
	}
	speaks, err := readFrame(r)
	if err != nil {
		t.Fatal(err)
	}
	err = versionRefusal("v2", 99, speaks)
	if want := "peer v2 speaks invoke version 1, not 99"; err.Error() != want || !errors.Is(err, errInvokeVersion) {
		t.Errorf("refusal %q, want %q wrapping errInvokeVersion", err, want)
	}
	if ran, running := v2.ran.Load(), v2.running.Load(); ran != 0 || running != 0 {
		t.Errorf("v2 ran %d, running %d: want nothing run", ran, running)
	}

	// The same frame at the version v2 speaks runs.
	msg, _ = sendFrame(t, v1.Mesh(), "v2", &fr)
	if msg == fwdRefused || msg == fwdFull || msg == fwdBadVersion {
		t.Fatalf("version %d: answer %q", mesh.ProtoInvokeVersion, msg)
	}
}

// TestForwardPeerOfAnotherVersion: a caller whose peer speaks only another
// version counts the peer as unable to run the call: nothing started, no
// result, so the call goes elsewhere.
func TestForwardPeerOfAnotherVersion(t *testing.T) {
	c := newCluster(t, 37, "o1", "o2")
	o1 := c.start("o1", c.secret, 1)
	o2 := c.start("o2", c.secret, 1, "o1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(o1, "o1", "o2") })
	// o2 speaks only version 2.
	asked := make(chan byte, 1)
	o2.Mesh().Handle(protoInvoke, func(_ mesh.Peer, s *mesh.Stream) {
		r := bufio.NewReader(s)
		v, err := r.ReadByte()
		if err != nil {
			return
		}
		asked <- v
		_, _ = s.Write(appendFrame([]byte{fwdBadVersion}, []byte{2}))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, started := o1.forward(ctx, "o2", sleepReq(0), 0, time.Now().Add(time.Second))
		if res != nil || started {
			t.Errorf("forward to a peer of another version: %+v, started %v; want neither", res, started)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("forward to a peer of another version hangs")
	}
	select {
	case v := <-asked:
		if v != mesh.ProtoInvokeVersion {
			t.Errorf("the caller sent version %d, want %d", v, mesh.ProtoInvokeVersion)
		}
	default:
		t.Error("the caller never reached o2")
	}
	if o1.remote.Load() != 0 {
		t.Errorf("o1 counts %d calls running on peers", o1.remote.Load())
	}
}

// TestVersionRefusal: the caller's error for a peer's version refusal.
func TestVersionRefusal(t *testing.T) {
	for _, tc := range []struct {
		speaks []byte
		want   string
	}{
		{[]byte{1}, "peer n2 speaks invoke version 1, not 2"},
		{[]byte{3, 4}, "peer n2 speaks invoke versions 3, 4, not 2"},
		{nil, "peer n2 refused invoke version 2"},
	} {
		err := versionRefusal("n2", 2, tc.speaks)
		if err.Error() != tc.want || !errors.Is(err, errInvokeVersion) {
			t.Errorf("versionRefusal(%v) = %q, want %q wrapping errInvokeVersion", tc.speaks, err, tc.want)
		}
	}
}
