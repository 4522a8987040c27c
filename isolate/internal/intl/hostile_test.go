package intl

import (
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// TestHostileOptions: bad options are the spec's exceptions, never a Go
// panic or unbounded work.
func TestHostileOptions(t *testing.T) {
	cases := []struct{ src, want string }{
		{`new Intl.NumberFormat("en", {maximumFractionDigits: 1e9})`, "throws RangeError"},
		{`new Intl.NumberFormat("en", {minimumFractionDigits: 101})`, "throws RangeError"},
		{`new Intl.NumberFormat("en", {minimumFractionDigits: 5, maximumFractionDigits: 2})`, "throws RangeError"},
		{`new Intl.NumberFormat("en", {maximumSignificantDigits: 22})`, "throws RangeError"},
		{`new Intl.NumberFormat("en", {minimumIntegerDigits: 0})`, "throws RangeError"},
		{`new Intl.NumberFormat("en", {minimumIntegerDigits: NaN})`, "throws RangeError"},
		{`new Intl.NumberFormat("en", {style: "bogus"})`, "throws RangeError"},
		{`new Intl.NumberFormat("en", {style: "currency"})`, "throws TypeError"},
		{`new Intl.NumberFormat("en", {style: "currency", currency: "US"})`, "throws RangeError"},
		{`new Intl.NumberFormat("en", {style: "unit", unit: "parsec"})`, "throws RangeError"},
		{`new Intl.NumberFormat("en", {style: "unit"})`, "throws TypeError"},
		{`new Intl.RelativeTimeFormat("en").format(1, "fortnight")`, "throws RangeError"},
		{`new Intl.RelativeTimeFormat("en").format(Infinity, "day")`, "throws RangeError"},
		{`Intl.RelativeTimeFormat("en")`, "throws TypeError"},
		{`new Intl.ListFormat("en").format(["a", 1])`, "throws TypeError"},
		{`new Intl.ListFormat("en", "long")`, "throws TypeError"},
		{`new Intl.ListFormat("en").format(Array(20000).fill("ab")).length`, "80002"},
		{`Intl.Segmenter()`, "throws TypeError"},
		{`new Intl.DisplayNames("en")`, "throws TypeError"},
		{`Intl.Locale("en")`, "throws TypeError"},
		{`new Intl.Locale()`, "throws TypeError"},
		{`new Intl.Locale("en_US")`, "throws RangeError"},
		{`new Intl.Locale("en", {hourCycle: "h25"})`, "throws RangeError"},
		{`new Intl.Locale("en", {region: "USA1"})`, "throws RangeError"},
		{`Object.getOwnPropertyDescriptor(Intl.Locale.prototype, "language").get.call({})`, "throws TypeError"},
		{`new Intl.DisplayNames("en", {})`, "throws TypeError"},
		{`new Intl.DisplayNames("en", {type: "region"}).of("USA")`, "throws RangeError"},
		{`new Intl.DisplayNames("en", {type: "language"}).of("not a tag")`, "throws RangeError"},
		{`new Intl.DisplayNames("en", {type: "dateTimeField"}).of("fortnight")`, "throws RangeError"},
		{`new Intl.DisplayNames("en", {type: "currency"}).of("x".repeat(100000))`, "throws RangeError"},
		{`new Intl.Segmenter("en", {granularity: "line"})`, "throws RangeError"},
		{`let n = 0; for (const s of new Intl.Segmenter("en", {granularity: "word"}).segment("ab ".repeat(10000))) n++; n`, "20000"},
		{`new Intl.Segmenter().segment("\ud800x").containing(1).segment`, "x"},
		{`new Intl.NumberFormat("not a tag")`, "throws RangeError"},
		{`new Intl.NumberFormat("")`, "throws RangeError"},
		{`new Intl.NumberFormat("en-" + "a".repeat(300))`, "throws RangeError"},
		{`new Intl.NumberFormat(["en", 5])`, "throws TypeError"},
		{`new Intl.NumberFormat({length: 1e9})`, "throws RangeError"},
		{`new Intl.NumberFormat(null)`, "throws TypeError"},
		{`new Intl.NumberFormat("en", null)`, "throws TypeError"},
		{`new Intl.NumberFormat("en", {get style() { throw new SyntaxError("x") }})`, "throws SyntaxError"},
		{`new Intl.DateTimeFormat("en", {timeZone: "Mars/Olympus"})`, "throws RangeError"},
		{`new Intl.DateTimeFormat("en", {timeZone: "../../../etc/passwd"})`, "throws RangeError"},
		{`new Intl.DateTimeFormat("en", {timeZone: "/etc/localtime"})`, "throws RangeError"},
		{`new Intl.DateTimeFormat("en", {timeZone: "Local"})`, "throws RangeError"},
		{`new Intl.DateTimeFormat("en", {timeZone: "x".repeat(100000)})`, "throws RangeError"},
		{`new Intl.DateTimeFormat("en", {dateStyle: "full", year: "numeric"})`, "throws TypeError"},
		{`new Intl.DateTimeFormat("en", {hour: "3-digit"})`, "throws RangeError"},
		{`new Intl.DateTimeFormat("en", {fractionalSecondDigits: 4})`, "throws RangeError"},
		{`new Intl.DateTimeFormat("en").format(8.65e15)`, "throws RangeError"},
		{`new Intl.DateTimeFormat("en").format(NaN)`, "throws RangeError"},
		{`new Intl.Collator("en", {sensitivity: "loud"})`, "throws RangeError"},
		{`Intl.PluralRules("en")`, "throws TypeError"},
		{`new Intl.PluralRules("en", {type: "both"})`, "throws RangeError"},
		{`Intl.getCanonicalLocales("en_US")`, "throws RangeError"},
		{`Intl.NumberFormat.prototype.format`, "throws TypeError"},
		{`Intl.NumberFormat.prototype.resolvedOptions.call({})`, "throws TypeError"},
		{`Number.prototype.toLocaleString.call("5")`, "throws TypeError"},
		{`Date.prototype.toLocaleString.call({})`, "throws TypeError"},
		{`String.prototype.localeCompare.call(null, "a")`, "throws TypeError"},
		{`(5).toLocaleString("en", {maximumFractionDigits: 1000})`, "throws RangeError"},
		// Large but valid work stays bounded and exact.
		{`new Intl.NumberFormat("en", {maximumFractionDigits: 100}).format(1e-100).length`, "102"},
		{`new Intl.NumberFormat("en", {minimumFractionDigits: 100}).format(1.5).length`, "102"},
		{`new Intl.NumberFormat("en").format(Number.MAX_VALUE).length`, "411"},
		{`new Intl.NumberFormat("en").format(10n ** 5000n).length`, "6667"},
		{`new Intl.NumberFormat("en", {notation: "compact"}).format(1e300).length > 10`, "true"},
		{`new Intl.NumberFormat("en", {notation: "scientific"}).format(Number.MIN_VALUE)`, "5E-324"},
		{`new Intl.NumberFormat("en").format(5e-324)`, "0"},
		{`new Intl.DateTimeFormat("en", {timeZone: "UTC"}).format(8.64e15)`, "9/13/275760"},
		{`new Intl.DateTimeFormat("en", {timeZone: "UTC", year: "numeric"}).format(-8.64e15)`, "271822"},
	}
	vm := newVM(t)
	for _, c := range cases {
		start := time.Now()
		if got := eval(vm, c.src); got != c.want {
			t.Errorf("%s = %s, want %s", c.src, quote(got), c.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v", c.src, d)
		}
	}
}

// TestDetachedFormat: format, compare are bound functions, usable detached
// (array.map(nf.format)).
func TestDetachedFormat(t *testing.T) {
	vm := newVM(t)
	cases := map[string]string{
		`[1, 2000].map(new Intl.NumberFormat("de").format).join("|")`:                   "1|2.000",
		`["b", "a"].sort(new Intl.Collator("en").compare).join()`:                       "a,b",
		`const f = new Intl.NumberFormat("en"); f.format === f.format`:                  "true",
		`Object.getOwnPropertyNames(Intl).sort().join()`:                                "Collator,DateTimeFormat,DisplayNames,ListFormat,Locale,NumberFormat,PluralRules,RelativeTimeFormat,Segmenter,getCanonicalLocales,supportedValuesOf",
		`Intl.NumberFormat.name + Intl.NumberFormat.length`:                             "NumberFormat0",
		`Intl.NumberFormat("en") instanceof Intl.NumberFormat`:                          "true",
		`Number.prototype.toLocaleString.name + Number.prototype.toLocaleString.length`: "toLocaleString0",
		`String.prototype.localeCompare.length`:                                         "1",
		`[1234.5, new Date(0)].toLocaleString()`:                                        "1,234.5,1/1/1970, 12:00:00 AM",
		`new Date(0).toLocaleDateString("de", {timeZone: "Europe/Berlin"})`:             "1.1.1970",
	}
	for src, want := range cases {
		if got := eval(vm, src); got != want {
			t.Errorf("%s = %s, want %s", src, quote(got), want)
		}
	}
}

// TestLazy: a runtime that never uses Intl keeps goja's own built-ins, and
// a script naming a locale method (or using Intl) gets them patched.
func TestLazy(t *testing.T) {
	vm := goja.New()
	in := New(vm)
	if got := eval(vm, `typeof Intl`); got != "undefined" {
		t.Fatalf("typeof Intl = %s before install", got)
	}
	before := eval(vm, `(1234.5).toLocaleString()`)
	if err := vm.Set("Intl", in.Namespace()); err != nil {
		t.Fatal(err)
	}
	if got := eval(vm, `(1234.5).toLocaleString()`); got != "1,234.5" || got == before {
		t.Errorf("after Intl was built: %s (before %s)", got, before)
	}
	if !UsesLocaleMethods(`x.toLocaleDateString()`) || !UsesLocaleMethods(`a.localeCompare(b)`) || UsesLocaleMethods(`new Response("hi")`) {
		t.Error("UsesLocaleMethods")
	}
}

// TestAllLocalesLoad: every supported locale's data decodes, is complete
// where the formatters rely on it, and formats.
func TestAllLocalesLoad(t *testing.T) {
	vm := newVM(t)
	for _, l := range supported {
		d := load(l)
		for display, rows := range d.Numbers.Compact {
			for i, row := range rows {
				if _, ok := row["other"]; !ok {
					t.Errorf("%s: compact %s row %d has no \"other\"", l, display, i)
				}
			}
		}
		if len(d.digits) != 10 || len(d.Names["MMMM"]) != 12 || len(d.Names["EEEE"]) != 7 || len(d.Names["B"]) != 24 {
			t.Errorf("%s: digits or names incomplete", l)
		}
		src := `new Intl.DateTimeFormat("` + l + `", {dateStyle: "full", timeStyle: "full", timeZone: "America/New_York"}).format(0) + new Intl.NumberFormat("` + l + `", {style: "currency", currency: "EUR", notation: "compact"}).format(123456)`
		got := eval(vm, src)
		if strings.HasPrefix(got, "throws") || strings.HasPrefix(got, "error") || strings.Contains(got, "{") {
			t.Errorf("%s: %s", l, got)
		}
	}
}

// TestFastCompareAgrees: localeCompare's Go fast path and Intl.Collator
// order random strings the same way.
func TestFastCompareAgrees(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	vm := newVM(t)
	_ = vm.Set("seed", seed%1000003)
	got := eval(vm, `
let x = seed;
const rnd = () => (x = (x * 48271) % 2147483647) / 2147483647;
const alphabet = ["a", "A", "á", "b", "B", "ä", "z", "é", "1", "10", "-", " ", "ß", "ø", "ch", "日", "ア"];
const word = () => Array.from({length: 1 + Math.floor(rnd() * 4)}, () => alphabet[Math.floor(rnd() * alphabet.length)]).join("");
let bad = "";
for (const loc of [undefined, "de", "sv", "ja"]) {
  const c = new Intl.Collator(loc);
  for (let i = 0; i < 500; i++) {
    const a = word(), b = word();
    const fast = loc === undefined ? a.localeCompare(b) : a.localeCompare(b, loc);
    if (Math.sign(fast) !== Math.sign(c.compare(a, b))) bad += loc + ":" + a + "|" + b + " ";
  }
}
bad || "ok"`)
	if got != "ok" {
		t.Error(got)
	}
}

// TestConcurrentRuntimes: runtimes on several goroutines share the
// process's locale data and zones (run with -race).
func TestConcurrentRuntimes(t *testing.T) {
	done := make(chan string)
	for i := 0; i < 4; i++ {
		vm := newVM(t) // here: t.Fatal belongs to the test's goroutine
		go func() {
			done <- eval(vm, `
let s = "";
for (const l of ["en", "de", "ja", "ar-EG", "hi", "ru"]) {
  s += new Intl.NumberFormat(l, {style: "currency", currency: "EUR", notation: "compact"}).format(123456);
  s += new Intl.DateTimeFormat(l, {dateStyle: "full", timeStyle: "long", timeZone: "Europe/Paris"}).format(0);
  s += new Intl.PluralRules(l).select(3) + ["b", "a"].sort(new Intl.Collator(l).compare);
}
s`)
		}()
	}
	first := <-done
	for i := 1; i < 4; i++ {
		if got := <-done; got != first {
			t.Errorf("runtimes disagree:\n%s\n%s", first, got)
		}
	}
}

// TestEveryOptionSetHasAPattern: each combination of DateTimeFormat's
// field options finds a pattern in every locale's data (none formats as
// an empty string).
func TestEveryOptionSetHasAPattern(t *testing.T) {
	vm := newVM(t)
	got := eval(vm, `
const locales = ["en", "ar-EG", "zh-TW"];
const U = undefined;
let bad = [], n = 0;
for (const l of locales)
for (const weekday of [U, "narrow", "long"]) for (const era of [U, "short"]) for (const year of [U, "numeric", "2-digit"])
for (const month of [U, "2-digit", "narrow", "short"]) for (const day of [U, "numeric"])
for (const hour of [U, "numeric", "2-digit"]) for (const minute of [U, "numeric"]) for (const hour12 of [U, false]) {
  const o = {weekday, era, year, month, day, hour, minute, hour12, timeZone: "UTC"};
  n++;
  if (new Intl.DateTimeFormat(l, o).format(0) === "") bad.push(l + JSON.stringify(o));
}
bad.length ? bad.slice(0, 5).join("\n") : "ok " + n`)
	if !strings.HasPrefix(got, "ok ") {
		t.Error(got)
	}
	t.Log(got)
}
