package replication

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzReadFrame: a peer's request frame, however malformed, is an error
// or a header and a body within their bounds, never a panic, and costs
// memory in proportion to the bytes it sent.
func FuzzReadFrame(f *testing.F) {
	var ok bytes.Buffer
	if err := writeFrame(bufio.NewWriter(&ok), &rpcReq{Op: opStatus, Group: "g1"}, []byte("body")); err != nil {
		f.Fatal(err)
	}
	f.Add(ok.Bytes())
	f.Add([]byte{0})
	f.Add([]byte{2, '{', '}', 0xff, 0xff, 0xff, 0xff, 0x0f}) // a body that claims 4 GiB
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req rpcReq
		body, err := readFrame(bufio.NewReader(bytes.NewReader(b)), &req)
		if err == nil && len(body) > len(b) {
			t.Fatalf("a body of %d bytes from %d bytes of input", len(body), len(b))
		}
	})
}
