package contract

import (
	"time"
)

// Limits bound one invocation (docs/code-object.md). A zero field means "the default".
type Limits struct {
	// CPUMs is the CPU time the guest may use, in milliseconds (default 1000).
	CPUMs int64 `json:"cpuMs,omitempty"`
	// MemoryMB caps the guest's heap, in MiB (default 128).
	MemoryMB int64 `json:"memoryMb,omitempty"`
	// SubRequests caps the number of fetch and binding calls (default 50).
	SubRequests int64 `json:"subRequests,omitempty"`
	// WallMs caps the invocation's duration, in milliseconds (default 30000).
	WallMs int64 `json:"wallMs,omitempty"`
}

// CountedCPU is the CPU time of a call that ran alone in its process (a
// sandbox worker): busy is the time its guest was running or ready to run
// on the wall clock, cpu what the process's CPU clock counted meanwhile.
// It is what the call used (the smaller of the two: the clock also counts
// the runtime's collector on other threads), but at least seven eighths
// of busy: a call that waits for a processor on a busy host (demoted, say)
// is charged for what it used rather than for the wait, up to a point: it
// still ends within 8/7 of its cpuMs of busy time.
func CountedCPU(busy, cpu time.Duration) time.Duration {
	return max(min(busy, cpu), busy*7/8)
}

// LimitCPU is l.CPUMs as a duration.
func LimitCPU(l Limits) time.Duration { return time.Duration(l.CPUMs) * time.Millisecond }

// LimitWall is l.WallMs as a duration.
func LimitWall(l Limits) time.Duration { return time.Duration(l.WallMs) * time.Millisecond }

// LimitMemory is l.MemoryMB in bytes.
func LimitMemory(l Limits) int64 { return l.MemoryMB << 20 }
