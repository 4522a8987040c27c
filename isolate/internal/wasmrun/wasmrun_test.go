package wasmrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func run(t *testing.T, e *Engine, in Input) (*Output, error) {
	t.Helper()
	return e.Run(t.Context(), in)
}

func TestTinyHello(t *testing.T) {
	e := newEngine(t, Options{})
	in := Input{Hash: hashOf(tinyHi), Wasm: tinyHi}
	out, err := run(t, e, in)
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Stdout) != "hi" || out.ExitCode != 0 || !out.Compiled {
		t.Fatalf("got stdout %q exit %d compiled %v", out.Stdout, out.ExitCode, out.Compiled)
	}
	if out.MemoryBytes != pageSize {
		t.Fatalf("MemoryBytes = %d, want %d", out.MemoryBytes, pageSize)
	}
	out, err = run(t, e, in)
	if err != nil || string(out.Stdout) != "hi" {
		t.Fatalf("second run: %v %q", err, out.Stdout)
	}
	if out.Compiled || out.CompileTime != 0 {
		t.Fatalf("second run compiled again: %+v", out)
	}
	// Hash only, once cached.
	out, err = run(t, e, Input{Hash: in.Hash})
	if err != nil || string(out.Stdout) != "hi" {
		t.Fatalf("hash-only run: %v", err)
	}
}

func TestHashDefaultsToSHA256(t *testing.T) {
	e := newEngine(t, Options{})
	if _, err := run(t, e, Input{Wasm: tinyHi}); err != nil {
		t.Fatal(err)
	}
	if !e.Cached(hashOf(tinyHi)) {
		t.Fatal("empty Hash was not defaulted to the hex sha256 of Wasm")
	}
	if _, err := run(t, e, Input{}); err == nil {
		t.Fatal("no Hash and no Wasm: want error")
	}
}

func TestNotCached(t *testing.T) {
	e := newEngine(t, Options{})
	out, err := run(t, e, Input{Hash: "nope"})
	if !errors.Is(err, ErrNotCached) || out != nil {
		t.Fatalf("got %v, %v; want ErrNotCached", out, err)
	}
}

func TestCompileErrors(t *testing.T) {
	e := newEngine(t, Options{})
	_, err := run(t, e, Input{Hash: "garbage", Wasm: []byte("this is not wasm at all")})
	if err == nil || !strings.HasPrefix(err.Error(), "wasm: compile: ") {
		t.Fatalf("garbage bytes: got %v", err)
	}
	t.Log(err)
	if e.Cached("garbage") {
		t.Fatal("failed compile was cached")
	}
	// Truncated module.
	_, err = run(t, e, Input{Hash: "trunc", Wasm: tinyHi[:len(tinyHi)-5]})
	if err == nil || !strings.HasPrefix(err.Error(), "wasm: compile: ") {
		t.Fatalf("truncated module: got %v", err)
	}
	// A valid module that is not a WASI command.
	_, err = run(t, e, Input{Hash: "empty", Wasm: []byte("\x00asm\x01\x00\x00\x00")})
	if err == nil || !strings.Contains(err.Error(), "_start") {
		t.Fatalf("module without _start: got %v", err)
	}
	// A module importing something we do not provide.
	bad := append([]byte(nil), tinyHi...)
	i := strings.Index(string(bad), "fd_write")
	copy(bad[i:], "fd_wrote")
	_, err = run(t, e, Input{Hash: "badimport", Wasm: bad})
	if err == nil || !strings.Contains(err.Error(), "fd_wrote") || !strings.HasPrefix(err.Error(), "wasm: instantiate: ") {
		t.Fatalf("unknown import: got %v", err)
	}
}

func TestTinyExit(t *testing.T) {
	e := newEngine(t, Options{})
	w := tinyModule(1, "hi", cat(insHi, insExit(3)))
	out, err := run(t, e, Input{Wasm: w})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || out == nil || out.ExitCode != 3 {
		t.Fatalf("got %+v, %v; want exit 3", out, err)
	}
	if string(out.Stdout) != "hi" || errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("stdout %q err %v", out.Stdout, err)
	}

	w = tinyModule(1, "hi", cat(insHi, insExit(0), insUnreachable))
	out, err = run(t, e, Input{Wasm: w})
	if err != nil || out.ExitCode != 0 || string(out.Stdout) != "hi" {
		t.Fatalf("proc_exit(0): %+v, %v", out, err)
	}
}

func TestTinyTrap(t *testing.T) {
	e := newEngine(t, Options{})
	w := tinyModule(1, "hi", cat(insHi, insUnreachable))
	out, err := run(t, e, Input{Wasm: w})
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.HasPrefix(err.Error(), "wasm: trap: ") {
		t.Fatalf("got %v, want an unreachable trap", err)
	}
	var ee *ExitError
	if errors.As(err, &ee) || errors.Is(err, ErrMemoryLimit) || errors.Unwrap(err) == nil {
		t.Fatalf("trap misclassified: %v", err)
	}
	if out == nil || string(out.Stdout) != "hi" {
		t.Fatalf("output so far lost: %+v", out)
	}
	// Out-of-bounds load: i32.const 0x7fffff; i32.load; drop.
	w = tinyModule(1, "hi", []byte{0x41, 0xff, 0xff, 0xff, 0x03, 0x28, 0x02, 0x00, 0x1a})
	_, err = run(t, e, Input{Wasm: w})
	if err == nil || !strings.Contains(err.Error(), "out of bounds") {
		t.Fatalf("got %v, want out of bounds trap", err)
	}
}

func TestTinySpinStoppedByContext(t *testing.T) {
	e := newEngine(t, Options{})
	w := tinyModule(1, "hi", cat(insHi, insSpin))

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	out, err := e.Run(ctx, Input{Wasm: w})
	el := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if el > time.Second {
		t.Fatalf("spinning guest took %v to stop", el)
	}
	if out == nil || string(out.Stdout) != "hi" {
		t.Fatalf("output so far lost: %+v", out)
	}

	ctx2, cancel2 := context.WithCancel(t.Context())
	time.AfterFunc(20*time.Millisecond, cancel2)
	start = time.Now()
	_, err = e.Run(ctx2, Input{Wasm: w})
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("got %v after %v, want Canceled promptly", err, time.Since(start))
	}

	// Already done.
	if _, err := e.Run(ctx2, Input{Wasm: tinyHi}); !errors.Is(err, context.Canceled) {
		t.Fatalf("done context: got %v", err)
	}
}

func TestTinyMemoryLimit(t *testing.T) {
	e := newEngine(t, Options{})
	w := tinyModule(1, "", insGrowForever)
	out, err := run(t, e, Input{Wasm: w, MemoryLimitBytes: 1<<20 + 1000}) // rounds down to 16 pages
	if !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("got %v, want ErrMemoryLimit", err)
	}
	if !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("underlying trap lost: %v", err)
	}
	if out.MemoryBytes != 1<<20 {
		t.Fatalf("MemoryBytes = %d, want exactly the cap 1 MiB", out.MemoryBytes)
	}

	// A trap with no refused grow is not a memory error, even under a cap.
	_, err = run(t, e, Input{Wasm: tinyModule(1, "", insUnreachable), MemoryLimitBytes: 1 << 20})
	if err == nil || errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("got %v, want a plain trap", err)
	}
	// Refused grow followed by a non-zero exit.
	// memory.grow(50) is refused (-1); drop; proc_exit(9).
	w = tinyModule(1, "", cat([]byte{0x41, 50, 0x40, 0x00, 0x1a}, insExit(9)))
	_, err = run(t, e, Input{Wasm: w, MemoryLimitBytes: 1 << 20})
	var ee *ExitError
	if !errors.Is(err, ErrMemoryLimit) || !errors.As(err, &ee) || ee.Code != 9 {
		t.Fatalf("got %v, want ErrMemoryLimit wrapping exit 9", err)
	}
	// ... and followed by a clean exit is a success.
	w = tinyModule(1, "hi", cat([]byte{0x41, 50, 0x40, 0x00, 0x1a}, insHi))
	out, err = run(t, e, Input{Wasm: w, MemoryLimitBytes: 1 << 20})
	if err != nil || string(out.Stdout) != "hi" {
		t.Fatalf("guest that survives a refused grow: %v", err)
	}
	// Without a cap the same grow succeeds.
	w = tinyModule(1, "", cat([]byte{0x41, 50, 0x40, 0x00, 0x1a}))
	out, err = run(t, e, Input{Wasm: w})
	if err != nil || out.MemoryBytes != 51*pageSize {
		t.Fatalf("uncapped grow: %v, memory %d", err, out.MemoryBytes)
	}
}

func TestTinyInitialMemoryOverCap(t *testing.T) {
	e := newEngine(t, Options{})
	w := tinyModule(32, "hi", insHi) // 2 MiB initial
	out, err := run(t, e, Input{Wasm: w, MemoryLimitBytes: 1 << 20})
	if !errors.Is(err, ErrMemoryLimit) || out == nil || len(out.Stdout) != 0 {
		t.Fatalf("got %+v, %v; want ErrMemoryLimit before running", out, err)
	}
	out, err = run(t, e, Input{Wasm: w, MemoryLimitBytes: 2 << 20})
	if err != nil || string(out.Stdout) != "hi" {
		t.Fatalf("at the cap: %v", err)
	}
	if _, err := run(t, e, Input{Wasm: w, MemoryLimitBytes: 1000}); !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("cap below one page: got %v", err)
	}
}

func TestTinyStdoutLimit(t *testing.T) {
	e := newEngine(t, Options{})
	w := tinyModule(1, "hi", insLoop(insHi)) // writes "hi" forever
	start := time.Now()
	out, err := run(t, e, Input{Wasm: w, StdoutLimit: 1001})
	if !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("got %v, want ErrOutputTooLarge", err)
	}
	if len(out.Stdout) != 1001 || time.Since(start) > time.Second {
		t.Fatalf("kept %d bytes after %v", len(out.Stdout), time.Since(start))
	}
}

// No state survives between calls, even though linear memory buffers are
// recycled: a reader instance must see zeroes where a writer instance of
// another module wrote (also in grown pages).
func TestFreshMemoryEachCall(t *testing.T) {
	e := newEngine(t, Options{})
	writer := tinyModule(1, "", []byte{
		0x41, 0xe8, 0x07, 0x41, 42, 0x36, 0x02, 0x00, // store32(1000, 42)
		0x41, 0x01, 0x40, 0x00, 0x1a, // drop(memory.grow(1))
		0x41, 0x88, 0x80, 0x04, 0x41, 43, 0x36, 0x02, 0x00, // store32(65544, 43)
	})
	reader := tinyModule(1, "", []byte{
		0x41, 0x01, 0x40, 0x00, 0x1a, // drop(memory.grow(1))
		0x41, 0xe8, 0x07, 0x28, 0x02, 0x00, // load32(1000)
		0x41, 0x88, 0x80, 0x04, 0x28, 0x02, 0x00, // load32(65544)
		0x6a, 0x10, 0x01, // proc_exit(sum)
	})
	for i := range 20 {
		if _, err := run(t, e, Input{Wasm: writer}); err != nil {
			t.Fatal(err)
		}
		if out, err := run(t, e, Input{Wasm: reader}); err != nil {
			t.Fatalf("round %d: reader saw the writer's memory: %v (exit %d)", i, err, out.ExitCode)
		}
	}
}

func TestLRUEviction(t *testing.T) {
	e := newEngine(t, Options{MaxCompiled: 2})
	mods := []string{"a", "b", "c"}
	for _, m := range mods {
		w := tinyModule(1, m, insHi)
		if out, err := run(t, e, Input{Hash: m, Wasm: w}); err != nil || string(out.Stdout) != m {
			t.Fatalf("%s: %v", m, err)
		}
	}
	if _, err := run(t, e, Input{Hash: "a"}); !errors.Is(err, ErrNotCached) {
		t.Fatalf("a should have been evicted: %v", err)
	}
	for _, m := range mods[1:] {
		if out, err := run(t, e, Input{Hash: m}); err != nil || string(out.Stdout) != m {
			t.Fatalf("%s should be cached: %v", m, err)
		}
	}
}

// Many goroutines, more modules than the LRU holds: entries are evicted
// while other goroutines are instantiating them.
func TestConcurrentRunsWithEviction(t *testing.T) {
	e := newEngine(t, Options{MaxCompiled: 2})
	var mods [][]byte
	for i := range 5 {
		mods = append(mods, tinyModule(1, fmt.Sprint(i), insHi))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				k := (g + i) % len(mods)
				out, err := e.Run(context.Background(), Input{Hash: fmt.Sprint(k), Wasm: mods[k], Seed: int64(i)})
				if err != nil {
					errs <- err
					return
				}
				if string(out.Stdout) != fmt.Sprint(k) {
					errs <- fmt.Errorf("module %d wrote %q", k, out.Stdout)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestConcurrentColdCallsCompileOnce(t *testing.T) {
	e := newEngine(t, Options{})
	var compiled atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := e.Run(context.Background(), Input{Wasm: tinyHi})
			if err != nil {
				t.Error(err)
				return
			}
			if out.Compiled {
				compiled.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := compiled.Load(); n != 1 {
		t.Fatalf("%d calls compiled, want 1", n)
	}
}

func TestClosedEngine(t *testing.T) {
	e, err := NewEngine(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, e, Input{Wasm: tinyHi}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, e, Input{Wasm: tinyHi}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestMinMemoryPages(t *testing.T) {
	for _, tc := range []struct {
		wasm []byte
		want uint64
	}{
		{tinyModule(1, "", nil), 1},
		{tinyModule(100, "", nil), 100},
		{[]byte("\x00asm\x01\x00\x00\x00"), 0},
		{[]byte("\x00asm\x01\x00\x00\x00\x05\x03\x01\x00\x80"), 0}, // truncated LEB
		{[]byte("\x00asm\x01\x00\x00\x00\x05\x05\x01\x01\x80\x02\x10"), 256},
	} {
		if got := minMemoryPages(tc.wasm); got != tc.want {
			t.Errorf("minMemoryPages(%x) = %d, want %d", tc.wasm, got, tc.want)
		}
	}
}

// ---- Go-built guest ----

func goRun(t *testing.T, ctx context.Context, in Input) (*Output, error) {
	t.Helper()
	e, wasm := goEngine(t)
	in.Hash, in.Wasm = hashOf(wasm), wasm
	return e.Run(ctx, in)
}

func TestGoEcho(t *testing.T) {
	body := []byte(strings.Repeat("hello, warren\n", 10000))
	out, err := goRun(t, t.Context(), Input{Args: []string{"guest", "echo"}, Stdin: body, MemoryLimitBytes: 64 << 20})
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, out.Stderr)
	}
	if string(out.Stdout) != string(body) {
		t.Fatalf("echo returned %d bytes, want %d", len(out.Stdout), len(body))
	}
	t.Logf("run %v, linear memory %d KiB", out.RunTime, out.MemoryBytes>>10)
}

func TestGoExitCarriesStderr(t *testing.T) {
	out, err := goRun(t, t.Context(), Input{Args: []string{"guest", "exit", "3"}})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || out.ExitCode != 3 {
		t.Fatalf("got %v, want exit 3", err)
	}
	if !strings.Contains(string(ee.Stderr), "boom") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("stderr not carried: %q / %v", ee.Stderr, err)
	}
	if errors.Is(err, ErrMemoryLimit) {
		t.Fatal("plain exit classified as memory limit")
	}
}

func TestGoSpinStoppedByDeadline(t *testing.T) {
	goEngine(t) // compile outside the deadline
	// The deadline leaves the guest ample time to start (slow under -race);
	// what is measured is how soon after it the guest is stopped.
	const budget = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), budget)
	defer cancel()
	start := time.Now()
	out, err := goRun(t, ctx, Input{Args: []string{"guest", "spin"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if late := time.Since(start) - budget; late > time.Second {
		t.Fatalf("spinning guest stopped %v after the deadline", late)
	}
	if string(out.Stdout) != "spinning\n" {
		t.Fatalf("stdout so far: %q", out.Stdout)
	}
}

func TestGoMemoryHog(t *testing.T) {
	out, err := goRun(t, t.Context(), Input{Args: []string{"guest", "hog", "512"}, MemoryLimitBytes: 32 << 20})
	if !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("got %v, want ErrMemoryLimit\nstderr: %.300s", err, out.Stderr)
	}
	if out.MemoryBytes > 32<<20 {
		t.Fatalf("memory %d beyond the cap", out.MemoryBytes)
	}
	if !strings.Contains(string(out.Stderr), "out of memory") {
		t.Errorf("Go guest stderr lacks 'out of memory': %.300s", out.Stderr)
	}
	t.Logf("%v; memory at exit %d KiB", firstLine(err.Error()), out.MemoryBytes>>10)

	out, err = goRun(t, t.Context(), Input{Args: []string{"guest", "hog", "4"}, MemoryLimitBytes: 32 << 20})
	if err != nil || string(out.Stdout) != "allocated 4 MiB\n" {
		t.Fatalf("small allocation under the cap: %v %q", err, out.Stdout)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func TestGoEnvAndArgs(t *testing.T) {
	out, err := goRun(t, t.Context(), Input{
		Args: []string{"guest", "env"},
		Env:  map[string]string{"GREETING": "hello", "A": "1", "Z": "last"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out.Stdout), "A=1\nGREETING=hello\nZ=last\n"; got != want {
		t.Fatalf("environ %q, want %q (and nothing of the host's)", got, want)
	}
}

func TestGoNoFilesystem(t *testing.T) {
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Logf("host has no /etc/passwd (%v); the guest must fail regardless", err)
	}
	out, err := goRun(t, t.Context(), Input{Args: []string{"guest", "fs"}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out.Stdout)), "\n")
	if len(lines) != 3 {
		t.Fatalf("unexpected output %q", out.Stdout)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "denied: ") {
			t.Fatalf("filesystem reachable: %q", l)
		}
	}
	t.Log(lines[0])
}

func TestGoRandomIsSeeded(t *testing.T) {
	get := func(seed int64) string {
		out, err := goRun(t, t.Context(), Input{Args: []string{"guest", "rand"}, Deterministic: true, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return string(out.Stdout)
	}
	a1, a2, b := get(1), get(1), get(2)
	if a1 != a2 {
		t.Fatalf("same seed, different random: %q %q", a1, a2)
	}
	if a1 == b {
		t.Fatalf("different seeds, same random: %q", a1)
	}
}

func TestGoRandomIsUnpredictable(t *testing.T) {
	get := func() string {
		out, err := goRun(t, t.Context(), Input{Args: []string{"guest", "rand"}, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		return string(out.Stdout)
	}
	if a, b := get(), get(); a == b || a == "" {
		t.Fatalf("two runs drew the same random bytes: %q", a)
	}
}

func TestGoClock(t *testing.T) {
	out, err := goRun(t, t.Context(), Input{Args: []string{"guest", "time"}})
	if err != nil || !strings.HasPrefix(string(out.Stdout), "2022-01-01T00:00:") {
		t.Fatalf("default fake clock: %v %q", err, out.Stdout)
	}
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	out, err = goRun(t, t.Context(), Input{Args: []string{"guest", "time"}, Walltime: at})
	if err != nil || !strings.HasPrefix(string(out.Stdout), "2030-05-06T07:08:") {
		t.Fatalf("fixed clock: %v %q", err, out.Stdout)
	}
	out, err = goRun(t, t.Context(), Input{Args: []string{"guest", "time"}, RealTime: true})
	if err != nil {
		t.Fatal(err)
	}
	got, perr := time.Parse(time.RFC3339, strings.TrimSpace(string(out.Stdout)))
	if perr != nil || time.Since(got).Abs() > time.Minute {
		t.Fatalf("granted real clock: %q (%v)", out.Stdout, perr)
	}
}

func TestGoStdoutLimit(t *testing.T) {
	out, err := goRun(t, t.Context(), Input{Args: []string{"guest", "loud"}, StdoutLimit: 1 << 20})
	if !errors.Is(err, ErrOutputTooLarge) || len(out.Stdout) != 1<<20 {
		t.Fatalf("got %v with %d bytes, want ErrOutputTooLarge at 1 MiB", err, len(out.Stdout))
	}
}

func TestGoConcurrentEcho(t *testing.T) {
	goEngine(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 {
				msg := fmt.Sprintf("g%d-i%d", g, i)
				out, err := goRun(t, context.Background(), Input{Args: []string{"guest", "echo"}, Stdin: []byte(msg)})
				if err != nil || string(out.Stdout) != msg {
					t.Errorf("%s: %v %q", msg, err, out.Stdout)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestDiskCache(t *testing.T) {
	if raceDetector {
		// Compiling a Go module of a few MB with wazero's compiler takes
		// 15-20 s under the race detector, a second without; what runs
		// concurrently here is tested under -race elsewhere.
		t.Skip("runs without -race: make test runs it in its second step")
	}
	wasm := goGuest(t)
	dir := t.TempDir()
	in := Input{Hash: hashOf(wasm), Wasm: wasm, Args: []string{"guest", "echo"}, Stdin: []byte("x")}

	e1 := newEngine(t, Options{CacheDir: dir})
	out1, err := e1.Run(t.Context(), in)
	if err != nil || !out1.Compiled || string(out1.Stdout) != "x" {
		t.Fatalf("first engine: %v %+v", err, out1)
	}
	var files int
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files++
		}
		return nil
	})
	if files == 0 {
		t.Fatal("compilation cache dir is empty after a compile")
	}
	_ = e1.Close(t.Context())

	e2 := newEngine(t, Options{CacheDir: dir})
	out2, err := e2.Run(t.Context(), in)
	if err != nil || !out2.Compiled || string(out2.Stdout) != "x" {
		t.Fatalf("second engine: %v %+v", err, out2)
	}
	t.Logf("compile: cold %v, from disk cache %v (%d files)", out1.CompileTime, out2.CompileTime, files)
	if out2.CompileTime >= out1.CompileTime {
		t.Fatalf("disk cache did not help: %v then %v", out1.CompileTime, out2.CompileTime)
	}
}

// ---- benchmarks ----

func BenchmarkTinyFreshInstance(b *testing.B) {
	e := newEngine(b, Options{})
	ctx := context.Background()
	in := Input{Hash: hashOf(tinyHi), Wasm: tinyHi}
	if _, err := e.Run(ctx, in); err != nil {
		b.Fatal(err)
	}
	in.Wasm = nil
	b.ReportAllocs()
	for b.Loop() {
		out, err := e.Run(ctx, in)
		if err != nil || len(out.Stdout) != 2 {
			b.Fatal(err)
		}
	}
}

func BenchmarkTinyFreshInstanceParallel(b *testing.B) {
	e := newEngine(b, Options{})
	in := Input{Hash: hashOf(tinyHi), Wasm: tinyHi}
	if _, err := e.Run(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	in.Wasm = nil
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.Run(context.Background(), in); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkGoEcho(b *testing.B) {
	e, wasm := goEngine(b)
	ctx := context.Background()
	in := Input{Hash: hashOf(wasm), Args: []string{"guest", "echo"}, Stdin: []byte("hello")}
	b.ReportAllocs()
	for b.Loop() {
		out, err := e.Run(ctx, in)
		if err != nil || string(out.Stdout) != "hello" {
			b.Fatal(err)
		}
	}
}

// TestDiskCacheFailure: a disk cache that cannot store modules (here its
// directory is replaced by a file, as a full or read-only disk would fail
// the write) does not fail calls: modules compile in memory from then on.
// A bad module still fails, without switching the cache off.
func TestDiskCacheFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	e := newEngine(t, Options{CacheDir: dir})
	if _, err := run(t, e, Input{Hash: "garbage", Wasm: []byte("not wasm")}); err == nil {
		t.Fatal("garbage compiled")
	}
	e.mu.Lock()
	memOnly := e.memOnly
	e.mu.Unlock()
	if memOnly {
		t.Fatal("a bad module turned the disk cache off")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, msg := range []string{"hi", "ho"} {
		wasm := tinyModule(1, msg, insHi)
		out, err := run(t, e, Input{Hash: hashOf(wasm), Wasm: wasm})
		if err != nil || string(out.Stdout) != msg {
			t.Fatalf("module %d with a failing disk cache: %v %+v", i, err, out)
		}
	}
	if e.DiskCacheError() == nil {
		t.Error("the engine still compiles through the failing disk cache")
	}

	// A cache directory that cannot even be made: the engine starts anyway.
	e2 := newEngine(t, Options{CacheDir: filepath.Join(dir, "under-a-file")})
	if out, err := run(t, e2, Input{Hash: hashOf(tinyHi), Wasm: tinyHi}); err != nil || string(out.Stdout) != "hi" {
		t.Fatalf("engine without its cache dir: %v %+v", err, out)
	}
	if err := e2.DiskCacheError(); err == nil {
		t.Error("no DiskCacheError for a cache dir that cannot be made")
	} else {
		t.Log(err)
	}
}
