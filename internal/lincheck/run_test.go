package lincheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is a linearizable store: a map under a mutex.
type memStore struct {
	mu sync.Mutex
	m  map[string]string
}

func newMemStore() *memStore { return &memStore{m: make(map[string]string)} }

func (s *memStore) apply(op Op) Result {
	switch op.Kind {
	case Put:
		s.m[op.Key] = op.Value
	case Delete:
		delete(s.m, op.Key)
	case Get:
		v, ok := s.m[op.Key]
		return Result{Value: v, Found: ok}
	}
	return Result{}
}

func (s *memStore) do(_ context.Context, _ int, op Op) (Result, Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apply(op), OK
}

// staleStore serves reads from a copy of its map refreshed only every
// refresh writes: a store that is not linearizable.
type staleStore struct {
	memStore
	refresh int
	writes  int
	copy    map[string]string
}

func (s *staleStore) do(_ context.Context, _ int, op Op) (Result, Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op.Kind == Get {
		v, ok := s.copy[op.Key]
		return Result{Value: v, Found: ok}, OK
	}
	s.apply(op)
	if s.writes++; s.writes%s.refresh == 0 {
		s.copy = make(map[string]string, len(s.m))
		for k, v := range s.m {
			s.copy[k] = v
		}
	}
	return Result{}, OK
}

// flakyStore is linearizable but fails some operations: a Failed one had
// no effect, and, if unknowns, a write that ends Unknown takes effect now,
// later (when a later operation of any client runs), or never. If lie, a
// Failed put takes effect all the same: then it is not linearizable.
type flakyStore struct {
	memStore
	unknowns bool
	lie      bool
	rng      *rand.Rand
	delayed  []Op
}

func (s *flakyStore) do(_ context.Context, _ int, op Op) (Result, Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Some delayed writes land now, before op.
	for len(s.delayed) > 0 && s.rng.IntN(3) == 0 {
		i := s.rng.IntN(len(s.delayed))
		s.apply(s.delayed[i])
		s.delayed = slices.Delete(s.delayed, i, i+1)
	}
	switch x := s.rng.IntN(10); {
	case x == 0:
		if s.lie && op.Kind == Put {
			s.apply(op)
		}
		return Result{Value: "garbage", Found: true}, Failed
	case x == 1 && s.unknowns:
		switch s.rng.IntN(3) {
		case 0:
			s.apply(op)
		case 1:
			s.delayed = append(s.delayed, op)
		}
		return Result{Value: "garbage", Found: true}, Unknown
	}
	return s.apply(op), OK
}

func testConfig(t *testing.T) Config {
	return Config{Clients: 6, Keys: 3, OpsPerClient: 150, Logf: t.Logf}
}

func TestRunLinearizableStore(t *testing.T) {
	rec, err := Run(context.Background(), testConfig(t), newMemStore().do)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Operations()); n != 6*150 {
		t.Errorf("%d operations recorded, want %d", n, 6*150)
	}
	if err := rec.Check(t.TempDir(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestRunFlakyLinearizableStore(t *testing.T) {
	s := &flakyStore{memStore: *newMemStore(), unknowns: true, rng: rand.New(rand.NewPCG(1, 2))}
	rec, err := Run(context.Background(), testConfig(t), s.do)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Check(t.TempDir(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// checkFails runs the workload against do and wants the check to fail.
func checkFails(t *testing.T, do Do) {
	t.Helper()
	rec, err := Run(context.Background(), testConfig(t), do)
	if err != nil {
		t.Fatal(err)
	}
	err = rec.Check(t.TempDir(), 10*time.Second)
	var nl *NotLinearizableError
	if !errors.As(err, &nl) {
		t.Fatalf("Check = %v, want a *NotLinearizableError", err)
	}
	if !strings.HasPrefix(nl.Key, "k") || nl.Visualization == "" {
		t.Errorf("failing key %q, visualization %q", nl.Key, nl.Visualization)
	}
	t.Log(err)
}

func TestRunStaleReadsFail(t *testing.T) {
	s := &staleStore{memStore: *newMemStore(), refresh: 5}
	checkFails(t, s.do)
}

func TestRunFailedWritesThatLandFail(t *testing.T) {
	// Without unknown outcomes: they make failing histories slow to check.
	s := &flakyStore{memStore: *newMemStore(), lie: true, rng: rand.New(rand.NewPCG(1, 2))}
	checkFails(t, s.do)
}

func TestRunWorkload(t *testing.T) {
	ops := func(seed uint64) (logs []string, perClient [2][]Op) {
		var mu sync.Mutex
		cfg := Config{Clients: 2, Keys: 2, OpsPerClient: 50, Seed: seed, PutRatio: 1, DeleteRatio: 1,
			Logf: func(f string, args ...any) { logs = append(logs, fmt.Sprintf(f, args...)) }}
		_, err := Run(context.Background(), cfg, func(_ context.Context, c int, op Op) (Result, Outcome) {
			mu.Lock()
			defer mu.Unlock()
			perClient[c] = append(perClient[c], op)
			return Result{}, OK
		})
		if err != nil {
			t.Fatal(err)
		}
		return logs, perClient
	}
	logs, a := ops(42)
	if len(logs) == 0 || !strings.Contains(logs[0], "seed 42") {
		t.Errorf("logs %q do not name the seed", logs)
	}
	_, b := ops(42)
	if !slices.Equal(a[0], b[0]) || !slices.Equal(a[1], b[1]) {
		t.Error("the same seed gave different workloads")
	}
	_, c := ops(43)
	if slices.Equal(a[0], c[0]) {
		t.Error("seeds 42 and 43 gave the same workload")
	}
	values := make(map[string]bool)
	kinds := make(map[Kind]int)
	for _, ops := range a {
		for _, op := range ops {
			kinds[op.Kind]++
			if op.Kind != Put {
				continue
			}
			if values[op.Value] {
				t.Errorf("value %q written twice", op.Value)
			}
			values[op.Value] = true
		}
	}
	if kinds[Get] != 0 || kinds[Put] == 0 || kinds[Delete] == 0 {
		t.Errorf("kinds %v with GetRatio 0", kinds)
	}
	logs, _ = ops(0)
	if len(logs) == 0 || strings.Contains(logs[0], "seed 0 ") {
		t.Errorf("seed 0 was not replaced by a random one: %q", logs)
	}
}

func TestRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	n := 0
	rec, err := Run(ctx, Config{Clients: 4, Keys: 1, Duration: time.Hour}, func(ctx context.Context, _ int, op Op) (Result, Outcome) {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == 20 {
			cancel()
		}
		if ctx.Err() != nil && op.Kind != Get {
			return Result{}, Unknown
		}
		return Result{}, OK
	})
	if err != nil {
		t.Fatal(err)
	}
	if n > 24 {
		t.Errorf("%d operations after the context was cancelled at the 20th", n)
	}
	_ = rec

	rec, err = Run(context.Background(), Config{Clients: 2, Keys: 1, Duration: time.Nanosecond}, newMemStore().do)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Operations()); n > 2 {
		t.Errorf("%d operations in a run of 1 ns", n)
	}
}

func TestRunConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Clients: 0, Keys: 1, OpsPerClient: 1},
		{Clients: 1, Keys: 0, OpsPerClient: 1},
		{Clients: 1, Keys: 1},
		{Clients: 1, Keys: 1, OpsPerClient: -1},
		{Clients: 1, Keys: 1, OpsPerClient: 1, GetRatio: -1},
	} {
		if _, err := Run(context.Background(), cfg, newMemStore().do); err == nil {
			t.Errorf("Run(%+v) did not fail", cfg)
		}
	}
}
