package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/warrenmesh/warren/isolate"
)

// SetPythonDir makes the Python artifacts in dir (python.wasm and
// stdlib.zip, from make python) the ones of this process, its sandbox
// workers and the nodes it starts, unless the binary embeds its own
// (docs/python.md).
func SetPythonDir(dir string) error { return isolate.SetPythonDir(dir) }

// loadPython makes the code object of a Python script: the script as main
// module, with the .py files next to it and in the packages (folders with
// an __init__.py) below it, importable by name.
func loadPython(file string) (*isolate.Code, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	main := filepath.Base(abs)
	code := &isolate.Code{MainModule: main, Modules: map[string]*isolate.Module{main: {Kind: isolate.ModulePython, Source: string(src)}}}
	dir := filepath.Dir(abs)
	total := len(src)
	errFull := errors.New("full")
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable folder is not part of the program
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if p == dir {
				return nil
			}
			if _, err := os.Stat(filepath.Join(p, "__init__.py")); err != nil || strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		name := filepath.ToSlash(rel)
		if !strings.HasSuffix(name, ".py") || name == main || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("load %s: %w", p, err)
		}
		total += len(b)
		if total > isolate.MaxCodeBytes || len(code.Modules) >= isolate.MaxModules {
			return errFull
		}
		code.Modules[name] = &isolate.Module{Kind: isolate.ModulePython, Source: string(b)}
		return nil
	})
	if errors.Is(err, errFull) {
		return nil, fmt.Errorf("load %s: the .py files of %s exceed a code object's limits (%d modules, %d MiB)", file, dir, isolate.MaxModules, isolate.MaxCodeBytes>>20)
	}
	if err != nil {
		return nil, err
	}
	return code, nil
}
