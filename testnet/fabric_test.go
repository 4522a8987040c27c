package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Requests through http.DefaultTransport carry the token registered
	// for their node (authorize).
	http.DefaultTransport = &authTransport{inner: http.DefaultTransport}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if warrenBuild.dir != "" {
			os.RemoveAll(warrenBuild.dir)
		}
	}))
}

const (
	// waitLimit bounds every poll and blocking read in these tests.
	waitLimit = 10 * time.Second
	// lateMargin is how late a delayed datagram or deadline may be before a
	// test fails: generous, for -race on two busy cores.
	lateMargin = 300 * time.Millisecond
)

// newTestFabric returns a fabric seeded from the clock (the seed is logged)
// and closed at the end of the test.
func newTestFabric(t *testing.T) *Fabric {
	t.Helper()
	seed := time.Now().UnixNano()
	t.Logf("fabric seed %d", seed)
	return newSeededFabric(t, seed)
}

func newSeededFabric(t *testing.T, seed int64) *Fabric {
	t.Helper()
	f := NewFabric(seed)
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Fabric.Close: %v", err)
		}
	})
	return f
}

func listen(t *testing.T, f *Fabric, name string) net.PacketConn {
	t.Helper()
	c, err := f.Listen(name)
	if err != nil {
		t.Fatalf("Listen(%q): %v", name, err)
	}
	return c
}

func send(t *testing.T, from net.PacketConn, to net.Addr, payload []byte) {
	t.Helper()
	if n, err := from.WriteTo(payload, to); err != nil || n != len(payload) {
		t.Fatalf("WriteTo(%v) = %d, %v", to, n, err)
	}
}

// recv reads one datagram, failing the test if none comes within waitLimit.
func recv(t *testing.T, c net.PacketConn) ([]byte, net.Addr) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, maxDatagram)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("ReadFrom on %v: %v", c.LocalAddr(), err)
	}
	return buf[:n], from
}

// eventually polls cond until it holds or waitLimit passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

func TestAddressesAndDelivery(t *testing.T) {
	f := newTestFabric(t)
	preassigned := f.Addr("b") // before b listens
	a, b := listen(t, f, "a"), listen(t, f, "b")

	if got := b.LocalAddr().String(); got != preassigned.String() {
		t.Errorf("b.LocalAddr() = %s, want the address Addr gave before Listen, %s", got, preassigned)
	}
	if got, want := a.LocalAddr().String(), f.Addr("a").String(); got != want {
		t.Errorf("a.LocalAddr() = %s, Addr(a) = %s", got, want)
	}
	if a.LocalAddr().String() == b.LocalAddr().String() {
		t.Fatalf("a and b share address %s", a.LocalAddr())
	}
	if ua := f.Addr("b"); ua.Port != 7946 || !ua.IP.Equal(net.IPv4(10, 77, 0, 1)) {
		t.Errorf("Addr(b), the first host named, = %v, want 10.77.0.1:7946", ua)
	}

	payload := []byte("hello")
	send(t, a, f.Addr("b"), payload)
	payload[0] = 'J' // the fabric must have copied it
	got, from := recv(t, b)
	if string(got) != "hello" {
		t.Errorf("b read %q, want %q", got, "hello")
	}
	if _, ok := from.(*net.UDPAddr); !ok || from.String() != f.Addr("a").String() {
		t.Errorf("source %#v, want *net.UDPAddr %v", from, f.Addr("a"))
	}

	if n := f.ReceivedBytes("b"); n != 5 {
		t.Errorf("ReceivedBytes(b) = %d after one 5-byte datagram", n)
	}

	// A reply to the source address reaches a.
	send(t, b, from, []byte("pong"))
	if got, _ := recv(t, a); string(got) != "pong" {
		t.Errorf("a read %q, want pong", got)
	}

	// A short buffer truncates, as UDP does.
	send(t, a, f.Addr("b"), []byte("0123456789"))
	short := make([]byte, 4)
	if err := b.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		t.Fatal(err)
	}
	if n, _, err := b.ReadFrom(short); err != nil || string(short[:n]) != "0123" {
		t.Errorf("short read = %q, %v; want 0123", short[:n], err)
	}

	// Nobody listens there: dropped silently, counted.
	send(t, a, &net.UDPAddr{IP: net.IPv4(10, 77, 9, 9), Port: 1}, []byte("void"))
	// Too big for UDP.
	if _, err := a.WriteTo(make([]byte, 70000), f.Addr("b")); !errors.Is(err, syscall.EMSGSIZE) {
		t.Errorf("oversize WriteTo error = %v, want EMSGSIZE", err)
	}

	if sent, received, dropped := f.Stats("a"); sent != 3 || received != 1 || dropped != 1 {
		t.Errorf("Stats(a) = %d sent, %d received, %d dropped; want 3, 1, 1", sent, received, dropped)
	}
	if sent, received, dropped := f.Stats("b"); sent != 1 || received != 2 || dropped != 0 {
		t.Errorf("Stats(b) = %d sent, %d received, %d dropped; want 1, 2, 0", sent, received, dropped)
	}
}

func TestListenErrors(t *testing.T) {
	f := newTestFabric(t)
	listen(t, f, "a")
	if _, err := f.Listen("a"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second Listen(a) error = %v, want EADDRINUSE", err)
	}
	if _, err := f.Listen(""); err == nil {
		t.Error("Listen(\"\") succeeded")
	}
	e1, err := f.ListenPort("a", 0)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := f.ListenPort("a", 0)
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := e1.LocalAddr().(*net.UDPAddr), e2.LocalAddr().(*net.UDPAddr)
	if p1.Port == p2.Port || p1.Port < 49152 || !p1.IP.Equal(p2.IP) || !p1.IP.Equal(f.Addr("a").IP) {
		t.Errorf("ephemeral endpoints %v and %v: want distinct ports >= 49152 on a's IP", p1, p2)
	}
	// Same host, another port: loopback traffic, unaffected by Isolate.
	f.Isolate("a")
	send(t, e1, e2.LocalAddr(), []byte("self"))
	if got, _ := recv(t, e2); string(got) != "self" {
		t.Errorf("read %q, want self", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Listen("b"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Listen after Close error = %v, want net.ErrClosed", err)
	}
}

func TestLatency(t *testing.T) {
	f := newTestFabric(t)
	a, b, c := listen(t, f, "a"), listen(t, f, "b"), listen(t, f, "c")
	f.SetLatency("a", "b", 30*time.Millisecond)
	f.SetLatency("c", "a", 80*time.Millisecond)

	conns := map[string]net.PacketConn{"a": a, "b": b, "c": c}

	tests := []struct {
		from, to string
		want     time.Duration
	}{
		{"a", "b", 30 * time.Millisecond},
		{"b", "a", 30 * time.Millisecond}, // symmetric
		{"a", "c", 80 * time.Millisecond},
		{"c", "a", 80 * time.Millisecond},
		{"b", "c", 0}, // unset
	}
	for _, tt := range tests {
		t.Run(tt.from+"->"+tt.to, func(t *testing.T) {
			start := time.Now()
			send(t, conns[tt.from], f.Addr(tt.to), []byte("x"))
			if took := time.Since(start); tt.want > 0 && took >= tt.want {
				t.Errorf("WriteTo blocked for %v; the sender must not wait for the delay", took)
			}
			recv(t, conns[tt.to])
			took := time.Since(start)
			if took < tt.want || took > tt.want+lateMargin {
				t.Errorf("delivered after %v, want %v (+ up to %v)", took, tt.want, lateMargin)
			}
		})
	}
}

// TestOrderAndConcurrency sends from several hosts at once over delayed
// links; each link's datagrams must arrive complete and in order.
func TestOrderAndConcurrency(t *testing.T) {
	f := newTestFabric(t)
	dst := listen(t, f, "dst")
	const senders, perSender = 4, 500
	var wg sync.WaitGroup
	for s := range senders {
		name := fmt.Sprintf("s%d", s)
		c := listen(t, f, name)
		f.SetLatency(name, "dst", time.Duration(s)*3*time.Millisecond)
		wg.Go(func() {
			for i := range perSender {
				var buf [9]byte
				buf[0] = byte(s)
				binary.BigEndian.PutUint64(buf[1:], uint64(i))
				if _, err := c.WriteTo(buf[:], f.Addr("dst")); err != nil {
					t.Errorf("WriteTo: %v", err)
					return
				}
			}
		})
	}
	next := make([]uint64, senders)
	for range senders * perSender {
		got, _ := recv(t, dst)
		s, i := got[0], binary.BigEndian.Uint64(got[1:])
		if i != next[s] {
			t.Fatalf("from s%d got datagram %d, want %d: order not kept", s, i, next[s])
		}
		next[s]++
	}
	wg.Wait()
}

func TestLoss(t *testing.T) {
	const n, p = 20000, 0.3
	seed := time.Now().UnixNano()
	t.Logf("fabric seed %d", seed)
	f := newSeededFabric(t, seed)
	a, b := listen(t, f, "a"), listen(t, f, "b")
	f.SetLoss("b", "a", p) // set in the other order: symmetric
	for range n {
		send(t, a, f.Addr("b"), []byte("x"))
	}
	sent, _, dropped := f.Stats("a")
	if sent != n {
		t.Fatalf("sent %d, want %d", sent, n)
	}
	// 6 standard deviations: a false failure is practically impossible.
	tolerance := 6 * math.Sqrt(p*(1-p)/n)
	if rate := float64(dropped) / n; math.Abs(rate-p) > tolerance {
		t.Errorf("loss rate %.4f, want %.2f ± %.4f", rate, p, tolerance)
	}
	_, received, _ := f.Stats("b")
	if received+dropped != n {
		t.Errorf("received %d + dropped %d != sent %d", received, dropped, n)
	}
	for range received {
		recv(t, b)
	}

	// The same seed and sequence of sends drop the same datagrams.
	again := newSeededFabric(t, seed)
	a2, _ := again.Listen("a")
	if _, err := again.Listen("b"); err != nil {
		t.Fatal(err)
	}
	again.SetLoss("a", "b", p)
	for range n {
		send(t, a2, again.Addr("b"), []byte("x"))
	}
	if _, _, d2 := again.Stats("a"); d2 != dropped {
		t.Errorf("replay with seed %d dropped %d, first run %d", seed, d2, dropped)
	}
}

// TestCuts checks which directions pass after each fault and after Heal.
// Links have no latency, so a cut datagram is counted as dropped before
// WriteTo returns and the test needs no waiting to see it.
func TestCuts(t *testing.T) {
	names := []string{"a", "b", "c"}
	type link struct{ from, to string }
	tests := []struct {
		name    string
		fault   func(f *Fabric)
		blocked []link
	}{
		{"none", func(*Fabric) {}, nil},
		{"partition", func(f *Fabric) { f.Partition("a", "b") },
			[]link{{"a", "b"}, {"b", "a"}}},
		{"one way", func(f *Fabric) { f.PartitionOneWay("a", "b") },
			[]link{{"a", "b"}}},
		{"isolate", func(f *Fabric) { f.Isolate("c") },
			[]link{{"a", "c"}, {"c", "a"}, {"b", "c"}, {"c", "b"}}},
		{"combined", func(f *Fabric) { f.PartitionOneWay("b", "c"); f.Isolate("a") },
			[]link{{"a", "b"}, {"b", "a"}, {"a", "c"}, {"c", "a"}, {"b", "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFabric(t)
			conns := map[string]net.PacketConn{}
			for _, n := range names {
				conns[n] = listen(t, f, n)
			}
			check := func(phase string, blocked []link) {
				t.Helper()
				for _, from := range names {
					for _, to := range names {
						if from == to {
							continue
						}
						isBlocked := false
						for _, l := range blocked {
							isBlocked = isBlocked || l == link{from, to}
						}
						_, _, before := f.Stats(from)
						send(t, conns[from], f.Addr(to), []byte(from))
						_, _, after := f.Stats(from)
						if dropped := after > before; dropped != isBlocked {
							t.Errorf("%s: %s->%s dropped=%v, want %v", phase, from, to, dropped, isBlocked)
						}
						if !isBlocked {
							if got, _ := recv(t, conns[to]); string(got) != from {
								t.Errorf("%s: %s read %q, want %q", phase, to, got, from)
							}
						}
					}
				}
			}
			tt.fault(f)
			check("after fault", tt.blocked)
			f.Heal()
			check("after Heal", nil)
		})
	}
}

// TestCutDropsInFlight: a datagram already on a delayed link does not
// cross a partition made before it arrives.
func TestCutDropsInFlight(t *testing.T) {
	f := newTestFabric(t)
	a, b := listen(t, f, "a"), listen(t, f, "b")
	f.SetLatency("a", "b", 50*time.Millisecond)
	send(t, a, f.Addr("b"), []byte("doomed"))
	f.PartitionOneWay("a", "b")
	eventually(t, "the in-flight datagram to be dropped", func() bool {
		_, _, dropped := f.Stats("a")
		return dropped == 1
	})
	f.Heal()
	send(t, a, f.Addr("b"), []byte("after heal"))
	if got, _ := recv(t, b); string(got) != "after heal" {
		t.Errorf("read %q, want the datagram sent after Heal", got)
	}
}

func TestDeadlines(t *testing.T) {
	f := newTestFabric(t)
	a, b := listen(t, f, "a"), listen(t, f, "b")
	buf := make([]byte, 64)

	t.Run("past deadline times out even with data queued", func(t *testing.T) {
		send(t, a, f.Addr("b"), []byte("queued"))
		eventually(t, "delivery", func() bool { _, r, _ := f.Stats("b"); return r == 1 })
		if err := b.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.ReadFrom(buf); !isTimeout(err) {
			t.Fatalf("ReadFrom error = %v, want a timeout", err)
		}
		if err := b.SetReadDeadline(time.Time{}); err != nil { // clear it
			t.Fatal(err)
		}
		if n, _, err := b.ReadFrom(buf); err != nil || string(buf[:n]) != "queued" {
			t.Fatalf("after clearing the deadline ReadFrom = %q, %v", buf[:n], err)
		}
	})

	t.Run("future deadline unblocks a blocked read", func(t *testing.T) {
		const d = 50 * time.Millisecond
		start := time.Now()
		if err := b.SetReadDeadline(start.Add(d)); err != nil {
			t.Fatal(err)
		}
		_, _, err := b.ReadFrom(buf)
		took := time.Since(start)
		if !isTimeout(err) {
			t.Fatalf("ReadFrom error = %v, want a timeout", err)
		}
		if took < d || took > d+lateMargin {
			t.Errorf("timed out after %v, want %v (+ up to %v)", took, d, lateMargin)
		}
	})

	t.Run("deadline moved while blocked", func(t *testing.T) {
		// Far deadline, then moved to now from another goroutine: the way
		// quic-go's Transport.Close stops its read loop.
		if err := b.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, _, err := b.ReadFrom(make([]byte, 8))
			done <- err
		}()
		eventually(t, "the reader to block", func() bool {
			cc := b.(*fabricConn)
			cc.mu.Lock()
			defer cc.mu.Unlock()
			return cc.waiters == 1
		})
		if err := b.SetReadDeadline(time.Now()); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !isTimeout(err) {
				t.Fatalf("ReadFrom error = %v, want a timeout", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("ReadFrom still blocked after the deadline moved to now")
		}
	})

	t.Run("extended deadline keeps waiting, then data arrives", func(t *testing.T) {
		if err := b.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			n, _, err := b.ReadFrom(buf)
			if err == nil && string(buf[:n]) != "late" {
				err = fmt.Errorf("read %q, want late", buf[:n])
			}
			done <- err
		}()
		eventually(t, "the reader to block", func() bool {
			cc := b.(*fabricConn)
			cc.mu.Lock()
			defer cc.mu.Unlock()
			return cc.waiters == 1
		})
		if err := b.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
			t.Fatal(err)
		}
		f.SetLatency("a", "b", 400*time.Millisecond) // arrives after the first deadline
		send(t, a, f.Addr("b"), []byte("late"))
		if err := <-done; err != nil {
			t.Fatalf("ReadFrom: %v", err)
		}
		f.SetLatency("a", "b", 0)
	})

	t.Run("write deadline", func(t *testing.T) {
		if err := a.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := a.WriteTo([]byte("x"), f.Addr("b")); !isTimeout(err) {
			t.Fatalf("WriteTo error = %v, want a timeout", err)
		}
		if err := a.SetDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		send(t, a, f.Addr("b"), []byte("x"))
		recv(t, b)
	})
}

func TestCloseUnblocksReaders(t *testing.T) {
	f := newTestFabric(t)
	a := listen(t, f, "a")
	b := listen(t, f, "b")
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, _, err := a.ReadFrom(make([]byte, 8))
			errs <- err
		}()
	}
	eventually(t, "three blocked readers", func() bool {
		cc := a.(*fabricConn)
		cc.mu.Lock()
		defer cc.mu.Unlock()
		return cc.waiters == 3
	})
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range 3 {
		if err := <-errs; !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked ReadFrom returned %v, want net.ErrClosed", err)
		}
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
	if _, err := a.WriteTo([]byte("x"), f.Addr("b")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close = %v, want net.ErrClosed", err)
	}

	// Fabric.Close unblocks readers too.
	go func() {
		_, _, err := b.ReadFrom(make([]byte, 8))
		errs <- err
	}()
	eventually(t, "a blocked reader", func() bool {
		cc := b.(*fabricConn)
		cc.mu.Lock()
		defer cc.mu.Unlock()
		return cc.waiters == 1
	})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrom after Fabric.Close returned %v, want net.ErrClosed", err)
	}
}

func TestKillAndRestart(t *testing.T) {
	f := newTestFabric(t)
	a, b := listen(t, f, "a"), listen(t, f, "b")
	f.SetLatency("a", "b", 40*time.Millisecond)
	send(t, a, f.Addr("b"), []byte("in flight"))
	errc := make(chan error, 1)
	go func() {
		_, _, err := b.ReadFrom(make([]byte, 64))
		errc <- err
	}()
	f.Kill("b")
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadFrom on killed host returned %v, want net.ErrClosed", err)
	}
	send(t, a, f.Addr("b"), []byte("to the dead"))
	if _, _, dropped := f.Stats("a"); dropped != 2 {
		t.Errorf("a dropped %d, want 2 (one in flight, one after Kill)", dropped)
	}

	b2 := listen(t, f, "b") // restart on the same address
	if b2.LocalAddr().String() != f.Addr("b").String() {
		t.Errorf("restarted b on %v, want %v", b2.LocalAddr(), f.Addr("b"))
	}
	send(t, a, f.Addr("b"), []byte("welcome back"))
	if got, _ := recv(t, b2); string(got) != "welcome back" {
		t.Errorf("restarted b read %q", got)
	}
	if _, received, _ := f.Stats("b"); received != 1 {
		t.Errorf("b received %d across its restart, want 1", received)
	}
}

func TestReceiveQueueBound(t *testing.T) {
	f := newTestFabric(t)
	a, b := listen(t, f, "a"), listen(t, f, "b")
	if err := b.(interface{ SetReadBuffer(int) error }).SetReadBuffer(1000); err != nil {
		t.Fatal(err)
	}
	for range 15 {
		send(t, a, f.Addr("b"), make([]byte, 100))
	}
	if _, received, dropped := f.Stats("b"); received != 10 {
		t.Errorf("b received %d into a 1000-byte queue of 100-byte datagrams, want 10 (dropped %d)", received, dropped)
	}
	if _, _, dropped := f.Stats("a"); dropped != 5 {
		t.Errorf("a dropped %d, want 5", dropped)
	}
	for range 10 {
		recv(t, b)
	}
	send(t, a, f.Addr("b"), make([]byte, 100)) // room again
	recv(t, b)
}

func TestBandwidth(t *testing.T) {
	f := newTestFabric(t)
	a, b := listen(t, f, "a"), listen(t, f, "b")
	const rate, size, count = 200_000, 1000, 40 // 40 kB at 200 kB/s: 200 ms
	f.SetBandwidth("a", "b", rate)
	f.SetLatency("a", "b", 10*time.Millisecond)
	start := time.Now()
	for range count {
		send(t, a, f.Addr("b"), make([]byte, size))
	}
	for range count {
		recv(t, b)
	}
	want := 10*time.Millisecond + time.Duration(count*size)*time.Second/rate
	if took := time.Since(start); took < want || took > want+lateMargin {
		t.Errorf("%d×%d bytes at %d B/s took %v, want %v (+ up to %v)", count, size, rate, took, want, lateMargin)
	}

	// A burst beyond the link queue is partly dropped.
	f.SetBandwidth("a", "b", 1000)
	for range 300 {
		send(t, a, f.Addr("b"), make([]byte, 1000))
	}
	if _, _, dropped := f.Stats("a"); dropped == 0 {
		t.Error("300 kB burst onto a 1 kB/s link: nothing dropped")
	}
}
