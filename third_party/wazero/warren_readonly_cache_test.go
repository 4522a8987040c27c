package wazero_test

// Tests of warren's read-only compilation cache (third_party/wazero-patches):
// a reader loads what a writer stored and changes nothing in the directory.

import (
	"context"
	"encoding/hex"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
)

// cacheFiles lists the files under dir.
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func compileWith(t *testing.T, cache wazero.CompilationCache, bin []byte) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true).WithCompilationCache(cache))
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, bin); err != nil {
		t.Fatal(err)
	}
}

func TestWarrenReadOnlyCompilationCache(t *testing.T) {
	bin, err := hex.DecodeString(loopsWasm)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	// Before any writer: an empty cache, and nothing made.
	ro, err := wazero.NewReadOnlyCompilationCacheWithDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	compileWith(t, ro, bin)
	_ = ro.Close(ctx)
	if files := cacheFiles(t, dir); len(files) != 0 {
		t.Fatalf("a read-only cache wrote %v", files)
	}
	// A writer stores the module; a reader finds it and adds nothing.
	rw, err := wazero.NewCompilationCacheWithDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	compileWith(t, rw, bin)
	_ = rw.Close(ctx)
	stored := cacheFiles(t, dir)
	if len(stored) != 1 {
		t.Fatalf("the writer stored %v, want one file", stored)
	}
	ro, err = wazero.NewReadOnlyCompilationCacheWithDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(ctx)
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true).WithCompilationCache(ro))
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := mod.ExportedFunction("count").Call(ctx, 3); err != nil || res[0] != 7*3*2/2+21*3 {
		t.Fatalf("count(3) from the cache: %v %v", res, err)
	}
	other, _ := hex.DecodeString("0061736d01000000010401600000030201000707010372756e00000a040102000b") // (func (export "run"))
	if _, err := rt.CompileModule(ctx, other); err != nil {
		t.Fatal(err)
	}
	if files := cacheFiles(t, dir); len(files) != 1 || files[0] != stored[0] {
		t.Fatalf("a read-only cache changed the directory: %v, was %v", files, stored)
	}
}
