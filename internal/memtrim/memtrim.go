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

var names = []string{
	"/memory/classes/heap/objects:bytes", // live and not yet swept dead objects
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes", // free spans not yet returned
	"/gc/heap/live:bytes",             // live heap as of the last collection
}

// Excess is the heap memory the process holds beyond its live data: dead
// objects, unused parts of spans and free spans not returned to the OS.
func Excess() uint64 {
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	held := s[0].Value.Uint64() + s[1].Value.Uint64() + s[2].Value.Uint64()
	live := s[3].Value.Uint64()
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

// Run calls Trim every interval until ctx is done.
func Run(ctx context.Context, interval time.Duration, threshold uint64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			Trim(threshold)
		}
	}
}
