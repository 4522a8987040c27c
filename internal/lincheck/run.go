package lincheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Config is a workload for Run.
type Config struct {
	// Clients is the number of concurrent clients (at least 1).
	Clients int
	// Keys is the number of keys the clients share (at least 1): "k0",
	// "k1", ... Few keys make clients contend, which is what finds bugs.
	Keys int
	// OpsPerClient is the number of operations each client performs;
	// Duration, if set, stops the clients once it has passed (an
	// operation under way finishes). At least one must be set.
	OpsPerClient int
	Duration     time.Duration
	// Seed seeds the clients' choices of operation and key (math/rand/v2);
	// 0 picks a random seed. Run logs the seed, so that a failing
	// workload can be run again with it; the interleaving of the clients
	// is up to the scheduler, so it may not fail the same way.
	Seed uint64
	// PutRatio, GetRatio and DeleteRatio weigh the kinds of operation; all
	// zero means 4:5:1.
	PutRatio, GetRatio, DeleteRatio float64
	// Logf, if not nil, logs the seed and a summary (t.Logf).
	Logf func(format string, args ...any)
}

// Do performs op for client (0 ≤ client < Config.Clients) against the
// system under test and says how it ended: for a Get that ended OK, its
// Result. It classifies errors: Failed if the operation definitely had no
// effect, Unknown if it may have had one (a timeout, a lost connection,
// ctx done after the write was sent). It must be safe for concurrent use
// by different clients; each client calls it sequentially.
type Do func(ctx context.Context, client int, op Op) (Result, Outcome)

// Run runs the workload cfg through do from cfg.Clients goroutines and
// returns the Recorder holding its history, to Check. Every Put writes a
// value no other writes ("c<client>-<n>"), so that a read of a stale or
// lost write shows. Run stops early when ctx is done; do is given ctx.
//
// Once a write of a client ends Unknown, the client goes on as a new
// client id in the history (client + k*Clients), as in Jepsen: the write
// may still be pending, and one client's operations must not overlap.
func Run(ctx context.Context, cfg Config, do Do) (*Recorder, error) {
	switch {
	case cfg.Clients < 1:
		return nil, fmt.Errorf("lincheck: Clients is %d, want at least 1", cfg.Clients)
	case cfg.Keys < 1:
		return nil, fmt.Errorf("lincheck: Keys is %d, want at least 1", cfg.Keys)
	case cfg.OpsPerClient < 0 || cfg.Duration < 0:
		return nil, errors.New("lincheck: OpsPerClient and Duration cannot be negative")
	case cfg.OpsPerClient == 0 && cfg.Duration == 0:
		return nil, errors.New("lincheck: neither OpsPerClient nor Duration is set")
	case cfg.PutRatio < 0 || cfg.GetRatio < 0 || cfg.DeleteRatio < 0:
		return nil, errors.New("lincheck: a ratio is negative")
	}
	if cfg.PutRatio+cfg.GetRatio+cfg.DeleteRatio == 0 {
		cfg.PutRatio, cfg.GetRatio, cfg.DeleteRatio = 4, 5, 1
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64() | 1
	}
	logf("lincheck: seed %d (Config.Seed to run the same workload again)", cfg.Seed)

	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = time.Now().Add(cfg.Duration)
	}
	rec := NewRecorder()
	var wg sync.WaitGroup
	counts := make([][3]int, cfg.Clients) // per client: ok, failed, unknown
	for c := range cfg.Clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(c)))
			id := c
			for n := 0; cfg.OpsPerClient == 0 || n < cfg.OpsPerClient; n++ {
				if ctx.Err() != nil || !deadline.IsZero() && !time.Now().Before(deadline) {
					return
				}
				op := cfg.pick(rng, c, n)
				call := rec.Begin(id, op)
				res, out := do(ctx, c, op)
				rec.End(call, res, out)
				counts[c][out]++
				if out == Unknown && op.Kind != Get {
					id += cfg.Clients
				}
			}
		})
	}
	wg.Wait()
	var total [3]int
	for _, c := range counts {
		for i := range c {
			total[i] += c[i]
		}
	}
	logf("lincheck: %d operations: %d ok, %d failed, %d unknown", total[0]+total[1]+total[2], total[0], total[1], total[2])
	return rec, nil
}

// pick chooses the n-th operation of client.
func (cfg *Config) pick(rng *rand.Rand, client, n int) Op {
	key := fmt.Sprintf("k%d", rng.IntN(cfg.Keys))
	x := rng.Float64() * (cfg.PutRatio + cfg.GetRatio + cfg.DeleteRatio)
	switch {
	case x < cfg.PutRatio:
		return Op{Kind: Put, Key: key, Value: fmt.Sprintf("c%d-%d", client, n)}
	case x < cfg.PutRatio+cfg.GetRatio || cfg.DeleteRatio == 0:
		return Op{Kind: Get, Key: key}
	}
	return Op{Kind: Delete, Key: key}
}
