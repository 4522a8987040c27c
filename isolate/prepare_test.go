package isolate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warrenmesh/warren/isolate/internal/sandbox"
)

// hostilePreparations is code built to break bundling rather than
// running: each must end with a clear outcome, fast, and leave the
// runtime serving.
func hostilePreparations() []struct {
	name string
	code *Code
	want string // in the exception's name + message
} {
	handler := func(expr string) string {
		return "export default { fetch() { return new Response(String(" + expr + ")) } }"
	}
	nest := func(open, close, mid string, n int) string {
		return strings.Repeat(open, n) + mid + strings.Repeat(close, n)
	}
	many := &Code{MainModule: "main.js", Modules: map[string]*Module{}}
	var imports strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&imports, "import m%d from './m%d.js';\n", i, i)
		many.Modules[fmt.Sprintf("m%d.js", i)] = &Module{Kind: ModuleESM, Source: fmt.Sprintf("export default %d;", i)}
	}
	many.Modules["main.js"] = &Module{Kind: ModuleESM, Source: imports.String() + handler("m0 + m1999")}
	// Repeated declarations of one name: esbuild needs about 4 s for 3 MB.
	slow := func(mb int) string {
		return "export default { fetch() { return new Response('x') } };\n" + strings.Repeat("var a = [1,2,3,4,5,6,7,8,9,10].map(x => x * 2 + Math.max(x, 3));\n", mb<<20/64)
	}
	return []struct {
		name string
		code *Code
		want string
	}{
		{"arrays 250k deep", js("main.js", handler(nest("[", "]", "1", 250000))), "RangeError: main.js:1:"},
		{"objects 100k deep", js("main.js", handler(nest("{a:", "}", "1", 100000))), "nests deeper than"},
		{"parentheses 200k deep", js("main.js", handler(nest("(", ")", "1", 200000))), "nests deeper than"},
		{"templates 50k deep", js("main.js", handler(nest("`${", "}`", "1", 50000))), "nests deeper than"},
		{"blocks 20k deep", js("main.js", nest("if(1){", "}", "", 20000)+handler("1")), "nests deeper than"},
		{"json 100k deep", &Code{MainModule: "main.js", Modules: map[string]*Module{
			"main.js": {Kind: ModuleESM, Source: "import d from './d.json';\n" + handler("d")},
			"d.json":  {Kind: ModuleJSON, JSON: []byte(nest("[", "]", "", 100000))},
		}}, "nests deeper than"},
		{"arrows 100k deep", js("main.js", handler(strings.Repeat("x=>", 100000)+"1")), "RangeError"},
		{"unary 300k deep", js("main.js", handler(strings.Repeat("!", 300000)+"1")), "RangeError"},
		{"ifs without braces 20k deep", js("main.js", strings.Repeat("if(1)", 20000)+"1;\n"+handler("1")), ""},
		{"6 MB of slow code", js("main.js", slow(6)), "preparing the code"}, // its deadline or its memory cap, whichever comes first
		{"30 MB module", js("main.js", slow(30)), "exceeds the limit of 8388608 bytes"},
		{"import cycle", js("main.js", "import b from './b.js'; export const a = 1;\n"+handler("b"), "b.js", "import {a} from './main.js'; export default a + 1;"), ""},
		{"2000 modules", many, ""},
	}
}

func TestHostilePreparation(t *testing.T) {
	// A test binary under -race bundles several times slower than warren
	// does: 3 s keeps the deep-nesting cases ending by their stack (not
	// the deadline) and honest code in time, on a loaded machine too.
	const prepare = 3 * time.Second
	rt, err := New(Options{Executor: Sandboxed, Workers: 2, Host: newMemHost(), Node: "test", PrepareTimeout: prepare})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	hello := js("main.js", "export default { fetch() { return new Response('hi') } }")
	for _, tc := range hostilePreparations() {
		start := time.Now()
		res := run(t, rt, tc.code, nil)
		took := time.Since(start)
		t.Logf("%s: %s in %v %s %v", tc.name, res.Outcome, took.Round(time.Millisecond), res.Error, res.Exceptions)
		// The rest is slack for a loaded machine under -race (a hang
		// would take 30 s).
		if took > prepare+4*time.Second {
			t.Errorf("%s: took %v", tc.name, took)
		}
		switch {
		case res.Outcome == OutcomeOK:
		case res.Outcome == OutcomeException && len(res.Exceptions) == 1:
			e := res.Exceptions[0]
			if got := e.Name + ": " + e.Message; !strings.Contains(got, tc.want) {
				t.Errorf("%s: exception %q, want it to contain %q", tc.name, got, tc.want)
			}
		default:
			t.Errorf("%s: outcome %s (%s), want ok or one exception", tc.name, res.Outcome, res.Error)
		}
		if r := run(t, rt, hello, nil); r.Outcome != OutcomeOK {
			t.Fatalf("after %s, hello: %s %s", tc.name, r.Outcome, r.Error)
		}
		if res.Outcome != OutcomeException {
			continue
		}
		// The failure is remembered by code hash: no second preparation.
		start = time.Now()
		again := run(t, rt, tc.code, nil)
		if took := time.Since(start); took > 100*time.Millisecond || again.Outcome != res.Outcome ||
			len(again.Exceptions) != 1 || again.Exceptions[0].Message != res.Exceptions[0].Message {
			t.Errorf("%s again: %s %v in %v, want the same failure at once", tc.name, again.Outcome, again.Exceptions, took)
		}
	}
}

// Code is prepared by workers of their own, which run no guest code: a
// preparation the deadline ends costs one of them, not a worker that runs
// calls, and the programs they make are what every caller of the code
// runs.
func TestPreparersRunNoGuestCode(t *testing.T) {
	rt, err := New(Options{Executor: Sandboxed, Workers: 1, Host: newMemHost(), Node: "test", PrepareTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	stats := func() sandbox.Stats {
		st, ok := rt.Stats().(sandbox.Stats)
		if !ok || st.Preparers == nil {
			t.Fatalf("stats without preparers: %+v", rt.Stats())
		}
		return st
	}
	for i := range 3 {
		code := js("main.js", fmt.Sprintf("export default { fetch() { return new Response('%d') } }", i))
		if r := rt.Run(context.Background(), &Invocation{Code: code, Tenant: fmt.Sprint("t", i)}); r.Outcome != OutcomeOK {
			t.Fatalf("call %d: %s %s", i, r.Outcome, r.Error)
		}
	}
	slow := "export default { fetch() { return new Response('x') } };\n" + strings.Repeat("var a = [1,2,3,4,5,6,7,8,9,10].map(x => x * 2 + Math.max(x, 3));\n", 6<<20/64)
	res := rt.Run(context.Background(), &Invocation{Code: js("main.js", slow), Tenant: "t0"})
	if res.Outcome != OutcomeException || len(res.Exceptions) != 1 || !strings.Contains(res.Exceptions[0].Message, "preparing the code") {
		t.Fatalf("6 MB of slow code: %s %s %v", res.Outcome, res.Error, res.Exceptions)
	}
	st := stats()
	if st.Killed != 0 || st.Crashed != 0 {
		t.Errorf("the call workers: killed %d, crashed %d; want none", st.Killed, st.Crashed)
	}
	if st.Preparers.Killed != 1 {
		t.Errorf("the preparers: killed %d, want 1 (the slow code's deadline)", st.Preparers.Killed)
	}
	// Three tenants on one worker: each change of tenant parked the slot's
	// worker, and none ended (a tenant's only worker is kept up to twice
	// Config.Parked, 1 here).
	if st.ParkedTotal != 2 || st.Recycled != 0 {
		t.Errorf("%d workers parked and %d ended for three tenants in turn on one slot, want 2 and 0", st.ParkedTotal, st.Recycled)
	}
}

// TestOnPrepared: a call that prepares its code itself reports how long
// it took, once; a call whose code was prepared already reports nothing.
func TestOnPrepared(t *testing.T) {
	for _, kind := range []ExecutorKind{InProcess, Sandboxed} {
		t.Run(string(kind), func(t *testing.T) {
			rt := testRuntime(t, kind)
			var took []time.Duration
			sched := Sched{OnPrepared: func(d time.Duration) { took = append(took, d) }}
			call := func(src string) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if r := rt.Run(ctx, &Invocation{Code: js("main.js", src), Sched: sched}); !r.OK() {
					t.Fatalf("%s %s", r.Outcome, r.Error)
				}
			}
			a := "export default { fetch() { return new Response('a') } }"
			call(a)
			call(a)
			if len(took) != 1 || took[0] <= 0 {
				t.Fatalf("two calls of one code: prepared %v, want once", took)
			}
			call("export default { fetch() { return new Response('b') } }")
			if len(took) != 2 {
				t.Fatalf("new code: prepared %v, want a second time", took)
			}
		})
	}
}

// TestPreparationFailureIsSmall: a build error quoting a huge part of the
// code (an import specifier of megabytes) is cut, so that the failure
// each code hash keeps for minutes holds kilobytes, not four copies of
// the specifier.
func TestPreparationFailureIsSmall(t *testing.T) {
	rt := testRuntime(t, Sandboxed)
	spec := strings.Repeat("a", 3<<20)
	for _, src := range []string{
		`import x from "` + spec + `"; export default { fetch() { return new Response(x) } }`,
		`import x from "./` + spec + `.js"; export default { fetch() { return new Response(x) } }`,
		`export default { fetch() { return new Response(` + spec + ` ` + spec + `) } }`,
	} {
		res := run(t, rt, js("main.js", src), nil)
		n := len(res.Error)
		for _, e := range res.Exceptions {
			n += len(e.Name) + len(e.Message) + len(e.Stack)
		}
		if res.Outcome != OutcomeException || len(res.Exceptions) != 1 || !strings.Contains(res.Exceptions[0].Message, "aaaa") {
			t.Errorf("%s %s %.200v", res.Outcome, res.Error, res.Exceptions)
		} else if n > maxPrepareErrorBytes*3 {
			t.Errorf("the failure holds %d bytes of text: %.200s", n, res.Exceptions[0].Message)
		}
	}
}
