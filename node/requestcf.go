package node

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"github.com/warrenmesh/warren/isolate"
)

// connKey keys the client's connection in a request's context (the API
// server's ConnContext), for request.cf's clientTcpRtt.
type connKey struct{}

func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
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
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		if tc, ok := c.(*tls.Conn); ok {
			c = tc.NetConn()
		}
		if tcp, ok := c.(*net.TCPConn); ok {
			cf.ClientTCPRTT = tcpRTT(tcp)
		}
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
