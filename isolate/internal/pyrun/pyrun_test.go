package pyrun

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func script(src string) Input {
	return Input{Main: "main.py", Files: map[string][]byte{"main.py": []byte(src)}, MemoryLimitBytes: 128 << 20}
}

func TestHello(t *testing.T) {
	e := testEngine(t)
	for i := range 3 {
		start := time.Now()
		out, err := e.Run(context.Background(), script(`print("hello")`))
		if err != nil {
			t.Fatalf("run %d: %v (stderr %s)", i, err, out.Stderr)
		}
		if string(out.Stdout) != "hello\n" {
			t.Fatalf("run %d: stdout %q stderr %s", i, out.Stdout, out.Stderr)
		}
		t.Logf("run %d: %v (snapshot %v, memory %d MiB)", i, time.Since(start), out.SnapshotTime, out.MemoryBytes>>20)
	}
}

func TestStateDoesNotLeak(t *testing.T) {
	e := testEngine(t)
	src := `
import json, random, sys
seen = getattr(json, "_warren_seen", 0)
json._warren_seen = seen + 1
sys.stdout.write("%d %d" % (seen, random.getrandbits(64)))
`
	a, err := e.Run(context.Background(), script(src))
	if err != nil {
		t.Fatal(err, string(a.Stderr))
	}
	b, err := e.Run(context.Background(), script(src))
	if err != nil {
		t.Fatal(err, string(b.Stderr))
	}
	sa, sb := strings.Fields(string(a.Stdout)), strings.Fields(string(b.Stdout))
	if sa[0] != "0" || sb[0] != "0" {
		t.Fatalf("module state leaked between calls: %q %q", a.Stdout, b.Stdout)
	}
	if sa[1] == sb[1] {
		t.Fatalf("random gave the same numbers to two calls: %q %q", a.Stdout, b.Stdout)
	}
}

func TestMutableGlobals(t *testing.T) {
	a := testArtifacts(t)
	if n, err := mutableGlobals(a.Wasm); err != nil || n != 1 {
		t.Fatalf("python.wasm: %d mutable globals, %v", n, err)
	}
	// (module (global (mut i32) (i32.const 11)) (global i64 (i64.const 0)) (global (mut f64) (f64.const 0)))
	mod := []byte("\x00asm\x01\x00\x00\x00" + "\x06\x17\x03" + "\x7f\x01\x41\x0b\x0b" + "\x7e\x00\x42\x00\x0b" + "\x7c\x01\x44\x00\x00\x00\x00\x00\x00\x00\x00\x0b")
	if n, err := mutableGlobals(mod); err != nil || n != 2 {
		t.Fatalf("hand-made module: %d mutable globals, %v", n, err)
	}
	if _, err := mutableGlobals(mod[:len(mod)-3]); err == nil {
		t.Fatal("a truncated module parsed")
	}
}

// TestConcurrentCalls: calls running at once on one Engine each see only
// their own input, output and memory.
func TestConcurrentCalls(t *testing.T) {
	e := testEngine(t)
	const n = 8
	errs := make(chan error, n)
	for g := range n {
		go func() {
			for i := range 4 {
				in := script("import sys\ndata = sys.stdin.read()\nbig = bytearray(int(data) * 100000)\nprint(data, len(big))\n")
				in.Stdin = []byte(strconv.Itoa(g*10 + i))
				out, err := e.Run(context.Background(), in)
				want := fmt.Sprintf("%d %d\n", g*10+i, (g*10+i)*100000)
				if err != nil || string(out.Stdout) != want {
					errs <- fmt.Errorf("goroutine %d call %d: %v %q, want %q (stderr %s)", g, i, err, out.Stdout, want, out.Stderr)
					return
				}
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestExitAndTamperedModules(t *testing.T) {
	e := testEngine(t)
	out, err := e.Run(context.Background(), script("print('a')\nexit(3)\n"))
	if err != nil || out.ExitCode != 3 || string(out.Stdout) != "a\n" {
		t.Fatalf("exit(3): %v %d %q %s", err, out.ExitCode, out.Stdout, out.Stderr)
	}
	// The author's code replaces what the runtime reports with; the
	// exception still arrives.
	out, err = e.Run(context.Background(), script("import json, traceback\njson.dumps = None\ntraceback.format_exception = None\nraise ValueError('x')\n"))
	if err != nil || out.Exception == nil || out.Exception.Name != "ValueError" || !strings.Contains(out.Exception.Stack, `File "main.py", line 4`) {
		t.Fatalf("tampered: %v %+v %s", err, out.Exception, out.Stderr)
	}
}
