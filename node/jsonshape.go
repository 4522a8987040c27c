package node

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
)

// A run request's structure is bounded as it streams in, before
// encoding/json builds it: past these, the decoder would make a map or a
// slice entry of every element, at ten to thirty times the bytes (90 MiB
// of code.modules, env, bindings or request.headers, all of them refused
// by their limits after decoding, took the node's heap to 1-3 GB and 15-50
// s of CPU, for one request).
const (
	// maxShapeElements bounds the elements (members or items) of one
	// object or array within maxShapeDepth: the request, code, request,
	// bindings and hops, and in them code.modules, code.env,
	// code.compatibilityFlags, request.headers and each binding. Their own
	// limits are lower (4,096 modules, 256 headers, 1 MiB of env).
	maxShapeElements = 10_000
	// maxShapeDepth is the depth down to which objects and arrays are
	// bounded (the request is depth 1): the values of env and of data
	// modules, deeper, are kept as raw JSON, not built.
	maxShapeDepth = 3
)

// shapeReader passes r through, refusing (errShape) a JSON text in which
// an object or array within maxShapeDepth holds more than
// maxShapeElements elements. It follows strings only to skip them (a
// quote, a backslash); what is not JSON passes, for the decoder to
// refuse.
type shapeReader struct {
	r         io.Reader
	what      string // "the run request", for errors
	depth     int
	commas    []int // of the open objects and arrays within maxShapeDepth
	inString  bool
	escaped   bool // the last byte was a backslash in a string
	err       error
	max       int
	limitedTo int
	// total, when not 0, bounds the elements and containers of the whole
	// text (every comma, brace and bracket outside strings), at any depth.
	total, seen int
}

func newShapeReader(r io.Reader) *shapeReader {
	return &shapeReader{r: r, what: "the run request", max: maxShapeElements, limitedTo: maxShapeDepth}
}

// errShape is the 400 of a text past its shape's bounds.
func (s *shapeReader) errShape() error {
	msg := fmt.Sprintf("an object or array of %s (at depth %d) holds more than %d elements", s.what, s.depth, s.max)
	if s.total > 0 && s.seen > s.total {
		msg = fmt.Sprintf("%s holds more than %d JSON values", s.what, s.total)
	}
	return &apiError{status: http.StatusBadRequest, code: "bad_request", msg: msg}
}

func (s *shapeReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if e := s.scan(p[:n]); e != nil {
		s.err = e
		return 0, e
	}
	return n, err
}

func (s *shapeReader) scan(b []byte) error {
	for i := 0; i < len(b); i++ {
		if s.inString {
			if s.escaped {
				s.escaped = false
				continue
			}
			// Strings are most of a request (code, bodies): skip to the
			// quote that may end one, then look back for a backslash.
			q := bytes.IndexByte(b[i:], '"')
			if q < 0 {
				q = len(b) - i
			}
			if bs := bytes.IndexByte(b[i:i+q], '\\'); bs >= 0 {
				i += bs
				s.escaped = true
				continue
			}
			i += q
			if i < len(b) {
				s.inString = false
			}
			continue
		}
		switch c := b[i]; c {
		case '"':
			s.inString = true
		case '{', '[', ',':
			if s.total > 0 {
				if s.seen++; s.seen > s.total {
					return s.errShape()
				}
			}
			if c == ',' {
				if s.depth >= 1 && s.depth <= s.limitedTo {
					n := &s.commas[len(s.commas)-1]
					if *n++; *n >= s.max {
						return s.errShape()
					}
				}
				break
			}
			s.depth++
			if s.depth <= s.limitedTo {
				s.commas = append(s.commas, 0)
			}
		case '}', ']':
			if s.depth <= s.limitedTo && len(s.commas) > 0 {
				s.commas = s.commas[:len(s.commas)-1]
			}
			if s.depth > 0 {
				s.depth--
			}
		}
	}
	return nil
}
