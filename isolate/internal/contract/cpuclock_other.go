//go:build !linux

package contract

import "time"

// ProcessCPUClock returns nil: this platform's process CPU clock is not
// used (calls' CPU time is their event loop's busy time alone).
func ProcessCPUClock() func() time.Duration { return nil }
