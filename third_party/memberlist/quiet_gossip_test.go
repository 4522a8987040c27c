// Copyright (c) HashiCorp, Inc.
// SPDX-License-Identifier: MPL-2.0

package memberlist

import (
	"testing"
	"time"

	"github.com/hashicorp/go-metrics"
	iretry "github.com/hashicorp/memberlist/internal/retry"
	"github.com/stretchr/testify/require"
)

// gossipRounds is how many gossip rounds the members of this process have
// run since sink was registered.
func gossipRounds(sink *metrics.InmemSink) int {
	n := 0
	for _, intv := range sink.Data() {
		intv.RLock()
		if s, ok := intv.Samples["consul.usage.test.memberlist.gossip"]; ok {
			n += s.Count
		}
		intv.RUnlock()
	}
	return n
}

// quietPair starts two members with a 5 ms gossip interval and neither
// probes nor push/pull, so that gossip rounds alone carry broadcasts, and
// joins them.
func quietPair(t *testing.T, quiet bool) (m1, m2 *Memberlist, d1 *MockDelegate) {
	t.Helper()
	conf := func(d *MockDelegate) *Config {
		c := testConfig(t)
		c.QuietGossip = quiet
		c.GossipInterval = 5 * time.Millisecond
		c.ProbeInterval = time.Hour
		c.PushPullInterval = 0
		c.Delegate = d
		return c
	}
	d1 = &MockDelegate{meta: []byte("v1")}
	c1 := conf(d1)
	m1, err := Create(c1)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m1.Shutdown() })
	c2 := conf(&MockDelegate{})
	c2.BindPort = m1.config.BindPort
	m2, err = Create(c2)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m2.Shutdown() })
	_, err = m2.Join([]string{c1.Name + "/" + c1.BindAddr})
	require.NoError(t, err)
	// Wait until the join's broadcasts are sent out.
	iretry.Run(t, func(r *iretry.R) {
		if n1, n2 := m1.broadcasts.NumQueued(), m2.broadcasts.NumQueued(); n1+n2 > 0 {
			r.Fatalf("broadcasts still queued: %d and %d", n1, n2)
		}
	})
	return m1, m2, d1
}

// roundsIn counts the gossip rounds of the process over d.
func roundsIn(sink *metrics.InmemSink, d time.Duration) int {
	n0 := gossipRounds(sink)
	time.Sleep(d) // counting rounds over an interval, not waiting for a condition
	return gossipRounds(sink) - n0
}

func TestMemberlist_QuietGossip(t *testing.T) {
	t.Run("ticking", func(t *testing.T) {
		// Without QuietGossip an idle pair gossips every 5 ms: the
		// measurement below can tell the two apart.
		sink := registerInMemorySink(t)
		quietPair(t, false)
		if n := roundsIn(sink, 200*time.Millisecond); n < 20 {
			t.Fatalf("%d gossip rounds in 200 ms at a 5 ms interval, want about 80", n)
		}
	})
	t.Run("quiet", func(t *testing.T) {
		sink := registerInMemorySink(t)
		m1, m2, d1 := quietPair(t, true)
		if n := roundsIn(sink, 200*time.Millisecond); n > 4 {
			t.Fatalf("%d gossip rounds in 200 ms with nothing to send, want none", n)
		}

		// A broadcast wakes the gossip: the new meta reaches m2 although
		// no probe or push/pull could carry it.
		d1.setMeta([]byte("v2"))
		require.NoError(t, m1.UpdateNode(5*time.Second))
		iretry.Run(t, func(r *iretry.R) {
			for _, n := range m2.Members() {
				if n.Name == m1.config.Name && string(n.Meta) != "v2" {
					r.Fatalf("m2 sees meta %q for m1, want v2", n.Meta)
				}
			}
		})
		// And once it is sent, the ticker stops again.
		iretry.Run(t, func(r *iretry.R) {
			if n := m1.broadcasts.NumQueued(); n > 0 {
				r.Fatalf("%d broadcasts still queued", n)
			}
		})
		if n := roundsIn(sink, 200*time.Millisecond); n > 4 {
			t.Fatalf("%d gossip rounds in 200 ms after the broadcast went out, want none", n)
		}
	})
}
