package pyrun

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// ErrUnavailable is returned by Find when this binary carries no Python and
// no folder of artifacts is configured.
// Callers explain it to users with UnavailableMessage.
var ErrUnavailable = errors.New("python: not available in this build")

// UnavailableMessage says what ErrUnavailable means and how to get Python.
const UnavailableMessage = "Python is not available in this build: build warren with `make build` (which runs `make python`), or give the folder of python.wasm and stdlib.zip with --python-dir (or WARREN_PYTHON_DIR)"

// DirEnv names the environment variable holding the folder of the
// artifacts; sandbox workers inherit it from the node.
const DirEnv = "WARREN_PYTHON_DIR"

// Artifacts are the built interpreter and its standard library.
type Artifacts struct {
	Wasm   []byte // python.wasm
	Stdlib []byte // stdlib.zip: .pyc files, mounted at /lib/python3.11
	From   string // where they came from, for messages
}

// embedded is set by embed_python.go (build tag warren_python).
var embedded *Artifacts

var (
	findMu  sync.Mutex
	found   *Artifacts
	foundIn string
)

// Load reads the artifacts from dir.
func Load(dir string) (*Artifacts, error) {
	w, err := os.ReadFile(filepath.Join(dir, "python.wasm"))
	if err != nil {
		return nil, fmt.Errorf("python: %w", err)
	}
	z, err := os.ReadFile(filepath.Join(dir, "stdlib.zip"))
	if err != nil {
		return nil, fmt.Errorf("python: %w", err)
	}
	return &Artifacts{Wasm: w, Stdlib: z, From: dir}, nil
}

// Find returns the embedded artifacts, else those of $WARREN_PYTHON_DIR,
// else ErrUnavailable. A folder is read once per process.
func Find() (*Artifacts, error) {
	if embedded != nil {
		return embedded, nil
	}
	dir := os.Getenv(DirEnv)
	if dir == "" {
		return nil, ErrUnavailable
	}
	findMu.Lock()
	defer findMu.Unlock()
	if found != nil && foundIn == dir {
		return found, nil
	}
	a, err := Load(dir)
	if err != nil {
		return nil, fmt.Errorf("%w (%s=%s)", err, DirEnv, dir)
	}
	found, foundIn = a, dir
	return a, nil
}

// Embedded reports whether this binary carries the artifacts.
func Embedded() bool { return embedded != nil }
