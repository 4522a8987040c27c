//go:build unix && !linux

package sandbox

import "time"

// readableSoon reports true: without a raw ppoll here, the worker reads
// with raw system calls only, as if the data were always about to come.
func readableSoon(fd int, d time.Duration) bool { return true }
