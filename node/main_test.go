package node

import (
	"fmt"
	"os"
	"testing"
)

// TestMain doubles as the sandbox worker of the nodes the tests start.
func TestMain(m *testing.M) {
	if IsSandboxWorker() {
		if err := ServeSandboxWorker(); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
