package webapi

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
	"golang.org/x/text/encoding/htmlindex"
)

// specLabels is the Encoding Standard's table of encodings and their labels
// (https://encoding.spec.whatwg.org/encodings.json), replacement aside.
var specLabels = []struct {
	name   string
	labels []string
}{
	{"utf-8", []string{"unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"}},
	{"ibm866", []string{"866", "cp866", "csibm866", "ibm866"}},
	{"iso-8859-2", []string{"csisolatin2", "iso-8859-2", "iso-ir-101", "iso8859-2", "iso88592", "iso_8859-2", "iso_8859-2:1987", "l2", "latin2"}},
	{"iso-8859-3", []string{"csisolatin3", "iso-8859-3", "iso-ir-109", "iso8859-3", "iso88593", "iso_8859-3", "iso_8859-3:1988", "l3", "latin3"}},
	{"iso-8859-4", []string{"csisolatin4", "iso-8859-4", "iso-ir-110", "iso8859-4", "iso88594", "iso_8859-4", "iso_8859-4:1988", "l4", "latin4"}},
	{"iso-8859-5", []string{"csisolatincyrillic", "cyrillic", "iso-8859-5", "iso-ir-144", "iso8859-5", "iso88595", "iso_8859-5", "iso_8859-5:1988"}},
	{"iso-8859-6", []string{"arabic", "asmo-708", "csiso88596e", "csiso88596i", "csisolatinarabic", "ecma-114", "iso-8859-6", "iso-8859-6-e", "iso-8859-6-i", "iso-ir-127", "iso8859-6", "iso88596", "iso_8859-6", "iso_8859-6:1987"}},
	{"iso-8859-7", []string{"csisolatingreek", "ecma-118", "elot_928", "greek", "greek8", "iso-8859-7", "iso-ir-126", "iso8859-7", "iso88597", "iso_8859-7", "iso_8859-7:1987", "sun_eu_greek"}},
	{"iso-8859-8", []string{"csiso88598e", "csisolatinhebrew", "hebrew", "iso-8859-8", "iso-8859-8-e", "iso-ir-138", "iso8859-8", "iso88598", "iso_8859-8", "iso_8859-8:1988", "visual"}},
	{"iso-8859-8-i", []string{"csiso88598i", "iso-8859-8-i", "logical"}},
	{"iso-8859-10", []string{"csisolatin6", "iso-8859-10", "iso-ir-157", "iso8859-10", "iso885910", "l6", "latin6"}},
	{"iso-8859-13", []string{"iso-8859-13", "iso8859-13", "iso885913"}},
	{"iso-8859-14", []string{"iso-8859-14", "iso8859-14", "iso885914"}},
	{"iso-8859-15", []string{"csisolatin9", "iso-8859-15", "iso8859-15", "iso885915", "iso_8859-15", "l9"}},
	{"iso-8859-16", []string{"iso-8859-16"}},
	{"koi8-r", []string{"cskoi8r", "koi", "koi8", "koi8-r", "koi8_r"}},
	{"koi8-u", []string{"koi8-ru", "koi8-u"}},
	{"macintosh", []string{"csmacintosh", "mac", "macintosh", "x-mac-roman"}},
	{"windows-874", []string{"dos-874", "iso-8859-11", "iso8859-11", "iso885911", "tis-620", "windows-874"}},
	{"windows-1250", []string{"cp1250", "windows-1250", "x-cp1250"}},
	{"windows-1251", []string{"cp1251", "windows-1251", "x-cp1251"}},
	{"windows-1252", []string{"ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1", "iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1", "us-ascii", "windows-1252", "x-cp1252"}},
	{"windows-1253", []string{"cp1253", "windows-1253", "x-cp1253"}},
	{"windows-1254", []string{"cp1254", "csisolatin5", "iso-8859-9", "iso-ir-148", "iso8859-9", "iso88599", "iso_8859-9", "iso_8859-9:1989", "l5", "latin5", "windows-1254", "x-cp1254"}},
	{"windows-1255", []string{"cp1255", "windows-1255", "x-cp1255"}},
	{"windows-1256", []string{"cp1256", "windows-1256", "x-cp1256"}},
	{"windows-1257", []string{"cp1257", "windows-1257", "x-cp1257"}},
	{"windows-1258", []string{"cp1258", "windows-1258", "x-cp1258"}},
	{"x-mac-cyrillic", []string{"x-mac-cyrillic", "x-mac-ukrainian"}},
	{"gbk", []string{"chinese", "csgb2312", "csiso58gb231280", "gb2312", "gb_2312", "gb_2312-80", "gbk", "iso-ir-58", "x-gbk"}},
	{"gb18030", []string{"gb18030"}},
	{"big5", []string{"big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"}},
	{"euc-jp", []string{"cseucpkdfmtjapanese", "euc-jp", "x-euc-jp"}},
	{"iso-2022-jp", []string{"csiso2022jp", "iso-2022-jp"}},
	{"shift_jis", []string{"csshiftjis", "ms932", "ms_kanji", "shift-jis", "shift_jis", "sjis", "windows-31j", "x-sjis"}},
	{"euc-kr", []string{"cseuckr", "csksc56011987", "euc-kr", "iso-ir-149", "korean", "ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "ksc_5601", "windows-949"}},
	{"utf-16be", []string{"unicodefffe", "utf-16be"}},
	{"utf-16le", []string{"csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le"}},
	{"x-user-defined", []string{"x-user-defined"}},
}

var replacementLabels = []string{"csiso2022kr", "hz-gb-2312", "iso-2022-cn", "iso-2022-cn-ext", "iso-2022-kr", "replacement"}

func TestTextDecoderLabels(t *testing.T) {
	e := newEnv(t)
	n := 0
	for _, enc := range specLabels {
		for _, l := range enc.labels {
			for _, variant := range []string{l, strings.ToUpper(l), " \t\n\f\r" + l + "\r\n "} {
				n++
				_ = e.vm.Set("label", variant)
				if got := e.eval(`return new TextDecoder(label).encoding`); got != enc.name {
					t.Errorf("label %q: encoding %q, want %q", variant, got, enc.name)
				}
			}
		}
	}
	t.Logf("%d labels", n)
	var bad []string
	bad = append(bad, replacementLabels...)
	// Only ASCII whitespace is trimmed, only ASCII letters folded.
	bad = append(bad, "\vutf-8", "utf-8\u00A0", "\u212Aoi8-r", "\u0130so-8859-2", "utf-7", "utf-32", "iso-8859-1\x00", "", "x-mac-roman-x")
	for _, l := range bad {
		_ = e.vm.Set("label", l)
		if got := e.eval(`try { return new TextDecoder(label).encoding } catch (e) { return e.name }`); got != "RangeError" {
			t.Errorf("label %q: %q, want RangeError", l, got)
		}
	}
}

// singleByte lists the legacy single-byte encodings with a few mappings
// of the Encoding Standard's index files (byte: code point; 0 for none),
// among them C1 controls that x/text's tables leave undefined.
var singleByte = []struct {
	name string
	spot map[byte]rune
}{
	{"ibm866", map[byte]rune{0x80: 0x0410, 0xFF: 0x00A0}},
	{"iso-8859-2", map[byte]rune{0xA1: 0x0104, 0xFF: 0x02D9, 0x80: 0x0080, 0x9F: 0x009F}},
	{"iso-8859-3", map[byte]rune{0xA1: 0x0126, 0xA5: 0}},
	{"iso-8859-4", map[byte]rune{0xA1: 0x0104}},
	{"iso-8859-5", map[byte]rune{0xB0: 0x0410}},
	{"iso-8859-6", map[byte]rune{0xC1: 0x0621, 0xA1: 0}},
	{"iso-8859-7", map[byte]rune{0xC1: 0x0391, 0xFF: 0}},
	{"iso-8859-8", map[byte]rune{0xE0: 0x05D0, 0xA1: 0}},
	{"iso-8859-8-i", map[byte]rune{0xE0: 0x05D0, 0x80: 0x0080, 0xA1: 0}},
	{"iso-8859-10", map[byte]rune{0xA1: 0x0104}},
	{"iso-8859-13", map[byte]rune{0xA1: 0x201D}},
	{"iso-8859-14", map[byte]rune{0xA1: 0x1E02}},
	{"iso-8859-15", map[byte]rune{0xA4: 0x20AC}},
	{"iso-8859-16", map[byte]rune{0xA4: 0x20AC}},
	{"koi8-r", map[byte]rune{0xC1: 0x0430, 0x80: 0x2500}},
	{"koi8-u", map[byte]rune{0xA4: 0x0454, 0xAE: 0x045E}},
	{"macintosh", map[byte]rune{0x80: 0x00C4, 0xDB: 0x20AC}},
	{"windows-874", map[byte]rune{0x80: 0x20AC, 0x81: 0x0081, 0xA1: 0x0E01, 0xDB: 0}},
	{"windows-1250", map[byte]rune{0x8A: 0x0160, 0x81: 0x0081}},
	{"windows-1251", map[byte]rune{0xC0: 0x0410, 0x88: 0x20AC}},
	{"windows-1252", map[byte]rune{0x80: 0x20AC, 0x81: 0x0081, 0xE9: 0x00E9}},
	{"windows-1253", map[byte]rune{0xC1: 0x0391, 0x81: 0x0081, 0xAA: 0}},
	{"windows-1254", map[byte]rune{0xD0: 0x011E}},
	{"windows-1255", map[byte]rune{0xE0: 0x05D0, 0xD9: 0}},
	{"windows-1256", map[byte]rune{0xC7: 0x0627}},
	{"windows-1257", map[byte]rune{0xA1: 0}},
	{"windows-1258", map[byte]rune{0xD2: 0x0309}},
	{"x-mac-cyrillic", map[byte]rune{0x80: 0x0410, 0xFF: 0x20AC}},
	{"x-user-defined", map[byte]rune{0x80: 0xF780, 0xFF: 0xF7FF}},
}

// TestTextDecoderSingleByte decodes every byte of every single-byte
// encoding: ASCII is itself, the spot checks hold, a byte without a code
// point is U+FFFD (and an error when fatal), and every other byte encodes
// back to itself with the encoding's encoder.
func TestTextDecoderSingleByte(t *testing.T) {
	e := newEnv(t)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	_ = e.vm.Set("all", e.vm.NewArrayBuffer(all))
	for _, enc := range singleByte {
		_ = e.vm.Set("name", enc.name)
		got := []rune(e.eval(`return new TextDecoder(name).decode(all)`))
		if len(got) != 256 {
			t.Errorf("%s: %d code points from 256 bytes", enc.name, len(got))
			continue
		}
		x, err := htmlindex.Get(enc.name)
		if err != nil {
			t.Fatal(err)
		}
		encoder := x.NewEncoder()
		undefined := 0
		for b, r := range got {
			if want, ok := enc.spot[byte(b)]; ok {
				if want == 0 {
					want = '\uFFFD'
				}
				if r != want {
					t.Errorf("%s: byte %#x is U+%04X, want U+%04X", enc.name, b, r, want)
				}
			}
			switch {
			case b < 0x80 && r != rune(b):
				t.Errorf("%s: ASCII byte %#x is U+%04X", enc.name, b, r)
			case b >= 0x80 && b < 0xA0 && r == rune(b):
				// A C1 control mapped to itself (windows-1252's 0x81...),
				// which x/text's encoders need not take back.
			case r == '\uFFFD':
				undefined++
				_ = e.vm.Set("b", b)
				if got := e.eval(`try { return new TextDecoder(name, {fatal: true}).decode(new Uint8Array([b])) } catch (e) { return e.name }`); got != "TypeError" {
					t.Errorf("%s: fatal decode of undefined byte %#x: %q", enc.name, b, got)
				}
			default:
				back, err := encoder.Bytes([]byte(string(r)))
				if err != nil || len(back) != 1 || back[0] != byte(b) {
					t.Errorf("%s: byte %#x is U+%04X, which encodes to % x (%v)", enc.name, b, r, back, err)
				}
			}
		}
		if enc.name != "x-user-defined" {
			_ = e.vm.Set("n", 0x80-undefined)
			// The high half decodes under fatal when nothing is undefined.
			if undefined == 0 {
				if got := e.eval(`return new TextDecoder(name, {fatal: true}).decode(all).length`); got != "256" {
					t.Errorf("%s: fatal decode of all bytes: %s", enc.name, got)
				}
			}
		}
		t.Logf("%s: %d undefined bytes", enc.name, undefined)
	}
}

func TestTextDecoderMultiByte(t *testing.T) {
	type mb struct {
		name  string
		bytes []byte
		want  string
	}
	cases := []mb{
		{"shift_jis", []byte{0x82, 0xA0, 0x41, 0x93, 0xFA, 0x96, 0x7B, 0xB1}, "あA日本ｱ"},
		{"euc-jp", []byte{0xA4, 0xA2, 0x41, 0xC6, 0xFC, 0xCB, 0xDC, 0x8E, 0xB1}, "あA日本ｱ"},
		{"iso-2022-jp", []byte("\x1b$B$\"F|K\\\x1b(BA"), "あ日本A"},
		{"gbk", []byte{0xC4, 0xE3, 0xBA, 0xC3, 0x80}, "你好€"},
		{"gb18030", []byte{0xC4, 0xE3, 0x81, 0x30, 0x81, 0x30, 0x84, 0x31, 0xA4, 0x37, 0x90, 0x30, 0x81, 0x30}, "你\u0080\uFFFD\U00010000"},
		{"big5", []byte{0xA4, 0xA4, 0xA4, 0xE5, 0x88, 0x62}, "中文\u00CA\u0304"},
		{"euc-kr", []byte{0xB0, 0xA1, 0xC7, 0xD1, 0x41}, "가한A"},
	}
	var jsCases []jsCase
	for _, c := range cases {
		arr := fmt.Sprint(c.bytes)
		arr = "new Uint8Array([" + strings.ReplaceAll(strings.Trim(arr, "[]"), " ", ",") + "])"
		jsCases = append(jsCases,
			jsCase{c.name, `return new TextDecoder("` + c.name + `").decode(` + arr + `)`, c.want},
			jsCase{c.name + " fatal", `return new TextDecoder("` + c.name + `", {fatal: true}).decode(` + arr + `)`, c.want},
			jsCase{c.name + " streamed byte by byte", `const d = new TextDecoder("` + c.name + `"); let s = ""; for (const b of ` + arr + `) s += d.decode(new Uint8Array([b]), {stream: true}); return s + d.decode()`, c.want},
			jsCase{c.name + " no BOM handling", `return new TextDecoder("` + c.name + `").decode(new Uint8Array([0xEF, 0xBB, 0xBF])).length > 1`, "true"},
		)
	}
	jsCases = append(jsCases, []jsCase{
		{"truncated at end", `return JSON.stringify(new TextDecoder("shift_jis").decode(new Uint8Array([0x41, 0x82])))`, "\"A\uFFFD\""},
		{"truncated fatal", `try { new TextDecoder("shift_jis", {fatal: true}).decode(new Uint8Array([0x41, 0x82])); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"invalid fatal", `try { new TextDecoder("euc-kr", {fatal: true}).decode(new Uint8Array([0xFF, 0xFF])); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"truncated then flushed", `const d = new TextDecoder("gbk"); return JSON.stringify(d.decode(new Uint8Array([0xC4]), {stream: true}) + d.decode())`, "\"\uFFFD\""},
		{"stream then new decode resets", `const d = new TextDecoder("gbk"); d.decode(new Uint8Array([0xC4]), {stream: true}); d.decode(); return d.decode(new Uint8Array([0x41]))`, "A"},
		{"iso-2022-jp state across chunks", `const d = new TextDecoder("iso-2022-jp"); return d.decode(new Uint8Array([0x1B, 0x24]), {stream: true}) + d.decode(new Uint8Array([0x42, 0x24, 0x22]), {stream: true}) + d.decode(new Uint8Array([0x1B, 0x28, 0x42, 0x41]))`, "あA"},
		{"gb18030 U+FFFD is not an error", `return new TextDecoder("gb18030", {fatal: true}).decode(new Uint8Array([0x84, 0x31, 0xA4, 0x37])) === "\uFFFD"`, "true"},
		{"large input", `const b = new Uint8Array(1 << 22).fill(0xC4); b[b.length - 1] = 0x41; const s = new TextDecoder("gbk").decode(b); return s.length + " " + s.slice(-2)`, "2097152 \u54ea\u8141"},
		// An ASCII byte after a Big5 lead that makes no character is
		// decoded on its own; a non-ASCII one is part of the error.
		{"big5 ASCII trail kept", `return JSON.stringify([[0x81, 0x40], [0x87, 0x87, 0x40], [0x81, 0x81], [0xA4, 0x40, 0x81]].map((b) => new TextDecoder("big5").decode(new Uint8Array(b))))`, `["�@","�@","�","一�"]`},
		{"big5 ASCII trail kept, streamed", `const d = new TextDecoder("big5"); return JSON.stringify(d.decode(new Uint8Array([0x81]), {stream: true}) + d.decode(new Uint8Array([0x40]), {stream: true}) + d.decode())`, `"�@"`},
		{"big5 ASCII trail fatal", `try { new TextDecoder("big5", {fatal: true}).decode(new Uint8Array([0x81, 0x40])); return "ok" } catch (e) { return e.name }`, "TypeError"},
		{"x-user-defined", `return [...new TextDecoder("x-user-defined").decode(new Uint8Array([0x41, 0x80, 0xFF]))].map((c) => c.codePointAt(0).toString(16)).join()`, "41,f780,f7ff"},
	}...)
	runCases(t, jsCases)
}

// TestTextDecoderStreamingRandom decodes random bytes in every encoding
// both at once and in random chunks with {stream: true}: the results must
// agree, in fatal mode too (both throw or neither does).
func TestTextDecoderStreamingRandom(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	e := newEnv(t)
	fn, err := e.vm.RunString(`(function (name, fatal, data, cuts) {
		const whole = (() => { try { return new TextDecoder(name, {fatal}).decode(data) } catch (e) { return e.name } })();
		const d = new TextDecoder(name, {fatal});
		let parts = "", at = 0;
		try {
			for (const c of cuts) { parts += d.decode(data.subarray(at, c), {stream: true}); at = c }
			parts += d.decode(data.subarray(at));
		} catch (e) { parts = e.name }
		return [whole, parts];
	})`)
	if err != nil {
		t.Fatal(err)
	}
	run, _ := goja.AssertFunction(fn)
	// Bytes that start sequences or escapes in the multi-byte encodings.
	special := []byte{0x1B, 0x24, 0x28, 0x40, 0x42, 0x4A, 0x49, 0x8E, 0x8F, 0x81, 0x30, 0x84, 0xA4, 0xFE, 0xFF, 0x00, 0xD8, 0xDC, 0xEF, 0xBB, 0xBF}
	for _, enc := range specLabels {
		for i := 0; i < 60; i++ {
			n := rng.Intn(24)
			data := make([]byte, n)
			for j := range data {
				if rng.Intn(3) == 0 {
					data[j] = special[rng.Intn(len(special))]
				} else {
					data[j] = byte(rng.Intn(256))
				}
			}
			var cuts []int
			for c := 0; c < n; c += 1 + rng.Intn(4) {
				cuts = append(cuts, c)
			}
			for _, fatal := range []bool{false, true} {
				res, err := run(goja.Undefined(), e.vm.ToValue(enc.name), e.vm.ToValue(fatal), e.api.newUint8Array(data), e.vm.ToValue(cuts))
				if err != nil {
					t.Fatal(err)
				}
				var pair []string
				if err := e.vm.ExportTo(res, &pair); err != nil {
					t.Fatal(err)
				}
				if pair[0] != pair[1] {
					t.Errorf("%s fatal=%v % x cut at %v: whole %q, streamed %q", enc.name, fatal, data, cuts, pair[0], pair[1])
				}
			}
		}
	}
}
