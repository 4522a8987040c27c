package lincheck

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Recorder records a history of operations from many clients. Its methods
// may be called concurrently.
type Recorder struct {
	start time.Time

	mu      sync.Mutex
	last    int64 // the last timestamp handed out
	nextID  uint64
	pending map[uint64]pendingCall
	ops     []porcupine.Operation
}

type pendingCall struct {
	client int
	op     Op
	call   int64
}

// Call is an operation a Recorder saw begin: the token Begin returns and
// End takes.
type Call struct {
	id uint64
}

// NewRecorder returns an empty Recorder whose clock starts now.
func NewRecorder() *Recorder {
	return &Recorder{start: time.Now(), pending: make(map[uint64]pendingCall)}
}

// now returns a timestamp greater than every one before it. r.mu is held.
func (r *Recorder) now() int64 {
	t := time.Since(r.start).Nanoseconds()
	if t <= r.last {
		t = r.last + 1
	}
	r.last = t
	return t
}

// Begin records that client is about to perform op. Call it before the
// operation is sent, and End once it has ended. client is the client's id
// in the visualization (zero-based).
func (r *Recorder) Begin(client int, op Op) Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	r.pending[r.nextID] = pendingCall{client: client, op: op, call: r.now()}
	return Call{id: r.nextID}
}

// End records how the call c ended: res is a Get's answer when out is OK.
// A call that Failed, and a Get that did not end OK, are dropped; a Put or
// Delete whose outcome is Unknown is kept as a write that never returns.
// End panics if c is not a pending call of r, or out is not an Outcome.
func (r *Recorder) End(c Call, res Result, out Outcome) {
	if out > Unknown {
		panic(fmt.Sprintf("lincheck: End with %v", out))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pending[c.id]
	if !ok {
		panic("lincheck: End of a call that has not begun or has ended")
	}
	delete(r.pending, c.id)
	ret := r.now()
	switch {
	case out == OK:
		if p.op.Kind != Get {
			res = Result{}
		}
		r.ops = append(r.ops, operation(p, output{Result: res}, ret))
	case out == Unknown && p.op.Kind != Get:
		r.ops = append(r.ops, operation(p, output{unknown: true}, math.MaxInt64))
	}
}

func operation(p pendingCall, out output, ret int64) porcupine.Operation {
	return porcupine.Operation{ClientId: p.client, Input: p.op, Call: p.call, Output: out, Return: ret}
}

// Operations returns the history recorded so far, ordered by call time:
// every operation that ended and was kept, and every write still pending,
// as one whose outcome is unknown.
func (r *Recorder) Operations() []porcupine.Operation {
	r.mu.Lock()
	ops := slices.Clone(r.ops)
	for _, p := range r.pending {
		if p.op.Kind != Get {
			ops = append(ops, operation(p, output{unknown: true}, math.MaxInt64))
		}
	}
	r.mu.Unlock()
	slices.SortFunc(ops, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	return ops
}

// Check checks the history recorded so far (Operations) as the package
// function Check does.
func (r *Recorder) Check(dir string, timeout time.Duration) error {
	return Check(r.Operations(), dir, timeout)
}

// ErrTimeout: the checker ran out of time before it decided whether the
// history is linearizable. It found no violation in that time; callers
// may treat it as a pass, or shorten the history.
var ErrTimeout = errors.New("lincheck: the linearizability check timed out")

// NotLinearizableError: a history is not linearizable.
type NotLinearizableError struct {
	// Key is the first key, in byte order, whose history is not
	// linearizable; KeyOps is the number of operations on it.
	Key    string
	KeyOps int
	// Ops is the number of operations in the whole history.
	Ops int
	// Visualization is the HTML file showing the history and its partial
	// linearizations, "" if it could not be written (VisualizationErr
	// says why).
	Visualization    string
	VisualizationErr error
}

func (e *NotLinearizableError) Error() string {
	s := fmt.Sprintf("lincheck: history of %d operations is not linearizable: key %q (%d operations) is the first that fails",
		e.Ops, e.Key, e.KeyOps)
	if e.Visualization != "" {
		return s + "; visualization: " + e.Visualization
	}
	return fmt.Sprintf("%s; writing the visualization: %v", s, e.VisualizationErr)
}

// Check checks that history, as a Recorder records it, is linearizable
// under Model, taking at most about timeout (0: no limit). It returns nil
// if it is, ErrTimeout if the checker ran out of time, and otherwise a
// *NotLinearizableError naming the first failing key and the HTML file
// under dir (os.TempDir() if "") that visualizes the history. Give a dir
// that outlives the test, not t.TempDir(), to look at the file after a
// failure.
func Check(history []porcupine.Operation, dir string, timeout time.Duration) error {
	res, info := porcupine.CheckOperationsVerbose(Model, history, timeout)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return fmt.Errorf("%w after %v (%d operations)", ErrTimeout, timeout, len(history))
	}
	e := &NotLinearizableError{Ops: len(history)}
	// The partitions are the checker's, in the same order: a partition
	// is linearizable iff some partial linearization covers all of it.
	parts := partition(history)
	partials := info.PartialLinearizations()
	for i, part := range parts {
		full := false
		if i < len(partials) {
			for _, l := range partials[i] {
				full = full || len(l) == len(part)
			}
		}
		if !full {
			e.Key, e.KeyOps = part[0].Input.(Op).Key, len(part)
			break
		}
	}
	e.Visualization, e.VisualizationErr = visualize(info, dir)
	return e
}

func visualize(info porcupine.LinearizationInfo, dir string) (string, error) {
	f, err := os.CreateTemp(dir, "lincheck-*.html")
	if err != nil {
		return "", err
	}
	path := f.Name()
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := porcupine.VisualizePath(Model, info, path); err != nil {
		return "", err
	}
	return path, nil
}
