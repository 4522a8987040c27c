package replication

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLargeWritesAdmit(t *testing.T) {
	l := newLargeWrites(10 << 20)
	bg := context.Background()
	admit := func(ctx context.Context, n int) (func(), error) { return l.admit(ctx, "n1", n) }

	a, err := admit(bg, 6<<20)
	if err != nil {
		t.Fatal(err)
	}
	// Small writes never wait, however full the budget.
	for range 100 {
		rel, err := admit(bg, largeWrite-1)
		if err != nil {
			t.Fatalf("a small write waited: %v", err)
		}
		rel()
	}
	// A large one that does not fit waits for room...
	got := make(chan error, 1)
	var b func()
	go func() {
		ctx, cancel := context.WithTimeout(bg, commitAllowance(6<<20)+time.Minute)
		defer cancel()
		var err error
		b, err = admit(ctx, 6<<20)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a second 6 MiB write was admitted beside the first within 10 MiB: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	a()
	if err := <-got; err != nil {
		t.Fatalf("admitted once the first ended: %v", err)
	}
	// ...but only while its deadline leaves time to commit it after:
	// refused, as unavailable and not made, with time left that a commit
	// needs.
	ctx, cancel := context.WithTimeout(bg, commitAllowance(6<<20)+50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err = admit(ctx, 6<<20)
	if !errors.Is(err, ErrKVUnavailable) || !errors.Is(err, errBusy) {
		t.Fatalf("a write that could not commit in time: %v, want busy and unavailable", err)
	}
	if took := time.Since(t0); took > time.Second {
		t.Fatalf("refused after %v, want once its time to wait was up (50 ms)", took)
	}
	if ctx.Err() != nil {
		t.Fatal("the refusal waited for the caller's deadline, not for the last moment a commit could start")
	}
	// Its refusal crosses the mesh as such.
	resp := (&Cluster{}).errResp(err)
	if resp.Code != codeBusy {
		t.Fatalf("answer code %q, want %q", resp.Code, codeBusy)
	}
	if back := resp.err("n1"); !errors.Is(back, errBusy) || !errors.Is(back, ErrKVUnavailable) || errors.Is(back, errOutcomeUnknown) {
		t.Fatalf("the caller's error: %v", back)
	}
	b()
	// A command larger than the budget takes all of it, alone.
	c, err := admit(bg, 25<<20)
	if err != nil {
		t.Fatal(err)
	}
	if l.sem.TryAcquire(largeWrite) {
		t.Fatal("room beside a command larger than the budget")
	}
	c()
	if !l.sem.TryAcquire(10 << 20) {
		t.Fatal("the budget was not given back whole")
	}
}

func TestAttemptTimeoutFor(t *testing.T) {
	if got := attemptTimeoutFor(100); got != attemptTimeout {
		t.Fatalf("small write: %v, want %v", got, attemptTimeout)
	}
	// A 25 MiB write's attempt covers its leader's wait (an
	// attemptTimeout) and its commit at largeRate.
	if got, want := attemptTimeoutFor(25<<20), attemptTimeout+time.Second+25*time.Second/8; got != want {
		t.Fatalf("25 MiB write: %v, want %v", got, want)
	}
}
