package node

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConnLimit: a client that opens connections and leaves them idle
// holds at most its share of the API's connections; the next is reset as
// soon as it is accepted, and the client is served again once it closes
// some.
func TestConnLimit(t *testing.T) {
	c := newCluster(t, 29, "lim")
	c.tune = func(cfg *Config) { cfg.MaxConns, cfg.MaxClientConns = 64, 8 }
	n := c.start("lim", c.secret, 2)
	addr := strings.TrimPrefix(n.APIURL(), "http://")
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// Fill the client's share (other connections of this process, idle in
	// a client's pool, may hold some of it already).
	for {
		_, mine := n.conns.held("127.0.0.1")
		if mine >= 8 {
			break
		}
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
		waitFor(t, 5*time.Second, "the connection counted", func() bool { _, m := n.conns.held("127.0.0.1"); return m > mine })
	}
	// One more: accepted, then reset at once (the reset may already
	// reach the dial).
	if extra, err := net.Dial("tcp", addr); err == nil {
		_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = extra.Read(make([]byte, 1))
		extra.Close()
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a connection past the client's share: read %v, want it closed at once", err)
		}
	}
	if _, err := fresh.Get(n.APIURL() + "/healthz"); err == nil {
		t.Fatal("a request past the client's share was served")
	}
	if n.conns.refused.Load() < 2 {
		t.Fatalf("refused %d connections, want at least 2", n.conns.refused.Load())
	}
	if all, mine := n.conns.held("127.0.0.1"); mine != 8 || all < 8 {
		t.Fatalf("held %d connections, %d the client's: want its 8", all, mine)
	}
	// The client closes one: it is served again.
	held[0].Close()
	held = held[1:]
	waitFor(t, 5*time.Second, "a place given back", func() bool { _, m := n.conns.held("127.0.0.1"); return m < 8 })
	resp, err := fresh.Get(n.APIURL() + "/healthz")
	if err != nil {
		t.Fatalf("healthz once a place is free: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz once a place is free: %d", resp.StatusCode)
	}
}
