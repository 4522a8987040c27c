// Package cpujobs holds the CPU-heavy jobs that compare JavaScript with
// WebAssembly called from JavaScript in a Worker, for the isolate
// benchmarks and bench/: a Go program built with GOOS=js GOARCH=wasm (run
// through the Go toolchain's own wasm_exec.js glue), SHA-256 in plain
// JavaScript, and the Worker that runs either on the same inputs and checks
// the results.
package cpujobs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/warrenmesh/warren/internal/gotool"
)

// GoProgram is a Go program for GOOS=js GOARCH=wasm: it exports, through
// syscall/js, goSha256(s) (hex sha256 of s) and goSort(s) (its
// whitespace-separated words, sorted), goSha256Bytes(u8) and
// goSortInt32(u8) (sorts, in place, the little-endian int32s u8 holds),
// and then waits for calls.
const GoProgram = `package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strings"
	"syscall/js"
)

func main() {
	js.Global().Set("goSha256", js.FuncOf(func(this js.Value, args []js.Value) any {
		sum := sha256.Sum256([]byte(args[0].String()))
		return hex.EncodeToString(sum[:])
	}))
	js.Global().Set("goSort", js.FuncOf(func(this js.Value, args []js.Value) any {
		words := strings.Fields(args[0].String())
		sort.Strings(words)
		return strings.Join(words, " ")
	}))
	js.Global().Set("goSha256Bytes", js.FuncOf(func(this js.Value, args []js.Value) any {
		b := make([]byte, args[0].Get("length").Int())
		js.CopyBytesToGo(b, args[0])
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:])
	}))
	js.Global().Set("goSortInt32", js.FuncOf(func(this js.Value, args []js.Value) any {
		b := make([]byte, args[0].Get("length").Int())
		js.CopyBytesToGo(b, args[0])
		v := make([]int, len(b)/4)
		for i := range v {
			v[i] = int(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
		sort.Ints(v)
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(int32(x)))
		}
		js.CopyBytesToJS(args[0], b)
		return nil
	}))
	select {}
}
`

// SHA256JS is a module exporting sha256(bytes) -> hex: SHA-256 (FIPS
// 180-4) in plain JavaScript.
const SHA256JS = `const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
export function sha256(bytes) {
  const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const l = bytes.length, buf = new Uint8Array(((l + 9 + 63) >> 6) * 64);
  buf.set(bytes); buf[l] = 0x80;
  const dv = new DataView(buf.buffer);
  dv.setUint32(buf.length - 4, (l * 8) >>> 0); dv.setUint32(buf.length - 8, Math.floor(l / 0x20000000));
  const W = new Uint32Array(64);
  for (let off = 0; off < buf.length; off += 64) {
    for (let i = 0; i < 16; i++) W[i] = dv.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const w15 = W[i - 15], w2 = W[i - 2];
      const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
      const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
  }
  return [...H].map(x => x.toString(16).padStart(8, "0")).join("");
}`

// Jobs are the request paths the Worker answers: SHA-256 of 1 MiB of
// random bytes, or sorting 10,000 random int32s, in JS or in Go compiled to
// wasm; wasm-start only instantiates the module and starts the Go runtime.
var Jobs = []string{"js-sha256", "wasm-sha256", "js-sort", "wasm-sort", "wasm-start"}

// WorkerJS is the main module of the Worker (with "wasm_exec.js",
// "sha256.js" (SHA256JS) and "main.wasm" (GoProgram) beside it): it runs
// the job its request path names in a fresh isolate, instantiating the Go
// module on every call, checks the result (against crypto.subtle, and by
// scanning the order) and answers the job's own time in ms (for wasm, with
// instantiating the module and starting the Go runtime).
const WorkerJS = `import "./wasm_exec.js";
import mod from "./main.wasm";
import { sha256 } from "./sha256.js";
const hex = (b) => [...new Uint8Array(b)].map(x => x.toString(16).padStart(2, "0")).join("");
export default { async fetch(req) {
  const job = new URL(req.url).pathname.slice(1);
  const data = new Uint8Array(1 << 20);
  for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  const ints = new Int32Array(10000);
  crypto.getRandomValues(ints);
  const t0 = performance.now();
  if (job.startsWith("wasm")) {
    const go = new Go();
    go.run(await WebAssembly.instantiate(mod, go.importObject));
  }
  let out;
  switch (job) {
  case "js-sha256": out = sha256(data); break;
  case "wasm-sha256": out = goSha256Bytes(data); break;
  case "js-sort": ints.sort((a, b) => a - b); break;
  case "wasm-sort": goSortInt32(new Uint8Array(ints.buffer)); break;
  case "wasm-start": break; // instantiating and starting the Go runtime alone
  default: return new Response("no job " + job, { status: 404 });
  }
  const ms = performance.now() - t0;
  if (job.endsWith("sha256") && out !== hex(await crypto.subtle.digest("SHA-256", data))) throw new Error("wrong digest " + out);
  if (job.endsWith("sort")) for (let i = 1; i < ints.length; i++) if (ints[i - 1] > ints[i]) throw new Error("not sorted at " + i);
  return new Response(String(ms));
} };`

// Build compiles GoProgram with the go command into a temporary directory
// and returns the module and the toolchain's wasm_exec.js.
func Build() (wasm []byte, glue string, err error) {
	goCmd, err := gotool.Path()
	if err != nil {
		return nil, "", err
	}
	dir, err := os.MkdirTemp("", "warren-cpujobs")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(GoProgram), 0o644); err != nil {
		return nil, "", err
	}
	out := filepath.Join(dir, "main.wasm")
	cmd := exec.Command(goCmd, "build", "-o", out, "main.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("go build: %w: %s", err, b)
	}
	if wasm, err = os.ReadFile(out); err != nil {
		return nil, "", err
	}
	root, err := exec.Command(goCmd, "env", "GOROOT").Output()
	if err != nil {
		return nil, "", fmt.Errorf("go env GOROOT: %w", err)
	}
	// lib/wasm since Go 1.24, misc/wasm before.
	for _, p := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} {
		b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), p))
		if err == nil {
			return wasm, string(b), nil
		}
	}
	return nil, "", fmt.Errorf("no wasm_exec.js under %s", strings.TrimSpace(string(root)))
}
