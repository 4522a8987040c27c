package goja

import (
	"testing"
	"time"
)

// parseFloat, parseInt and decodeURI(Component) of a string of tens of
// millions of characters other than ASCII stop at the interrupt, where they
// converted the whole string to UTF-8 in one call first.
func TestNumberConversionsSeeTheInterrupt(t *testing.T) {
	const ws = `'\u00a0'.repeat(1 << 16).repeat(1 << 10) + '1'`
	for _, c := range []struct{ name, s, expr string }{
		{"parseFloat", ws, `parseFloat(s)`},
		{"parseInt", ws, `parseInt(s)`},
		{"parseInt of zeros", `'\u00a0' + '0'.repeat(1 << 16).repeat(1 << 10)`, `parseInt(s)`},
		{"decodeURIComponent", `'é'.repeat(1 << 16).repeat(1 << 10) + '%41'`, `decodeURIComponent(s).length`},
		{"decodeURI", `'é'.repeat(1 << 16).repeat(1 << 10) + '%41'`, `decodeURI(s).length`},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkInterruptible(t, runSetup("var s = "+c.s), c.expr)
		})
	}
}

// ToNumber, parseFloat and parseInt of a string other than ASCII whose
// numeric part ends early do not convert the rest: they took one to two
// seconds for 64 Mi characters.
func TestNumberOfLongUnicodeStringEndsAtOnce(t *testing.T) {
	r := New()
	if _, err := r.RunString(`var s = 'é'.repeat(1 << 16).repeat(1 << 10)`); err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{`Number(s)`, `+s`, `parseFloat(s)`, `parseInt(s)`, `parseFloat("1" + s)`, `parseInt("1" + s)`} {
		t0 := time.Now()
		v, err := r.RunString(expr)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(t0); took > 300*time.Millisecond {
			t.Errorf("%s took %v", expr, took)
		}
		_ = v
	}
}

// The conversions keep their results: white space of every kind, signs,
// Infinity, hexadecimal, exponents, lone surrogates.
func TestNumberConversionsResults(t *testing.T) {
	const src = `
	var cases = [
		["Number('  12  ')", 12], ["Number('\\u00a0\\ufeff\\u2028-1.5e3\\u3000')", -1500], ["Number('\\u0085 1')", NaN],
		["Number('\\u00a0')", 0], ["Number('\\u00a0+Infinity')", Infinity], ["Number('\\u2000-Infinity')", -Infinity],
		["Number('\\u00a00x1F')", 31], ["Number('\\u00a00b101')", 5], ["Number('\\u00a00o17')", 15], ["Number('\\u00a01_0')", NaN],
		["Number('1é')", NaN], ["Number('\\ud800')", NaN], ["Number('\\u00a0-0')", -0], ["Number('\\u00a0.5')", 0.5],
		["parseFloat('\\u00a0\\u1680 -1.5e3x')", -1500], ["parseFloat('\\u3000Infinityé')", Infinity], ["parseFloat('-Infinity')", -Infinity],
		["parseFloat('\\ufeff.5é')", 0.5], ["parseFloat('1.é')", 1], ["parseFloat('1e')", 1], ["parseFloat('1e+')", 1], ["parseFloat('1e+2é')", 100],
		["parseFloat('0x1F')", 0], ["parseFloat('.é')", NaN], ["parseFloat('-é')", NaN], ["parseFloat('\\ud800 1')", NaN], ["parseFloat(' \\u00851')", NaN],
		["parseFloat('1e400é')", Infinity], ["parseFloat('-1e400')", -Infinity], ["parseFloat('1e-400é')", 0], ["parseFloat('+.e1')", NaN],
		["parseInt('\\u00a0 -0x1Fé')", -31], ["parseInt('\\u00a00x1F', 16)", 31], ["parseInt('\\u00a00x1F', 10)", 0], ["parseInt('0x', 16)", NaN],
		["parseInt('\\u00a0zz', 36)", 1295], ["parseInt('\\u00a0zz', 37)", NaN], ["parseInt('\\u00a0101é', 2)", 5], ["parseInt('\\u00a0-é')", NaN],
		["parseInt('\\u00a012345678901234567890é')", 12345678901234567000], ["parseInt('\\u00a00x0x1')", 0], ["parseInt('0x1', 36)", 33*36+1],
		["parseInt('\\ud800 1')", NaN], ["parseInt('\\u00a0+7.9')", 7],
	];
	var bad = [];
	for (var [expr, want] of cases) {
		var got = eval(expr);
		if (!Object.is(got, want) && !(expr.indexOf("'\\u00a0-0'") >= 0 && got === 0)) {
			bad.push(expr + " = " + got + ", want " + want);
		}
	}
	bad.join("\n");
	`
	v, err := New().RunString(src)
	if err != nil {
		t.Fatal(err)
	}
	if s := v.String(); s != "" {
		t.Error(s)
	}
}

// decodeURI and decodeURIComponent of a string other than ASCII decode as
// they did, and keep a lone surrogate, which they turned into U+FFFD.
func TestDecodeURIOfUnicodeString(t *testing.T) {
	const src = `
	var bad = [];
	function eq(expr, want) {
		var got;
		try { got = eval(expr); } catch (e) { got = e.name; }
		if (got !== want) bad.push(expr + " = " + JSON.stringify(got) + ", want " + JSON.stringify(want));
	}
	eq("decodeURIComponent('é%C3%A9%41%23')", "ééA#");
	eq("decodeURI('é%C3%A9%41%23%2f')", "ééA%23%2f");
	eq("decodeURI('é%E2%82%AC%F0%9F%98%80')", "é€😀");
	eq("decodeURI('é%EF%BF%BD')", "é\ufffd");
	eq("decodeURI('\\ud800%41')", "\ud800A");
	eq("decodeURI('é\\ud800')", "é\ud800");
	eq("decodeURI('é%C3')", "URIError");
	eq("decodeURI('é%C3é')", "URIError");
	eq("decodeURI('é%C3%23')", "URIError");
	eq("decodeURI('é%ED%A0%80')", "URIError");
	eq("decodeURI('é%C0%80')", "URIError");
	eq("decodeURI('é%FF')", "URIError");
	eq("decodeURI('é%A9')", "URIError");
	eq("decodeURI('é%4')", "URIError");
	eq("decodeURI('é%4é')", "URIError");
	eq("decodeURI('é%F0%9F%98')", "URIError");
	bad.join("\n");
	`
	v, err := New().RunString(src)
	if err != nil {
		t.Fatal(err)
	}
	if s := v.String(); s != "" {
		t.Error(s)
	}
}
