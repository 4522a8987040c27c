package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	for typ := frameRequest; typ <= frameLast; typ++ {
		if err := writeFrame(w, typ, bytes.Repeat([]byte{typ}, int(typ)*1000)); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(&buf)
	for typ := frameRequest; typ <= frameLast; typ++ {
		got, p, err := readFrame(r)
		if err != nil || got != typ || !bytes.Equal(p, bytes.Repeat([]byte{typ}, int(typ)*1000)) {
			t.Fatalf("frame %d: type %d, %d bytes, %v", typ, got, len(p), err)
		}
	}
	if _, _, err := readFrame(r); err != io.EOF {
		t.Fatalf("at end: %v, want EOF", err)
	}
}

func TestFrameErrors(t *testing.T) {
	hdr := func(typ byte, n uint32) []byte {
		b := []byte{typ, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], n)
		return b
	}
	var pe *protocolError
	for name, in := range map[string][]byte{
		"oversize":     hdr(frameResponse, MaxFrameSize+1),
		"unknown type": hdr(42, 1),
		"type zero":    hdr(0, 0),
	} {
		if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(in))); !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want protocol error", name, err)
		}
	}
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader(append(hdr(frameResponse, 10), 1, 2)))); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated payload: %v", err)
	}
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader([]byte{1, 0}))); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated header: %v", err)
	}
}

func TestOutputBounded(t *testing.T) {
	var o output
	o.write([]byte("fatal error: runtime: out of mem"))
	o.write([]byte("ory\n"))
	for range 1000 {
		o.write([]byte("goroutine 1 [running]:\n\tsome/frame.go:12\n"))
	}
	o.write([]byte("last line\n"))
	s := o.String()
	if !o.oom {
		t.Error("OOM marker split across writes not seen")
	}
	if len(s) > outputHead+outputTail+64 {
		t.Errorf("output of %d bytes", len(s))
	}
	if got := summary(s); got != "fatal error: runtime: out of memory" {
		t.Errorf("summary %q", got)
	}
	if !bytes.HasSuffix([]byte(s), []byte("last line\n")) {
		t.Error("tail lost")
	}
}

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	writeFrame(w, frameResponse, []byte("hello"))
	writeFrame(w, frameCallback, nil)
	f.Add(buf.Bytes())
	f.Add([]byte{5, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for {
			typ, p, err := readFrame(r)
			if err != nil {
				return
			}
			if typ < frameRequest || typ > frameLast || len(p) > MaxFrameSize {
				t.Fatalf("accepted type %d, %d bytes", typ, len(p))
			}
		}
	})
}

// The worker loop, run in-process over a pipe: init handshake, a request with a callback,
// a request that leaves work between calls (answered as frameResponseTidy, the work done
// before the next request is read), and a clean exit when the host closes the channel.
func TestServeConnInProcess(t *testing.T) {
	var left, tidied []string // what calls left to tidy; what was tidied, in order
	eng := Engine{
		Handle: func(ctx context.Context, req []byte, call func([]byte) ([]byte, error)) []byte {
			if s, ok := strings.CutPrefix(string(req), "leave "); ok {
				left = append(left, s)
				tidied = append(tidied, "answered "+s)
				return []byte("left " + s)
			}
			return testHandler(ctx, req, call)
		},
		Tidy: func() func() {
			if len(left) == 0 {
				return nil
			}
			s := left[0]
			left = left[1:]
			return func() { tidied = append(tidied, "tidied "+s) }
		},
	}
	hostR, workerW := io.Pipe()
	workerR, hostW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serveConn(struct {
			io.Reader
			io.Writer
		}{workerR, workerW}, func() (Engine, error) { return eng, nil }, nil, nil)
	}()
	br, bw := bufio.NewReader(hostR), bufio.NewWriter(hostW)
	if err := writeFrame(bw, frameInit, make([]byte, 9)); err != nil {
		t.Fatal(err)
	}
	if typ, _, err := readFrame(br); err != nil || typ != frameReady {
		t.Fatalf("ready: %d %v", typ, err)
	}
	writeFrame(bw, frameRequest, []byte("cb 2"))
	for i := range 2 {
		typ, p, err := readFrame(br)
		if err != nil || typ != frameCallback || string(p) != string(rune('0'+i)) {
			t.Fatalf("callback %d: %d %q %v", i, typ, p, err)
		}
		writeFrame(bw, frameCallbackResult, []byte("r"))
	}
	if typ, p, err := readFrame(br); err != nil || typ != frameResponse || string(p) != "r,r" {
		t.Fatalf("response: %d %q %v", typ, p, err)
	}
	for _, x := range []string{"a", "b"} {
		writeFrame(bw, frameRequest, []byte("leave "+x))
		if typ, p, err := readFrame(br); err != nil || typ != frameResponseTidy || string(p) != "left "+x {
			t.Fatalf("response to leave %s: %d %q %v", x, typ, p, err)
		}
	}
	hostW.Close()
	if err := <-done; err != nil {
		t.Fatalf("serveConn: %v", err)
	}
	// The second request was read only once the first call's work was done.
	if want := []string{"answered a", "tidied a", "answered b", "tidied b"}; !slices.Equal(tidied, want) {
		t.Fatalf("order %q, want %q", tidied, want)
	}
}
