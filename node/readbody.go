package node

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// errBodyTooLarge is readBody's error for a body longer than its cap.
var errBodyTooLarge = errors.New("body too large")

// bodyBlock is the size of the pooled blocks a body of unknown length is
// read into; firstBlock the size of the first, not pooled, which is all
// that most bodies need.
const (
	bodyBlock  = 1 << 20
	firstBlock = 16 << 10
)

var bodyBlocks = sync.Pool{New: func() any { b := make([]byte, bodyBlock); return &b }}

// readBody reads r to its end, at most max bytes (errBodyTooLarge, having
// read max+1 bytes at most, past them), with what it holds bounded by what
// came rather than a multiple of it. size is the body's announced size
// (a Content-Length; -1 for none): past max, the body is refused at once;
// up to bodyBlock, it is read into one buffer of that size. Other bodies
// go into pooled blocks of bodyBlock as they come, joined once at the
// end: a sender that announces a large body and stalls holds no more
// than it sent. io.ReadAll grows its buffer as it goes, so that reading
// the 32 MiB an egress response may have allocated about 77 MiB on the
// node's processor, and a response past the cap cost all that to be
// refused; here a refusal reuses pooled blocks (BenchmarkReadBody: 0.07
// to 1.7 MB allocated a refusal, as the collector empties the pool).
func readBody(r io.Reader, size, max int64) ([]byte, error) {
	if size > max {
		return nil, errBodyTooLarge
	}
	if size >= 0 && size <= bodyBlock {
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		var one [1]byte
		switch n, err := io.ReadFull(r, one[:]); {
		case n > 0:
			return nil, fmt.Errorf("the body is longer than its announced %d bytes", size)
		case err != io.EOF && err != io.ErrUnexpectedEOF:
			return nil, err
		}
		return b, nil
	}
	first := make([]byte, 0, firstBlock)
	var blocks []*[]byte // pooled blocks: full ones, then cur's
	defer func() {
		for _, b := range blocks {
			bodyBlocks.Put(b)
		}
	}()
	cur := first // what is being filled: first, then the last block
	var total int64
	for {
		if len(cur) == cap(cur) {
			if len(blocks) == 0 {
				first = cur
			}
			b := bodyBlocks.Get().(*[]byte)
			blocks = append(blocks, b)
			cur = (*b)[:0]
		}
		n, err := r.Read(cur[len(cur):cap(cur)])
		cur = cur[:len(cur)+n]
		if total += int64(n); total > max {
			return nil, errBodyTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(blocks) == 0 {
		return cur, nil
	}
	out := make([]byte, 0, total)
	out = append(out, first...)
	for _, b := range blocks[:len(blocks)-1] {
		out = append(out, *b...)
	}
	return append(out, cur...), nil
}
