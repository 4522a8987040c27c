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
	admit := func(ctx context.Context, n int) (func(), error) {
		done, err := l.admit(ctx, "n1", n)
		return func() { done(false) }, err
	}

	a, err := admit(bg, 6<<20)
	if err != nil {
		t.Fatal(err)
	}
	// Small writes never wait, however full the budget.
	for range 100 {
		rel, err := admit(bg, LargeWrite-1)
		if err != nil {
			t.Fatalf("a small write waited: %v", err)
		}
		rel()
	}
	// A large one that does not fit waits for room...
	got := make(chan error, 1)
	var b func()
	go func() {
		ctx, cancel := context.WithTimeout(bg, l.allowance(6<<20)+time.Minute)
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
	ctx, cancel := context.WithTimeout(bg, l.allowance(6<<20)+50*time.Millisecond)
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
	if l.sem.TryAcquire(LargeWrite) {
		t.Fatal("room beside a command larger than the budget")
	}
	c()
	if !l.sem.TryAcquire(10 << 20) {
		t.Fatal("the budget was not given back whole")
	}
}

func TestLargeWritesTiming(t *testing.T) {
	l := newLargeWrites(32 << 20)
	if got := l.attemptTimeout(100); got != attemptTimeout {
		t.Fatalf("small write's attempt: %v, want %v", got, attemptTimeout)
	}
	if got := l.writeDeadline(100); got != kvDeadline {
		t.Fatalf("small write's deadline: %v, want %v", got, kvDeadline)
	}
	// Before any is measured, a 24 MiB write is given 1 s and 1.5 times
	// 3 s at largeRate; its attempt as long again as a leader's wait.
	if got, want := l.allowance(24<<20), 5500*time.Millisecond; got != want {
		t.Fatalf("24 MiB write's allowance: %v, want %v", got, want)
	}
	if got, want := l.attemptTimeout(24<<20), attemptTimeout+5500*time.Millisecond; got != want {
		t.Fatalf("24 MiB write's attempt: %v, want %v", got, want)
	}
	if got, want := l.writeDeadline(24<<20), kvDeadline+5500*time.Millisecond; got != want {
		t.Fatalf("24 MiB write's deadline: %v, want %v", got, want)
	}
	// Writes made at 2 MiB/s (or timed out after as long) slow the
	// measured rate, and the allowance grows: a loaded mesh gives large
	// writes the time they take there.
	for range 8 {
		l.made(24<<20, 12*time.Second)
	}
	if got := l.allowance(24 << 20); got < 18*time.Second || got > 19*time.Second {
		t.Fatalf("24 MiB write's allowance at 2 MiB/s: %v, want about 19 s", got)
	}
	// Small writes and nonsense do not count; the rate has bounds.
	l.made(100, time.Nanosecond)
	l.made(24<<20, 0)
	if got := l.allowance(24 << 20); got < 18*time.Second {
		t.Fatalf("a small write moved the rate: allowance %v", got)
	}
	for range 40 {
		l.made(1<<30, time.Hour)
	}
	if got := l.allowance(minRate); got < 2490*time.Millisecond || got > 2510*time.Millisecond {
		t.Fatalf("allowance of minRate bytes at the slowest rate: %v, want 2.5 s", got)
	}
}
