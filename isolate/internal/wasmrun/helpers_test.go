package wasmrun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/warrenmesh/warren/internal/gotool"
)

// ---- hand-assembled tiny WASI modules ----

// Instruction bytes used by the tiny modules.
var (
	insHi = []byte{ // fd_write(1, iovs=8, 1, nwritten=20); drop
		0x41, 0x01, 0x41, 0x08, 0x41, 0x01, 0x41, 0x14, 0x10, 0x00, 0x1a,
	}
	insUnreachable = []byte{0x00}
	insSpin        = []byte{0x03, 0x40, 0x0c, 0x00, 0x0b} // loop br 0 end
	// loop: memory.grow(1) != -1 -> br 0; end; unreachable
	insGrowForever = []byte{0x03, 0x40, 0x41, 0x01, 0x40, 0x00, 0x41, 0x7f, 0x47, 0x0d, 0x00, 0x0b, 0x00}
)

func insExit(code byte) []byte { return []byte{0x41, code & 0x3f, 0x10, 0x01} } // proc_exit(code)

func insLoop(body []byte) []byte {
	b := append([]byte{0x03, 0x40}, body...)
	return append(b, 0x0c, 0x00, 0x0b)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// tinyModule assembles a WASI command that imports fd_write and proc_exit,
// exports a memory of minPages pages and a _start whose body is code. Memory
// holds msg (at most 8 bytes) at 0 and an iovec {0, len(msg)} at 8.
func tinyModule(minPages byte, msg string, code []byte) []byte {
	str := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	section := func(id byte, content []byte) []byte {
		return append([]byte{id, byte(len(content))}, content...)
	}
	if len(msg) > 8 || minPages > 127 || len(code) > 100 {
		panic("tinyModule: too big for single-byte LEBs")
	}
	types := section(1, []byte{3,
		0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f, // (i32 i32 i32 i32) -> i32
		0x60, 1, 0x7f, 0, // (i32) -> ()
		0x60, 0, 0, // () -> ()
	})
	imports := section(2, cat([]byte{2},
		str("wasi_snapshot_preview1"), str("fd_write"), []byte{0x00, 0},
		str("wasi_snapshot_preview1"), str("proc_exit"), []byte{0x00, 1},
	))
	funcs := section(3, []byte{1, 2})
	mems := section(5, []byte{1, 0x00, minPages})
	exports := section(7, cat([]byte{2},
		str("memory"), []byte{0x02, 0},
		str("_start"), []byte{0x00, 2},
	))
	body := cat([]byte{0}, code, []byte{0x0b}) // no locals
	codeSec := section(10, cat([]byte{1, byte(len(body))}, body))
	data := make([]byte, 16)
	copy(data, msg)
	data[8+4] = byte(len(msg))
	dataSec := section(11, cat([]byte{1, 0x00, 0x41, 0x00, 0x0b, 16}, data))
	return cat([]byte("\x00asm\x01\x00\x00\x00"), types, imports, funcs, mems, exports, codeSec, dataSec)
}

var tinyHi = tinyModule(1, "hi", insHi)

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func newEngine(tb testing.TB, opts Options) *Engine {
	tb.Helper()
	e, err := NewEngine(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

// ---- the Go-built guest (testdata/guest/main.go) ----

var (
	guestOnce sync.Once
	guestWasm []byte
	guestErr  error
	guestSkip string
	guestDir  string

	sharedOnce   sync.Once
	sharedEngine *Engine
	sharedErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedEngine != nil {
		_ = sharedEngine.Close(context.Background())
	}
	if guestDir != "" {
		_ = os.RemoveAll(guestDir)
	}
	os.Exit(code)
}

func goTool() string {
	p, _ := gotool.Path()
	return p
}

// goGuest returns the Go test guest built for wasip1, building it once per
// test binary.
func goGuest(tb testing.TB) []byte {
	tb.Helper()
	guestOnce.Do(func() {
		gobin := goTool()
		if gobin == "" {
			guestSkip = "go tool not found (GOROOT/bin/go or PATH): cannot build the wasip1 test guest"
			return
		}
		src, err := os.ReadFile(filepath.Join("testdata", "guest", "main.go"))
		if err != nil {
			guestErr = err
			return
		}
		dir, err := os.MkdirTemp("", "wasmrun-guest-")
		if err != nil {
			guestErr = err
			return
		}
		guestDir = dir
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module guest\n\ngo 1.21\n"), 0o644); err != nil {
			guestErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
			guestErr = err
			return
		}
		out := filepath.Join(dir, "guest.wasm")
		cmd := exec.Command(gobin, "build", "-o", out, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN=local")
		if b, err := cmd.CombinedOutput(); err != nil {
			guestErr = &buildError{err: err, out: string(b)}
			return
		}
		guestWasm, guestErr = os.ReadFile(out)
	})
	if guestSkip != "" {
		tb.Skip(guestSkip)
	}
	if guestErr != nil {
		tb.Fatalf("building wasip1 guest: %v", guestErr)
	}
	return guestWasm
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// goEngine returns an Engine shared by the Go-guest tests (compiling the
// guest costs about a second), with the guest already compiled.
func goEngine(tb testing.TB) (*Engine, []byte) {
	tb.Helper()
	wasm := goGuest(tb)
	sharedOnce.Do(func() {
		sharedEngine, sharedErr = NewEngine(context.Background(), Options{})
		if sharedErr == nil {
			_, sharedErr = sharedEngine.Run(context.Background(), Input{Hash: hashOf(wasm), Wasm: wasm, Args: []string{"guest", "echo"}})
		}
	})
	if sharedErr != nil {
		tb.Fatal(sharedErr)
	}
	return sharedEngine, wasm
}
