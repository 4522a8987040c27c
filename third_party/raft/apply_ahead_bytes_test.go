// Copyright IBM Corp. 2013, 2025
// SPDX-License-Identifier: MPL-2.0

package raft

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// gatedFSM is a MockFSM whose first Apply of a 1 MiB entry waits until
// open is closed.
type gatedFSM struct {
	*MockFSM
	open  chan struct{}
	gated bool
}

func (f *gatedFSM) Apply(l *Log) interface{} {
	if !f.gated && len(l.Data) == 1<<20 {
		f.gated = true
		<-f.open
	}
	return f.MockFSM.Apply(l)
}

func (f *gatedFSM) Underlying() FSM { return f.MockFSM }

// A leader whose FSM is stuck hands it committed entries only up to
// MaxApplyAheadBytes of them and then waits; without the bound it hands
// over every one.
func TestProcessLogs_MaxApplyAheadBytes(t *testing.T) {
	const entries, size = 10, 1 << 20
	for _, maxAhead := range []int{5 << 19, 0} { // 2.5 MiB, none
		conf := inmemConfig(t)
		conf.MaxApplyAheadBytes = maxAhead
		fsm := &gatedFSM{MockFSM: &MockFSM{}, open: make(chan struct{})}
		c, err := makeCluster(t, &MakeClusterOpts{Peers: 1, Bootstrap: true, Conf: conf, MakeFSMFunc: func() FSM { return fsm }})
		if err != nil {
			t.Fatal(err)
		}
		r := c.Leader()
		// Apply blocks while the leader loop waits: each from its own
		// goroutine.
		errs := make(chan error, entries)
		for range entries {
			go func() { errs <- r.Apply(make([]byte, size), 0).Error() }()
		}
		deadline := time.Now().Add(10 * time.Second)
		if maxAhead > 0 {
			// The leader loop waits for room with the first two entries
			// handed over (a third would pass 2.5 MiB).
			for !goroutineIn("raft.(*Raft).waitApplyRoom") {
				if time.Now().After(deadline) {
					t.Fatalf("processLogs never waited for room; %d bytes ahead", r.applyAhead.Load())
				}
				time.Sleep(time.Millisecond)
			}
			if got := r.applyAhead.Load(); got != 2*size {
				t.Fatalf("MaxApplyAheadBytes %d: %d bytes handed to the FSM, want %d", maxAhead, got, 2*size)
			}
		} else {
			for r.applyAhead.Load() != entries*size {
				if time.Now().After(deadline) {
					t.Fatalf("without a bound: %d bytes handed to the FSM, want %d", r.applyAhead.Load(), entries*size)
				}
				time.Sleep(time.Millisecond)
			}
		}
		close(fsm.open)
		for range entries {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for r.applyAhead.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d bytes still counted ahead once all was applied", r.applyAhead.Load())
			}
			time.Sleep(time.Millisecond)
		}
		fsm.Lock()
		n := len(fsm.logs)
		fsm.Unlock()
		if n != entries {
			t.Fatalf("%d entries applied, want %d", n, entries)
		}
		c.Close()
	}
}

// goroutineIn reports whether some goroutine's stack holds fn.
func goroutineIn(fn string) bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), fn)
}
