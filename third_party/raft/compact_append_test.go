// Copyright (c) HashiCorp, Inc.
// SPDX-License-Identifier: MPL-2.0

package raft

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand"
	"net"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

func compactRoundTrip(t testing.TB, a *AppendEntriesRequest) *AppendEntriesRequest {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := writeCompactAppendRequest(w, a); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var got AppendEntriesRequest
	r := bufio.NewReader(&buf)
	if err := readCompactAppendRequest(r, &got); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if r.Buffered() != 0 {
		t.Fatalf("%d bytes left after the request", r.Buffered())
	}
	return &got
}

// randomAppend builds a request with every field set at random, nil and
// empty byte strings included (the encoding keeps them apart, as msgpack
// does), and times without a monotonic reading or a location (none travels).
func randomAppend(rng *rand.Rand) *AppendEntriesRequest {
	bs := func() []byte {
		switch rng.Intn(4) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		b := make([]byte, rng.Intn(300))
		rng.Read(b)
		return b
	}
	u := func() uint64 {
		if rng.Intn(3) == 0 {
			return rng.Uint64()
		}
		return uint64(rng.Intn(1000))
	}
	a := &AppendEntriesRequest{
		RPCHeader:         RPCHeader{ProtocolVersion: ProtocolVersion(rng.Intn(4)), ID: bs(), Addr: bs()},
		Term:              u(),
		Leader:            bs(),
		PrevLogEntry:      u(),
		PrevLogTerm:       u(),
		LeaderCommitIndex: u(),
	}
	for range rng.Intn(5) {
		l := &Log{Index: u(), Term: u(), Type: LogType(rng.Intn(256)), Data: bs(), Extensions: bs()}
		if rng.Intn(3) > 0 {
			l.AppendedAt = time.Unix(0, rng.Int63()-rng.Int63())
		}
		a.Entries = append(a.Entries, l)
	}
	return a
}

func TestCompactAppend_RoundTrip(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < 2000; i++ {
		a := randomAppend(rng)
		if got := compactRoundTrip(t, a); !reflect.DeepEqual(got, a) {
			t.Fatalf("round trip %d:\n got %#v\nwant %#v", i, got, a)
		}
	}
	// The transport's own example, and a heartbeat (no entries: nil, as
	// msgpack decodes it).
	a := makeAppendRPC()
	if got := compactRoundTrip(t, &a); !reflect.DeepEqual(got, &a) {
		t.Fatalf("got %#v, want %#v", got, &a)
	}
	// A field past compactChunk, read as it arrives.
	big := make([]byte, 3*compactChunk+5)
	rng.Read(big)
	bigReq := &AppendEntriesRequest{Term: 1, Entries: []*Log{{Index: 1, Term: 1, Data: big}}}
	if got := compactRoundTrip(t, bigReq); !reflect.DeepEqual(got, bigReq) {
		t.Fatal("a request with a large field did not round-trip")
	}
	hb := &AppendEntriesRequest{RPCHeader: RPCHeader{ID: []byte("n1"), Addr: []byte("a1")}, Term: 3}
	if got := compactRoundTrip(t, hb); !reflect.DeepEqual(got, hb) {
		t.Fatalf("heartbeat: got %#v, want %#v", got, hb)
	}
}

func TestCompactAppend_ResponseRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		err  string
		resp AppendEntriesResponse
	}{
		{"", makeAppendRPCResponse()},
		{"boom", AppendEntriesResponse{RPCHeader: RPCHeader{ProtocolVersion: 3, ID: []byte("x"), Addr: []byte{}}, Term: 1 << 60, NoRetryBackoff: true}},
	} {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		if err := writeCompactAppendResponse(w, tc.err, &tc.resp); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		var got AppendEntriesResponse
		rpcErr, err := readCompactAppendResponse(bufio.NewReader(&buf), &got)
		if err != nil || rpcErr != tc.err || !reflect.DeepEqual(got, tc.resp) {
			t.Fatalf("got %#v %q %v, want %#v %q", got, rpcErr, err, tc.resp, tc.err)
		}
	}
}

// Every truncation of a request is an error, never a panic or a request
// made of what was there.
func TestCompactAppend_Truncated(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	a := randomAppend(rng)
	for len(a.Entries) == 0 {
		a = randomAppend(rng)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := writeCompactAppendRequest(w, a); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	full := buf.Bytes()
	for n := 0; n < len(full); n++ {
		var got AppendEntriesRequest
		err := readCompactAppendRequest(bufio.NewReader(bytes.NewReader(full[:n])), &got)
		if err == nil {
			t.Fatalf("a request cut to %d of %d bytes decoded", n, len(full))
		}
		if n > 0 && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut to %d bytes: %v, want ErrUnexpectedEOF", n, err)
		}
	}
}

// A request that announces a long field and then ends costs memory for
// what it sent, not for what it announced.
func TestCompactAppend_AnnouncedNotSent(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	c := compactWriter{w: w}
	c.uint(1)
	c.uint(512<<20 + 1) // a 512 MiB ID
	w.Write([]byte("only this"))
	w.Flush()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var got AppendEntriesRequest
	err := readCompactAppendRequest(bufio.NewReader(&buf), &got)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%v, want ErrUnexpectedEOF", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Fatalf("%d bytes allocated for a 9-byte field announced as 512 MiB", n)
	}
}

// A request that announces more than it may is refused before anything
// that size is allocated.
func TestCompactAppend_Bounds(t *testing.T) {
	for name, enc := range map[string]func(*compactWriter){
		"entries": func(c *compactWriter) {
			c.header(&RPCHeader{})
			for range 5 {
				c.uint(1)
			}
			c.uint(maxCompactEntries + 1)
		},
		"bytes": func(c *compactWriter) {
			c.uint(1)
			c.uint(maxCompactBytes + 2)
		},
	} {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		c := compactWriter{w: w}
		enc(&c)
		w.Flush()
		var got AppendEntriesRequest
		if err := readCompactAppendRequest(bufio.NewReader(&buf), &got); !errors.Is(err, errCompactTooLarge) {
			t.Errorf("%s: %v, want errCompactTooLarge", name, err)
		}
	}
}

func FuzzCompactAppendRequest(f *testing.F) {
	rng := rand.New(rand.NewSource(2))
	for range 8 {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		_ = writeCompactAppendRequest(w, randomAppend(rng))
		w.Flush()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a AppendEntriesRequest
		if err := readCompactAppendRequest(bufio.NewReader(bytes.NewReader(b)), &a); err != nil {
			return
		}
		if got := compactRoundTrip(t, &a); !reflect.DeepEqual(got, &a) {
			t.Fatalf("re-encoded request differs:\n got %#v\nwant %#v", got, &a)
		}
	})
}

// A transport configured for the compact encoding carries AppendEntries,
// alone and pipelined, to one that is not (every server understands it),
// and their answers back.
func TestNetworkTransport_CompactAppendEntries(t *testing.T) {
	trans1, err := makeTransport(t, false, "localhost:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = trans1.Close() }()
	config := &NetworkTransportConfig{MaxPool: 2, MaxRPCsInFlight: 130, Timeout: time.Second, Logger: newTestLogger(t), CompactAppendEntries: true}
	trans2, err := NewTCPTransportWithConfig("localhost:0", nil, config)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = trans2.Close() }()

	rng := rand.New(rand.NewSource(3))
	reqs := make([]*AppendEntriesRequest, 20)
	for i := range reqs {
		reqs[i] = randomAppend(rng)
	}
	resp := AppendEntriesResponse{RPCHeader: RPCHeader{ID: []byte("n1")}, Term: 7, LastLog: 99, Success: true}
	go func() {
		for i := 0; i < len(reqs); i++ {
			select {
			case rpc := <-trans1.Consumer():
				if got := rpc.Command.(*AppendEntriesRequest); !reflect.DeepEqual(got, reqs[i]) {
					t.Errorf("request %d: got %#v, want %#v", i, got, reqs[i])
				}
				if i == 1 {
					rpc.Respond(nil, errors.New("refused"))
					continue
				}
				rpc.Respond(&resp, nil)
			case <-time.After(5 * time.Second):
				t.Errorf("timeout")
				return
			}
		}
	}()
	for i := 0; i < 2; i++ {
		var out AppendEntriesResponse
		err := trans2.AppendEntries("id1", trans1.LocalAddr(), reqs[i], &out)
		if i == 1 {
			if err == nil || err.Error() != "refused" {
				t.Fatalf("an error answer: %v", err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(out, resp) {
			t.Fatalf("response %#v, %v", out, err)
		}
	}
	pipeline, err := trans2.AppendEntriesPipeline("id1", trans1.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer pipeline.Close()
	for _, a := range reqs[2:] {
		if _, err := pipeline.AppendEntries(a, new(AppendEntriesResponse)); err != nil {
			t.Fatal(err)
		}
	}
	for range reqs[2:] {
		select {
		case f := <-pipeline.Consumer():
			if f.Error() != nil || !reflect.DeepEqual(f.Response(), &resp) {
				t.Fatalf("pipelined response %#v, %v", f.Response(), f.Error())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("timeout")
		}
	}
}

func BenchmarkAppendEncoding(b *testing.B) {
	a := &AppendEntriesRequest{RPCHeader: RPCHeader{ProtocolVersion: 3, ID: []byte("node-1"), Addr: []byte("node-1")}, Term: 5, PrevLogEntry: 1000, PrevLogTerm: 5, LeaderCommitIndex: 999}
	for i := range 3 {
		a.Entries = append(a.Entries, &Log{Index: uint64(1001 + i), Term: 5, Type: LogCommand, Data: bytes.Repeat([]byte("v"), 120), AppendedAt: time.Now()})
	}
	b.Run("compact", func(b *testing.B) {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		r := bufio.NewReader(&buf)
		for b.Loop() {
			_ = writeCompactAppendRequest(w, a)
			w.Flush()
			var got AppendEntriesRequest
			if err := readCompactAppendRequest(r, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("msgpack", func(b *testing.B) {
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		r := bufio.NewReader(&buf)
		enc := codecEncoder(w)
		dec := codecDecoder(r)
		for b.Loop() {
			if err := enc.Encode(a); err != nil {
				b.Fatal(err)
			}
			w.Flush()
			var got AppendEntriesRequest
			if err := dec.Decode(&got); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func codecEncoder(w io.Writer) *codec.Encoder {
	mp := &codec.MsgpackHandle{}
	mp.TimeNotBuiltin = true
	return codec.NewEncoder(w, mp)
}

func codecDecoder(r io.Reader) *codec.Decoder { return codec.NewDecoder(r, &codec.MsgpackHandle{}) }

// legacyLayer is a TCP stream layer whose dialled connections say that
// their peer does not read the compact encoding, and whose accepted ones
// record the first byte they read (the rpc type of the first request).
type legacyLayer struct {
	net.Listener
	first chan byte
}

type legacyConn struct{ net.Conn }

func (legacyConn) CompactAppendEntries() bool { return false }

type firstByteConn struct {
	net.Conn
	first chan byte
	seen  bool
}

func (c *firstByteConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.seen {
		c.seen = true
		c.first <- p[0]
	}
	return n, err
}

func (l *legacyLayer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &firstByteConn{Conn: c, first: l.first}, nil
}

func (l *legacyLayer) Dial(address ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	return legacyConn{c}, nil
}

// A transport configured for the compact encoding sends msgpack on a
// connection whose peer cannot read it (CompactConn), alone and pipelined.
func TestNetworkTransport_CompactConnDeclines(t *testing.T) {
	for _, pipelined := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		layer := &legacyLayer{Listener: ln, first: make(chan byte, 4)}
		trans := NewNetworkTransportWithConfig(&NetworkTransportConfig{Stream: layer, MaxPool: 2, MaxRPCsInFlight: 8, Timeout: time.Second, Logger: newTestLogger(t), CompactAppendEntries: true})
		resp := makeAppendRPCResponse()
		go func() {
			select {
			case rpc := <-trans.Consumer():
				rpc.Respond(&resp, nil)
			case <-time.After(5 * time.Second):
			}
		}()
		args := makeAppendRPC()
		var out AppendEntriesResponse
		addr := ServerAddress(ln.Addr().String())
		if pipelined {
			p, err := trans.AppendEntriesPipeline("id", addr)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.AppendEntries(&args, &out); err != nil {
				t.Fatal(err)
			}
			select {
			case f := <-p.Consumer():
				if f.Error() != nil {
					t.Fatal(f.Error())
				}
			case <-time.After(5 * time.Second):
				t.Fatal("timeout")
			}
			p.Close()
		} else if err := trans.AppendEntries("id", addr, &args, &out); err != nil {
			t.Fatal(err)
		}
		if b := <-layer.first; b != rpcAppendEntries {
			t.Errorf("pipelined %v: rpc type %#x on a connection that declines the compact encoding, want msgpack's %#x", pipelined, b, rpcAppendEntries)
		}
		trans.Close()
	}
}

// A long field is read into a buffer of exactly its size, allocating at
// most about twice that on the way (a bytes.Buffer ended with up to twice
// the size and allocated some five times it).
func TestCompactAppend_LargeFieldExact(t *testing.T) {
	const size = 4<<20 + 3
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := writeCompactAppendRequest(w, &AppendEntriesRequest{Term: 1, Entries: []*Log{{Index: 1, Term: 1, Data: make([]byte, size)}}}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	r := bufio.NewReader(bytes.NewReader(buf.Bytes()))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var got AppendEntriesRequest
	err := readCompactAppendRequest(r, &got)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Entries[0].Data; len(d) != size || cap(d) != size {
		t.Fatalf("data of len %d cap %d, want both %d", len(d), cap(d), size)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 2*size+1<<20 {
		t.Fatalf("%d bytes allocated to read a field of %d", n, size)
	}
}
