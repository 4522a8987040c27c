package webapi

import (
	"bytes"
	"crypto/hmac"
	gopbkdf2 "crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/dop251/goja"
)

// TestLoopsSeeTheInterrupt: a Web API call that loops over millions of
// the guest's values in one host call (the runtime sees its interrupt
// only between instructions) stops once the runtime was interrupted for a
// limit, instead of running on for seconds.
func TestLoopsSeeTheInterrupt(t *testing.T) {
	const wide = `const o = {}; for (let i = 0; i < 10000; i++) o["k" + i] = "v";`
	const pairs = `const p = []; for (let i = 0; i < 10000; i++) p.push(["k" + i, "v"]);`
	const many = `const m = new Map(); for (let i = 0; i < 10000; i++) m.set(i, i);`
	cases := []struct{ name, setup, expr string }{
		{"blob parts", `const a = Array(10000).fill("x");`, `new Blob(a).size`},
		{"headers pairs", pairs, `[...new Headers(p)].length`},
		{"headers record", wide, `[...new Headers(o)].length`},
		{"search params pairs", pairs, `new URLSearchParams(p).size`},
		{"search params record", wide, `new URLSearchParams(o).size`},
		{"search params string", `const s = "a=b&".repeat(10000);`, `new URLSearchParams(s).size`},
		{"form multipart", `const part = '--B\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n'; const r = new Response(part.repeat(10000) + "--B--\r\n", { headers: { "content-type": "multipart/form-data; boundary=B" } });`, `r.formData().then(f => [...f].length)`},
		{"form urlencoded", `const r = new Response("a=b&".repeat(10000), { headers: { "content-type": "application/x-www-form-urlencoded" } });`, `r.formData().then(f => [...f].length)`},
		{"clone object", wide, `Object.keys(structuredClone(o)).length`},
		{"clone array", `const a = Array(10000).fill(1);`, `structuredClone(a).length`},
		{"clone map", many, `structuredClone(m).size`},
		{"compression", `const b = new Uint8Array(4 << 20); const cs = new CompressionStream("gzip"); const w = cs.writable.getWriter(); cs.readable.getReader().read();`, `w.write(b).then(() => "written")`},
		{"digest", `const b = new Uint8Array(4 << 20);`, `crypto.subtle.digest("SHA-256", b).then(() => "digested")`},
		{"sign", `const b = new Uint8Array(4 << 20); const k = await crypto.subtle.importKey("raw", new Uint8Array(16), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);`, `crypto.subtle.sign("HMAC", k, b).then(() => "signed")`},
		{"aes-cbc encrypt", `const b = new Uint8Array(4 << 20); const k = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-CBC", false, ["encrypt"]);`, `crypto.subtle.encrypt({ name: "AES-CBC", iv: new Uint8Array(16) }, k, b).then(() => "encrypted")`},
		{"aes-cbc decrypt", `const k = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-CBC", false, ["encrypt", "decrypt"]); const c = await crypto.subtle.encrypt({ name: "AES-CBC", iv: new Uint8Array(16) }, k, new Uint8Array(4 << 20));`, `crypto.subtle.decrypt({ name: "AES-CBC", iv: new Uint8Array(16) }, k, c).then(() => "decrypted")`},
		{"aes-ctr", `const b = new Uint8Array(4 << 20); const k = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-CTR", false, ["encrypt"]);`, `crypto.subtle.encrypt({ name: "AES-CTR", counter: new Uint8Array(16), length: 64 }, k, b).then(() => "encrypted")`},
		{"pbkdf2 salt", `const salt = new Uint8Array(4 << 20); const k = await crypto.subtle.importKey("raw", new Uint8Array(16), "PBKDF2", false, ["deriveBits"]);`, `crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations: 1 }, k, 256).then(() => "derived")`},
		{"hkdf info", `const info = new Uint8Array(4 << 20); const k = await crypto.subtle.importKey("raw", new Uint8Array(16), "HKDF", false, ["deriveBits"]);`, `crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(16), info }, k, 256).then(() => "derived")`},
		{"node pbkdf2 salt", `const salt = new Uint8Array(4 << 20);`, `nodeSupport.pbkdf2("sha256", new Uint8Array(1), salt, 1, 32).step(1)`},
		{"node hkdf info", `const info = new Uint8Array(4 << 20);`, `nodeSupport.hkdf("sha256", new Uint8Array(16), new Uint8Array(16), info, 32).byteLength`},
		{"aes-kw unwrap", `const data = new Uint8Array(1 << 20); const kw = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-KW", false, ["unwrapKey"]);`, `crypto.subtle.unwrapKey("raw", data, kw, "AES-KW", { name: "HMAC", hash: "SHA-256" }, false, ["sign"]).catch(e => { if (e.message === "interrupted") throw e; return e.name })`},
		{"aes-kw wrap", `const kw = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-KW", false, ["wrapKey"]); const hk = await crypto.subtle.importKey("raw", new Uint8Array(1 << 20), { name: "HMAC", hash: "SHA-256" }, true, ["sign"]);`, `crypto.subtle.wrapKey("raw", hk, kw, "AES-KW").then(() => "wrapped")`},
		{"node hash", `const b = new Uint8Array(4 << 20); const h = nodeSupport.hash("sha256");`, `(h.update(b), "updated")`},
		{"headers sort", pairs + "const h = new Headers(p);", `[...h].length`},
		{"search params sort", pairs + "const u = new URLSearchParams(p);", `(u.sort(), u.size)`},
		// Conversions of strings and buffers of megabytes, a chunk at a
		// time.
		{"text decoder utf-8", `const b = new Uint8Array(4 << 20).fill(0xC3); const d = new TextDecoder();`, `d.decode(b).length`},
		{"text decoder utf-8 valid", `const b = new Uint8Array(4 << 20); const d = new TextDecoder();`, `d.decode(b).length`},
		{"text decoder utf-16", `const b = new Uint8Array(4 << 20); const d = new TextDecoder("utf-16le");`, `d.decode(b).length`},
		{"text decoder windows-1252", `const b = new Uint8Array(4 << 20); const d = new TextDecoder("windows-1252");`, `d.decode(b).length`},
		{"text decoder shift_jis", `const b = new Uint8Array(4 << 20); const d = new TextDecoder("shift_jis");`, `d.decode(b).length`},
		{"body text", `const b = new Uint8Array(4 << 20).fill(0xC3); const r = new Response(b);`, `r.text().then(t => t.length)`},
		{"text encoder", `const s = "é".repeat(1 << 21); const e = new TextEncoder();`, `e.encode(s).length`},
		{"text encoder into", `const s = "é".repeat(1 << 21); const e = new TextEncoder(); const b = new Uint8Array(4 << 20);`, `e.encodeInto(s, b).read`},
		// A string argument of other than ASCII characters is converted
		// to Go a chunk at a time.
		{"console.log of a long string", `const s = "é".repeat(1 << 21);`, `(console.log(s), "logged")`},
		{"format of a long string", `const s = "é".repeat(1 << 21);`, `nodeSupport.format("%s", s).length`},
		{"search params append", `const s = "é".repeat(1 << 21); const u = new URLSearchParams();`, `(u.append("a", s), u.size)`},
		{"btoa", `const s = "é".repeat(4 << 20);`, `btoa(s).length`},
		{"atob", `const s = "QUFB".repeat(1 << 20);`, `atob(s).length`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &env{t: t, vm: goja.New()}
			interrupted := false
			e.api = Install(e.vm, Options{
				Rand:        bytes.NewReader(bytes.Repeat([]byte{0xAB}, 1<<20)),
				Now:         fakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Millisecond),
				Interrupted: func() bool { return interrupted },
				Log:         func(level, message string) {},
			})
			_ = e.vm.Set("nodeSupport", e.api.NodeSupport())
			if got := e.eval(c.setup + "return " + c.expr); strings.HasPrefix(got, "rejected") {
				t.Fatalf("without an interrupt: %s", got)
			}
			// The guest builds its values; a limit falls; then the call.
			_ = e.vm.Set("interrupt", func() { interrupted = true })
			if got := e.eval(c.setup + "interrupt(); return " + c.expr); got != "rejected: Error: interrupted" {
				t.Fatalf("got %q after the interrupt", got)
			}
		})
	}
}

// TestCompareUTF16: names compare by UTF-16 code units (URLSearchParams'
// sort), however long the prefix they share and wherever in a character
// they first differ.
func TestCompareUTF16(t *testing.T) {
	ref := func(x, y string) int {
		u, v := utf16.Encode([]rune(x)), utf16.Encode([]rune(y))
		for i := 0; i < len(u) && i < len(v); i++ {
			if u[i] != v[i] {
				return int(u[i]) - int(v[i])
			}
		}
		return len(u) - len(v)
	}
	sign := func(n int) int { return min(max(n, -1), 1) }
	chars := []string{"a", "b", "é", "ê", "\uffff", "\ue000", "😀", "😁", "𐀀"}
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(chars[rng.IntN(len(chars))])
		}
		return b.String()
	}
	for i := 0; i < 20000; i++ {
		prefix := word(rng.IntN(3))
		if i%100 == 0 {
			prefix = strings.Repeat(prefix+"x", 5000)
		}
		x, y := prefix+word(rng.IntN(3)), prefix+word(rng.IntN(3))
		if got, want := sign(compareUTF16(x, y)), sign(ref(x, y)); got != want {
			t.Fatalf("compareUTF16(%q, %q) = %d, want %d", x[len(prefix):], y[len(prefix):], got, want)
		}
	}
	// A mebibyte shared: 1,000 comparisons take milliseconds (a rune at a
	// time, they took 8 s).
	long := strings.Repeat("é", 1<<19)
	x, y := long+"a", long+"b"
	start := time.Now()
	for range 1000 {
		if compareUTF16(x, y) >= 0 || compareUTF16(long, long) != 0 {
			t.Fatal("wrong order")
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("1,000 comparisons of names sharing a mebibyte took %v", took)
	}
}

// TestLongHMACKey: a key longer than its hash's block is hashed once, not
// for every MAC made with it (hmac.New does it in one call the interrupt
// cannot reach), and MACs with it are still HMAC's.
func TestLongHMACKey(t *testing.T) {
	e := newEnv(t)
	_ = e.vm.Set("nodeSupport", e.api.NodeSupport())
	key := bytes.Repeat([]byte{7}, 16<<20)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("data"))
	want := hex.EncodeToString(m.Sum(nil))
	got := e.eval(`
const key = new Uint8Array(16 << 20).fill(7), data = new TextEncoder().encode("data");
const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
globalThis.theKey = k;
const hex = b => [...new Uint8Array(b)].map(x => x.toString(16).padStart(2, "0")).join("");
let sig;
for (let i = 0; i < 200; i++) sig = await crypto.subtle.sign("HMAC", k, data);
const ok = await crypto.subtle.verify("HMAC", k, sig, data);
const h = nodeSupport.hmac("sha256", key); h.update(data);
const p = nodeSupport.pbkdf2("sha256", key, data, 2, 32); while (!p.step(100));
return hex(sig) + " " + ok + " " + hex(h.digest()) + " " + hex(p.result())`)
	dk, err := gopbkdf2.Key(sha256.New, string(key), []byte("data"), 2, 32)
	if err != nil {
		t.Fatal(err)
	}
	if w := want + " true " + want + " " + hex.EncodeToString(dk); got != w {
		t.Fatalf("got  %s\nwant %s", got, w)
	}
	// The key hashed once: the CryptoKey keeps its digest for every MAC
	// (each of 200 MACs hashed the 16 MiB again, two seconds in all).
	k, ok := stateOf[*cryptoKey](e.vm.Get("theKey"))
	if !ok || len(k.macKey) != sha256.Size {
		t.Errorf("the key's MAC key is %d bytes, want its SHA-256 digest kept", len(k.macKey))
	}
}

// TestRSAKeyGenerationSeesTheInterrupt: generating an RSA key (seconds of
// CPU for 4,096 bits, on a loaded host) stops when a limit falls while it
// searches for its primes.
func TestRSAKeyGenerationSeesTheInterrupt(t *testing.T) {
	var armed time.Time
	e := &env{t: t, vm: goja.New()}
	e.api = Install(e.vm, Options{
		Now:         fakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Millisecond),
		Interrupted: func() bool { return !armed.IsZero() && time.Since(armed) > 20*time.Millisecond },
	})
	_ = e.vm.Set("arm", func() { armed = time.Now() })
	const gen = `crypto.subtle.generateKey({ name: "RSA-PSS", modulusLength: 4096, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign"])`
	start := time.Now()
	if got := e.eval(`arm(); return ` + gen + `.then(() => "generated")`); got != "rejected: Error: interrupted" {
		t.Fatalf("got %q after the interrupt", got)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("it stopped %v after it started, the interrupt 20 ms after", took)
	}
}
