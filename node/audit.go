package node

import (
	"bufio"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenmesh/warren/isolate"
)

// The audit log: with Config.AuditLog set, every invocation that enters
// the mesh through this node (POST /v1/run, a deployed Worker's /w/ call,
// a cron trigger's run, MCP's run_code) leaves one JSON line there once it ends: who
// (the token's name), what (the code's hash, never the code, never a
// token), where (the nodes it went through), and how it ended. Lines are
// written by a goroutine of their own, in batches; a line that finds
// auditQueue lines waiting is dropped and counted, so that a slow disk
// slows no call (the next line written says how many were dropped).

// auditQueue bounds the lines waiting to be written.
const auditQueue = 4096

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Time time.Time `json:"time"`
	// Entry is how the call came in: "run" (POST /v1/run), "worker" (a
	// deployed Worker's /w/ call), "cron" (a cron trigger's tick) or
	// "mcp" (the MCP tool run_code).
	Entry string `json:"entry"`
	// Token is the name of the caller's token ("" with --no-auth); a
	// deployed Worker's and a cron run's name their deployment.
	Token string `json:"token"`
	// TokenID is the caller's token's ID, by which it can be revoked
	// (none for tokens without one).
	TokenID string `json:"tokenId,omitempty"`
	Worker  string `json:"worker,omitempty"`
	// Code is the hex SHA-256 of the code object's JSON.
	Code    string          `json:"code"`
	Client  string          `json:"client,omitempty"`
	Nodes   []string        `json:"nodes"`
	Outcome isolate.Outcome `json:"outcome"`
	CPUMs   float64         `json:"cpuMs"`
	WallMs  float64         `json:"wallMs"`
	// Dropped counts the lines dropped before this one (a full queue).
	Dropped int64 `json:"dropped,omitempty"`
}

// auditor writes the audit log.
type auditor struct {
	lines   chan AuditEntry
	dropped atomic.Int64
	done    chan struct{}
	once    sync.Once
}

func newAuditor(w io.Writer) *auditor {
	a := &auditor{lines: make(chan AuditEntry, auditQueue), done: make(chan struct{})}
	go a.run(w)
	return a
}

// record queues an entry; nil-safe (no audit log).
func (a *auditor) record(e AuditEntry) {
	if a == nil {
		return
	}
	select {
	case a.lines <- e:
	default:
		a.dropped.Add(1)
	}
}

// close writes what is queued and stops.
func (a *auditor) close() {
	if a == nil {
		return
	}
	a.once.Do(func() { close(a.lines) })
	<-a.done
}

func (a *auditor) run(w io.Writer) {
	defer close(a.done)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-a.lines:
			if !ok {
				_ = bw.Flush()
				return
			}
			e.Dropped = a.dropped.Swap(0)
			_ = enc.Encode(&e)
			if len(a.lines) == 0 {
				_ = bw.Flush()
			}
		case <-tick.C:
			_ = bw.Flush()
		}
	}
}

// ended reports an invocation that entered the mesh here, once it ended:
// to the audit log and the live tail.
func (n *Node) ended(entry, token, tokenID, worker string, raw *RunRequest, res *isolate.Result) {
	n.tail(entry, worker, res)
	if n.auditor == nil {
		return
	}
	n.auditor.record(AuditEntry{
		Time: time.Now().UTC(), Entry: entry, Token: token, TokenID: tokenID, Worker: worker,
		Code: hex.EncodeToString(raw.key[:]), Client: cmp.Or(raw.addr, raw.Client), Nodes: res.Telemetry.Hops,
		Outcome: res.Outcome, CPUMs: res.Telemetry.CPUTime, WallMs: res.Telemetry.WallTime,
	})
}
