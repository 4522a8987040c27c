package sandbox

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame types. A frame is a 5-byte header — 1 byte type, 4 bytes big-endian payload length —
// followed by the payload.
const (
	frameRequest        byte = 1 // host -> worker: invoke the handler with the payload
	frameCallback       byte = 2 // worker -> host: callback request (handler called call())
	frameCallbackResult byte = 3 // host -> worker: answer to the pending callback request
	frameResponse       byte = 4 // worker -> host: the handler's answer; ends the invocation
	frameError          byte = 5 // host -> worker: the pending callback failed; payload is the message
	frameInit           byte = 6 // host -> worker: start-up settings (memory limits)
	frameReady          byte = 7 // worker -> host: settings applied, ready for requests
	// frameResponseTidy: worker -> host: the handler's answer, after which the worker
	// tidies (Engine.Tidy) before it reads its next request.
	frameResponseTidy byte = 8
	frameLast              = frameResponseTidy // the highest type
)

const headerSize = 5

// MaxFrameSize is the largest payload a frame may carry: 64 MiB plus 64 KiB of slack for
// envelopes. A peer announcing a larger frame is treated as an IPC error (the worker is killed).
const MaxFrameSize = 64<<20 + 64<<10

// ErrTooLarge is returned by Pool.Call when the request exceeds MaxFrameSize; no worker is
// involved. It is also what a worker's call function receives when the host's callback
// answer is too large.
var ErrTooLarge = errors.New("sandbox: message exceeds MaxFrameSize")

// protocolError marks a malformed exchange (as opposed to an I/O error).
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "sandbox: protocol error: " + e.msg }

func writeFrame(w *bufio.Writer, typ byte, payload []byte) error {
	var hdr [headerSize]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := w.Write(payload); err != nil {
		return err
	}
	return w.Flush()
}

// readFrame reads one frame. The payload is freshly allocated (the caller owns it).
// A clean EOF before the header is returned as io.EOF; a truncated frame as
// io.ErrUnexpectedEOF; an oversized or unknown frame as *protocolError.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	hdr, err := r.Peek(headerSize)
	if err != nil {
		if err == io.EOF && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	typ := hdr[0]
	if typ < frameRequest || typ > frameLast {
		return 0, nil, &protocolError{fmt.Sprintf("unknown frame type %d", typ)}
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFrameSize {
		return 0, nil, &protocolError{fmt.Sprintf("frame of %d bytes exceeds MaxFrameSize", n)}
	}
	r.Discard(headerSize)
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return typ, payload, nil
}
