//go:build !unix

package node

// fileLimit is unknown here: defaultMaxConns takes its fallback.
func fileLimit() (uint64, bool) { return 0, false }
