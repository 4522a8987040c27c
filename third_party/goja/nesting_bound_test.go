package goja

import (
	"testing"
	"time"
)

// JSON.stringify, join, toString and toLocaleString of nested arrays
// recurse in Go: they go as deep as SetMaxCallStackSize lets JS calls go,
// and throw V8's RangeError past that, where a hundred thousand levels
// took seconds (JSON.stringify looks for a cycle along its whole path at
// every level) and a million a Go stack of gigabytes.
func TestNestingIsBounded(t *testing.T) {
	r := New()
	r.SetMaxCallStackSize(1000)
	t0 := time.Now()
	v, err := r.RunString(`
		const nest = (n) => { let a = []; for (let i = 0; i < n; i++) a = [a]; return a; };
		const deep = nest(1e5), shallow = nest(900);
		const out = [];
		for (const f of [() => JSON.stringify(deep), () => String(deep), () => deep.join(), () => deep.toLocaleString()]) {
			try { f(); out.push("no error") } catch (e) { out.push(e instanceof RangeError ? e.message : String(e)) }
		}
		out.push(JSON.stringify(shallow).length, String(shallow).length, shallow.toLocaleString().length);
		out.join();
	`)
	if err != nil {
		t.Fatal(err)
	}
	want := "Maximum call stack size exceeded,Maximum call stack size exceeded,Maximum call stack size exceeded,Maximum call stack size exceeded,1802,0,0"
	if got := v.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if took := time.Since(t0); took > 2*time.Second {
		t.Errorf("took %v", took)
	}
}
