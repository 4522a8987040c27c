// Package memtrim gives the memory of a spike back to the operating system.
//
// After a burst (large request bodies, a big bundle, a guest that used
// its whole memory limit) the Go runtime keeps the heap it grew: dead
// objects wait for a collection that an idle process does not run for up
// to two minutes, and freed spans go back to the kernel only gradually.
// Trim forces both when the heap holds much more than its live data.
package memtrim

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// heap reads the heap the process holds (live and not yet swept dead
// objects, unused parts of spans, free spans not yet returned), its live
// heap as of the last collection, and the number of collections so far.
func heap() (held, live, cycles uint64) {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64() + s[2].Value.Uint64(), s[3].Value.Uint64(), s[4].Value.Uint64()
}

// Excess is the heap memory the process holds beyond its live data: dead
// objects, unused parts of spans and free spans not returned to the OS.
func Excess() uint64 {
	held, live, _ := heap()
	if held <= live {
		return 0
	}
	return held - live
}

// Trim collects garbage and returns free memory to the OS when the excess
// is over threshold, and reports whether it did. A collection of a small
// live heap takes about a millisecond.
func Trim(threshold uint64) bool {
	if Excess() <= threshold {
		return false
	}
	debug.FreeOSMemory()
	return true
}

// Run gives memory back until ctx is done, when the process has been
// quiet (no collection since the last check) and its heap holds more than
// threshold beyond what it held after the last trim.
//
// Excess alone misses the common case: the last collection ran at the
// peak, while the spike's objects were live, so the live figure it left is
// the peak and nothing looks in excess; an idle process then runs no
// collection for minutes. The heap after a forced collection is the true
// baseline. Waiting for quiet keeps a busy process, which collects often
// anyway, from being forced to collect every interval.
//
// It checks every interval while the process is busy (a collection ran or
// the heap moved since the last check), and backs off while it is idle,
// doubling the wait up to MaxIdleInterval, so that an idle process wakes up
// for it about twice a minute rather than every interval: a burst that
// needs collections is seen at the next check, and the trim follows one
// interval after it ends.
func Run(ctx context.Context, interval time.Duration, threshold uint64) {
	t := time.NewTimer(interval)
	defer t.Stop()
	var tr trimmer
	wait := interval
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tr.step(threshold)
			wait = tr.next(wait, interval, max(interval, MaxIdleInterval))
			t.Reset(wait)
		}
	}
}

// MaxIdleInterval is the longest Run waits between two checks of an idle
// process.
const MaxIdleInterval = 32 * time.Second

// trimmer is Run's state between checks.
type trimmer struct {
	cycles   uint64 // collections seen at the last check
	baseline uint64 // heap held after the last trim
	held     uint64 // heap held at the last check
	busy     bool   // the last check saw a collection, a trim or a heap that moved
}

// next is the wait before the check after one that waited last: interval
// after a busy check, else twice last, at most ceiling.
func (tr *trimmer) next(last, interval, ceiling time.Duration) time.Duration {
	if tr.busy {
		return interval
	}
	return min(2*last, ceiling)
}

// step checks once and reports whether it trimmed.
func (tr *trimmer) step(threshold uint64) bool {
	held, _, cycles := heap()
	quiet := cycles == tr.cycles
	// A heap that grew or shrank by a sixteenth of the threshold is
	// activity, even without a collection.
	moved := held > tr.held+threshold/16 || held+threshold/16 < tr.held
	tr.cycles, tr.held, tr.busy = cycles, held, !quiet || moved
	if !quiet || held <= tr.baseline+threshold {
		return false
	}
	debug.FreeOSMemory()
	tr.baseline, _, tr.cycles = heap()
	tr.held, tr.busy = tr.baseline, true
	return true
}
