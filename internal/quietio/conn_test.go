//go:build unix

package quietio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair is a TCP connection on loopback: the accepted end wrapped, the
// dialled end plain.
func pair(t *testing.T) (quiet net.Conn, plain net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ql := Listener{Listener: ln}
	plain, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	quiet, err = ql.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := quiet.(*Conn); !ok {
		t.Fatalf("Accept gave %T, not a *Conn", quiet)
	}
	t.Cleanup(func() { quiet.Close(); plain.Close() })
	return quiet, plain
}

func TestReadWrite(t *testing.T) {
	q, p := pair(t)
	if _, err := p.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := q.Read(buf)
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if n, err := q.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}
	if _, err := q.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	n, err = p.Read(buf)
	if err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
}

// A write larger than the socket's buffers fills them, waits for the
// reader (EAGAIN, then the poller) and still delivers every byte, while a
// read runs at the same time on the same connection.
func TestLargeWriteWaitsForTheReader(t *testing.T) {
	q, p := pair(t)
	// Many times the socket's buffers: the writer fills them at once
	// and must wait for the reader.
	data := make([]byte, 32<<20)
	rand.Read(data)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(p)
		got <- b
	}()
	echo := make(chan error, 1)
	go func() { // a concurrent read on the quiet end
		buf := make([]byte, 4)
		_, err := io.ReadFull(q, buf)
		echo <- err
	}()
	n, err := q.Write(data)
	if err != nil || n != len(data) {
		t.Fatalf("write: %d of %d, %v", n, len(data), err)
	}
	q.(*Conn).NetConn().(*net.TCPConn).CloseWrite()
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("the reader got %d bytes, not the %d written", len(b), len(data))
	}
	p.Write([]byte("done"))
	if err := <-echo; err != nil {
		t.Fatalf("concurrent read: %v", err)
	}
}

func TestEOF(t *testing.T) {
	q, p := pair(t)
	p.Close()
	if _, err := q.Read(make([]byte, 8)); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want io.EOF", err)
	}
}

func TestReadDeadline(t *testing.T) {
	q, _ := pair(t)
	q.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := q.Read(make([]byte, 8))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past its deadline: %v, want a timeout", err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	q, _ := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := q.Read(make([]byte, 8))
		errc <- err
	}()
	q.Close() // whether the read has parked in the poller yet or not, it must end
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed conn: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock the read")
	}
}

func TestWriteToResetConnection(t *testing.T) {
	q, p := pair(t)
	p.(*net.TCPConn).SetLinger(0)
	p.Close() // RST
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		_, err = q.Write(make([]byte, 64<<10))
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "write" {
		t.Fatalf("write to a reset connection: %v, want a *net.OpError", err)
	}
}

func TestWrapLeavesOtherConns(t *testing.T) {
	a, b := net.Pipe() // not a syscall.Conn: returned as it is
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("Wrap changed a connection without a file descriptor")
	}
}

// Reads and writes from several goroutines at once each get whole data
// of their own (run with -race).
func TestConcurrentReadsAndWrites(t *testing.T) {
	q, p := pair(t)
	const writers, each = 4, 1000
	done := make(chan struct{})
	go func() {
		defer close(done)
		var total int
		buf := make([]byte, 4096)
		for total < writers*each*8 {
			n, err := p.Read(buf)
			if err != nil {
				t.Error(err)
				return
			}
			total += n
		}
	}()
	errc := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			for i := 0; i < each; i++ {
				if _, err := q.Write([]byte("12345678")); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for w := 0; w < writers; w++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	<-done
	go p.Write(make([]byte, 2*8))
	readers := make(chan int, 2)
	for r := 0; r < 2; r++ {
		go func() {
			b := make([]byte, 8)
			n, _ := io.ReadFull(q, b)
			readers <- n
		}()
	}
	if a, b := <-readers, <-readers; a != 8 || b != 8 {
		t.Fatalf("two readers got %d and %d bytes, want 8 each", a, b)
	}
}

func TestReadWriteAllocations(t *testing.T) {
	q, p := pair(t)
	buf := make([]byte, 8)
	if n := testing.AllocsPerRun(100, func() {
		q.Write(buf)
		io.ReadFull(p, buf)
		p.Write(buf)
		io.ReadFull(q, buf)
	}); n > 0 {
		t.Fatalf("%.1f allocations per quiet read and write, want none", n)
	}
}
