//go:build linux

package quietio

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func listenQuiet(t *testing.T, network, addr string) *PacketConn {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Skipf("%s %s: %v", network, addr, err)
	}
	q, ok := WrapPacket(pc).(*PacketConn)
	if !ok {
		t.Fatalf("WrapPacket(%T) did not wrap it", pc)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestPacketRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, network, bind, to string }{
		{"ipv4", "udp4", "127.0.0.1:0", "127.0.0.1"},
		{"dual stack to ipv4", "udp", ":0", "127.0.0.1"},
		{"ipv6", "udp6", "[::1]:0", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := listenQuiet(t, tc.network, tc.bind), listenQuiet(t, tc.network, tc.bind)
			to := &net.UDPAddr{IP: net.ParseIP(tc.to), Port: b.LocalAddr().(*net.UDPAddr).Port}
			msg := []byte("datagram")
			sent := DatagramsSent()
			if n, err := a.WriteTo(msg, to); err != nil || n != len(msg) {
				t.Fatalf("WriteTo: %d, %v", n, err)
			}
			if d := DatagramsSent() - sent; d < 1 {
				t.Fatalf("DatagramsSent rose by %d after a datagram was written", d)
			}
			buf := make([]byte, 64)
			b.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := b.ReadFrom(buf)
			if err != nil || !bytes.Equal(buf[:n], msg) {
				t.Fatalf("ReadFrom: %q, %v", buf[:n], err)
			}
			// The sender's address, as the net package gives it: answering
			// it reaches the sender.
			fa := from.(*net.UDPAddr)
			if fa.Port != a.LocalAddr().(*net.UDPAddr).Port || !fa.IP.Equal(net.ParseIP(tc.to)) {
				t.Fatalf("from %v, want %s port %d", fa, tc.to, a.LocalAddr().(*net.UDPAddr).Port)
			}
			if _, err := b.WriteTo([]byte("reply"), from); err != nil {
				t.Fatal(err)
			}
			a.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, _, err := a.ReadFrom(buf); err != nil || string(buf[:n]) != "reply" {
				t.Fatalf("reply: %q, %v", buf[:n], err)
			}
		})
	}
}

// A datagram larger than the buffer is cut to it, and the next read gets
// the next datagram; an empty datagram reads as zero bytes.
func TestPacketTruncatedAndEmpty(t *testing.T) {
	a, b := listenQuiet(t, "udp4", "127.0.0.1:0"), listenQuiet(t, "udp4", "127.0.0.1:0")
	to := b.LocalAddr()
	for _, m := range [][]byte{bytes.Repeat([]byte("x"), 100), nil, []byte("next")} {
		if _, err := a.WriteTo(m, to); err != nil {
			t.Fatal(err)
		}
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 10)
	for _, want := range []string{"xxxxxxxxxx", "", "next"} {
		n, _, err := b.ReadFrom(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
		}
	}
}

func TestPacketDeadlineAndClose(t *testing.T) {
	a := listenQuiet(t, "udp4", "127.0.0.1:0")
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, _, err := a.ReadFrom(make([]byte, 8))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past its deadline: %v", err)
	}
	a.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, _, err := a.ReadFrom(make([]byte, 8))
		errc <- err
	}()
	a.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed socket: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadFrom")
	}
	if _, err := a.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on a closed socket: %v", err)
	}
}

func TestPacketBadAddress(t *testing.T) {
	a := listenQuiet(t, "udp4", "127.0.0.1:0")
	if _, err := a.WriteTo([]byte("x"), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err == nil {
		t.Fatal("wrote to a TCP address")
	}
	if _, err := a.WriteTo([]byte("x"), &net.UDPAddr{IP: net.ParseIP("::1"), Port: 9}); err == nil {
		t.Fatal("an IPv4 socket wrote to an IPv6 address")
	}
}

// quic-go must see a plain packet conn with a file descriptor (for its
// socket options), not one it would read in batches around the wrapper.
func TestPacketNotOOBCapable(t *testing.T) {
	var pc net.PacketConn = listenQuiet(t, "udp4", "127.0.0.1:0")
	if _, ok := pc.(interface {
		ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error)
	}); ok {
		t.Fatal("PacketConn has ReadMsgUDP: quic-go would bypass its reads")
	}
	if _, ok := pc.(interface{ SetReadBuffer(int) error }); !ok {
		t.Fatal("no SetReadBuffer")
	}
}

// A datagram out and one in allocate only the sender's address, as the
// net package's ReadFrom does.
func TestPacketAllocations(t *testing.T) {
	a, b := listenQuiet(t, "udp4", "127.0.0.1:0"), listenQuiet(t, "udp4", "127.0.0.1:0")
	to, buf := b.LocalAddr(), make([]byte, 64)
	if n := testing.AllocsPerRun(100, func() {
		a.WriteTo(buf[:8], to)
		b.ReadFrom(buf)
	}); n > 2 {
		t.Fatalf("%.1f allocations per datagram written and read, want at most 2 (the sender's address)", n)
	}
}
