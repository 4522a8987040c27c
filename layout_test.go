// Package warren_test holds repository-wide checks: the import rules of
// DESIGN.md §1 and that every package has a doc comment.
package warren_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/warrenmesh/warren"

// allowed lists, per top-level package, which of our top-level packages its
// non-test code may import (its own subpackages and internal/ always may).
var allowed = map[string][]string{
	"isolate":     {},
	"mesh":        {},
	"policy":      {},
	"replication": {"mesh"},
	"node":        {"isolate", "mesh", "replication", "policy"},
	"testnet":     {"node", "mesh", "policy"},
	"cmd":         {"node", "testnet"},
	"internal":    {},
	"bench":       {"isolate", "node", "mesh", "replication", "policy", "testnet"},
}

type goFile struct {
	path, dir string
	imports   []string
	test      bool
	pkgDoc    bool
	pkg       string
}

func walk(t *testing.T) []goFile {
	t.Helper()
	var files []goFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// third_party holds other projects' modules (see
			// RATIONALE.md), with their own rules.
			if n := d.Name(); p != "." && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules" || p == "third_party") {
				return filepath.SkipDir
			}
			// Another module (third_party/goja, a patched copy of a
			// dependency) keeps its own layout.
			if _, err := os.Stat(filepath.Join(p, "go.mod")); p != "." && err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		gf := goFile{path: p, dir: filepath.ToSlash(filepath.Dir(p)), test: strings.HasSuffix(p, "_test.go"), pkgDoc: f.Doc != nil, pkg: f.Name.Name}
		for _, imp := range f.Imports {
			s, _ := strconv.Unquote(imp.Path.Value)
			gf.imports = append(gf.imports, s)
		}
		files = append(files, gf)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestImportRules(t *testing.T) {
	for _, f := range walk(t) {
		if f.dir == "." {
			continue
		}
		top := strings.SplitN(f.dir, "/", 2)[0]
		rules, known := allowed[top]
		if !known {
			t.Errorf("%s: top-level directory %q has no import rule in layout_test.go", f.path, top)
			continue
		}
		for _, imp := range f.imports {
			rest, ours := strings.CutPrefix(imp, module+"/")
			if !ours {
				continue
			}
			dep := strings.SplitN(rest, "/", 2)[0]
			switch {
			case dep == top || dep == "internal":
				if top == "policy" && dep == "internal" {
					t.Errorf("%s imports %s: policy is pure and imports nothing of ours", f.path, imp)
				}
			case dep == "cmd":
				t.Errorf("%s imports %s: nothing imports cmd", f.path, imp)
			case dep == "testnet" && f.test:
				// tests may build clusters
			case contains(rules, dep):
			default:
				if dep == "testnet" {
					t.Errorf("%s imports %s: only tests and cmd may import testnet", f.path, imp)
				} else {
					t.Errorf("%s imports %s: %s may import only %v (DESIGN.md §1)", f.path, imp, top, rules)
				}
			}
		}
	}
}

func TestPackageDocs(t *testing.T) {
	hasDoc := map[string]bool{}
	for _, f := range walk(t) {
		if f.test {
			continue
		}
		if _, ok := hasDoc[f.dir]; !ok {
			hasDoc[f.dir] = false
		}
		if f.pkgDoc {
			hasDoc[f.dir] = true
		}
	}
	for dir, ok := range hasDoc {
		if !ok {
			t.Errorf("package %s has no package doc comment", dir)
		}
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
