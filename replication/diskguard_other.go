//go:build !unix

package replication

import "errors"

// freeBytes cannot tell here: no guard.
func freeBytes(string) (uint64, error) { return 0, errors.New("replication: free space unknown") }
