package mesh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// switchConn is not a *net.UDPConn: quic-go would warn that it cannot
	// size its buffers.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	goleak.VerifyTestMain(m,
		// memberlist's Shutdown does not wait for a probe in flight: it
		// ends by itself within one (awareness-scaled) probe interval.
		goleak.IgnoreAnyFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

// testLogger discards unless MESH_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("MESH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// switchConn is a non-*net.UDPConn PacketConn whose traffic can be cut off
// (a crashed or unplugged host: no goodbye of any kind).
type switchConn struct {
	net.PacketConn
	dead atomic.Bool
}

func (c *switchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, a, err := c.PacketConn.ReadFrom(p)
		if err != nil || !c.dead.Load() {
			return n, a, err
		}
	}
}

func (c *switchConn) WriteTo(p []byte, a net.Addr) (int, error) {
	if c.dead.Load() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, a)
}

type testNode struct {
	*Mesh
	conn *switchConn // nil when the node opened its own socket
}

type clusterOpts struct {
	wrap     bool // use switchConn sockets
	secret   *Secret
	onChange func(i int)
	tune     func(*Config)
}

var testSecret = sync.OnceValue(func() *Secret {
	s, err := GenerateSecret()
	if err != nil {
		panic(err)
	}
	return s
})

func startNode(t testing.TB, i int, o clusterOpts) testNode {
	t.Helper()
	cfg := Config{
		Name:   fmt.Sprintf("n%d", i),
		ID:     fmt.Sprintf("id-%d", i),
		Secret: o.secret,
		Bind:   "127.0.0.1:0",
		Tags:   map[string]string{"zone": fmt.Sprintf("z%d", i%2), "i": fmt.Sprint(i)},
		API:    fmt.Sprintf("127.0.0.1:%d", 7000+i),
		Logger: testLogger().With("node", i),
	}
	if cfg.Secret == nil {
		cfg.Secret = testSecret()
	}
	if o.onChange != nil {
		cfg.OnChange = func() { o.onChange(i) }
	}
	if o.tune != nil {
		o.tune(&cfg)
	}
	var sc *switchConn
	if o.wrap {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sc = &switchConn{PacketConn: pc}
		cfg.PacketConn = sc
	}
	m, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return testNode{Mesh: m, conn: sc}
}

// startCluster starts n nodes and joins them all through the first.
func startCluster(t testing.TB, n int, o clusterOpts) []testNode {
	t.Helper()
	nodes := make([]testNode, n)
	for i := range nodes {
		nodes[i] = startNode(t, i, o)
	}
	for _, nd := range nodes[1:] {
		if _, err := nd.Join([]string{nodes[0].Addr().String()}); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		ok, detail := cond()
		if ok {
			return time.Since(start)
		}
		last = detail
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v: %s", what, timeout, last)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not synchronisation
	}
}

// converged reports whether every node sees every other one in state.
func converged(nodes []testNode, state string) (bool, string) {
	for _, a := range nodes {
		seen := map[string]string{}
		for _, p := range a.Members() {
			seen[p.Name] = p.State
		}
		for _, b := range nodes {
			if seen[b.Name()] != state {
				return false, fmt.Sprintf("%s sees %s as %q", a.Name(), b.Name(), seen[b.Name()])
			}
		}
	}
	return true, ""
}

func peerOf(t testing.TB, m *Mesh, name string) Peer {
	t.Helper()
	p, ok := m.Peer(name)
	if !ok {
		t.Fatalf("%s has no entry for %s", m.Name(), name)
	}
	return p
}

func TestClusterConvergesWithState(t *testing.T) {
	nodes := startCluster(t, 5, clusterOpts{})
	d := waitFor(t, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
	t.Logf("5 nodes converged %v after the last join", d)

	// Members: local first, then sorted, with tags and API.
	ms := nodes[2].Members()
	if len(ms) != 5 || !ms[0].Local || ms[0].Name != "n2" {
		t.Fatalf("members %+v", ms)
	}
	for i := 2; i < len(ms); i++ {
		if ms[i-1].Name >= ms[i].Name && !ms[i-1].Local {
			t.Fatalf("not sorted: %s before %s", ms[i-1].Name, ms[i].Name)
		}
	}
	p := peerOf(t, nodes[2].Mesh, "n3")
	if p.ID != "id-3" || p.API != "127.0.0.1:7003" || p.Tags["zone"] != "z1" || p.Tags["i"] != "3" || p.Addr != nodes[3].Addr().String() {
		t.Fatalf("peer n3 as seen by n2: %+v", p)
	}

	// SetLoad reaches everyone quickly.
	nodes[4].SetLoad(LocalState{Slots: 8, Free: 3, Load: 0.625})
	d = waitFor(t, 3*time.Second, "load gossip", func() (bool, string) {
		for _, a := range nodes[:4] {
			p := peerOf(t, a.Mesh, "n4")
			if p.Slots != 8 || p.Free != 3 || p.Load != 0.625 {
				return false, fmt.Sprintf("%s sees n4 %+v", a.Name(), p)
			}
		}
		return true, ""
	})
	t.Logf("SetLoad visible on all peers after %v", d)
	if lp := nodes[4].Local(); lp.Free != 3 || lp.Slots != 8 {
		t.Fatalf("local %+v", lp)
	}

	// Every change is seen, including back to zero.
	nodes[4].SetLoad(LocalState{Slots: 8, Free: 0, Load: 1})
	waitFor(t, 3*time.Second, "load gossip", func() (bool, string) {
		p := peerOf(t, nodes[0].Mesh, "n4")
		return p.Free == 0 && p.Load == 1, fmt.Sprintf("%+v", p)
	})

	// RTT: QUIC stats for connected peers, Vivaldi for the rest.
	nodes[1].Handle(20, func(from Peer, s *Stream) { io.Copy(io.Discard, s) })
	s, err := nodes[0].Open(context.Background(), "n1", 20)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if p := peerOf(t, nodes[0].Mesh, "n1"); p.RTTSource != RTTQUIC || p.RTT <= 0 || p.RTT > time.Second {
		t.Fatalf("n0 sees n1 with RTT %v from %q, want quic", p.RTT, p.RTTSource)
	}
	waitFor(t, 10*time.Second, "RTT for every peer", func() (bool, string) {
		sources := map[string]int{}
		for _, a := range nodes {
			for _, p := range a.Members()[1:] {
				if p.RTTSource == "" {
					return false, a.Name() + " has no RTT for " + p.Name
				}
				sources[p.RTTSource]++
			}
		}
		return sources[RTTVivaldi] > 0 && sources[RTTQUIC] > 0, fmt.Sprint(sources)
	})
	for _, p := range nodes[3].Members()[1:] {
		t.Logf("n3 -> %s: %v (%s)", p.Name, p.RTT, p.RTTSource)
	}
}

func TestWrongSecretCannotJoin(t *testing.T) {
	nodes := startCluster(t, 2, clusterOpts{})
	waitFor(t, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
	other, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	intruder := startNode(t, 9, clusterOpts{secret: other})

	if n, err := intruder.Join([]string{nodes[0].Addr().String()}); err == nil || n != 0 {
		t.Fatalf("intruder joined: %d, %v", n, err)
	}
	if n, err := nodes[1].Join([]string{intruder.Addr().String()}); err == nil || n != 0 {
		t.Fatalf("member joined the intruder: %d, %v", n, err)
	}
	// The intruder cannot complete a QUIC handshake with a member, nor the
	// member with it.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := intruder.dialAddr(ctx, nodes[0].Addr().String(), ""); err == nil {
		t.Fatal("intruder completed a QUIC handshake with a member")
	} else {
		t.Logf("intruder dial: %v", err)
	}
	if _, err := nodes[0].dialAddr(ctx, intruder.Addr().String(), ""); err == nil {
		t.Fatal("member completed a QUIC handshake with the intruder")
	}
	// Its gossip datagrams (encrypted with the wrong key) are dropped:
	// nobody ever lists it, while it keeps probing whatever it knows.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, nd := range nodes {
			if _, ok := nd.Peer("n9"); ok {
				t.Fatalf("%s lists the intruder", nd.Name())
			}
		}
		if len(intruder.Members()) != 1 {
			t.Fatalf("intruder sees %v", intruder.Members())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDeadNodeDetected(t *testing.T) {
	nodes := startCluster(t, 5, clusterOpts{wrap: true})
	waitFor(t, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
	victim := nodes[3]
	// Connections to the victim exist: they must be closed on detection.
	victim.Handle(21, func(from Peer, s *Stream) { io.Copy(s, s) })
	s, err := nodes[0].Open(context.Background(), victim.Name(), 21)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	killed := time.Now()
	victim.conn.dead.Store(true) // like kill -9: no leave, no CONNECTION_CLOSE
	detected := map[string]time.Duration{}
	waitFor(t, 6*time.Second, "detection", func() (bool, string) {
		for i, nd := range nodes {
			if i == 3 {
				continue
			}
			if _, ok := detected[nd.Name()]; ok {
				continue
			}
			if p := peerOf(t, nd.Mesh, victim.Name()); p.State == StateDead {
				detected[nd.Name()] = time.Since(killed)
			}
		}
		return len(detected) == 4, fmt.Sprint(detected)
	})
	var worst time.Duration
	for _, d := range detected {
		worst = max(worst, d)
	}
	t.Logf("kill -> dead: %v (worst %v)", detected, worst)
	// PeerState says what Peer does, without the copy.
	if st, ok := nodes[0].PeerState(victim.Name()); !ok || st != StateDead {
		t.Errorf("PeerState of the dead %s: %q %v", victim.Name(), st, ok)
	}
	if st, ok := nodes[0].PeerState(nodes[0].Name()); !ok || st != peerOf(t, nodes[0].Mesh, nodes[0].Name()).State {
		t.Errorf("PeerState of itself: %q %v", st, ok)
	}
	if _, ok := nodes[0].PeerState("nobody"); ok {
		t.Error("PeerState of a node it never saw")
	}
	if worst > 4*time.Second {
		t.Fatalf("detection took %v, want <= 4s", worst)
	}
	// The in-flight stream fails instead of hanging.
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stream to the dead node: %v", err)
	}
	if _, err := nodes[0].Open(context.Background(), victim.Name(), 21); !errors.Is(err, ErrPeerDown) {
		t.Fatalf("Open to a dead peer: %v", err)
	}
	// Nobody else was hurt.
	for i, a := range nodes {
		for j, b := range nodes {
			if i != 3 && j != 3 {
				if p := peerOf(t, a.Mesh, b.Name()); p.State != StateAlive {
					t.Fatalf("%s sees %s %s", a.Name(), b.Name(), p.State)
				}
			}
		}
	}
}

func TestLeaveIsLeft(t *testing.T) {
	nodes := startCluster(t, 3, clusterOpts{})
	waitFor(t, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
	if err := nodes[2].Leave(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	nodes[2].Close()
	waitFor(t, 3*time.Second, "left", func() (bool, string) {
		for _, nd := range nodes[:2] {
			if p := peerOf(t, nd.Mesh, "n2"); p.State != StateLeft {
				return false, nd.Name() + " sees n2 " + p.State
			}
		}
		return true, ""
	})
}

func TestRestartOnSameAddress(t *testing.T) {
	nodes := startCluster(t, 3, clusterOpts{})
	waitFor(t, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
	echo := func(from Peer, s *Stream) { io.Copy(s, s) }
	nodes[2].Handle(22, echo)
	roundTrip := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s, err := nodes[0].Open(ctx, "n2", 22)
		if err != nil {
			return err
		}
		defer s.Close()
		s.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := s.Write([]byte("ping")); err != nil {
			return err
		}
		s.CloseWrite()
		b, err := io.ReadAll(s)
		if err == nil && string(b) != "ping" {
			err = fmt.Errorf("echo %q", b)
		}
		return err
	}
	if err := roundTrip(); err != nil {
		t.Fatal(err)
	}
	addr := nodes[2].Addr().String()
	nodes[2].Close() // crash: no leave

	cfg := nodes[2].cfg
	cfg.Bind, cfg.PacketConn = addr, nil
	var m *Mesh
	waitFor(t, 5*time.Second, "rebind", func() (bool, string) {
		var err error
		m, err = Start(context.Background(), cfg)
		return err == nil, fmt.Sprint(err)
	})
	defer m.Close()
	m.Handle(22, echo)
	if _, err := m.Join([]string{nodes[0].Addr().String()}); err != nil {
		t.Fatal(err)
	}
	nodes[2] = testNode{Mesh: m}
	waitFor(t, 10*time.Second, "reconvergence", func() (bool, string) { return converged(nodes, StateAlive) })
	d := waitFor(t, 5*time.Second, "stream to the restarted node", func() (bool, string) {
		err := roundTrip()
		return err == nil, fmt.Sprint(err)
	})
	t.Logf("stream to the restarted node works %v after reconvergence", d)
}

func TestStreams(t *testing.T) {
	nodes := startCluster(t, 2, clusterOpts{wrap: true}) // also: a non-*net.UDPConn socket
	waitFor(t, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
	a, b := nodes[0], nodes[1]

	var mu sync.Mutex
	var froms []Peer
	b.Handle(32, func(from Peer, s *Stream) {
		mu.Lock()
		froms = append(froms, from)
		mu.Unlock()
		if s.Peer() != from.Name || s.Proto() != 32 {
			s.Abort()
			return
		}
		io.Copy(s, s)
	})

	ctx := context.Background()
	const workers, rounds = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				msg := bytes.Repeat([]byte{byte(w), byte(r)}, 512+w*100)
				s, err := a.Open(ctx, "n1", 32)
				if err != nil {
					errs <- err
					return
				}
				go func() { s.Write(msg); s.CloseWrite() }()
				got, err := io.ReadAll(s)
				s.Close()
				if err != nil || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("worker %d round %d: %d bytes, %v", w, r, len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mu.Lock()
	if len(froms) != workers*rounds {
		t.Fatalf("handler ran %d times", len(froms))
	}
	for _, f := range froms {
		if f.Name != "n0" || f.ID != "id-0" || f.API != "127.0.0.1:7000" {
			t.Fatalf("handler saw %+v", f)
		}
	}
	mu.Unlock()
	a.mu.Lock()
	nconns := len(a.connsToLocked("n1"))
	a.mu.Unlock()
	if nconns != 1 {
		t.Fatalf("n0 has %d connections to n1, want 1", nconns)
	}

	// A large echo with a concurrent reader (beyond the first chunk and the
	// initial flow-control windows).
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	s, err := a.Open(ctx, "n1", 32)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(20 * time.Second))
	go func() { s.Write(big); s.CloseWrite() }()
	got, err := io.ReadAll(s)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big echo: %d bytes, %v", len(got), err)
	}
	s.Close()

	// Either side can serve: the reverse direction reuses the connection.
	a.Handle(33, func(from Peer, s *Stream) { s.Write([]byte(from.Name)) })
	s, err = b.Open(ctx, "n0", 33)
	if err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	if got, err := io.ReadAll(s); err != nil || string(got) != "n1" {
		t.Fatalf("reverse: %q %v", got, err)
	}
	s.Close()

	// A node can open a stream to itself.
	s, err = a.Open(ctx, "n0", 33)
	if err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	if got, err := io.ReadAll(s); err != nil || string(got) != "n0" {
		t.Fatalf("self: %q %v", got, err)
	}
	s.Close()

	// No handler: a clear error on the opener's side.
	s, err = a.Open(ctx, "n1", 99)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadAll(s); !errors.Is(err, ErrNoHandler) || !strings.Contains(err.Error(), "protocol 99") || !strings.Contains(err.Error(), "n1") {
		t.Fatalf("unhandled protocol: %v", err)
	}
	s.Close()

	if _, err := a.Open(ctx, "n1", protoGossip); err == nil {
		t.Fatal("opened a reserved protocol")
	}
	if _, err := a.Open(ctx, "nobody", 32); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("unknown peer: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("Handle accepted a reserved protocol")
			}
		}()
		a.Handle(3, func(Peer, *Stream) {})
	}()

	// A broken connection is redialled.
	a.mu.Lock()
	mc := a.byName["n1"]
	a.mu.Unlock()
	mc.c.CloseWithError(0, "test")
	s, err = a.Open(ctx, "n1", 32)
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte("again"))
	s.CloseWrite()
	if got, err := io.ReadAll(s); err != nil || string(got) != "again" {
		t.Fatalf("after redial: %q %v", got, err)
	}
	s.Close()
}

func TestNoFalsePositivesUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("CPU burner")
	}
	var bad atomic.Value
	var nodes []testNode
	var ready atomic.Bool
	nodes = startCluster(t, 5, clusterOpts{onChange: func(i int) {
		if !ready.Load() {
			return
		}
		for _, p := range nodes[i].Members() {
			if p.State == StateDead || p.State == StateLeft {
				bad.Store(fmt.Sprintf("%s saw %s %s", nodes[i].Name(), p.Name, p.State))
			}
		}
	}})
	waitFor(t, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
	ready.Store(true)

	// Saturate every core for 6 s (twelve probe intervals, several
	// suspicion timeouts) while the nodes gossip.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			x := 1.0
			for {
				select {
				case <-stop:
					return
				default:
				}
				for range 100000 {
					x = x*1.0000001 + 1
				}
			}
		})
	}
	end := time.Now().Add(6 * time.Second)
	suspects := 0
	for time.Now().Before(end) {
		for _, nd := range nodes {
			for _, p := range nd.Members() {
				if p.State == StateSuspect {
					suspects++
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if v := bad.Load(); v != nil {
		t.Fatalf("false positive under load: %v", v)
	}
	// A node may still be suspect (not dead) right after the load.
	waitFor(t, 5*time.Second, "all alive after the load", func() (bool, string) { return converged(nodes, StateAlive) })
	if v := bad.Load(); v != nil {
		t.Fatalf("false positive after load: %v", v)
	}
	t.Logf("suspect samples during load: %d", suspects)
}

// TestJoinConvergesRepeatedly: gossip dissemination after a burst of joins
// must not depend on luck (with RetransmitMult 4, about 1 run in 200 left a
// node unaware of another until the next push/pull, 15-30 s later).
func TestJoinConvergesRepeatedly(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	var worst time.Duration
	for range 20 {
		nodes := make([]testNode, 5)
		for i := range nodes {
			nodes[i] = startNode(t, i, clusterOpts{})
		}
		t0 := time.Now()
		for _, nd := range nodes[1:] {
			if _, err := nd.Join([]string{nodes[0].Addr().String()}); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 2*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
		worst = max(worst, time.Since(t0))
		for _, nd := range nodes {
			nd.Close()
		}
	}
	t.Logf("worst join-to-converged of 20 runs: %v", worst)
}

// TestPartitionHeals: both sides of a partition declare the other dead;
// once traffic flows again the reconnect loop merges them.
func TestPartitionHeals(t *testing.T) {
	nodes := startCluster(t, 3, clusterOpts{wrap: true, tune: func(c *Config) { c.ReconnectInterval = 300 * time.Millisecond }})
	waitFor(t, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
	nodes[2].conn.dead.Store(true)
	waitFor(t, 6*time.Second, "partition seen on both sides", func() (bool, string) {
		a, b := peerOf(t, nodes[0].Mesh, "n2"), peerOf(t, nodes[2].Mesh, "n0")
		return a.State == StateDead && b.State == StateDead, a.State + " " + b.State
	})
	nodes[2].conn.dead.Store(false)
	d := waitFor(t, 5*time.Second, "healed", func() (bool, string) { return converged(nodes, StateAlive) })
	t.Logf("partition healed %v after traffic resumed", d)
}

// Preferred tells a stream on the connection Open uses from one on a
// connection the mesh has let go of (the peer restarted and dialled in
// anew, or the connection failed).
func TestPreferred(t *testing.T) {
	nodes := startCluster(t, 2, clusterOpts{})
	waitFor(t, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })
	a, b := nodes[0], nodes[1]
	b.Handle(32, func(from Peer, s *Stream) { io.Copy(s, s) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := a.Open(ctx, "n1", 32)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !a.Preferred(s) {
		t.Fatal("a stream on the only connection is not preferred")
	}
	a.mu.Lock()
	mc := a.bestConnLocked("n1")
	a.mu.Unlock()
	a.removeConn(mc)
	if a.Preferred(s) {
		t.Fatal("a stream on a removed connection is preferred")
	}
	s2, err := a.Open(ctx, "n1", 32)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !a.Preferred(s2) {
		t.Fatal("a stream on the new connection is not preferred")
	}
}

// hasConnTo reports whether m holds a live connection to the peer named name.
func hasConnTo(m *Mesh, name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bestConnLocked(name) != nil
}

// A call that is silent for longer than QUIC's idle timeout keeps its
// connection (the handler's end sends keep-alives); a connection nothing
// uses is closed, its RTT still ranks the peer, and the next Open dials
// again.
func TestIdleConnections(t *testing.T) {
	oldCheck, oldLate, oldKeep, oldIdle, oldQUIC := connCheckEvery, connCheckLate, connKeepAliveAfter, connIdleClose, quicIdleTimeout
	connCheckEvery, connCheckLate, connKeepAliveAfter, connIdleClose, quicIdleTimeout = 50*time.Millisecond, 100*time.Millisecond, 200*time.Millisecond, 700*time.Millisecond, time.Second
	t.Cleanup(func() {
		connCheckEvery, connCheckLate, connKeepAliveAfter, connIdleClose, quicIdleTimeout = oldCheck, oldLate, oldKeep, oldIdle, oldQUIC
	})
	nodes := startCluster(t, 2, clusterOpts{})
	waitFor(t, 5*time.Second, "convergence", func() (bool, string) { return converged(nodes, StateAlive) })

	const silence = 2500 * time.Millisecond // well over the idle timeout and the idle close
	nodes[1].Handle(21, func(_ Peer, s *Stream) {
		var b [1]byte
		if _, err := io.ReadFull(s, b[:]); err != nil {
			return
		}
		select {
		case <-time.After(silence): // a slow call: nothing on the stream meanwhile
		case <-s.Context().Done():
			return
		}
		s.Write([]byte("done"))
	})
	call := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := nodes[0].Open(ctx, "n1", 21)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := s.Write([]byte{1}); err != nil {
			return err
		}
		got, err := io.ReadAll(s)
		if err != nil {
			return fmt.Errorf("after %d bytes: %w", len(got), err)
		}
		if string(got) != "done" {
			return fmt.Errorf("read %q", got)
		}
		return nil
	}
	t0 := time.Now()
	if err := call(); err != nil {
		t.Fatalf("a call silent for %v: %v", silence, err)
	}
	t.Logf("a call silent for %v took %v", silence, time.Since(t0).Round(time.Millisecond))

	d := waitFor(t, 5*time.Second, "the idle connection closed", func() (bool, string) {
		return !hasConnTo(nodes[0].Mesh, "n1") && !hasConnTo(nodes[1].Mesh, "n0"), ""
	})
	t.Logf("idle connection closed %v after the call", d)
	for i, pair := range [][2]string{{"n0", "n1"}, {"n1", "n0"}} {
		if p := peerOf(t, nodes[i].Mesh, pair[1]); p.RTTSource != RTTQUIC || p.RTT <= 0 || p.RTT > time.Second {
			t.Fatalf("%s sees %s with RTT %v from %q after the connection closed, want the remembered quic RTT", pair[0], pair[1], p.RTT, p.RTTSource)
		}
	}
	nodes[1].Handle(22, func(_ Peer, s *Stream) { io.Copy(s, s) })
	s, err := nodes[0].Open(context.Background(), "n1", 22)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	if got, err := io.ReadAll(s); err != nil || string(got) != "again" {
		t.Fatalf("after a redial: %q, %v", got, err)
	}
}

// An API listening on every address is advertised at the node's own:
// 0.0.0.0 or [::] in a URL reaches the host of whoever dials it.
func TestRoutableAPI(t *testing.T) {
	ip := net.ParseIP("10.0.0.7")
	for api, want := range map[string]string{
		"http://[::]:7070":      "http://10.0.0.7:7070",
		"http://0.0.0.0:7070":   "http://10.0.0.7:7070",
		"http://127.0.0.1:7070": "http://127.0.0.1:7070",
		"http://10.0.0.8:7070":  "http://10.0.0.8:7070",
		"https://[::]:443/base": "https://10.0.0.7:443/base",
		"":                      "",
	} {
		if got := routableAPI(api, ip); got != want {
			t.Errorf("routableAPI(%q) = %q, want %q", api, got, want)
		}
	}
	if got := routableAPI("http://[::]:7070", net.ParseIP("fd00::2")); got != "http://[fd00::2]:7070" {
		t.Errorf("with an IPv6 address: %q", got)
	}
}
