// Package gotool finds the go command, for tests that build programs
// (the warren binary, wasm guests).
package gotool

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
)

// Path returns the go command: the one on PATH (go test puts its own
// GOROOT/bin first there), else $GOROOT/bin/go.
func Path() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no go command on PATH or in $GOROOT/bin")
}
