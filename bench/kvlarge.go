package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/warrenmesh/warren/replication"
)

func init() {
	benchmarks = append(benchmarks, benchmark{"replication/kv large puts", benchKVLarge})
}

// benchKVLarge: three nodes in one process; twice, 12 clients spread
// over the nodes each put a 25 MiB value at once (the second time over
// the first's keys). Every put must be made or refused as not made
// (replication's admission of large writes), none left with an unknown
// outcome; the rate is what was made.
func benchKVLarge() ([]Row, error) {
	c, err := newKVCluster(3, 0)
	if err != nil {
		return nil, err
	}
	defer c.close()
	const clients, size = 12, 25 << 20
	val := make([]byte, size)
	for i := range val {
		val[i] = byte(i * 31)
	}
	var made, refused, unknown int
	var took time.Duration
	for round := range 2 {
		errs := make([]error, clients)
		var wg sync.WaitGroup
		t0 := time.Now()
		for i := range clients {
			wg.Go(func() {
				errs[i] = c.nodes[i%len(c.nodes)].cl.Put(context.Background(), kvNS, fmt.Sprintf("large-%02d", i), val, replication.KVPutOptions{})
			})
		}
		wg.Wait()
		took += time.Since(t0)
		for i, err := range errs {
			switch {
			case err == nil:
				made++
			case errors.Is(err, replication.ErrKVOutcomeUnknown):
				unknown++
				fmt.Fprintf(os.Stderr, "  round %d put %d: %v\n", round, i, err)
			case errors.Is(err, replication.ErrKVUnavailable):
				refused++
			default:
				return nil, fmt.Errorf("round %d put %d: %w", round, i, err)
			}
		}
	}
	mbps := float64(made) * size / (1 << 20) / took.Seconds()
	fmt.Fprintf(os.Stderr, "  %d made, %d refused as not made, %d unknown, in %v\n", made, refused, unknown, took.Round(time.Millisecond))
	return []Row{
		{Name: "replication/kv large puts: 12 clients at once putting 25 MiB values, 3 nodes in one process, twice: MiB/s made", Unit: "MiB/s", Value: mbps, N: 2 * clients, Target: "report"},
		{Name: "replication/kv large puts: of those, refused as not made (admission)", Unit: "puts", Value: float64(refused), N: 2 * clients, Target: "report"},
		{Name: "replication/kv large puts: of those, with an unknown outcome", Unit: "puts", Value: float64(unknown), N: 2 * clients, Target: "0"},
	}, nil
}
