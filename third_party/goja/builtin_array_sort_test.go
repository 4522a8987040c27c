package goja

import (
	"math/rand"
	"sort"
	"testing"
	"time"
)

// TestArraySortMergeDifferential sorts random arrays with the merge sort
// and with sort.Stable, which Array.prototype.sort used before, through
// the same JS comparators: the results must be the same.
func TestArraySortMergeDifferential(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewSource(seed))
	vm := New()
	comparators := []string{
		"(a, b) => a.k - b.k", // ties kept in order: stability
		"(a, b) => b.k - a.k", // descending
		"(a, b) => a.k < b.k ? -1 : a.k > b.k ? 1 : 0",
		"(a, b) => a.k - b.k || a.id - b.id",
		"(a, b) => 0",
		"(a, b) => (a.k - b.k) / 0", // NaN, Infinity and -Infinity
		// Not -0 for equal values: goja takes -0 for "less", so such a
		// comparator is inconsistent and the order is the algorithm's.
	}
	for _, src := range comparators {
		fn, err := vm.RunString("(" + src + ")")
		if err != nil {
			t.Fatal(err)
		}
		cmp, _ := AssertFunction(fn)
		compare := func(call FunctionCall) Value {
			v, err := cmp(call.This, call.Arguments...)
			if err != nil {
				panic(err)
			}
			return v
		}
		for round := 0; round < 200; round++ {
			n := rnd.Intn(300)
			if round%50 == 0 {
				n = rnd.Intn(5000)
			}
			keys := 1 + rnd.Intn(n+1)
			vals := make([]Value, n)
			for i := range vals {
				if rnd.Intn(20) == 0 {
					vals[i] = _undefined
					continue
				}
				o := vm.NewObject()
				_ = o.Set("k", rnd.Intn(keys))
				_ = o.Set("id", i)
				vals[i] = o
			}
			if round%7 == 0 { // presorted runs
				sort.SliceStable(vals, func(i, j int) bool {
					a, aok := vals[i].(*Object)
					b, bok := vals[j].(*Object)
					return aok && bok && a.Get("k").ToInteger() < b.Get("k").ToInteger()
				})
			}
			want := append([]Value(nil), vals...)
			old := arraySortCtx{obj: vm.newArrayValues(want).self.(*arrayObject), compare: compare}
			sort.Stable(&old)
			got := append([]Value(nil), vals...)
			fnObj := fn.(*Object)
			callable, _ := fnObj.self.assertCallable()
			ctx := newArraySortCtx(fnObj, callable) // reuses its arguments
			if ctx.args == nil {
				t.Fatal("an arrow function's sort does not reuse its arguments")
			}
			ctx.sortValues(got)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s, %d values: at %d got %v, want %v", src, n, i, got[i], want[i])
				}
			}
		}
	}
}

func TestArraySortComparatorThrows(t *testing.T) {
	// The array is sorted as a copy: a comparator that throws leaves it
	// as it was (as in V8 and SpiderMonkey).
	const SCRIPT = `
	var a = [5, 4, 3, 2, 1, 0, 9, 8, 7, 6, 15, 14, 13, 12, 11, 10];
	var calls = 0;
	try {
		a.sort(function(x, y) { if (++calls > 20) throw new Error("stop"); return x - y; });
	} catch (e) {}
	a.join();
	`
	testScript(SCRIPT, asciiString("5,4,3,2,1,0,9,8,7,6,15,14,13,12,11,10"), t)
}

func TestArraySortComparatorChangesArray(t *testing.T) {
	const SCRIPT = `
	var a = [3, 1, 2];
	a.sort(function(x, y) { a.length = 0; return x - y; });
	var b = [3, 1, 2];
	b.sort(function(x, y) { b.push(9); return x - y; });
	a.join() + "|" + b.slice(0, 3).join() + "|" + (b.length > 3);
	`
	testScript(SCRIPT, asciiString("1,2,3|1,2,3|true"), t)
}

func TestArraySortHolesAndUndefined(t *testing.T) {
	const SCRIPT = `
	var a = [3, undefined, , 1, undefined, , 2];
	a.sort(function(x, y) { return x - y; });
	var o = {length: 5, 0: "c", 1: undefined, 3: "a", 4: "b"};
	Array.prototype.sort.call(o);
	JSON.stringify(a) + " " + a.length + " " + (5 in a) + " " + JSON.stringify(o) + " " + [3, undefined, 1].toSorted().join();
	`
	testScript(SCRIPT, asciiString(`[1,2,3,null,null,null,null] 7 false {"0":"a","1":"b","2":"c","length":5} 1,3,`), t)
}

func TestArraySortComparatorKeepsArguments(t *testing.T) {
	// The comparator's arguments slice is reused between calls: what a
	// call kept of its arguments must not change.
	const SCRIPT = `
	var kept = [];
	var a = [5, 3, 9, 1, 7, 2, 8, 6, 4, 0, 11, 10];
	a.sort(function(x, y) { kept.push([arguments, x, y]); return x - y; });
	var rest = [];
	[3, 1, 2].sort((...xs) => { rest.push(xs); return xs[0] - xs[1]; });
	kept.every(function(k) { return k[0][0] === k[1] && k[0][1] === k[2] && k[0].length === 2; }) &&
		rest.every(function(xs) { return xs.length === 2; }) && rest.length > 1 &&
		rest[0][0] !== rest[1][0] || rest[0][1] !== rest[1][1];
	`
	testScript(SCRIPT, valueTrue, t)
}

func BenchmarkArraySortComparator(b *testing.B) {
	vm := New()
	prg := MustCompile("sort.js", `
	var items = [];
	for (var i = 0; i < 10000; i++) items.push({id: i, score: (i * 7919) % 10007});
	items.sort(function(a, b) { return a.score - b.score || a.id - b.id; });
	`, false)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := vm.RunProgram(prg); err != nil {
			b.Fatal(err)
		}
	}
}
