package replication

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/warrenmesh/warren/mesh"
)

// Replication's requests between nodes travel on mesh.ProtoRepl, one
// request and one answer per stream:
//
//	request: version byte | uvarint n | n bytes of JSON rpcReq | uvarint m | m bytes of body
//	answer:  uvarint n | n bytes of JSON rpcResp | uvarint m | m bytes of body
//
// The body carries what may be large (a command, a value) as raw bytes.
// A peer refuses a version it does not speak with an answer whose code is
// codeBadVersion.
const (
	maxRPCHeader = 1 << 20
	maxRPCBody   = 32 << 20
	// rpcHeaderTimeout bounds how long a peer may take to send a request.
	rpcHeaderTimeout = 10 * time.Second
	// maxRPCTimeout bounds the time a request may ask to be served in.
	maxRPCTimeout = 30 * time.Second
)

// The ops of rpcReq.
const (
	opApply  = "apply"  // apply Body (a command) on the group's leader
	opGet    = "get"    // read NS/Key
	opList   = "list"   // list NS
	opStatus = "status" // this replica's status and configuration
	opView   = "view"   // the meta group's view as this node knows it
	opCreate = "create" // start Group here and bootstrap it with Servers
	opChange = "change" // on the leader: a membership change
	opFailed = "failed" // on the meta leader: the sender's replica of Group stopped
)

// Error codes of rpcResp.
const (
	codeNotLeader  = "not_leader" // Leader names the leader when known
	codeNoGroup    = "no_group"   // this node runs no replica of the group
	codeStopped    = "stopped"    // this node's replica of the group stopped and waits to be replaced
	codeUnavail    = "unavailable"
	codeUnknown    = "unknown_outcome" // a write may or may not have applied
	codeInvalid    = "invalid"         // Invalid holds the broken rule
	codeNotFound   = "not_found"
	codeStorage    = "storage"
	codeFull       = "full" // the leader's disk is down to its reserve
	codeBadRequest = "bad_request"
	codeBadVersion = "bad_version"
	codeBusy       = "busy" // the leader had no room for a large write (largewrites.go): it was not made
)

type rpcReq struct {
	Op        string         `json:"op"`
	Group     string         `json:"group,omitempty"`
	NS        string         `json:"ns,omitempty"`
	Key       string         `json:"key,omitempty"`
	Eventual  bool           `json:"eventual,omitempty"`
	List      *KVListOptions `json:"list,omitempty"`
	Servers   []Server       `json:"servers,omitempty"`
	Change    *changeReq     `json:"change,omitempty"`
	TimeoutMs int64          `json:"timeoutMs,omitempty"`
}

// changeReq is a membership change for a group's leader to make.
type changeReq struct {
	Op   string `json:"op"` // "add-nonvoter", "promote", "remove"
	ID   string `json:"id"`
	Name string `json:"name"`
}

type rpcResp struct {
	Code    string          `json:"code,omitempty"`
	Error   string          `json:"error,omitempty"`
	Leader  string          `json:"leader,omitempty"`
	Invalid *KVInvalidError `json:"invalid,omitempty"`
	Value   *KVValue        `json:"value,omitempty"` // Value.Value in the body
	List    *KVListResult   `json:"list,omitempty"`
	Status  *replicaStatus  `json:"status,omitempty"`
	View    *metaView       `json:"view,omitempty"`
	Config  []viewReplica   `json:"config,omitempty"`
}

// err is the error an answer from peer carries, nil if none: the broken
// rule of an invalid request, else an *rpcError.
func (r *rpcResp) err(peer string) error {
	switch {
	case r.Code == "":
		return nil
	case r.Code == codeInvalid && r.Invalid != nil:
		return r.Invalid
	}
	return &rpcError{Peer: peer, Code: r.Code, Msg: r.Error, Leader: r.Leader}
}

// replicaStatus is one replica's view of its group.
type replicaStatus struct {
	State       string        `json:"state"`
	Term        uint64        `json:"term"`
	LastIndex   uint64        `json:"lastIndex"`
	CommitIndex uint64        `json:"commitIndex"`
	Applied     uint64        `json:"applied"`
	Leader      string        `json:"leader"`
	Config      []viewReplica `json:"config"`
}

// rpcError is an error answer from a peer.
type rpcError struct {
	Peer   string
	Code   string
	Msg    string
	Leader string
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s: %s", e.Peer, e.Msg) }

// Unwrap maps the code to the package's errors.
func (e *rpcError) Unwrap() error {
	switch e.Code {
	case codeNotLeader:
		return ErrNotLeader
	case codeUnavail, codeNoGroup, codeStopped:
		return ErrKVUnavailable
	case codeBusy:
		return errBusyUnavailable
	case codeUnknown:
		return errOutcomeUnknown
	case codeNotFound:
		return ErrKVNotFound
	case codeStorage:
		return ErrKVStorage
	case codeFull:
		return ErrKVFull
	}
	return nil
}

// errOutcomeUnknown: a write was sent and no answer says whether it
// applied.
var errOutcomeUnknown = errors.New("the write may or may not have been applied")

// ErrKVOutcomeUnknown is wrapped, with ErrKVUnavailable, by the error of a
// put or delete whose outcome is unknown: it reached a leader that lost
// its office, or its answer was lost. It may have been applied, or may be
// applied later by the group's next leader; retrying is safe.
var ErrKVOutcomeUnknown = errOutcomeUnknown

func writeFrame(w *bufio.Writer, hdr any, body []byte) error {
	if err := writeFrameNoFlush(w, hdr, body); err != nil {
		return err
	}
	return w.Flush()
}

// writeFrameNoFlush writes a frame into w's buffer (and what does not fit
// through it).
func writeFrameNoFlush(w *bufio.Writer, hdr any, body []byte) error {
	f, err := encodeFrame(hdr, body)
	if err != nil {
		return err
	}
	_, err = w.Write(f)
	return err
}

// encodeFrame is a frame's bytes.
func encodeFrame(hdr any, body []byte) ([]byte, error) {
	h, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	f := make([]byte, 0, 2*binary.MaxVarintLen64+len(h)+len(body))
	f = binary.AppendUvarint(f, uint64(len(h)))
	f = append(f, h...)
	f = binary.AppendUvarint(f, uint64(len(body)))
	return append(f, body...), nil
}

func readFrame(r *bufio.Reader, hdr any) ([]byte, error) {
	return readFrameMax(r, hdr, maxRPCHeader, maxRPCBody)
}

// readFrameMax is readFrame with bounds of its own on the header and the
// body.
func readFrameMax(r *bufio.Reader, hdr any, maxHeader, maxBody uint64) ([]byte, error) {
	return readFrameAdmit(r, hdr, maxHeader, maxBody, nil)
}

// readFrameAdmit is readFrameMax, asking admit (if not nil) with the
// body's size before it reads the body: an error from admit is its own,
// and then the body is not read; admitted, a large body is read into one
// buffer of its size.
func readFrameAdmit(r *bufio.Reader, hdr any, maxHeader, maxBody uint64, admit func(size uint64) error) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > maxHeader {
		return nil, fmt.Errorf("header of %d bytes (at most %d)", n, maxHeader)
	}
	h, err := readN(r, n)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(h, hdr); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	m, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if m > maxBody {
		return nil, fmt.Errorf("body of %d bytes (at most %d)", m, maxBody)
	}
	if m == 0 {
		return nil, nil
	}
	if admit == nil {
		return readN(r, m)
	}
	if err := admit(m); err != nil {
		return nil, err
	}
	return readExactly(r, m)
}

// readExactly reads exactly n bytes into one buffer of that size.
func readExactly(r io.Reader, n uint64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// readN reads exactly n bytes. Memory grows with the bytes that arrive,
// not with what a peer's length prefix claims.
func readN(r io.Reader, n uint64) ([]byte, error) {
	if n <= 64<<10 { // small: one allocation of the right size
		return readExactly(r, n)
	}
	var buf bytes.Buffer
	buf.Grow(int(min(n, 64<<10)))
	if _, err := buf.ReadFrom(io.LimitReader(r, int64(n))); err != nil {
		return nil, err
	}
	if uint64(buf.Len()) != n {
		return nil, io.ErrUnexpectedEOF
	}
	return buf.Bytes(), nil
}

// call sends req to peer and returns its answer. sent reports whether the
// request may have reached the peer (the error came after the first
// write), which for a write means its outcome is unknown.
//
// A get's value takes its size from the node's budget of large values
// (heldvalues.go) before it is read. It never waits for it with the value
// on the stream: unread, the value's bytes would hold the connection's
// flow-control window and stall the answers to every other call on it,
// those that would free the budget too. If the budget is short, the
// stream is dropped, the read waits for the value's size, and asks again.
func (c *Cluster) call(ctx context.Context, peer string, req *rpcReq, body []byte) (resp *rpcResp, rbody []byte, sent bool, err error) {
	var ahead int64 // budget taken for an attempt after one that found it short
	defer func() { c.values.give(ahead) }()
	for {
		var short int
		resp, rbody, sent, short, err = c.callOnce(ctx, peer, req, body, &ahead)
		if short == 0 {
			return resp, rbody, sent, err
		}
		c.values.give(ahead)
		if ahead, err = c.values.take(ctx, short); err != nil {
			return nil, nil, true, err
		}
	}
}

// callOnce is one attempt of call. A get whose value does not fit the
// budget, with none taken ahead of it (*ahead, which it uses up when it
// is enough), returns the value's size as short, without reading it.
func (c *Cluster) callOnce(ctx context.Context, peer string, req *rpcReq, body []byte, ahead *int64) (resp *rpcResp, rbody []byte, sent bool, short int, err error) {
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMs = max(time.Until(dl).Milliseconds(), 1)
	}
	if req.Op == opApply && len(body) <= maxPipeBody {
		resp, rbody, sent, err = c.callPiped(ctx, peer, req, body)
		if !errors.Is(err, errNoPipe) {
			return resp, rbody, sent, 0, err
		}
	}
	s, err := c.m.Open(ctx, peer, mesh.ProtoRepl)
	if err != nil {
		return nil, nil, false, 0, err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	w := bufio.NewWriter(s)
	w.WriteByte(mesh.ProtoReplVersion)
	if err := writeFrame(w, req, body); err != nil {
		return nil, nil, true, 0, c.ctxErr(ctx, err)
	}
	s.CloseWrite()
	resp = new(rpcResp)
	var taken int64
	var admit func(size uint64) error // nil: the body grows as it arrives (readN)
	if req.Op == opGet {
		admit = func(size uint64) error {
			if n := c.values.size(int(size)); *ahead >= n {
				taken, *ahead = *ahead, 0
				return nil
			}
			var ok bool
			if taken, ok = c.values.tryTake(int(size)); !ok {
				short = int(size)
				return errBudgetShort
			}
			return nil
		}
	}
	rbody, err = readFrameAdmit(bufio.NewReader(s), resp, maxRPCHeader, maxRPCBody, admit)
	if short != 0 {
		return nil, nil, true, short, nil
	}
	if err != nil {
		c.values.give(taken)
		return nil, nil, true, 0, c.ctxErr(ctx, err)
	}
	c.values.hold(rbody, taken)
	if err := resp.err(peer); err != nil {
		return resp, nil, true, 0, err
	}
	return resp, rbody, true, 0, nil
}

// errBudgetShort: a get's value does not fit the node's budget now.
var errBudgetShort = errors.New("the budget of large values is short")

func (c *Cluster) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// serve is the mesh handler of ProtoRepl.
func (c *Cluster) serve(from mesh.Peer, s *mesh.Stream) {
	s.SetReadDeadline(time.Now().Add(rpcHeaderTimeout))
	r := bufio.NewReader(s)
	w := bufio.NewWriter(s)
	v, err := r.ReadByte()
	if err != nil {
		return
	}
	s.SetWriteDeadline(time.Now().Add(rpcHeaderTimeout))
	if v == mesh.ProtoReplPipeVersion {
		s.SetReadDeadline(time.Time{})
		c.servePipe(from, s, r, w)
		return
	}
	if v != mesh.ProtoReplVersion {
		writeFrame(w, &rpcResp{Code: codeBadVersion, Error: fmt.Sprintf("%s speaks replication requests versions %d and %d, not %d", c.m.Name(), mesh.ProtoReplVersion, mesh.ProtoReplPipeVersion, v)}, nil)
		return
	}
	var req rpcReq
	// The caller's timeout counts from when it sent the request: from
	// before its body is read here (a large write's takes seconds), not
	// after.
	sent := time.Now()
	body, err := readFrame(r, &req)
	if err != nil {
		writeFrame(w, &rpcResp{Code: codeBadRequest, Error: err.Error()}, nil)
		return
	}
	s.SetReadDeadline(time.Time{})
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 || timeout > maxRPCTimeout {
		timeout = maxRPCTimeout
	}
	ctx, cancel := context.WithDeadline(c.ctx, sent.Add(timeout))
	defer cancel()
	stop := context.AfterFunc(s.Context(), cancel) // the caller went away
	defer stop()
	resp, rbody := c.handle(ctx, from, &req, body)
	s.SetWriteDeadline(time.Now().Add(rpcHeaderTimeout + time.Duration(len(rbody)>>16)*time.Millisecond))
	writeFrame(w, resp, rbody)
}

// errResp is the answer for err.
func (c *Cluster) errResp(err error) *rpcResp {
	var ie *KVInvalidError
	var re *rpcError
	switch {
	case errors.As(err, &ie):
		return &rpcResp{Code: codeInvalid, Error: err.Error(), Invalid: ie}
	case errors.As(err, &re) && re.Code == codeNotLeader:
		return &rpcResp{Code: codeNotLeader, Error: err.Error(), Leader: re.Leader}
	case errors.Is(err, errOutcomeUnknown):
		return &rpcResp{Code: codeUnknown, Error: err.Error()}
	case errors.Is(err, errBusy):
		return &rpcResp{Code: codeBusy, Error: err.Error()}
	case errors.Is(err, ErrKVNotFound):
		return &rpcResp{Code: codeNotFound, Error: err.Error()}
	case errors.Is(err, ErrKVFull):
		return &rpcResp{Code: codeFull, Error: err.Error()}
	case errors.Is(err, ErrKVUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, ErrClosed):
		return &rpcResp{Code: codeUnavail, Error: err.Error()}
	}
	return &rpcResp{Code: codeStorage, Error: err.Error()}
}
