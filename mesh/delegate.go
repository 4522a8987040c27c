package mesh

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/quic-go/quic-go"
)

// delegate is the Mesh seen by memberlist: node metadata, membership events
// and ping acks. memberlist calls the event methods with its node lock held,
// so they must never call back into memberlist (lock order: memberlist's
// node lock, then Mesh.mu; Mesh never calls memberlist holding Mesh.mu).
type delegate Mesh

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.PingDelegate  = (*delegate)(nil)
)

// NodeMeta is this node's gossiped state; it records what it hands out so
// that the publish loop knows what the others have.
func (d *delegate) NodeMeta(limit int) []byte {
	m := (*Mesh)(d)
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.metaLocked().encode()
	if len(b) > limit { // cannot happen: Start checked the worst case
		m.log.Error("node metadata over the limit", "size", len(b), "limit", limit)
		return nil
	}
	m.announced = b
	return b
}

func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

func (d *delegate) NotifyJoin(n *memberlist.Node)   { (*Mesh)(d).nodeEvent(n, false) }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { (*Mesh)(d).nodeEvent(n, false) }
func (d *delegate) NotifyLeave(n *memberlist.Node)  { (*Mesh)(d).nodeEvent(n, true) }

// AckPayload carries our Vivaldi coordinate in every ack we send.
func (d *delegate) AckPayload() []byte {
	return encodeCoord((*Mesh)(d).viv.GetCoordinate())
}

// NotifyPingComplete feeds a probe's RTT and the peer's coordinate to our
// Vivaldi client.
func (d *delegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	m := (*Mesh)(d)
	c, err := decodeCoord(payload)
	if err != nil {
		return
	}
	if _, err := m.viv.Update(other.Name, c, rtt); err != nil {
		m.log.Debug("vivaldi update", "peer", other.Name, "rtt", rtt, "err", err)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.peers[other.Name]; e != nil {
		e.coord = c
		if e.state == StateSuspect { // it answered us: refuted
			e.state = StateAlive
			e.updated = time.Now()
			m.notifyChanged()
		}
	}
}

// nodeEvent updates the table from a membership event.
func (m *Mesh) nodeEvent(n *memberlist.Node, gone bool) {
	if n.Name == m.cfg.Name {
		return
	}
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		m.log.Debug("peer metadata", "peer", n.Name, "err", err)
	}
	addr := net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	now := time.Now()

	m.mu.Lock()
	defer m.mu.Unlock()
	e, had := m.peers[n.Name]
	if !had {
		e = &peerEntry{name: n.Name}
		m.peers[n.Name] = e
	}
	oldState, oldBoot, oldAddr, oldMarks := e.state, e.Boot, e.addr, e.marks
	e.nodeMeta = meta
	e.Tags, e.marks = splitMarks(meta.Tags)
	e.addr = addr
	e.updated = now
	var stale []*quic.Conn
	var reason string
	if gone {
		e.state = StateDead
		if meta.Leaving {
			e.state = StateLeft
		}
		e.deadAt = now
		e.coord = nil
		m.viv.ForgetNode(n.Name)
		stale, reason = m.connsToLocked(n.Name), "peer "+e.state
	} else {
		e.state = StateAlive
		if had && (oldBoot != meta.Boot || oldAddr != addr) {
			// It restarted (or moved): connections to the old process
			// are dead even if QUIC has not noticed yet.
			stale, reason = m.connsToLocked(n.Name), reasonRestarted
		}
	}
	if len(stale) > 0 && !m.closed {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			for _, c := range stale {
				c.CloseWithError(codePeerGone, reason)
			}
		}()
	}
	if !had || oldState != e.state || len(stale) > 0 || !maps.Equal(oldMarks, e.marks) {
		m.log.Debug("peer", "name", n.Name, "state", e.state, "addr", addr)
		m.notifyChanged()
	}
}

// markSuspect records that our own probe of name failed.
func (m *Mesh) markSuspect(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.peers[name]; e != nil && e.state == StateAlive {
		e.state = StateSuspect
		e.updated = time.Now()
		m.notifyChanged()
	}
}

// suspectExpiry is how long a suspect stays one without news: past the
// longest suspicion timeout memberlist would have declared it dead, so it
// must have refuted.
func (m *Mesh) suspectExpiry(n int) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	min := time.Duration(float64(m.cfg.SuspicionMult) * scale * float64(m.cfg.ProbeInterval))
	return time.Duration(m.cfg.SuspicionMaxTimeoutMult)*min + 2*m.cfg.ProbeInterval
}

// mlLogWriter sends memberlist's log lines to slog at debug level, and
// turns its "Suspect X has failed" line into the suspect state (memberlist
// has no API for it).
type mlLogWriter struct{ m *Mesh }

func (w *mlLogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\n"))
	level := ""
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			level, line = line[1:i], strings.TrimSpace(line[i+1:])
		}
	}
	msg := strings.TrimPrefix(line, "memberlist: ")
	if rest, ok := strings.CutPrefix(msg, "Suspect "); ok {
		if name, ok := strings.CutSuffix(rest, " has failed, no acks received"); ok {
			w.m.markSuspect(name)
		}
	}
	if w.m.log.Enabled(context.Background(), slog.LevelDebug) {
		w.m.log.Debug("memberlist: "+msg, "level", level)
	}
	return len(p), nil
}

// reasonRestarted is the close reason of connections to a peer's previous
// process (Join matches it: memberlist passes errors on as text).
const reasonRestarted = "peer restarted"
