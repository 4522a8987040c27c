package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/replication"
)

// TestAnswerBudget: clients that read large answers slowly hold them in
// the node's memory; the answer budget bounds what they hold together and
// what one client holds (a quarter), and a large answer past it is 503
// busy, until the reader finishes or goes.
func TestAnswerBudget(t *testing.T) {
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 23, "ans")
	t.Cleanup(func() { kv.Close() })
	c.tune = func(cfg *Config) {
		cfg.KV, cfg.Groups = kv, testGroups
		cfg.AnswerBudget = 40 << 20 // a client may hold 10 MiB
	}
	n := c.start("ans", c.secret, 2)
	big := bytes.Repeat([]byte("v"), 8<<20) // more than loopback's socket buffers take
	if status, _, body := call(t, n, "PUT", "/v1/kv/ns/big", bytes.NewReader(big), nil); status != 200 {
		t.Fatalf("put: %d %s", status, body)
	}
	if status, _, body := call(t, n, "PUT", "/v1/kv/ns/small", strings.NewReader("small"), nil); status != 200 {
		t.Fatalf("put: %d %s", status, body)
	}

	// A reader that asks for the big value and does not read it.
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.APIURL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /v1/kv/ns/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", adminToken(t, c.secret))
	waitFor(t, 10*time.Second, "the stalled answer held", func() bool { return n.answers.heldBy("127.0.0.1") == int64(len(big)) })

	// The same client's next large answer is past its share: 503 busy.
	status, hdr, body := call(t, n, "GET", "/v1/kv/ns/big", nil, nil)
	var e struct{ Code, Error string }
	_ = json.Unmarshal(body, &e)
	if status != 503 || e.Code != "busy" || !strings.Contains(e.Error, "share") || hdr.Get("Retry-After") == "" {
		t.Fatalf("a second large answer for the client: %d %s, want 503 busy naming its share", status, body)
	}
	// Small answers are not counted.
	if status, _, body := call(t, n, "GET", "/v1/kv/ns/small", nil, nil); status != 200 || string(body) != "small" {
		t.Fatalf("a small answer while a large one is held: %d %q", status, body)
	}
	// The reader goes: its bytes are given back, and the answer is served.
	conn.Close()
	waitFor(t, 10*time.Second, "the answer budget given back", func() bool { return n.answers.heldBy("127.0.0.1") == 0 })
	status, _, body = call(t, n, "GET", "/v1/kv/ns/big", nil, nil)
	if status != 200 || !bytes.Equal(body, big) {
		t.Fatalf("the large answer once the budget is back: %d, %d bytes", status, len(body))
	}
	if got := n.answers.available(); got != 40<<20 {
		t.Fatalf("the budget after the answers: %d bytes left, want all %d", got, 40<<20)
	}
}

// TestListAnswerBudget: a KV list's answer, up to a few MB (1000 keys of
// 512 bytes with 1 KiB of metadata each), is held in the answer budget
// as a KV value is: any token that may read a namespace could otherwise
// hold list answers without limit, by asking on many connections and
// reading none.
func TestListAnswerBudget(t *testing.T) {
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, 23, "lab")
	t.Cleanup(func() { kv.Close() })
	c.tune = func(cfg *Config) {
		cfg.KV, cfg.Groups = kv, testGroups
		cfg.AnswerBudget = 4 << 20 // a client may hold 1 MiB
	}
	n := c.start("lab", c.secret, 2)
	meta := []byte(`{"m":"` + strings.Repeat("m", 1000) + `"}`)
	for i := range 1000 {
		key := fmt.Sprintf("%04d%s", i, strings.Repeat("k", 500))
		if err := kv.Put(t.Context(), "ns", key, []byte("v"), replication.KVPutOptions{Metadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	status, hdr, body := call(t, n, "GET", "/v1/kv/ns", nil, nil)
	var e struct{ Code, Error string }
	_ = json.Unmarshal(body, &e)
	if status != 503 || e.Code != "busy" || hdr.Get("Retry-After") == "" {
		t.Fatalf("a list answer (%d bytes) past the client's share of the answer budget: %d %.200s, want 503 busy", len(body), status, body)
	}
	status, _, body = call(t, n, "GET", "/v1/kv/ns?limit=10", nil, nil)
	var page KVListPage
	if err := json.Unmarshal(body, &page); status != 200 || err != nil || len(page.Keys) != 10 {
		t.Fatalf("a small list: %d %.200s", status, body)
	}
	if got := n.answers.available(); got != 4<<20 {
		t.Fatalf("the budget after the answers: %d bytes left, want all %d", got, 4<<20)
	}
}
