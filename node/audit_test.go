package node

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/policy"
	"github.com/warrenmesh/warren/replication"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAuditLog: each invocation that enters through a node leaves one
// line naming the token and the code's hash, never the code or a token.
func TestAuditLog(t *testing.T) {
	kv, err := replication.OpenLocalKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	var log lockedBuffer
	c := newCluster(t, 7, "a")
	c.tune = func(cfg *Config) { cfg.KV, cfg.AuditLog = kv, &log }
	n := c.start("a", c.secret, 1)
	tok := revocableToken(t, c.secret, "agent-7", policy.Grants{})
	const secretish = "very-secret-source-marker"
	body := `{"code":{"mainModule":"m.js","modules":{"m.js":"export default { fetch() { return new Response('` + secretish + `') } }"}}}`
	if status, _, out := authCall(t, n, "POST", "/v1/run", body, tok); status != 200 {
		t.Fatalf("run: %d %s", status, out)
	}
	if status, _, out := call(t, n, "PUT", "/v1/workers/echo", strings.NewReader(deployBody(echoWorker(1), "", nil)), nil); status != 200 {
		t.Fatalf("deploy: %d %s", status, out)
	}
	if status, _, out := serve(t, n, "GET", "/w/echo/x", "", nil); status != 201 {
		t.Fatalf("serve: %d %s", status, out)
	}
	var lines []AuditEntry
	waitFor(t, 10*time.Second, "two audit lines", func() bool {
		lines = nil
		for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
			var e AuditEntry
			if l != "" && json.Unmarshal([]byte(l), &e) == nil {
				lines = append(lines, e)
			}
		}
		return len(lines) >= 2
	})
	run, worker := lines[0], lines[1]
	parsed, err := policy.ParseToken(n.tokenKey, tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if run.Entry != "run" || run.Token != "agent-7" || run.TokenID != parsed.ID || run.TokenID == "" || len(run.Code) != 64 || run.Outcome != "ok" || run.Client != "127.0.0.1" || len(run.Nodes) != 1 || run.Nodes[0] != "a" || run.WallMs <= 0 {
		t.Errorf("the run's line: %+v", run)
	}
	if worker.Entry != "worker" || worker.Worker != "echo" || !strings.Contains(worker.Token, "deployed by") || worker.Outcome != "ok" || worker.Client != "127.0.0.1" {
		t.Errorf("the Worker's line: %+v", worker)
	}
	if all := log.String(); strings.Contains(all, secretish) || strings.Contains(all, tok) {
		t.Errorf("the audit log holds code or a token: %s", all)
	}
}
