package node

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestPipelinedUnread: a client that sends request after request on one
// connection and never reads the answers does not hold the connection
// (its goroutine, its buffers in the kernel) for ever: once a write of an
// answer has waited answerStall, the node gives the connection up. Before,
// answers up to 64 KiB were written with no deadline: a dashboard's script
// asked for again and again (no token needed), or the small answers of
// GET /healthz, left the handler, or net/http's flush as the request
// ended, waiting for the client for ever.
func TestPipelinedUnread(t *testing.T) {
	defer answerStall.set(answerStall.get())
	answerStall.set(300 * time.Millisecond)
	c := newCluster(t, 24, "pipe")
	n := c.start("pipe", c.secret, 1)
	auth := "Authorization: Bearer " + adminToken(t, c.secret) + "\r\n"
	for _, path := range []string{"/ui/app.js", "/healthz", "/metrics"} {
		t.Run(path, func(t *testing.T) {
			_, before := n.conns.held("127.0.0.1")
			conn, err := net.Dial("tcp", n.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Requests until the node closes the connection (or the test
			// ends): its answers fill the sockets' buffers, and then it
			// stops reading them.
			req := strings.Repeat("GET "+path+" HTTP/1.1\r\nHost: x\r\n"+auth+"\r\n", 64)
			go func() {
				for {
					if _, err := conn.Write([]byte(req)); err != nil {
						return
					}
				}
			}()
			waitFor(t, 10*time.Second, "the connection counted", func() bool { _, m := n.conns.held("127.0.0.1"); return m > before })
			// Within less than ReadHeaderTimeout: a request left half sent
			// would end the connection then.
			waitFor(t, 8*time.Second, "the node to give up the connection", func() bool { _, m := n.conns.held("127.0.0.1"); return m <= before })
		})
	}
}
