package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLeaseLost is returned by Lease.Call when the leased worker was gone
// before the request reached it (it died while idle, or an earlier call
// ended it): nothing ran. Whatever the worker held is gone; the lessee takes
// a new lease.
var ErrLeaseLost = errors.New("sandbox: the leased worker is gone")

// Lease is one worker taken out of the pool's rotation for the exclusive use
// of its holder, e.g. to keep state (live objects) in it across calls.
//
// A leased worker is beyond the pool's Workers: leasing takes a hot spare (or
// a slot worker) and the pool refills the slot or spare at once, so one-shot
// calls keep every slot. The holder bounds how many leases it takes.
//
// Calls on one lease are serialised (Call holds the lease while it runs).
type Lease struct {
	p  *Pool
	mu chan struct{} // a one-slot semaphore: Call honours ctx while waiting
	w  *worker       // nil once lost or released
}

// Lease takes a worker out of the rotation for the caller's exclusive use:
// a started spare if there is one, else an idle slot worker that has served
// no tenant (CallOptions.Clean; waiting for one, honouring ctx). Release
// gives it back (the worker is ended).
func (p *Pool) Lease(ctx context.Context) (*Lease, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if len(p.spareList) > 0 {
		w := p.spareList[0]
		p.spareList = p.spareList[1:]
		w.state_ = stLeased
		p.leased++
		p.rebalance()
		p.mu.Unlock()
		return p.newLease(w), nil
	}
	p.mu.Unlock()
	w, err := p.acquire(ctx, tenancy{clean: true})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.state_ == stRetired { // died meanwhile
		return nil, ErrLeaseLost
	}
	p.live--
	w.state_ = stLeased
	p.leased++
	p.rebalance()
	return p.newLease(w), nil
}

func (p *Pool) newLease(w *worker) *Lease {
	l := &Lease{p: p, w: w, mu: make(chan struct{}, 1)}
	return l
}

// PID is the leased worker's process id (0 once it is lost), for logs and tests.
func (l *Lease) PID() int {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	if l.w == nil {
		return 0
	}
	return l.w.pid
}

// Call runs one request on the leased worker, with Pool.Call's contract
// (callbacks, deadline, cancellation, *CrashError), except that it never
// moves to another worker: if the worker was gone before the request
// reached it, Call returns an error wrapping ErrLeaseLost; if it died or was
// killed during the call, a *CrashError (or the cancellation) as Pool.Call.
// After either, the lease is lost: every later Call returns ErrLeaseLost.
func (l *Lease) Call(ctx context.Context, req []byte, opts CallOptions, onCall func(msg []byte) ([]byte, error)) ([]byte, error) {
	if len(req) > MaxFrameSize {
		return nil, ErrTooLarge
	}
	select {
	case l.mu <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("sandbox: waiting for the lease: %w", ctx.Err())
	}
	defer func() { <-l.mu }()
	w := l.w
	if w == nil {
		return nil, ErrLeaseLost
	}
	p := l.p
	opts = opts.taken()
	if !opts.Deadline.IsZero() && !time.Now().Before(opts.Deadline) {
		return nil, &CrashError{Reason: "deadline", ExitCode: -1}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sandbox: call aborted: %w", err)
	}
	resp, clean, err := p.guardedRoundTrip(ctx, w, req, opts, onCall)
	p.mu.Lock()
	retired := w.state_ == stRetired // a callback panicked: the pool killed it
	p.mu.Unlock()
	switch {
	case err == nil && clean && !retired:
		return resp, nil
	case err == nil:
		// The answer is complete, but the worker is being killed.
		l.w = nil
		p.kill(w, abortCanceled)
		return resp, nil
	}
	l.w = nil
	var rwe *requestWriteError
	if errors.As(err, &rwe) && w.reason() == "" {
		p.kill(w, "ipc")
		return nil, fmt.Errorf("%w: %w", ErrLeaseLost, rwe.err)
	}
	return nil, p.failed(ctx, w, err)
}

// Release ends the lease: the worker, and whatever state it holds, is
// ended (the pool has refilled its place already). Idempotent.
func (l *Lease) Release() {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	if w := l.w; w != nil {
		l.w = nil
		l.p.mu.Lock()
		l.p.retire(w, causeNone)
		l.p.mu.Unlock()
		w.abort("released")
	}
}
