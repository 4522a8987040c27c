package webapi

import (
	"strconv"
	"testing"
)

func TestTextEncoding(t *testing.T) {
	runCases(t, []jsCase{
		{"encode", `return new TextEncoder().encode("aé€😀").join(",")`, "97,195,169,226,130,172,240,159,152,128"},
		{"encode default", `return new TextEncoder().encode().length + new TextEncoder().encoding`, "0utf-8"},
		{"encode lone surrogate", `return new TextEncoder().encode("\uD800x").join(",")`, "239,191,189,120"},
		{"round trip", `const s = "héllo wörld — 日本語 😀"; return new TextDecoder().decode(new TextEncoder().encode(s)) === s`, "true"},
		{"encodeInto", `const d = new Uint8Array(5); const r = new TextEncoder().encodeInto("aé😀", d); return r.read + " " + r.written + " " + d.join(",")`,
			"2 3 97,195,169,0,0"},
		{"encodeInto surrogate pair", `const d = new Uint8Array(8); const r = new TextEncoder().encodeInto("a😀b", d); return r.read + " " + r.written`, "4 6"},
		{"encodeInto bad dest", `try { new TextEncoder().encodeInto("a", []); } catch (e) { return e.name }`, "TypeError"},
		{"decode views", `const b = new Uint8Array([0, 104, 105, 0]); return new TextDecoder().decode(b.subarray(1, 3)) + new TextDecoder().decode(new DataView(b.buffer, 1, 1)) + new TextDecoder().decode(b.buffer).length`,
			"hih4"},
		{"decode nothing", `return JSON.stringify(new TextDecoder().decode())`, `""`},
		{"decode bad input", `try { new TextDecoder().decode("x"); } catch (e) { return e.name }`, "TypeError"},
		{"replacement maximal subparts", `return JSON.stringify(new TextDecoder().decode(new Uint8Array([0xE2, 0x82, 0x41, 0xC0, 0x80, 0xF0, 0x9F, 0x98])))`,
			"\"\uFFFDA\uFFFD\uFFFD\uFFFD\""},
		{"surrogate encoding is invalid", `return JSON.stringify(new TextDecoder().decode(new Uint8Array([0xED, 0xA0, 0x80])))`, "\"\uFFFD\uFFFD\uFFFD\""},
		{"fatal", `const d = new TextDecoder("utf-8", {fatal: true}); try { d.decode(new Uint8Array([0xFF])); } catch (e) { return e.name + d.fatal }`, "TypeErrortrue"},
		{"fatal truncated", `try { new TextDecoder("utf8", {fatal: true}).decode(new Uint8Array([0xE2, 0x82])); } catch (e) { return e.name }`, "TypeError"},
		{"fatal valid", `return new TextDecoder("utf-8", {fatal: true}).decode(new Uint8Array([0xE2, 0x82, 0xAC]))`, "€"},
		{"BOM stripped", `return new TextDecoder().decode(new Uint8Array([0xEF, 0xBB, 0xBF, 0x61])).length`, "1"},
		{"ignoreBOM", `const d = new TextDecoder("utf-8", {ignoreBOM: true}); return d.decode(new Uint8Array([0xEF, 0xBB, 0xBF, 0x61])).length + "" + d.ignoreBOM`, "2true"},
		{"stream split sequence", `const d = new TextDecoder(); const b = new TextEncoder().encode("€😀");
			return d.decode(b.subarray(0, 2), {stream: true}) + "|" + d.decode(b.subarray(2, 5), {stream: true}) + "|" + d.decode(b.subarray(5))`,
			"|€|😀"},
		{"stream flush incomplete", `const d = new TextDecoder(); d.decode(new Uint8Array([0xE2]), {stream: true}); return JSON.stringify(d.decode())`, "\"\uFFFD\""},
		{"stream BOM once", `const d = new TextDecoder(); return d.decode(new Uint8Array([0xEF, 0xBB]), {stream: true}) + d.decode(new Uint8Array([0xBF, 0x61, 0xEF, 0xBB, 0xBF]), {stream: true}).length`,
			"2"},
		{"labels", `return ["UTF8", " utf-8 ", "unicode-1-1-utf-8", "latin1", "ascii", "utf-16"].map((l) => new TextDecoder(l).encoding).join()`,
			"utf-8,utf-8,utf-8,windows-1252,windows-1252,utf-16le"},
		{"unknown label", `try { new TextDecoder("utf-7"); } catch (e) { return e.name }`, "RangeError"},
		{"windows-1252", `return new TextDecoder("latin1").decode(new Uint8Array([0x41, 0x80, 0xE9, 0x81]))`, "A€é\u0081"},
		{"utf-16le", `return new TextDecoder("utf-16le").decode(new Uint8Array([0x61, 0, 0x3D, 0xD8, 0x00, 0xDE]))`, "a😀"},
		{"utf-16be", `return new TextDecoder("utf-16be").decode(new Uint8Array([0xFE, 0xFF, 0, 0x61]))`, "a"},
		{"utf-16 lone surrogate", `return JSON.stringify(new TextDecoder("utf-16le").decode(new Uint8Array([0x3D, 0xD8, 0x61, 0])))`, "\"\uFFFDa\""},
		{"utf-16 odd byte", `return JSON.stringify(new TextDecoder("utf-16le").decode(new Uint8Array([0x61, 0, 0x62])))`, "\"a\uFFFD\""},
	})
}

func TestBase64(t *testing.T) {
	runCases(t, []jsCase{
		{"btoa", `return btoa("") + "|" + btoa("f") + "|" + btoa("fo") + "|" + btoa("foobar") + "|" + btoa("\xff\xfe")`, "|Zg==|Zm8=|Zm9vYmFy|//4="},
		{"atob", `return atob("Zm9vYmFy") + "|" + atob("Zg") + "|" + atob(" Zm 8=\n") + "|" + atob("")`, "foobar|f|fo|"},
		{"atob latin1", `const s = atob("//4="); return s.length + " " + s.charCodeAt(0) + " " + s.charCodeAt(1)`, "2 255 254"},
		{"atob nonzero pad bits", `return atob("Zh==")`, "f"},
		{"atob invalid char", `try { atob("Zm9v!"); } catch (e) { return e.name + " " + (e instanceof DOMException) + " " + e.code }`, "InvalidCharacterError true 5"},
		{"atob bad length", `try { atob("Zm9vY"); } catch (e) { return e.name }`, "InvalidCharacterError"},
		{"atob bad padding", `try { atob("Zg="); } catch (e) { return e.name }`, "InvalidCharacterError"},
		{"atob too much padding", `try { atob("Zg==="); } catch (e) { return e.name }`, "InvalidCharacterError"},
		{"btoa non-latin1", `try { btoa("€"); } catch (e) { return e.name }`, "InvalidCharacterError"},
		{"btoa coerces", `return btoa(null)`, "bnVsbA=="},
		{"atob no args", `try { atob(); } catch (e) { return e.name }`, "TypeError"},
		{"round trip bytes", `let s = ""; for (let i = 0; i < 256; i++) s += String.fromCharCode(i); return atob(btoa(s)) === s`, "true"},
	})
}

// TestLongEncodings: strings and buffers longer than a chunk convert as
// short ones do, whatever falls on a chunk's edge (a surrogate pair, a
// lone surrogate, a character of several bytes, an incomplete sequence of
// a legacy encoding, base64's groups); and a string past V8's longest is
// V8's RangeError.
func TestLongEncodings(t *testing.T) {
	const n = chunkBytes/2 - 1 // the edge of strChunks' pieces, in code units
	cases := []jsCase{
		{"pairs across edges", `const s = "a" + "😀".repeat(` + strconv.Itoa(n) + `) + "é";
const b = new TextEncoder().encode(s);
const back = new TextDecoder().decode(b);
return (back === s) + " " + b.length + " " + new TextDecoder().decode(b.subarray(1, b.length - 2)).length`, "true " + strconv.Itoa(1+4*n+2) + " " + strconv.Itoa(2*n)},
		{"lone surrogates", `const s = "x".repeat(` + strconv.Itoa(n-1) + `) + "\ud800" + "\ud800\udc00".repeat(3) + "\udc00";
const b = new TextEncoder().encode(s);
const r = new TextEncoder().encodeInto(s, new Uint8Array(b.length));
return (new TextDecoder().decode(b) === s.replace("\ud800\ud800", "\ufffd\ud800").replace(/\udc00$/, "\ufffd")) + " " + r.read + " " + r.written + " " + b.length`, "true " + strconv.Itoa(n-1+8) + " " + strconv.Itoa(n-1+18) + " " + strconv.Itoa(n-1+18)},
		{"encodeInto a short buffer", `const s = "é".repeat(3 << 20); const r = new TextEncoder().encodeInto(s, new Uint8Array(5)); return r.read + " " + r.written`, "2 4"},
		{"utf-8 of many sizes", `const s = ("aé€😀").repeat(1 << 18); const b = new TextEncoder().encode(s); return (new TextDecoder().decode(b) === s) + " " + (new TextDecoder("utf-8", { fatal: true }).decode(b) === s)`, "true true"},
		{"utf-8 errors", `const b = new Uint8Array(3 << 20).fill(0xE2); b[b.length - 1] = 0x41; const s = new TextDecoder().decode(b); return s.length + " " + (s === "\ufffd".repeat(b.length - 1) + "A")`, strconv.Itoa(3<<20) + " true"},
		{"utf-16 odd edge", `const s = "é😀".repeat(1 << 19); const b = new Uint8Array(s.length * 2); for (let i = 0; i < s.length; i++) { b[2 * i] = s.charCodeAt(i) & 255; b[2 * i + 1] = s.charCodeAt(i) >> 8 } return new TextDecoder("utf-16le").decode(b) === s`, "true"},
		{"shift_jis across edges", `const b = new Uint8Array((1 << 20) + 3); b[0] = 0x41; for (let i = 1; i < b.length - 1; i += 2) { b[i] = 0x82; b[i + 1] = 0xA0 } const s = new TextDecoder("shift_jis").decode(b); return s.length + " " + s.slice(0, 3) + " " + s.at(-1)`, strconv.Itoa(1<<19+2) + " Aああ あ"},
		{"windows-1252", `const b = new Uint8Array(3 << 20).fill(0x80); const s = new TextDecoder("windows-1252").decode(b); return s.length + " " + (s === "€".repeat(3 << 20))`, strconv.Itoa(3<<20) + " true"},
		{"base64 round trip", `const s = "é\u00ffa".repeat((1 << 20) + 1) + "b"; const b = btoa(s); return (atob(b) === s) + " " + b.length + " " + (atob(" " + b.slice(0, -1).replace(/=/g, "") + "\n") === s)`, "true " + strconv.Itoa((3*((1<<20)+1)+1+2)/3*4) + " true"},
		{"atob rejects", `const s = "QUFB".repeat(1 << 20); try { atob(s + "!" + s) } catch (e) { return e.name }`, "InvalidCharacterError"},
		{"btoa rejects", `try { btoa("x".repeat(3 << 20) + "€") } catch (e) { return e.name }`, "InvalidCharacterError"},
		{"body text", `const b = new Uint8Array(3 << 20).fill(0xC3); b[0] = 0xEF; b[1] = 0xBB; b[2] = 0xBF; const s = await new Response(b).text(); return s.length + " " + (s === "\ufffd".repeat((3 << 20) - 3))`, strconv.Itoa(3<<20-3) + " true"},
	}
	runCases(t, cases)
	// Past V8's longest string.
	e := newEnv(t)
	if ex := e.vm.Try(func() { e.api.newString(maxStringLength+1, true) }); ex == nil || ex.Error() != "RangeError: Invalid string length" {
		t.Errorf("a string past the longest: %v", ex)
	}
}
