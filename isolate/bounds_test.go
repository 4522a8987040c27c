package isolate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/contract"
	"github.com/warrenmesh/warren/isolate/internal/jsengine"
)

// checkLogBounds checks that logs respect the bounds: the kept messages
// within MaxLogBytes, each within MaxLogMessageBytes and its marker.
func checkLogBounds(t *testing.T, logs []Log) {
	t.Helper()
	total := 0
	for _, l := range logs {
		if len(l.Message) > MaxLogMessageBytes+64 {
			t.Errorf("a log message of %d bytes", len(l.Message))
		}
		total += len(l.Message)
	}
	if total > MaxLogBytes+1024 {
		t.Errorf("logs hold %d bytes", total)
	}
	if len(logs) > MaxLogs+1 {
		t.Errorf("%d log entries", len(logs))
	}
}

// slowLimits leave room for big strings and their garbage, under the race
// detector and on a loaded machine (CPU time is time busy).
var slowLimits = &Limits{CPUMs: 20_000, WallMs: 60_000, MemoryMB: 512}

// cutBytes reads the number of bytes cut from the marker ending s, or -1.
func cutBytes(s string) int {
	var n int
	i := strings.LastIndex(s, "… [")
	if i < 0 {
		return -1
	}
	if _, err := fmt.Sscanf(s[i:], "… [%d more bytes cut]", &n); err != nil {
		return -1
	}
	return n
}

// TestLogFlood: 70 messages of 1 MiB would make a 70 MiB result, past the
// frame a worker answers in; the call keeps its outcome and response, the
// first messages cut with a marker, and one final entry about the rest.
func TestLogFlood(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `export default { fetch() {
  const m = "x".repeat(1 << 10).repeat(1 << 10);
  for (let i = 0; i < 70; i++) console.log(m);
  return new Response("done");
} }`)
			c.Limits = slowLimits
			res := run(t, rt, c, nil)
			if !res.OK() || string(res.Response.Body) != "done" {
				t.Fatalf("outcome %s %q %+v", res.Outcome, res.Error, res.Exceptions)
			}
			checkLogBounds(t, res.Logs)
			n := len(res.Logs)
			if n < 2 {
				t.Fatalf("%d log entries", n)
			}
			for _, l := range res.Logs[:n-1] {
				if !strings.HasPrefix(l.Message, "xxxx") || len(l.Message) > MaxLogMessageBytes || cutBytes(l.Message) != 1<<20-strings.Count(l.Message, "x") {
					t.Errorf("kept message: %q...%q", l.Message[:8], l.Message[len(l.Message)-40:])
				}
			}
			last := res.Logs[n-1]
			want := fmt.Sprintf("warren: %d more log messages", 70-(n-1))
			if last.Level != "warn" || !strings.Contains(last.Message, want) {
				t.Errorf("last entry %s %q, want a warning with %q", last.Level, last.Message, want)
			}
			t.Logf("%d messages kept; %s", n-1, last.Message)
		})
	}
}

// TestManySmallLogs: a call keeps at most MaxLogs entries, then says how
// many more there were.
func TestManySmallLogs(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `export default { fetch() {
  for (let i = 0; i < 50000; i++) console.log("line", i);
  return new Response("done");
} }`)
			c.Limits = slowLimits // 50,000 logs under -race on a loaded machine can take a second
			res := run(t, rt, c, nil)
			if !res.OK() {
				t.Fatalf("outcome %s %q %+v", res.Outcome, res.Error, res.Exceptions)
			}
			checkLogBounds(t, res.Logs)
			if len(res.Logs) != MaxLogs+1 {
				t.Fatalf("%d log entries, want %d", len(res.Logs), MaxLogs+1)
			}
			if l := res.Logs[MaxLogs-1]; l.Message != fmt.Sprintf("line %d", MaxLogs-1) {
				t.Errorf("last kept message %q", l.Message)
			}
			want := fmt.Sprintf("warren: %d more log messages (%d bytes) dropped", 50000-MaxLogs, 40000*len("line 12345"))
			if l := res.Logs[MaxLogs]; l.Level != "warn" || !strings.HasPrefix(l.Message, want) {
				t.Errorf("last entry %s %q, want %q", l.Level, l.Message, want)
			}
		})
	}
}

// TestHugeStack: a thrown error whose stack is 100 MB (one byte a
// character: goja keeps ASCII strings as bytes) ends the call with the
// exception, its stack cut with a marker.
func TestHugeStack(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `export default { fetch() {
  const e = new Error("m".repeat(1e6));
  e.stack = "s".repeat(1e4).repeat(1e4); // 100 MB; repeat appends its unit n times
  e.name = "N".repeat(1e5);
  throw e;
} }`)
			c.Limits = slowLimits // the race detector slows the 100 MB strings ten-fold
			t0 := time.Now()
			res := run(t, rt, c, nil)
			if res.Outcome != OutcomeException || len(res.Exceptions) != 1 {
				t.Fatalf("outcome %s %q, %d exceptions", res.Outcome, res.Error, len(res.Exceptions))
			}
			e := res.Exceptions[0]
			for _, f := range []struct{ name, v, head string }{{"stack", e.Stack, "ssss"}, {"message", e.Message, "mmmm"}, {"name", e.Name, "NNNN"}} {
				if len(f.v) > MaxExceptionFieldBytes+64 || !strings.HasPrefix(f.v, f.head) || !strings.Contains(f.v, "more bytes cut]") {
					t.Errorf("%s: %d bytes, ending %q", f.name, len(f.v), f.v[max(0, len(f.v)-40):])
				}
			}
			kept := strings.Count(e.Stack[:strings.LastIndex(e.Stack, "…")], "s")
			if n := cutBytes(e.Stack); n != 100_000_000-kept {
				t.Errorf("stack ends %q: %d bytes cut, want %d", e.Stack[len(e.Stack)-40:], n, 100_000_000-kept)
			}
			t.Logf("took %v", time.Since(t0))
		})
	}
}

// TestManyExceptions: the rejections of a thousand ctx.waitUntil promises
// are reported up to MaxExceptions, then one entry says how many more.
func TestManyExceptions(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", `export default { fetch(req, env, ctx) {
  for (let i = 0; i < 1000; i++) ctx.waitUntil(Promise.reject(new Error("no " + i)));
  return new Response("done");
} }`)
			res := run(t, rt, c, nil)
			if !res.OK() {
				t.Fatalf("outcome %s %q", res.Outcome, res.Error)
			}
			if len(res.Exceptions) != MaxExceptions {
				t.Fatalf("%d exceptions, want %d", len(res.Exceptions), MaxExceptions)
			}
			last := res.Exceptions[MaxExceptions-1]
			if want := fmt.Sprintf("warren: %d more exceptions dropped", 1000-(MaxExceptions-1)); last.Name != contract.TruncatedName || !strings.HasPrefix(last.Message, want) {
				t.Errorf("last exception %+v, want %q", last, want)
			}
		})
	}
}

// TestResponseTooLarge: a response past MaxResponseBytes is a RangeError,
// the same in both executors (it would not fit the worker's frame).
func TestResponseTooLarge(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			c := js("main.js", fmt.Sprintf(`export default { fetch() { return new Response("x".repeat(1024).repeat(%d) + "x") } }`, MaxResponseBytes/1024))
			c.Limits = slowLimits
			res := run(t, rt, c, nil)
			if res.Outcome != OutcomeException || len(res.Exceptions) != 1 || res.Exceptions[0].Name != "RangeError" {
				t.Fatalf("outcome %s %q %+v", res.Outcome, res.Error, res.Exceptions)
			}
			c = js("main.js", fmt.Sprintf(`export default { fetch() { return new Response("x".repeat(1024).repeat(%d)) } }`, MaxResponseBytes/1024-1))
			c.Limits = slowLimits
			if res := run(t, rt, c, nil); !res.OK() || len(res.Response.Body) != MaxResponseBytes-1024 {
				t.Fatalf("outcome %s %q %+v", res.Outcome, res.Error, res.Exceptions)
			}
		})
	}
}

// TestStackOverflowStack: the stack of "Maximum call stack size exceeded"
// keeps its innermost OverflowHead frames and its outermost OverflowTail,
// with one line between saying how many more there were, instead of
// thousands of frames; a huge function name still leaves it bounded.
func TestStackOverflowStack(t *testing.T) {
	elided := regexp.MustCompile(`^    \.\.\. (\d+) more frames$`)
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			res := run(t, rt, js("main.js", `function f(n) { return f(n + 1) + 1 }
export default { fetch() { return new Response(String(f(0))) } }`), nil)
			if res.Outcome != OutcomeException || len(res.Exceptions) != 1 {
				t.Fatalf("outcome %s %q, %d exceptions", res.Outcome, res.Error, len(res.Exceptions))
			}
			e := res.Exceptions[0]
			lines := strings.Split(e.Stack, "\n")
			if e.Name != "RangeError" || e.Message != "Maximum call stack size exceeded" || len(lines) != 1+jsengine.OverflowHead+1+jsengine.OverflowTail ||
				lines[0] != "RangeError: Maximum call stack size exceeded" {
				t.Fatalf("%s: %s, stack of %d lines:\n%s", e.Name, e.Message, len(lines), e.Stack)
			}
			for i, l := range lines[1:] {
				want := "    at f (main.js:1:"
				switch {
				case i == jsengine.OverflowHead:
					n := -1
					if m := elided.FindStringSubmatch(l); m != nil {
						n, _ = strconv.Atoi(m[1])
					}
					if n+jsengine.OverflowHead+jsengine.OverflowTail < jsengine.MaxCallStackSize-1 {
						t.Errorf("line %d: %q, want the number of frames left out", i+1, l)
					}
					continue
				case i == len(lines)-2:
					want = "    at fetch (main.js:2:"
				}
				if !strings.HasPrefix(l, want) {
					t.Errorf("line %d: %q, want %q...", i+1, l, want)
				}
			}
			// A recursion through a 256 KiB name (4 times the bound of a
			// field): kept to the bound, cut with the marker. (A 1 MiB name
			// made a source that took more than the second its preparation
			// may take, under -race on a loaded machine.)
			long := strings.Repeat("g", 1<<18)
			c := js("main.js", `function `+long+`(n) { return `+long+`(n + 1) + 1 }
export default { fetch() { return new Response(String(`+long+`(0))) } }`)
			c.Limits = slowLimits
			res = run(t, rt, c, nil)
			if len(res.Exceptions) != 1 {
				t.Fatalf("a huge name: %s %q, %d exceptions", res.Outcome, res.Error, len(res.Exceptions))
			}
			if e := res.Exceptions[0]; res.Outcome != OutcomeException || len(e.Stack) > MaxExceptionFieldBytes || !strings.HasSuffix(e.Stack, "more bytes cut]") {
				t.Errorf("a huge name: %s (%s: %.200s), a stack of %d bytes ending %q", res.Outcome, e.Name, e.Message, len(e.Stack), e.Stack[max(0, len(e.Stack)-40):])
			}
		})
	}
}
