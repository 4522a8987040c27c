package node

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// connKey keys the client's connection in a request's context (the API
// server's ConnContext), for request.cf's clientTcpRtt.
type connKey struct{}

// clientConn is the client's connection with the round-trip time last read
// from the kernel, so that a keep-alive connection's requests read it at
// most once per rttFresh (a system call each; the smoothed RTT moves
// slowly). Requests on one connection may run at once (HTTP/2), hence the
// atomics.
type clientConn struct {
	net.Conn
	rtt atomic.Int64 // milliseconds, plus 1 (0: never read)
	at  atomic.Int64 // when rtt was read, nanoseconds since the Unix epoch
}

// rttFresh is how long a connection's round-trip time is reused.
const rttFresh = time.Second

func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &clientConn{Conn: c})
}

// tcpRTT is the connection's smoothed round-trip time in milliseconds, 0
// when unknown.
func (c *clientConn) tcpRTT(now time.Time) int {
	if v := c.rtt.Load(); v != 0 && now.UnixNano()-c.at.Load() < int64(rttFresh) {
		return int(v - 1)
	}
	tcp, ok := tcpConnOf(c.Conn)
	if !ok {
		return 0
	}
	rtt := tcpRTT(tcp)
	c.at.Store(now.UnixNano())
	c.rtt.Store(int64(rtt) + 1)
	return rtt
}

// requestCF is what the node knows of r for request.cf: its protocol, its
// TLS version and the smoothed round-trip time of its TCP connection
// (where the platform reports it: Linux). The colo is set where the Worker
// runs.
func requestCF(r *http.Request) *isolate.RequestCF {
	cf := &isolate.RequestCF{HTTPProtocol: httpProtocol(r)}
	if r.TLS != nil {
		cf.TLSVersion = tlsVersion(r.TLS.Version)
	}
	if c, ok := r.Context().Value(connKey{}).(*clientConn); ok {
		cf.ClientTCPRTT = c.tcpRTT(time.Now())
	}
	return cf
}

func httpProtocol(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1:
		return r.Proto // "HTTP/1.1", "HTTP/1.0"
	case r.ProtoMajor >= 2:
		return "HTTP/" + string(rune('0'+r.ProtoMajor))
	}
	return r.Proto
}

func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return ""
}

// setCF gives an invocation's request the request.cf of the HTTP request
// that brought it (replacing any in the run request's JSON: a client
// cannot claim one).
func setCF(req *RunRequest, inv *isolate.Invocation, cf *isolate.RequestCF) {
	req.CF = cf
	if inv.Request != nil {
		r := *inv.Request
		r.CF = cf
		inv.Request = &r
	}
}

// tcpConnOf is the TCP connection under c: through the connections that
// wrap one (TLS, quietio's, the API's connection bound), each giving the
// one it wraps with NetConn.
func tcpConnOf(c net.Conn) (*net.TCPConn, bool) {
	for {
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = w.NetConn()
	}
	tcp, ok := c.(*net.TCPConn)
	return tcp, ok
}
