package lincheck_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/warrenmesh/warren/internal/lincheck"
)

// A store under test would be a cluster's KV client; here it is a map.
type store struct {
	mu sync.Mutex
	m  map[string]string
}

// errUnavailable stands for a store's error that says nothing changed.
var errUnavailable = errors.New("unavailable")

func (s *store) do(ctx context.Context, client int, op lincheck.Op) (lincheck.Result, lincheck.Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error // the store's error, classified below
	var res lincheck.Result
	switch op.Kind {
	case lincheck.Put:
		s.m[op.Key] = op.Value
	case lincheck.Delete:
		delete(s.m, op.Key)
	case lincheck.Get:
		res.Value, res.Found = s.m[op.Key]
	}
	switch {
	case err == nil:
		return res, lincheck.OK
	case errors.Is(err, errUnavailable):
		return res, lincheck.Failed // definitely not applied
	}
	return res, lincheck.Unknown // a timeout: may have been applied
}

func Example() {
	s := &store{m: make(map[string]string)}
	cfg := lincheck.Config{Clients: 4, Keys: 2, OpsPerClient: 100, Seed: 1}
	// In a test: cfg.Logf = t.Logf.
	rec, err := lincheck.Run(context.Background(), cfg, s.do)
	if err != nil {
		panic(err)
	}
	// In a test, a dir that outlives it, to keep the visualization.
	err = rec.Check("", 10*time.Second)
	fmt.Println(err)
	// Output: <nil>
}
