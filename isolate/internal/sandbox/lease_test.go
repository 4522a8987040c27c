package sandbox

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

// TestLease: a lease keeps one worker for its holder across calls, outside
// the rotation (one-shot calls keep their slot); a crash loses the lease.
func TestLease(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1})
	ctx := context.Background()
	l, err := p.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := func() string {
		out, err := l.Call(ctx, []byte("pid"), CallOptions{}, nil)
		if err != nil {
			t.Fatalf("lease call: %v", err)
		}
		return string(out)
	}
	first := pid()
	if second := pid(); second != first || strconv.Itoa(l.PID()) != first {
		t.Fatalf("lease calls on pids %s, %s (PID %d)", first, second, l.PID())
	}
	// The slot was refilled: one-shot calls run on another worker.
	waitFor(t, 10*time.Second, "a slot worker", func() bool { return p.Stats().Workers == 1 })
	if other := call(t, p, "pid"); other == first {
		t.Fatalf("a one-shot call ran on the leased worker %s", first)
	}
	if s := p.Stats(); s.Leased != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Callbacks work as with Pool.Call.
	out, err := l.Call(ctx, []byte("cb 2"), CallOptions{}, func(m []byte) ([]byte, error) { return append([]byte("a"), m...), nil })
	if err != nil || string(out) != "a0,a1" {
		t.Fatalf("callbacks: %q %v", out, err)
	}
	// A crash during a call is a *CrashError, and the lease is lost.
	_, err = l.Call(ctx, []byte("exit 3"), CallOptions{}, nil)
	if ce := crashErr(t, err); ce.ExitCode != 3 {
		t.Fatalf("crash %+v", ce)
	}
	if _, err := l.Call(ctx, []byte("pid"), CallOptions{}, nil); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("after a crash: %v, want ErrLeaseLost", err)
	}
	waitFor(t, 10*time.Second, "the lease count to drop", func() bool { return p.Stats().Leased == 0 })
	// A new lease, released: its worker ends.
	l2, err := p.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l2.Call(ctx, []byte("echo x"), CallOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	l2.Release()
	l2.Release()
	if _, err := l2.Call(ctx, []byte("pid"), CallOptions{}, nil); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("after Release: %v", err)
	}
	waitFor(t, 10*time.Second, "the lease count to drop", func() bool { return p.Stats().Leased == 0 })
	if got := call(t, p, "echo ok"); got != "ok" {
		t.Fatalf("echo: %q", got)
	}
}

// TestLeaseIdleDeath: a leased worker that died between calls gives
// ErrLeaseLost (nothing ran).
func TestLeaseIdleDeath(t *testing.T) {
	p := newTestPool(t, Config{Workers: 1})
	ctx := context.Background()
	l, err := p.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l.w.cmd.Process.Kill()
	waitFor(t, 10*time.Second, "the worker to be reaped", func() bool { return p.Stats().Leased == 0 })
	if _, err := l.Call(ctx, []byte("pid"), CallOptions{}, nil); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("call on a dead lease: %v", err)
	}
}
