package testnet

import (
	"os"
	"path/filepath"
	"testing"
)

// Exclusive makes the calling test the only heavy test running on this
// machine until it ends: it waits for, then holds, a lock file shared by
// every package's heavy tests (multi-process meshes, many in-process Raft
// nodes) and the hostile corpus's runs, whose cases each have 2 s. `go
// test ./...` runs packages in parallel; their timing-bound assertions (a
// call placed within the queue time, a peer declared dead within seconds)
// hold on a machine shared with light tests, not with another package's
// mesh of node processes. Where the platform has no file locks it does
// nothing.
func Exclusive(t testing.TB) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "warren-heavy-tests.lock")
	unlock, err := lockFile(path)
	if err != nil {
		t.Logf("testnet.Exclusive: %v (running anyway)", err)
		return
	}
	t.Cleanup(unlock)
}
