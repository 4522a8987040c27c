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

// LimitCPU is l.CPUMs as a duration.
func LimitCPU(l Limits) time.Duration { return time.Duration(l.CPUMs) * time.Millisecond }

// LimitWall is l.WallMs as a duration.
func LimitWall(l Limits) time.Duration { return time.Duration(l.WallMs) * time.Millisecond }

// LimitMemory is l.MemoryMB in bytes.
func LimitMemory(l Limits) int64 { return l.MemoryMB << 20 }
