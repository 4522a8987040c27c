package goja

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// compileUnfused compiles src as Compile does, without fusing.
func compileUnfused(t testing.TB, name, src string) *Program {
	t.Helper()
	prg, err := Parse(name, src)
	if err != nil {
		t.Fatal(err)
	}
	c := newCompiler()
	c.compile(prg, false, true, nil)
	return c.p
}

func countFused(p *Program) (n int) {
	p._dumpCode("", func(format string, args ...interface{}) {
		if strings.Contains(fmt.Sprintf(format, args...), "goja.fused") {
			n++
		}
	})
	return
}

func TestFuseCoversLoopAndComparator(t *testing.T) {
	const src = `
	function f(arr) {
		arr.sort((a, b) => a.score - b.score || a.id - b.id);
		let sum = 0;
		for (let i = 0; i < 1000; i++) {
			sum = (sum + i * 3) % 1003;
		}
		return sum;
	}
	f([{score: 2, id: 1}, {score: 1, id: 2}, {score: 1, id: 1}]);`
	p := MustCompile("fuse.js", src, false)
	// comparator: 4 property reads; loop: test, two loads, *3, %1003, i++.
	var dump strings.Builder
	p.dumpCode(func(format string, args ...interface{}) { fmt.Fprintf(&dump, format+"\n", args...) })
	for _, want := range []string{"fusedLoadStackLexGetProp", "fusedLoadStackLexValCmpJneP", "fusedLoadStackLex2",
		"fusedLoadValOp(", "fusedLoadValOpStoreStackLexP", "fusedIncStackLexP"} {
		if !strings.Contains(dump.String(), want) {
			t.Errorf("no %s in\n%s", want, dump.String())
		}
	}
	if n := countFused(p); n != 9 {
		var b strings.Builder
		p.dumpCode(func(format string, args ...interface{}) { fmt.Fprintf(&b, format+"\n", args...) })
		t.Fatalf("fused %d instructions, want 9:\n%s", n, b.String())
	}
	v, err := New().RunProgram(p)
	if err != nil {
		t.Fatal(err)
	}
	if v.ToInteger() != 18 {
		t.Fatal(v)
	}
}

// Each part of a fused instruction that throws must throw from its own pc,
// so the error reads the same position as without fusion.
func TestFuseErrorsKeepTheirPosition(t *testing.T) {
	const src = `
	const out = [];
	function tdz() { try { x.y; } catch (e) { out.push(e.name + ": " + e.message + " " + e.stack.split("\n")[1]); } let x = 1; }
	function undef(a) { try { return a.b; } catch (e) { out.push(e.name + ": " + e.message + " " + e.stack.split("\n")[1]); } }
	function getter() {
		const o = { get p() { throw new RangeError("from getter"); } };
		try { o.p; } catch (e) { out.push(e.name + ": " + e.message + " " + e.stack.split("\n")[2]); }
	}
	function cmp() {
		const o = { valueOf() { throw new EvalError("from valueOf"); } };
		let n = 0;
		try { while (o < 3) { n++; } } catch (e) { out.push(e.name + ": " + e.message + " " + e.stack.split("\n")[2]); }
		try { n = o * 2; } catch (e) { out.push(e.name + ": " + e.message); }
		let m = o;
		try { m++; } catch (e) { out.push(e.name + ": " + e.message); }
		try { n < 1n ? 1 : 2; n < 1; } catch (e) { out.push(e.name); }
	}
	function incTDZ() { try { z++; } catch (e) { out.push(e.name + ": " + e.message); } let z = 0; }
	tdz(); undef(); getter(); cmp(); incTDZ();
	out.join("\n");`
	fused, err := New().RunProgram(MustCompile("err.js", src, false))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := New().RunProgram(compileUnfused(t, "err.js", src))
	if err != nil {
		t.Fatal(err)
	}
	if fused.String() != plain.String() {
		t.Fatalf("fused:\n%s\nunfused:\n%s", fused, plain)
	}
	if strings.Count(fused.String(), "\n") != 6 || !strings.Contains(fused.String(), "err.js:3:") {
		t.Fatalf("unexpected output:\n%s", fused)
	}
}

// randomFuseProgram writes a program of loops, arithmetic, comparisons,
// property reads and updates of let bindings, some read before they are
// initialised, some objects with getters that throw, and answers with a log
// of every value and every error.
func randomFuseProgram(rnd *rand.Rand) string {
	var b strings.Builder
	vals := []string{"0", "1", "-1", "2", "3", "7", "255", "256", "1000003", "0.5", "-0", "NaN", "Infinity",
		`"3"`, `"x"`, "null", "undefined", "true", "1n", "o", "p", "q"}
	vars := []string{"a", "b", "c", "i"}
	props := []string{"x", "y", "g", "missing"}
	ops := []string{"+", "-", "*", "/", "%", "<", "<=", ">", ">=", "===", "!=="}
	var expr func(d int) string
	expr = func(d int) string {
		if d > 2 || rnd.Intn(3) == 0 {
			switch rnd.Intn(4) {
			case 0:
				return vals[rnd.Intn(len(vals))]
			case 1:
				return vars[rnd.Intn(len(vars))] + "." + props[rnd.Intn(len(props))]
			default:
				return vars[rnd.Intn(len(vars))]
			}
		}
		return "(" + expr(d+1) + " " + ops[rnd.Intn(len(ops))] + " " + expr(d+1) + ")"
	}
	b.WriteString(`const log = [];
	const o = { x: 300, y: "s", get g() { if (++this.n % 5 === 0) throw new RangeError("getter " + this.n); return this.n; }, n: 0 };
	const p = { x: -1, y: 1.5, g: 2 };
	const q = { valueOf() { if (++o.n % 7 === 0) throw new EvalError("valueOf"); return o.n; } };
	function show(v) { try { return typeof v + ":" + (typeof v === "symbol" ? "" : String(v)); } catch (e) { return "?" + e.name; } }
	`)
	for f := 0; f < 6; f++ {
		fmt.Fprintf(&b, "function f%d(a) {\n", f)
		if rnd.Intn(3) == 0 {
			// b and c are read before they are initialised.
			fmt.Fprintf(&b, "try { log.push(show(%s)); } catch (e) { log.push(e.name + ' ' + e.message); }\n", expr(0))
		}
		fmt.Fprintf(&b, "let b = %s, c = %s;\n", vals[rnd.Intn(len(vals))], vals[rnd.Intn(len(vals))])
		fmt.Fprintf(&b, "for (let i = 0; i %s %d; i%s) {\n", []string{"<", "<=", "!=="}[rnd.Intn(3)], rnd.Intn(20), []string{"++", "++", "--", " += 2"}[rnd.Intn(4)])
		fmt.Fprintf(&b, "if (i > 40 || i < -40) break;\n")
		for s := 0; s < 1+rnd.Intn(4); s++ {
			switch rnd.Intn(6) {
			case 0:
				fmt.Fprintf(&b, "if (%s) continue;\n", expr(0))
			case 1:
				fmt.Fprintf(&b, "%s++;\n", []string{"b", "c"}[rnd.Intn(2)])
			case 2:
				fmt.Fprintf(&b, "%s--;\n", []string{"b", "c"}[rnd.Intn(2)])
			default:
				fmt.Fprintf(&b, "try { %s = %s; log.push(show(%s)); } catch (e) { log.push(e.name + ' ' + e.message); }\n",
					[]string{"b", "c"}[rnd.Intn(2)], expr(0), expr(0))
			}
		}
		fmt.Fprintf(&b, "}\nreturn show(b) + show(c);\n}\n")
		fmt.Fprintf(&b, "try { log.push(f%d(%s)); } catch (e) { log.push('f%d ' + e.name + ' ' + e.message); }\n", f, vals[rnd.Intn(len(vals))], f)
	}
	b.WriteString("log.join('\\n');\n")
	return b.String()
}

func TestFuseDifferential(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	fusedTotal := 0
	for n := 0; n < 300; n++ {
		src := randomFuseProgram(rnd)
		fp := MustCompile("rnd.js", src, false)
		fusedTotal += countFused(fp)
		run := func(p *Program) string {
			r := New()
			// A fused instruction that jumps wrongly may loop forever.
			timer := time.AfterFunc(10*time.Second, func() { r.Interrupt("timeout") })
			defer timer.Stop()
			v, err := r.RunProgram(p)
			if err != nil {
				return "error: " + err.Error()
			}
			return v.String()
		}
		got, want := run(fp), run(compileUnfused(t, "rnd.js", src))
		if got != want {
			t.Fatalf("program %d differs (seed %d)\n%s\nfused:\n%s\nunfused:\n%s", n, seed, src, got, want)
		}
	}
	if fusedTotal == 0 {
		t.Fatal("no fused instruction in any program")
	}
}

func benchmarkLoop(b *testing.B, p *Program) {
	for n := 0; n < b.N; n++ {
		if _, err := New().RunProgram(p); err != nil {
			b.Fatal(err)
		}
	}
}

const fuseBenchLoop = `(function () {
	let sum = 0;
	for (let i = 0; i < 300000; i++) {
		sum = (sum + i * 3) % 1000003;
	}
	const a = [];
	for (let i = 0; i < 30000; i++) a.push({ id: i, score: (i * 7919) % 10007 });
	a.sort((x, y) => x.score - y.score || x.id - y.id);
	return sum;
})()`

func BenchmarkFusedLoop(b *testing.B) {
	benchmarkLoop(b, MustCompile("bench.js", fuseBenchLoop, false))
}

func BenchmarkUnfusedLoop(b *testing.B) {
	benchmarkLoop(b, compileUnfused(b, "bench.js", fuseBenchLoop))
}
