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

// StarveGrace is how long a call may wait for a processor before the wait
// can count against its cpuMs (CountedCPU). The sandbox's demoter matches
// it: a demoted call runs on spare cycles alone for its first StarveGrace,
// and only then is it kept at half a processor at least (an eighth while
// the node's own short calls run).
const StarveGrace = 250 * time.Millisecond

// CountedCPU is the CPU time of a call that ran alone in its process (a
// sandbox worker): busy is the time its guest was running or ready to run
// on the wall clock, cpu what the process's CPU clock counted meanwhile.
// It is what the call used (the smaller of the two: the clock also counts
// the runtime's collector on other threads), so a call that waits for a
// processor on a busy host (a demoted one, say) is not charged for the
// wait, with one bound: past its first StarveGrace, a call is charged at
// least seven eighths of its busy time beyond the grace. A starved call
// thus still ends within StarveGrace plus 8/7 of its cpuMs of busy time
// (1.39 s at the default 1,000 ms, inside the 2 s the hostile corpus
// allows a call), and one that gets a quarter of a processor past the
// grace is charged at most 3.5 times what it used: it completes if it
// needs up to two sevenths of its cpuMs.
//
// (Seven eighths of the whole busy time, the bound before, charged a
// demoted call for the second it spent on spare cycles alone before the
// floor: on a saturated host a call that needed a tenth of its cpuMs ended
// exceededCpu.)
func CountedCPU(busy, cpu time.Duration) time.Duration {
	return max(min(busy, cpu), (busy-StarveGrace)*7/8)
}

// LimitCPU is l.CPUMs as a duration.
func LimitCPU(l Limits) time.Duration { return time.Duration(l.CPUMs) * time.Millisecond }

// LimitWall is l.WallMs as a duration.
func LimitWall(l Limits) time.Duration { return time.Duration(l.WallMs) * time.Millisecond }

// LimitMemory is l.MemoryMB in bytes.
func LimitMemory(l Limits) int64 { return l.MemoryMB << 20 }
