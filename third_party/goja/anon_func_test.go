package goja

import "testing"

// The anonymous native functions of promises (their resolving functions,
// a capability's executor, Promise.all's element functions) are made from
// templates with their own properties made on first use: they must look
// exactly like functions made with all of them at once.
func TestAnonPromiseFunctions(t *testing.T) {
	const src = `
const got = [];
const look = (what, f, len) => {
  const d = Object.getOwnPropertyDescriptor(f, "length"), n = Object.getOwnPropertyDescriptor(f, "name");
  got.push([what, typeof f, f.length === len, f.name === "", Object.getOwnPropertyNames(f).join(),
    d.writable, d.enumerable, d.configurable, n.writable, n.enumerable, n.configurable,
    Object.getPrototypeOf(f) === Function.prototype, f instanceof Function, String(f),
    Object.isExtensible(f), f.hasOwnProperty("prototype")].join(" "));
};
let res, rej;
new Promise((a, b) => { res = a; rej = b; });
look("resolve", res, 1); look("reject", rej, 1);
let exec;
class P extends Promise { constructor(e) { exec = e; super(e); } }
P.resolve(1).then(() => {});
look("executor", exec, 2);
const els = [];
class Q extends Promise { then(a, b) { els.push(a); return super.then(a, b) } }
Promise.all.call(Q, [1]); Promise.allSettled.call(Q, [1]); Promise.any.call(Q, [1]);
const elsSeen = els.map(f => [typeof f, f.length, f.name, Object.getOwnPropertyNames(f).join()].join());
// Whatever is added comes after length and name; deleting, redefining
// and freezing work on the lazy properties as on any others.
res.extra = 1; delete rej.name; Object.defineProperty(exec, "length", { value: 7 });
Object.freeze(res);
got.push(Object.getOwnPropertyNames(res).join(), Object.isFrozen(res), res.length,
  Object.getOwnPropertyNames(rej).join(), rej.name, exec.length, Object.getOwnPropertyNames(exec).join());
[got, elsSeen];
`
	r := New()
	v, err := r.RunString(src)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	if err := r.ExportTo(v, &out); err != nil {
		t.Fatal(err)
	}
	want := func(what string, n int) string {
		return what + " function true true length,name false false true false false true true true function () { [native code] } true false"
	}
	got := out[0]
	for i, w := range []string{want("resolve", 1), want("reject", 1), want("executor", 2)} {
		if got[i] != w {
			t.Errorf("%d:\n got %q\nwant %q", i, got[i], w)
		}
	}
	rest := []any{"length,name,extra", true, int64(1), "length", "", int64(7), "length,name"}
	for i, w := range rest {
		if got[3+i] != w {
			t.Errorf("after changes, %d: got %v (%T), want %v", i, got[3+i], got[3+i], w)
		}
	}
	if len(out[1]) != 3 {
		t.Fatalf("element functions: %v", out[1])
	}
	for i, f := range out[1] {
		if f != "function,1,,length,name" {
			t.Errorf("element function %d: %v", i, f)
		}
	}
}
