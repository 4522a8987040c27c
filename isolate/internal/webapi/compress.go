package webapi

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/dop251/goja"
)

// CompressionStream and DecompressionStream are JS classes (streams.js)
// over the Go codecs here: "gzip" is compress/gzip, "deflate" the zlib
// format (compress/zlib) and "deflate-raw" compress/flate.

// A DecompressionStream's chunks start at inflateChunkMin bytes and, while
// the output fills them, double up to inflateChunkMax: each chunk costs the
// stream machinery the same whatever its size, so a large output in 64 KiB
// chunks spent most of its time there (a gzip bomb read whole under 64 MiB
// took 220-280 ms of CPU in 64 KiB chunks, 80-130 ms in chunks that grow).
const (
	inflateChunkMin = 64 << 10
	inflateChunkMax = 1 << 20
)

// deflateStep is how much of a chunk a CompressionStream compresses at a
// time (10-40 ms of incompressible bytes).
const deflateStep = 1 << 20

func (a *API) checkFormat(format, who string) {
	switch format {
	case "gzip", "deflate", "deflate-raw":
	default:
		a.typeError("Failed to construct '%s': Unsupported compression format: '%s'", who, format)
	}
}

// newDeflater is a CompressionStream's encoder: write compresses a chunk
// and returns what output is ready (null for none); finish ends the stream.
func (a *API) newDeflater(format string) goja.Value {
	a.checkFormat(format, "CompressionStream")
	var buf bytes.Buffer
	var w io.WriteCloser
	switch format {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	default:
		w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
	}
	out := func() goja.Value {
		if buf.Len() == 0 {
			return goja.Null()
		}
		v := a.newUint8Array(slices.Clone(buf.Bytes()))
		buf.Reset()
		return v
	}
	o := a.vm.NewObject()
	_ = o.Set("write", a.newFunc("write", 1, func(call goja.FunctionCall) goja.Value {
		b, ok := a.bufferSource(call.Argument(0))
		if !ok {
			a.typeError("CompressionStream: a chunk must be an ArrayBuffer or an ArrayBufferView")
		}
		// A chunk of 64 MiB takes seconds to compress: it goes to the
		// encoder a piece at a time, looking at the interrupt between.
		for len(b) > 0 {
			a.stopIfInterrupted()
			n := min(len(b), deflateStep)
			_, _ = w.Write(b[:n]) // writes to a bytes.Buffer do not fail
			b = b[n:]
		}
		return out()
	}))
	_ = o.Set("finish", a.newFunc("finish", 0, func(call goja.FunctionCall) goja.Value {
		_ = w.Close()
		return out()
	}))
	return o
}

// An inflater runs a Go decompressor on its own goroutine in lock step
// with the runtime: the decoder goroutine runs only while the runtime's
// goroutine waits for its answer, so it never uses more than one chunk of
// memory ahead of the reader, and output comes only when asked for.
//
// The goroutine holds only the pipe, not the inflater: when a runtime is
// dropped without Close, the inflater becomes garbage and its cleanup
// stops the goroutine.
type inflater struct {
	*pipe
	started, awaiting, need, finished, failed, aborted bool
}

// pipe joins an inflater and its decoder goroutine.
type pipe struct {
	toG   chan inflateMsg
	fromG chan inflateResp
	quit  chan struct{}
	once  sync.Once
}

func (p *pipe) stop() { p.once.Do(func() { close(p.quit) }) }

type inflateMsg struct {
	data []byte
	eof  bool
}

type inflateResp struct {
	data []byte // output
	need bool   // the decoder needs input
	end  bool   // the compressed stream ended
	err  error
}

// errTrailing is the error for data after the end of a compressed stream.
var errTrailing = errors.New("junk found after the end of the compressed data")

func (a *API) newInflater(format string) goja.Value {
	a.checkFormat(format, "DecompressionStream")
	z := &inflater{pipe: &pipe{toG: make(chan inflateMsg), fromG: make(chan inflateResp), quit: make(chan struct{})}}
	runtime.AddCleanup(z, (*pipe).stop, z.pipe)
	rt := a.streams()
	if rt.inflaters == nil {
		rt.inflaters = map[*inflater]struct{}{}
	}
	fail := func(err error) {
		z.failed = true
		z.abort()
		delete(rt.inflaters, z)
		a.typeError("DecompressionStream: invalid %s data: %v", format, err)
	}
	// step sends msg (unless the decoder answers without one) and takes
	// the decoder's answer.
	step := func(msg *inflateMsg) inflateResp {
		if !z.started {
			z.started = true
			rt.inflaters[z] = struct{}{}
			go z.pipe.run(format)
		} else if !z.awaiting {
			z.toG <- *msg
		}
		z.awaiting = false
		r := <-z.fromG
		switch {
		case r.err != nil:
			fail(r.err)
		case r.end:
			z.finished = true
			delete(rt.inflaters, z)
		case r.need:
			z.need = true
		}
		return r
	}
	o := a.vm.NewObject()
	_ = o.Set("needsInput", a.newFunc("needsInput", 0, func(goja.FunctionCall) goja.Value {
		return a.vm.ToValue(z.need)
	}))
	_ = o.Set("done", a.newFunc("done", 0, func(goja.FunctionCall) goja.Value {
		return a.vm.ToValue(z.finished)
	}))
	// give hands the decoder a chunk of input; the decoder must need it.
	// After the end, a non-empty chunk is an error.
	_ = o.Set("give", a.newFunc("give", 1, func(call goja.FunctionCall) goja.Value {
		b, ok := a.bufferSource(call.Argument(0))
		if !ok {
			a.typeError("DecompressionStream: a chunk must be an ArrayBuffer or an ArrayBufferView")
		}
		if z.finished {
			if len(b) > 0 {
				a.typeError("DecompressionStream: invalid %s data: %v", format, errTrailing)
			}
			return goja.Undefined()
		}
		if z.failed || z.aborted || !z.need {
			a.typeError("DecompressionStream: the decoder does not need input")
		}
		z.need = false
		z.toG <- inflateMsg{data: slices.Clone(b)}
		z.awaiting = true
		return goja.Undefined()
	}))
	// end tells the decoder its input ended.
	_ = o.Set("end", a.newFunc("end", 0, func(goja.FunctionCall) goja.Value {
		if z.failed || z.aborted || !z.need {
			a.typeError("DecompressionStream: the decoder does not need input")
		}
		z.need = false
		z.toG <- inflateMsg{eof: true}
		z.awaiting = true
		return goja.Undefined()
	}))
	// next returns the next chunk of output, null when the decoder needs
	// input, undefined at the end.
	_ = o.Set("next", a.newFunc("next", 0, func(goja.FunctionCall) goja.Value {
		if z.finished {
			return goja.Undefined()
		}
		if z.failed || z.aborted || z.need {
			a.typeError("DecompressionStream: the decoder cannot go on")
		}
		r := step(&inflateMsg{})
		switch {
		case r.end:
			return goja.Undefined()
		case r.need:
			return goja.Null()
		}
		return a.newUint8Array(r.data)
	}))
	_ = o.Set("abort", a.newFunc("abort", 0, func(goja.FunctionCall) goja.Value {
		z.abort()
		delete(rt.inflaters, z)
		return goja.Undefined()
	}))
	return o
}

// abort stops the decoder goroutine, if it runs.
func (z *inflater) abort() {
	z.aborted = true
	z.stop()
}

// send gives the runtime an answer and waits for the next message; false
// when the inflater was aborted.
func (z *pipe) send(r inflateResp) (inflateMsg, bool) {
	select {
	case z.fromG <- r:
	case <-z.quit:
		return inflateMsg{}, false
	}
	if r.err != nil || r.end {
		return inflateMsg{}, false
	}
	select {
	case m := <-z.toG:
		return m, true
	case <-z.quit:
		return inflateMsg{}, false
	}
}

// errAborted ends the decoder goroutine's reads when the stream is gone.
var errAborted = errors.New("aborted")

// run is the decoder goroutine.
func (z *pipe) run(format string) {
	src := &inflateSource{z: z}
	var r io.Reader
	var err error
	switch format {
	case "gzip":
		r, err = gzip.NewReader(src)
	case "deflate":
		r, err = zlib.NewReader(src)
	default:
		r = flate.NewReader(src)
	}
	if err != nil {
		if !errors.Is(err, errAborted) {
			z.send(inflateResp{err: describeInflate(err)})
		}
		return
	}
	buf := make([]byte, inflateChunkMin)
	for {
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var k int
			k, err = r.Read(buf[n:])
			n += k
		}
		if n > 0 {
			if _, ok := z.send(inflateResp{data: slices.Clone(buf[:n])}); !ok {
				return
			}
			if n == len(buf) && len(buf) < inflateChunkMax {
				buf = make([]byte, 2*len(buf))
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, errAborted):
			return
		case err == io.EOF:
			if len(src.cur) > 0 {
				z.send(inflateResp{err: errTrailing})
			} else {
				// Bytes after the end that come later are refused by give.
				z.send(inflateResp{end: true})
			}
			return
		default:
			z.send(inflateResp{err: describeInflate(err)})
			return
		}
	}
}

func describeInflate(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		return errors.New("the compressed data ended too soon")
	}
	return err
}

// inflateSource is the decoder's input: chunks from the runtime, asked for
// when the last one is used up. It is a flate.Reader (it has ReadByte), so
// the decoders read no byte past the end of their data.
type inflateSource struct {
	z   *pipe
	cur []byte
	eof bool
}

func (s *inflateSource) fill() error {
	for len(s.cur) == 0 {
		if s.eof {
			return io.EOF
		}
		m, ok := s.z.send(inflateResp{need: true})
		if !ok {
			return errAborted
		}
		if m.eof {
			s.eof = true
		} else {
			s.cur = m.data
		}
	}
	return nil
}

func (s *inflateSource) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.fill(); err != nil {
		return 0, err
	}
	n := copy(p, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

func (s *inflateSource) ReadByte() (byte, error) {
	if err := s.fill(); err != nil {
		return 0, err
	}
	c := s.cur[0]
	s.cur = s.cur[1:]
	return c, nil
}
