package node

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/warrenmesh/warren/isolate"
)

// TestLoadPython: a .py FILE brings the .py files next to it and in the
// packages below it, and nothing else.
func TestLoadPython(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.py", "import util")
	write("util.py", "X = 1")
	write("pkg/__init__.py", "")
	write("pkg/sub/__init__.py", "")
	write("pkg/sub/m.py", "")
	write("notes.txt", "not code")
	write("scratch/x.py", "not a package")
	write(".venv/lib/y.py", "hidden")
	code, err := LoadCode(filepath.Join(dir, "main.py"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name, m := range code.Modules {
		if m.Kind != isolate.ModulePython {
			t.Errorf("%s is a %s module", name, m.Kind)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"main.py", "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/m.py", "util.py"}
	if code.MainModule != "main.py" || !slices.Equal(names, want) {
		t.Fatalf("main %q, modules %v, want %v", code.MainModule, names, want)
	}
	if err := code.Validate(); err != nil {
		t.Fatal(err)
	}
}
