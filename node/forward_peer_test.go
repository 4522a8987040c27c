package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate"
	"github.com/warrenmesh/warren/mesh"
)

// stacksWith counts the goroutines whose stack mentions substr.
func stacksWith(substr string) int {
	buf := make([]byte, 16<<20)
	n := runtime.Stack(buf, true)
	c := 0
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if strings.Contains(g, substr) {
			c++
		}
	}
	return c
}

// TestForwardStalledFrame: a peer that stops in the middle of a forwarded
// call's frame does not hold the goroutine serving it (nor what it read):
// the frame must arrive within its time.
func TestForwardStalledFrame(t *testing.T) {
	old := fwdHeadTimeout
	fwdHeadTimeout = 200 * time.Millisecond
	t.Cleanup(func() { fwdHeadTimeout = old })
	c := newCluster(t, 901, "s1", "s2")
	s1 := c.start("s1", c.secret, 1)
	c.start("s2", c.secret, 1, "s1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(s1, "s1", "s2") })
	before := stacksWith("node.(*Node).serveForward")
	for range 5 {
		s, err := s1.Mesh().Open(context.Background(), "s2", protoInvoke)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Abort()
		msg := binary.AppendUvarint([]byte{mesh.ProtoInvokeVersion}, 1<<20)      // a frame of 1 MiB
		if _, err := s.Write(append(msg, make([]byte, 64<<10)...)); err != nil { // of which 64 KiB come
			t.Fatal(err)
		}
	}
	waitFor(t, 15*time.Second, "the stalled frames given up", func() bool { return stacksWith("node.(*Node).serveForward") <= before })
}

// TestForwardPeerOutcome: a peer's result whose outcome is none of the
// outcomes (one that is not even UTF-8, which the metrics' labels panic on)
// is a failure of that peer, not an outcome passed on or counted.
func TestForwardPeerOutcome(t *testing.T) {
	c := newCluster(t, 902, "u1", "u2")
	u1 := c.start("u1", c.secret, 1)
	u2 := c.start("u2", c.secret, 1, "u1")
	waitFor(t, 10*time.Second, "convergence", func() bool { return sees(u1, "u1", "u2") })
	var answer atomic.Value // the outcome u2 answers
	u2.Mesh().Handle(protoInvoke, func(_ mesh.Peer, s *mesh.Stream) {
		r := bufio.NewReader(s)
		if _, err := r.ReadByte(); err != nil {
			return
		}
		if _, err := readFrame(r); err != nil {
			return
		}
		out, _ := (&isolate.Result{Outcome: answer.Load().(isolate.Outcome), Telemetry: isolate.Telemetry{Node: "u2"}}).MarshalBinary()
		_, _ = s.Write(appendFrame([]byte{fwdResult}, out))
		_ = s.CloseWrite()
		_, _ = r.ReadByte()
	})
	occupy(t, u1, 5000) // u1's one slot: the call goes to u2
	for _, o := range []isolate.Outcome{"ok\xff", "bogus"} {
		answer.Store(o)
		res := u1.Run(context.Background(), sleepReq(0))
		if res.Outcome != isolate.OutcomeInternalError || !strings.Contains(res.Error, "u2") {
			t.Errorf("a peer's outcome %q: %s %q", o, res.Outcome, res.Error)
		}
	}
	answer.Store(isolate.OutcomeOK)
	if res := u1.Run(context.Background(), sleepReq(0)); res.Outcome != isolate.OutcomeOK || len(res.Telemetry.Hops) != 2 || res.Telemetry.Hops[1] != "u2" {
		t.Errorf("a peer's ok without hops: %s %v", res.Outcome, res.Telemetry.Hops)
	}
}
