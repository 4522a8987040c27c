// Copyright (c) HashiCorp, Inc.
// SPDX-License-Identifier: MPL-2.0

package raft

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// The compact encoding of AppendEntries (NetworkTransportConfig.CompactAppendEntries).
//
// msgpack, through reflection, was about a tenth of the CPU of a replicated
// write in a busy cluster. AppendEntries requests and their responses are
// nearly all of a cluster's traffic, and their fields are fixed, so a
// transport may send them in this encoding instead: unsigned integers as
// uvarints, byte strings as a uvarint of their length plus one (zero: nil)
// and the bytes, booleans as one byte, a time as a varint of its Unix
// nanoseconds plus a byte that is zero for the zero time.
//
// Request (after the rpc type byte rpcAppendEntriesCompact):
//
//	ProtocolVersion, ID, Addr, Term, Leader, PrevLogEntry, PrevLogTerm,
//	LeaderCommitIndex, the number of entries, and each entry's
//	Index, Term, Type (one byte), Data, Extensions, AppendedAt.
//
// Response: the error string (as a byte string), then ProtocolVersion, ID,
// Addr, Term, LastLog, Success, NoRetryBackoff.
//
// A server always understands the compact request and answers it in kind;
// a transport sends it only when configured to, so that every server of the
// cluster must understand it first.
const rpcAppendEntriesCompact uint8 = 0x80

// CompactConn is a connection of a StreamLayer that knows whether its peer
// reads the compact encoding (a peer of an older version may not: the
// stream layer learns so when the peer refuses its stream). A transport
// configured for the compact encoding sends msgpack on a connection whose
// CompactAppendEntries is false.
type CompactConn interface {
	CompactAppendEntries() bool
}

// Bounds on what a compact request may announce, so that a corrupt or
// hostile one cannot make the receiver allocate without limit before the
// stream runs dry: a count of entries at most maxCompactEntries (raft
// sends at most MaxAppendEntries, which Config caps at 1024), and a byte
// string at most maxCompactBytes, read into memory that grows with what
// arrives once it is longer than compactChunk.
const (
	maxCompactEntries = 1 << 16
	maxCompactBytes   = 1 << 30
	compactChunk      = 1 << 16
)

var errCompactTooLarge = errors.New("raft: compact AppendEntries field too large")

type compactWriter struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64 + 1]byte
	err error
}

func (c *compactWriter) uint(v uint64) {
	if c.err == nil {
		_, c.err = c.w.Write(binary.AppendUvarint(c.buf[:0], v))
	}
}

func (c *compactWriter) bytes(b []byte) {
	if b == nil {
		c.uint(0)
		return
	}
	c.uint(uint64(len(b)) + 1)
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

func (c *compactWriter) bool(b bool) {
	if c.err == nil {
		v := byte(0)
		if b {
			v = 1
		}
		c.err = c.w.WriteByte(v)
	}
}

func (c *compactWriter) time(t time.Time) {
	if t.IsZero() {
		c.bool(false)
		return
	}
	c.bool(true)
	if c.err == nil {
		_, c.err = c.w.Write(binary.AppendVarint(c.buf[:0], t.UnixNano()))
	}
}

func (c *compactWriter) header(h *RPCHeader) {
	c.uint(uint64(h.ProtocolVersion))
	c.bytes(h.ID)
	c.bytes(h.Addr)
}

type compactReader struct {
	r   *bufio.Reader
	err error
}

func (c *compactReader) uint() uint64 {
	if c.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(c.r)
	if err != nil {
		c.err = noEOF(err)
	}
	return v
}

func (c *compactReader) bytes() []byte {
	n := c.uint()
	if c.err != nil || n == 0 {
		return nil
	}
	n--
	if n > maxCompactBytes {
		c.err = errCompactTooLarge
		return nil
	}
	if n <= compactChunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(c.r, b); err != nil {
			c.err = noEOF(err)
			return nil
		}
		return b
	}
	// Longer: the buffer grows as the bytes come, not at the announcement,
	// doubling, and to exactly n once a quarter of it has come (at most
	// about 2n allocated in all; a bytes.Buffer ended with up to twice n,
	// and allocated some five times n on the way).
	b := make([]byte, 0, compactChunk)
	for uint64(len(b)) < n {
		if len(b) == cap(b) {
			c := 2 * uint64(cap(b))
			if 2*c > n {
				c = n
			}
			nb := make([]byte, len(b), c)
			copy(nb, b)
			b = nb
		}
		m, err := c.r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil && uint64(len(b)) < n {
			c.err = noEOF(err)
			return nil
		}
	}
	return b
}

func (c *compactReader) byte() byte {
	if c.err != nil {
		return 0
	}
	b, err := c.r.ReadByte()
	if err != nil {
		c.err = noEOF(err)
	}
	return b
}

func (c *compactReader) bool() bool {
	switch c.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	if c.err == nil {
		c.err = errors.New("raft: compact AppendEntries: a boolean that is neither 0 nor 1")
	}
	return false
}

func (c *compactReader) time() time.Time {
	if !c.bool() || c.err != nil {
		return time.Time{}
	}
	v, err := binary.ReadVarint(c.r)
	if err != nil {
		c.err = noEOF(err)
		return time.Time{}
	}
	return time.Unix(0, v)
}

func (c *compactReader) header(h *RPCHeader) {
	h.ProtocolVersion = ProtocolVersion(c.uint())
	h.ID = c.bytes()
	h.Addr = c.bytes()
}

// noEOF turns an end of stream inside a message into ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func writeCompactAppendRequest(w *bufio.Writer, a *AppendEntriesRequest) error {
	c := compactWriter{w: w}
	c.header(&a.RPCHeader)
	c.uint(a.Term)
	c.bytes(a.Leader)
	c.uint(a.PrevLogEntry)
	c.uint(a.PrevLogTerm)
	c.uint(a.LeaderCommitIndex)
	c.uint(uint64(len(a.Entries)))
	for _, l := range a.Entries {
		c.uint(l.Index)
		c.uint(l.Term)
		if c.err == nil {
			c.err = w.WriteByte(byte(l.Type))
		}
		c.bytes(l.Data)
		c.bytes(l.Extensions)
		c.time(l.AppendedAt)
	}
	return c.err
}

func readCompactAppendRequest(r *bufio.Reader, a *AppendEntriesRequest) error {
	c := compactReader{r: r}
	c.header(&a.RPCHeader)
	a.Term = c.uint()
	a.Leader = c.bytes()
	a.PrevLogEntry = c.uint()
	a.PrevLogTerm = c.uint()
	a.LeaderCommitIndex = c.uint()
	n := c.uint()
	if c.err != nil {
		return c.err
	}
	if n > maxCompactEntries {
		return fmt.Errorf("%w: %d entries", errCompactTooLarge, n)
	}
	if n > 0 {
		a.Entries = make([]*Log, n)
		logs := make([]Log, n)
		for i := range a.Entries {
			l := &logs[i]
			l.Index = c.uint()
			l.Term = c.uint()
			l.Type = LogType(c.byte())
			l.Data = c.bytes()
			l.Extensions = c.bytes()
			l.AppendedAt = c.time()
			a.Entries[i] = l
		}
	}
	return c.err
}

func writeCompactAppendResponse(w *bufio.Writer, rpcErr string, a *AppendEntriesResponse) error {
	c := compactWriter{w: w}
	if rpcErr == "" {
		c.uint(0)
	} else {
		c.bytes([]byte(rpcErr))
	}
	if a == nil {
		a = &AppendEntriesResponse{}
	}
	c.header(&a.RPCHeader)
	c.uint(a.Term)
	c.uint(a.LastLog)
	c.bool(a.Success)
	c.bool(a.NoRetryBackoff)
	return c.err
}

func readCompactAppendResponse(r *bufio.Reader, a *AppendEntriesResponse) (rpcErr string, err error) {
	c := compactReader{r: r}
	rpcErr = string(c.bytes())
	c.header(&a.RPCHeader)
	a.Term = c.uint()
	a.LastLog = c.uint()
	a.Success = c.bool()
	a.NoRetryBackoff = c.bool()
	return rpcErr, c.err
}

// sendCompactAppend writes an AppendEntries request in the compact
// encoding and flushes it, releasing the connection on failure as sendRPC does.
func sendCompactAppend(conn *netConn, args *AppendEntriesRequest) error {
	err := conn.w.WriteByte(rpcAppendEntriesCompact)
	if err == nil {
		err = writeCompactAppendRequest(conn.w, args)
	}
	if err == nil {
		err = conn.w.Flush()
	}
	if err != nil {
		_ = conn.Release()
	}
	return err
}

// decodeCompactAppendResponse reads the answer to a compact request, as
// decodeResponse does for the others.
func decodeCompactAppendResponse(conn *netConn, resp *AppendEntriesResponse) (bool, error) {
	rpcErr, err := readCompactAppendResponse(conn.r, resp)
	if err != nil {
		_ = conn.Release()
		return false, err
	}
	if rpcErr != "" {
		return true, errors.New(rpcErr)
	}
	return true, nil
}
