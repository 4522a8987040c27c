package isolate

import (
	"context"
	"errors"
	"io"
	"sync"
)

// BodyPipe carries a streamed response body from the invocation producing
// it to the one consumer sending it on (an HTTP response, a forwarded
// call's stream). Set it as Invocation.StreamTo: a response whose body is a
// ReadableStream then returns with Response.Streamed set and no Body, as
// soon as its head is known, and its chunks come through the pipe as the
// Worker writes them.
//
// The pipe holds a few chunks (pipeChunks): a producer that gets ahead of
// a slow consumer waits, so a stalled client holds back the Worker (whose
// wall-time limit bounds the wait) rather than the node's memory.
type BodyPipe struct {
	ch       chan []byte
	closed   chan struct{} // the producer ended; err is set
	gone     chan struct{} // the consumer went away; abortErr is set
	endOnce  sync.Once
	goneOnce sync.Once
	err      error
	abortErr error
}

// pipeChunks is how many chunks a BodyPipe holds before its producer waits.
const pipeChunks = 16

// ErrBodyIncomplete is the error of a body whose invocation ended without
// ending it (a limit, a crash): the consumer must not present it as whole.
var ErrBodyIncomplete = errors.New("the Worker's response body ended early")

// NewBodyPipe returns an empty pipe.
func NewBodyPipe() *BodyPipe {
	return &BodyPipe{ch: make(chan []byte, pipeChunks), closed: make(chan struct{}), gone: make(chan struct{})}
}

// Write hands chunk to the consumer, waiting while the pipe is full. It
// fails when the consumer has gone away (Abort) or ctx ends. Only one
// goroutine writes, and never after Close.
func (p *BodyPipe) Write(ctx context.Context, chunk []byte) error {
	select {
	case <-p.gone:
		return p.abortErr
	default:
	}
	select {
	case p.ch <- chunk:
		return nil
	case <-p.gone:
		return p.abortErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends the body: complete when err is nil, failed midway otherwise.
// Only the first Close counts.
func (p *BodyPipe) Close(err error) {
	p.endOnce.Do(func() {
		p.err = err
		close(p.closed)
	})
}

// Next returns the next chunk; io.EOF after the last chunk of a complete
// body, or the error the body failed with. It fails with ctx's error when
// ctx ends first.
func (p *BodyPipe) Next(ctx context.Context) ([]byte, error) {
	select {
	case c := <-p.ch:
		return c, nil
	default:
	}
	select {
	case c := <-p.ch:
		return c, nil
	case <-p.closed:
		select { // chunks written before Close come first
		case c := <-p.ch:
			return c, nil
		default:
		}
		if p.err != nil {
			return nil, p.err
		}
		return nil, io.EOF
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Abort tells the producer that the consumer has gone away: its Write
// fails with err from now on, and the Worker's stream is canceled.
func (p *BodyPipe) Abort(err error) {
	p.goneOnce.Do(func() {
		p.abortErr = err
		close(p.gone)
	})
}

// Gone is closed when the consumer has gone away (Abort).
func (p *BodyPipe) Gone() <-chan struct{} { return p.gone }
