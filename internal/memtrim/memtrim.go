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

// Run gives memory back every interval until ctx is done, when the
// process has been quiet (no collection since the last check) and its heap
// holds more than threshold beyond what it held after the last trim.
//
// Excess alone misses the common case: the last collection ran at the
// peak, while the spike's objects were live, so the live figure it left is
// the peak and nothing looks in excess; an idle process then runs no
// collection for minutes. The heap after a forced collection is the true
// baseline. Waiting for quiet keeps a busy process, which collects often
// anyway, from being forced to collect every interval.
func Run(ctx context.Context, interval time.Duration, threshold uint64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var tr trimmer
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tr.step(threshold)
		}
	}
}

// trimmer is Run's state between checks.
type trimmer struct {
	cycles   uint64 // collections seen at the last check
	baseline uint64 // heap held after the last trim
}

// step checks once and reports whether it trimmed.
func (tr *trimmer) step(threshold uint64) bool {
	held, _, cycles := heap()
	quiet := cycles == tr.cycles
	tr.cycles = cycles
	if !quiet || held <= tr.baseline+threshold {
		return false
	}
	debug.FreeOSMemory()
	tr.baseline, _, tr.cycles = heap()
	return true
}
