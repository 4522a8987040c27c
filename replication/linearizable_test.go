package replication

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/warrenmesh/warren/internal/lincheck"
	"github.com/warrenmesh/warren/testnet"
)

// TestLinearizableUnderFaults runs clients on every node of a 3-node
// cluster, putting, getting and deleting a few keys while a nemesis
// isolates nodes from the network, and kills and restarts them, and checks
// the history with porcupine. WARREN_LIN_DURATION sets how long the
// workload runs (default 6 s; make soak runs it longer) and
// WARREN_LIN_SEEDS how many seeds run (default 2).
func TestLinearizableUnderFaults(t *testing.T) {
	testnet.Exclusive(t)
	dur := 6 * time.Second
	if s := os.Getenv("WARREN_LIN_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	seeds := 2
	if s := os.Getenv("WARREN_LIN_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		seeds = n
	}
	base := rand.Uint64()
	for i := range seeds {
		seed := base + uint64(i)
		t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) { linearizableRun(t, seed, dur, false) })
	}
}

// TestLinearizableSleepingGroups is TestLinearizableUnderFaults on groups
// with a Cluster's own timing, started once every replica has gone to
// sleep (GroupConfig.SleepAfter): the first writes wake groups whose
// leaders heartbeat every few seconds and hold a long lease, the first
// strong reads confirm sleeping leaders, and the nemesis isolates and
// kills nodes whose followers trust the mesh rather than heartbeats.
func TestLinearizableSleepingGroups(t *testing.T) {
	testnet.Exclusive(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	linearizableRun(t, seed, 8*time.Second, true)
}

func linearizableRun(t *testing.T, seed uint64, dur time.Duration, sleeping bool) {
	var c *cluster
	if sleeping {
		c = newClusterWith(t, 3, &cluster{kv: true, tune: func(cc *ClusterConfig) {
			cc.Settle, cc.Grace = 300*time.Millisecond, 2*time.Second
			// The real timeouts, but asleep 2 s after the last write
			// rather than 10 s, to keep the test short.
			cc.Tune = func(g *GroupConfig) { g.QuietAfter, g.SleepAfter = time.Second, 2*time.Second }
		}})
		c.waitPlaced(3, 60*time.Second)
		waitFor(t, 90*time.Second, "every replica asleep", func() bool {
			for _, nd := range c.nodes {
				nd.cl.mu.Lock()
				rs := maps.Clone(nd.cl.replicas)
				nd.cl.mu.Unlock()
				for _, r := range rs {
					if r.g == nil || !r.g.asleep.Load() {
						return false
					}
				}
			}
			return true
		})
	} else {
		c = newKVCluster(t, 3)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	ctx, cancel := context.WithTimeout(context.Background(), dur+60*time.Second)
	defer cancel()

	// The nemesis: every 0.7-1.5 s, heal and then isolate a random node,
	// or kill one and start it again on its data.
	var mu sync.Mutex // guards the nodes' up state against the clients
	stop := make(chan struct{})
	nemesisDone := make(chan struct{})
	go func() {
		defer close(nemesisDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(700+rng.IntN(800)) * time.Millisecond):
			}
			nd := c.nodes[rng.IntN(len(c.nodes))]
			switch rng.IntN(3) {
			case 0:
				c.fabric.Heal()
			case 1:
				c.fabric.Heal()
				t.Logf("nemesis: isolate %s", nd.name)
				c.fabric.Isolate(nd.name)
			case 2:
				c.fabric.Heal()
				t.Logf("nemesis: kill and restart %s", nd.name)
				mu.Lock()
				c.kill(nd)
				mu.Unlock()
				c.fabric.Heal()
				mu.Lock()
				c.start(nd)
				mu.Unlock()
			}
		}
	}()

	clients := 6
	do := func(ctx context.Context, client int, op lincheck.Op) (lincheck.Result, lincheck.Outcome) {
		mu.Lock()
		nd := c.nodes[client%len(c.nodes)]
		cl := nd.cl
		mu.Unlock()
		if cl == nil {
			return lincheck.Result{}, lincheck.Failed
		}
		octx, ocancel := context.WithTimeout(ctx, 3*time.Second)
		defer ocancel()
		switch op.Kind {
		case lincheck.Get:
			v, err := cl.GetWithMetadata(octx, "lin", op.Key, Strong)
			if errors.Is(err, ErrKVNotFound) {
				return lincheck.Result{}, lincheck.OK
			}
			if err != nil {
				return lincheck.Result{}, lincheck.Failed
			}
			return lincheck.Result{Value: string(v.Value), Found: true}, lincheck.OK
		case lincheck.Put:
			return lincheck.Result{}, writeOutcome(cl.Put(octx, "lin", op.Key, []byte(op.Value), KVPutOptions{}))
		default:
			return lincheck.Result{}, writeOutcome(cl.Delete(octx, "lin", op.Key))
		}
	}
	rec, err := lincheck.Run(ctx, lincheck.Config{Clients: clients, Keys: 4, Duration: dur, Seed: seed, Logf: t.Logf}, do)
	close(stop)
	<-nemesisDone
	c.fabric.Heal()
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Check(os.TempDir(), 60*time.Second); err != nil {
		if errors.Is(err, lincheck.ErrTimeout) {
			t.Logf("the checker ran out of time; no violation found: %v", err)
			return
		}
		var nl *lincheck.NotLinearizableError
		if errors.As(err, &nl) {
			ops := rec.Operations()
			sort.Slice(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
			t0 := ops[0].Call
			for _, o := range ops {
				if op := o.Input.(lincheck.Op); op.Key == nl.Key {
					t.Logf("client %2d  %8.3f..%8.3f ms  %v -> %+v", o.ClientId, float64(o.Call-t0)/1e6, float64(o.Return-t0)/1e6, op, o.Output)
				}
			}
		}
		t.Fatalf("seed %d: %v", seed, err)
	}
	ok := 0
	for _, o := range rec.Operations() {
		if o.Return != 1<<63-1 {
			ok++
		}
	}
	t.Logf("seed %d: %d operations linearizable", seed, ok)
	if ok < 50 {
		t.Fatalf("only %d operations completed: the cluster made too little progress to check", ok)
	}
}

// writeOutcome classifies a put's or delete's error for the checker.
func writeOutcome(err error) lincheck.Outcome {
	switch {
	case err == nil:
		return lincheck.OK
	case errors.Is(err, ErrKVOutcomeUnknown):
		return lincheck.Unknown
	case errors.Is(err, ErrKVInvalid):
		return lincheck.Failed
	}
	// Unavailable without an attempt that may have reached a leader: the
	// write was never proposed. Anything else is treated as unknown.
	if errors.Is(err, ErrKVUnavailable) && !errors.Is(err, ErrKVOutcomeUnknown) {
		return lincheck.Failed
	}
	return lincheck.Unknown
}
