package webapi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// guardLimit is what the guard of TestAllocGuard allows in one block.
const guardLimit = 8 << 20

// TestAllocGuard: Web API calls that gather in one block many times what
// the guest holds (one value named again and again) ask the runtime's
// allocation guard first, and throw V8's RangeError when it refuses,
// instead of allocating gigabytes out of the interrupt's reach.
func TestAllocGuard(t *testing.T) {
	const many = `const s = "v".repeat(1 << 20); const u = new Uint8Array(1 << 20);`
	cases := []jsCase{
		{"blob of one buffer", many + `return new Blob(Array(16).fill(u)).size`, "rejected: RangeError: Array buffer allocation failed"},
		{"blob of one string", many + `return new Blob(Array(16).fill(s)).size`, "rejected: RangeError: Array buffer allocation failed"},
		{"blob within", many + `return new Blob(Array(4).fill(u)).size`, "4194304"},
		{"header get", many + `const h = new Headers(); for (let i = 0; i < 16; i++) h.append("a", s); return h.get("a").length`, "rejected: RangeError: Invalid string length"},
		{"header iteration", many + `const h = new Headers(); for (let i = 0; i < 16; i++) h.append("a", s); return [...h].length`, "rejected: RangeError: Invalid string length"},
		{"form of one blob", many + `const f = new FormData(); const b = new Blob([u]); for (let i = 0; i < 16; i++) f.append("f", b); return new Response(f).headers.get("content-type")`, "rejected: RangeError: Array buffer allocation failed"},
		{"form of one string", many + `const f = new FormData(); for (let i = 0; i < 16; i++) f.append("f", s); return new Request("https://x.test/", { method: "POST", body: f }).method`, "rejected: RangeError: Array buffer allocation failed"},
		{"form within", many + `const f = new FormData(); for (let i = 0; i < 4; i++) f.append("f", new Blob([u])); return (await new Response(f).arrayBuffer()).byteLength > 4 << 20`, "true"},
		{"search params of one name", many + `const q = new URLSearchParams(); for (let i = 0; i < 16; i++) q.append(s, "1"); return q.toString().length`, "rejected: RangeError: Invalid string length"},
		{"search params body", many + `const q = new URLSearchParams(); for (let i = 0; i < 16; i++) q.append(s, "1"); return new Response(q).status`, "rejected: RangeError: Invalid string length"},
		{"search params within", many + `const q = new URLSearchParams(); for (let i = 0; i < 4; i++) q.append(s, "1"); return q.toString().length`, "4194315"},
		{"header within", many + `const h = new Headers(); for (let i = 0; i < 4; i++) h.append("a", s); return h.get("a").length + " " + [...h].length`, "4194310 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &env{t: t, vm: goja.New()}
			asked := 0
			e.api = Install(e.vm, Options{
				Rand: bytes.NewReader(bytes.Repeat([]byte{0xAB}, 1<<20)),
				Now:  fakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Millisecond),
				AllowAlloc: func(size int, kind goja.AllocKind) bool {
					asked++
					return size <= guardLimit
				},
			})
			got := e.eval(c.body)
			if got != c.want {
				t.Fatalf("got  %q\nwant %q", got, c.want)
			}
			if strings.HasPrefix(c.want, "rejected") && asked == 0 {
				t.Fatal("the guard was not asked")
			}
		})
	}
}
