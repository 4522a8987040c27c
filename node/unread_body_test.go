package node

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestUnreadBodyStalled: a request that announces a body and never sends
// it, to a route that does not read one (or one that refuses the request
// before reading it), is answered, and its connection closed, within the
// body's grace. net/http reads what the handler left of a body before it
// writes the answer's head, and again as the request ends, with no
// deadline of its own: before, such a request held its handler (and what
// the handler held: a tail's slot, an answer's share of the budget) and
// its connection for ever, and no answer was ever sent.
func TestUnreadBodyStalled(t *testing.T) {
	c := newCluster(t, 23, "stall")
	c.tune = func(cfg *Config) { cfg.BodyGrace = 300 * time.Millisecond }
	n := c.start("stall", c.secret, 1)
	tok := adminToken(t, c.secret)
	for _, tc := range []struct {
		name, head string
		status     int
	}{
		{"a route that takes no body", "GET /healthz HTTP/1.1\r\nContent-Length: 100", 200},
		{"a chunked body", "GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", 200},
		{"a refused token", "POST /v1/run HTTP/1.1\r\nContent-Length: 1000", 401},
		// /w/ needs no token: a Worker it cannot serve (this node has no
		// store to find deployments in) is refused before the body is read.
		{"a public route refused early", "POST /w/nope HTTP/1.1\r\nContent-Length: 1000", 503},
		{"a refused method", "PATCH /v1/members HTTP/1.1\r\nAuthorization: Bearer " + tok + "\r\nContent-Length: 100", 405},
		// net/http answers OPTIONS * itself, before the node's handler,
		// reading up to 4 KiB of its body with no deadline.
		{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nContent-Length: 100", 401},
		{"a tail", "GET /v1/tail HTTP/1.1\r\nAuthorization: Bearer " + tok + "\r\nContent-Length: 100", 200},
		// Routes that read a body stop at the end of its JSON: what
		// follows must come under the body's clock too.
		{"a run whose body stalls after its JSON", "POST /v1/run HTTP/1.1\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Length: 1000\r\n\r\n" + `{"code":"export default {fetch(){return new Response('x')}}"}`, 408},
		{"a revocation whose body stalls after its JSON", "POST /v1/tokens/revoke HTTP/1.1\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Length: 1000\r\n\r\n" + `{"id":"abc"}`, 408},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", n.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
			head, body, _ := strings.Cut(tc.head, "\r\n\r\n")
			fmt.Fprintf(conn, "%s\r\nHost: x\r\n\r\n%s", head, body)
			start := time.Now()
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer in %v: %v", time.Since(start).Round(time.Millisecond), err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			{
				t.Logf("%d %v", resp.StatusCode, time.Since(start))
			}
			// The rest of the body never comes: the node gives the
			// connection up rather than wait for it.
			if _, err := br.ReadByte(); err == nil {
				t.Error("read more after the answer")
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("the connection still open after %v", time.Since(start).Round(time.Millisecond))
			}
			waitFor(t, 10*time.Second, "the tail to end", func() bool { return n.tails.n.Load() == 0 })
		})
	}
}
