package isolate

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sortWasm is testdata/cwasm/sort.c compiled to wasm by clang (the command
// is in the file); sort.c also builds natively.
//
//go:embed testdata/cwasm/sort.wasm
var sortWasm []byte

// sortChecksum is what sort.c's sort_checksum computes, written in Go: the
// numbers of its generator, sorted, then sum(i * v[i]) mod 2^32. A sorted
// array does not depend on the algorithm that sorted it.
func sortChecksum(n int, seed uint32) uint32 {
	v := make([]int32, n)
	x := seed
	for i := range v {
		x = x*1664525 + 1013904223
		v[i] = int32(x)
	}
	slices.Sort(v)
	var sum uint32
	for i, e := range v {
		sum += uint32(i) * uint32(e)
	}
	return sum
}

// TestCWasmFromJS: a C program compiled to wasm and called from a Worker
// gives the answer its native build gives (built with the machine's C
// compiler when there is one) and the Go reference, on both executors.
func TestCWasmFromJS(t *testing.T) {
	const n, seed = 10000, 42
	want := strconv.FormatUint(uint64(sortChecksum(n, seed)), 10)
	if cc, err := exec.LookPath("cc"); err == nil {
		bin := filepath.Join(t.TempDir(), "sort")
		if out, err := exec.Command(cc, "-O2", "-o", bin, "testdata/cwasm/sort.c").CombinedOutput(); err != nil {
			t.Fatalf("cc: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, strconv.Itoa(n), strconv.Itoa(seed)).Output()
		if err != nil {
			t.Fatalf("native sort: %v", err)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Fatalf("native build: %s, Go reference: %s", got, want)
		}
	} else {
		t.Logf("no C compiler: the wasm build is checked against the Go reference only")
	}
	if _, err := os.Stat("testdata/cwasm/sort.c"); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `import mod from "./sort.wasm";
export default { async fetch() {
  const { exports } = await WebAssembly.instantiate(mod);
  return new Response(String(exports.sort_checksum(`+strconv.Itoa(n)+`, `+strconv.Itoa(seed)+`) >>> 0));
} };`)
			c.Modules["sort.wasm"] = &Module{Kind: ModuleWasm, Data: sortWasm}
			res := run(t, rt, c, nil)
			if !res.OK() {
				t.Fatalf("%s %q %+v", res.Outcome, res.Error, res.Exceptions)
			}
			if got := string(res.Response.Body); got != want {
				t.Errorf("wasm from JS: %s, native and Go: %s", got, want)
			}
		})
	}
}
