// Package gotool finds the go command, for tests that build programs
// (the warren binary, wasm guests).
package gotool

import (
	"errors"
	"fmt"
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

// BuildWarren builds the warren binary (./cmd/warren of the module that
// holds the working directory) at out, without cgo, as make build does.
func BuildWarren(out string) error {
	goTool, err := Path()
	if err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(root)
		if up == root {
			return fmt.Errorf("gotool: no go.mod above %s", wd)
		}
		root = up
	}
	cmd := exec.Command(goTool, "build", "-o", out, "./cmd/warren")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build: a static binary
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/warren: %w\n%s", err, b)
	}
	return nil
}
