package node

import (
	"net"
	"sync"
	"sync/atomic"
)

// The API's connection bounds. A connection costs the node a file
// descriptor and a goroutine with its buffers until it closes, and nothing
// else bounded how many a client kept open: 28,000 idle connections from
// one machine took a node to its descriptor limit, where it could no
// longer open its own files (a Raft group's snapshot directory) or accept
// anyone, and logged its failures by the thousand a second.
const (
	// maxConnsCap bounds MaxConns' default, whatever the descriptor limit.
	maxConnsCap = 16384
	// minConns is the least default, on a host with a low descriptor limit.
	minConns = 256
)

// defaultMaxConns is half the process's descriptor limit (the other half
// is the node's own: its database, Raft streams, workers' sockets), at
// most maxConnsCap.
func defaultMaxConns() int {
	limit, ok := fileLimit()
	if !ok || limit == 0 {
		return 1024
	}
	return int(max(minConns, min(maxConnsCap, limit/2)))
}

// limitListener accepts at most total connections at once, and at most
// perClient from one client (clientOfAddr): one past either is closed as
// soon as it is accepted, with a reset, so that it holds nothing.
type limitListener struct {
	net.Listener
	total, perClient int
	refused          atomic.Int64

	mu       sync.Mutex
	open     int
	byClient map[string]int
}

func newLimitListener(ln net.Listener, total, perClient int) *limitListener {
	return &limitListener{Listener: ln, total: total, perClient: perClient, byClient: map[string]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := clientOfAddr(c.RemoteAddr())
		l.mu.Lock()
		if l.open >= l.total || l.byClient[client] >= l.perClient {
			l.mu.Unlock()
			l.refused.Add(1)
			reset(c)
			continue
		}
		l.open++
		l.byClient[client]++
		l.mu.Unlock()
		return &limitedConn{Conn: c, l: l, client: client}, nil
	}
}

// held is how many connections are open, and how many of them client's.
func (l *limitListener) held(client string) (all, clients int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.byClient[client]
}

func (l *limitListener) release(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byClient[client]--; l.byClient[client] <= 0 {
		delete(l.byClient, client)
	}
}

// reset closes c at once: SO_LINGER 0, so no FIN handshake or TIME_WAIT
// holds anything of it.
func reset(c net.Conn) {
	if tc, ok := tcpConnOf(c); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// limitedConn gives its place back when it closes.
type limitedConn struct {
	net.Conn
	l      *limitListener
	client string
	closed atomic.Bool
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.client)
	}
	return err
}

// NetConn is the connection under the bound (requestcf looks through it).
func (c *limitedConn) NetConn() net.Conn { return c.Conn }

// clientOfAddr is clientOf for a connection's remote address.
func clientOfAddr(a net.Addr) string { return clientOfRemote(a.String()) }
