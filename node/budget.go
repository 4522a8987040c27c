package node

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/warrenmesh/warren/replication"
)

// DefaultBodyBudget bounds the bytes of request bodies all API calls of a
// node hold at once; MaxRunBody bounds one.
const DefaultBodyBudget = 1 << 30

// DefaultDiskReserve is the free space a node keeps on its data disk by
// default (Config.DiskReserve).
const DefaultDiskReserve = replication.DefaultDiskReserve

// DefaultAnswerBudget bounds the bytes of large answers all API calls of
// a node hold at once while their clients read them: without it, clients
// that read a 25 MiB KV value (or a deployed Worker's large body) slowly,
// many at a time, held the node's memory without limit (60 of them: 1.5
// GB).
const DefaultAnswerBudget = 1 << 30

// holdAnswer draws an answer of size bytes from the node's answer budget
// for r's client, for as long as it is being sent; release gives it back.
// Answers up to answerChunk are not counted (they leave in one write). On
// refusal it has answered 503 busy and ok is false: call it before
// writing the answer's header.
func (n *Node) holdAnswer(w http.ResponseWriter, r *http.Request, size int) (release func(), ok bool) {
	if size <= answerChunk || r.Method == http.MethodHead {
		return func() {}, true
	}
	client := clientOf(r)
	if err := n.answers.take(client, int64(size)); err != nil {
		why := fmt.Sprintf("this node already holds %d MiB of answers that clients are still reading", (n.cfg.AnswerBudget-n.answers.available())>>20)
		if errors.Is(err, errClientBudget) {
			why = fmt.Sprintf("client %s already holds %d MiB of answers it is still reading, its share of the node's %d MiB", client, n.answers.heldBy(client)>>20, n.cfg.AnswerBudget>>20)
		}
		w.Header().Set("Retry-After", "1")
		writeError(w, &apiError{status: http.StatusServiceUnavailable, code: "busy", msg: fmt.Sprintf("%s; an answer of %d bytes must wait: retry later", why, size)})
		return nil, false
	}
	return func() { n.answers.give(client, int64(size)) }, true
}

// How fast a request body must arrive (see bodyClock).
const (
	// DefaultBodyGrace is how long a body may pause, and how far it may
	// lag DefaultBodyMinRate: long enough for a TCP retransmission or
	// two on a bad link.
	DefaultBodyGrace = 10 * time.Second
	// DefaultBodyMinRate is the least average rate of a body after its
	// grace: 64 KiB/s, a slow mobile uplink.
	DefaultBodyMinRate = 64 << 10
	// DefaultBodyTimeout bounds the whole body: 96 MiB needs 330 KB/s.
	DefaultBodyTimeout = 5 * time.Minute
)

// byteBudget is a pool of bytes that readers draw from as they read and
// give back when their request ends, with a cap on what one client holds.
// It never blocks: a reader that finds it empty fails, and its request is
// answered 503.
type byteBudget struct {
	mu        sync.Mutex
	left      int64
	perClient int64
	held      map[string]int64 // by client; none at zero
}

func newByteBudget(total, perClient int64) *byteBudget {
	return &byteBudget{left: total, perClient: perClient, held: map[string]int64{}}
}

// Why a budget refuses bytes.
var (
	errBudget       = errors.New("node: body budget exhausted")
	errClientBudget = errors.New("node: the client's share of the body budget is exhausted")
)

// take draws n bytes for client, or reports why they are not there.
func (b *byteBudget) take(client string, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.left {
		return errBudget
	}
	if b.held[client]+n > b.perClient {
		return errClientBudget
	}
	b.left -= n
	b.held[client] += n
	return nil
}

// available is what is left.
func (b *byteBudget) available() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}

// heldBy is what client holds.
func (b *byteBudget) heldBy(client string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held[client]
}

func (b *byteBudget) give(client string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left += n
	if b.held[client] -= n; b.held[client] <= 0 {
		delete(b.held, client)
	}
}

// budgetChunk is how much a budgetReader draws at a time.
const budgetChunk = 256 << 10

// budgetReader reads r, drawing on the budget for every byte it returns,
// a chunk at a time: what it holds exceeds what arrived by less than one
// chunk.
// Close gives everything back.
type budgetReader struct {
	r       io.Reader
	b       *byteBudget
	client  string
	held    int64 // drawn from the budget
	used    int64 // returned to the reader
	refused error // errBudget or errClientBudget, once the budget said no
}

func (br *budgetReader) Read(p []byte) (int, error) {
	if br.used == br.held {
		if err := br.b.take(br.client, budgetChunk); err != nil {
			br.refused = err
			return 0, err
		}
		br.held += budgetChunk
	}
	// Read no more than was drawn: a decoder offers its whole buffer
	// (tens of MiB for a large body), which the body may never fill.
	if room := br.held - br.used; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := br.r.Read(p)
	br.used += int64(n)
	return n, err
}

// Close gives back what the reader drew.
func (br *budgetReader) Close() {
	br.b.give(br.client, br.held)
	br.held = 0
}

// budgetError is the API's answer to a request the budget refused.
func (n *Node) budgetError(why error, client string) error {
	msg := fmt.Sprintf("this node already holds as many request bodies as it will (%d MiB in all); retry later or on another node", n.cfg.BodyBudget>>20)
	if errors.Is(why, errClientBudget) {
		msg = fmt.Sprintf("this client (%s) already holds its share of the request bodies this node holds at once (%d MiB of %d MiB); retry when its other calls have ended",
			client, n.cfg.ClientBodyBudget>>20, n.cfg.BodyBudget>>20)
	}
	return &apiError{status: http.StatusServiceUnavailable, code: "busy", msg: msg}
}

// bodyClock reads a request body under a read deadline that moves as its
// bytes arrive, so that a client cannot hold a share of the body budget (or
// a connection) by sending a body slowly or not at all. Before each read
// the deadline is the earliest of:
//   - grace after now: the body never pauses longer than grace;
//   - grace plus used/rate after the start: after the grace, the body
//     arrives at rate bytes/s on average;
//   - limit after the start.
//
// Bytes the server already buffered are read past the deadline: it bounds
// waiting for the client, not the reading.
type bodyClock struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	grace time.Duration
	rate  int64
	limit time.Duration
	used  int64
	late  bool // the deadline passed
	ended bool // the deadline is cleared
}

func (n *Node) newBodyClock(w http.ResponseWriter, r *http.Request) *bodyClock {
	return &bodyClock{body: r.Body, rc: http.NewResponseController(w), start: time.Now(),
		grace: n.cfg.BodyGrace, rate: n.cfg.BodyMinRate, limit: n.cfg.BodyTimeout}
}

func (c *bodyClock) Read(p []byte) (int, error) {
	if !c.ended {
		d := c.start.Add(c.grace + time.Duration(c.used)*time.Second/time.Duration(c.rate))
		if pause := time.Now().Add(c.grace); pause.Before(d) {
			d = pause
		}
		if end := c.start.Add(c.limit); end.Before(d) {
			d = end
		}
		// A connection without deadlines (none here: the API is
		// HTTP/1.1) reads without one.
		_ = c.rc.SetReadDeadline(d)
	}
	k, err := c.body.Read(p)
	c.used += int64(k)
	switch {
	case errors.Is(err, io.EOF):
		c.end()
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.late = true
	}
	return k, err
}

// end clears the deadline once the body is read: the server's read that
// watches for the client going away must not time out while the call runs
// (net/http clears it too as that read starts, but does not document it).
func (c *bodyClock) end() {
	if !c.ended {
		c.ended = true
		_ = c.rc.SetReadDeadline(time.Time{})
	}
}

func (c *bodyClock) Close() error { return c.body.Close() }

// boundConn bounds what net/http does on a request's connection outside
// its handler's reads and writes:
//
//   - For a request with a body, the reads it makes of the body on its
//     own: before it writes the head of an answer whose handler left
//     some of the body unread (a route that takes none, a request refused
//     before its body was read), it reads up to 256 KiB more of it to keep
//     the connection, and again as the request ends, with no deadline. A
//     client that announced a body and never sent it held the handler,
//     what the handler held (a tail's slot, an answer's share of the
//     budget) and its connection for ever, and got no answer. Under this
//     deadline the unread rest of a body may pause at most the body's
//     grace; then the answer is sent and the connection closed. A handler
//     that reads the body reads it under a bodyClock, whose deadlines
//     replace this one.
//   - The write of what is left of the answer in its buffers as the
//     request ends: a client that sent requests one after the other on a
//     connection and read no answer held it (its goroutine, its buffers
//     in the kernel) for ever. It is sent under answerStall (net/http
//     clears the deadline once it is sent).
func (n *Node) boundConn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(*clientConn)
		if c == nil { // not the API's server
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength != 0 { // -1: chunked
			_ = c.SetReadDeadline(time.Now().Add(n.cfg.BodyGrace))
		}
		next.ServeHTTP(w, r)
		_ = c.SetWriteDeadline(time.Now().Add(answerStall.get()))
	})
}

// slowError is the API's answer to a body that came too slowly.
func (c *bodyClock) slowError() error {
	return &apiError{status: http.StatusRequestTimeout, code: "slow_body",
		msg: fmt.Sprintf("the request body came too slowly: %d bytes in %v; a body may pause at most %v, must average %d KiB/s after its first %v, and must end within %v",
			c.used, time.Since(c.start).Round(time.Millisecond), c.grace, c.rate>>10, c.grace, c.limit)}
}
