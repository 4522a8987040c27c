// Package intl is the ECMAScript Internationalization API (Intl) for a goja
// runtime: Intl.Locale, NumberFormat, DateTimeFormat, Collator,
// PluralRules, RelativeTimeFormat, ListFormat, Segmenter and DisplayNames,
// Intl.getCanonicalLocales, supportedValuesOf and supportedLocalesOf, and
// the locale-sensitive methods of the built-ins (Number, BigInt and Date
// toLocaleString, toLocaleDateString, toLocaleTimeString, String
// localeCompare) delegating to them. The ECMA-402 surface (reading and
// checking options, resolvedOptions) is intl.js; formatting is Go.
//
// # Data and libraries
//
// Language tags are parsed, canonicalized and matched with
// golang.org/x/text/language; strings are compared with
// golang.org/x/text/collate (CLDR collation); plural categories come from
// github.com/go-playground/locales (CLDR plural rules as code, per
// language); currency minor units from golang.org/x/text/currency; text
// segmentation from github.com/rivo/uniseg. The patterns, names and
// symbols of each supported locale (number symbols and patterns, currency
// symbols and names, compact and unit patterns, date-time patterns per
// option set, month, weekday and day-period names, time zone names,
// relative-time and list patterns; display names in cldr/display, read
// only by DisplayNames) are CLDR data as ICU has it, extracted by
// gen_cldr.mjs into cldr/*.json and embedded, so output matches V8
// (workerd) for the supported locales; testdata holds expressions and what
// V8 gave for them. Time zones are Go's IANA database, with time/tzdata
// embedded for hosts (and sandboxes) without /usr/share/zoneinfo.
//
// # Cost
//
// New does nothing. The Intl global is built on first use; the built-ins'
// locale-sensitive methods are patched then, or from the start for a script
// that names them (UsesLocaleMethods), since touching the built-in
// prototypes costs more than a small Worker's whole run. The JS layer
// (intl.js, compiled once per process) runs in a runtime only on the first
// use of Intl or of one of those methods, and even then builds each
// constructor, and makes each Go native a function, only when it is first
// used (Intl's constructors are accessors until then). A locale's data is
// decoded on its first use in the process (40 to 80 kB of JSON, about a
// millisecond) and shared read-only after.
package intl

import (
	_ "embed"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/dop251/goja"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

//go:embed intl.js
var intlSource string

var program = sync.OnceValue(func() *goja.Program {
	return goja.MustCompile("intl.js", intlSource, true)
})

// glueProgram makes the functions the patched built-ins call: they check
// their receiver the way the built-ins do.
var glueProgram = sync.OnceValue(func() *goja.Program {
	return goja.MustCompile("intl-builtins.js", `(function (h) {
  const numberValueOf = Number.prototype.valueOf, bigintValueOf = BigInt.prototype.valueOf, getTime = Date.prototype.getTime;
  return {
    number(self, locales, options) { return h.numberToLocaleString(numberValueOf.call(self), locales, options); },
    bigint(self, locales, options) { return h.numberToLocaleString(bigintValueOf.call(self), locales, options); },
    date(self, locales, options, required, defaults) { return h.dateToLocaleString(getTime.call(self), locales, options, required, defaults); },
    string(self, that, locales, options) {
      if (self === null || self === undefined) throw new TypeError("String.prototype.localeCompare called on null or undefined");
      return h.localeCompare(String(self), String(that), locales, options);
    },
  };
})`, true)
})

// rangeError is an error that becomes a JS RangeError.
type rangeError struct{ msg string }

func (e *rangeError) Error() string { return e.msg }

func rangeErrorf(format string, args ...any) error {
	return &rangeError{fmt.Sprintf(format, args...)}
}

// Intl is the Intl of one runtime. Use it only from the runtime's
// goroutine.
type Intl struct {
	vm      *goja.Runtime
	ns      *goja.Object
	helpers *goja.Object
	natives *goja.Object
	patched bool
	// collators are fastCompare's, by the locales argument.
	collators map[string]*collator
}

// New returns the Intl of vm (a value, to be kept in place: embedders hold
// it in their own state without an allocation). It does nothing until
// Namespace or PatchBuiltins is called.
func New(vm *goja.Runtime) Intl { return Intl{vm: vm} }

// UsesLocaleMethods reports whether a script names one of the
// locale-sensitive methods of the built-ins (toLocaleString,
// toLocaleDateString, toLocaleTimeString, localeCompare): patching the
// built-in prototypes costs more than a small Worker's whole run, so it is
// done only for scripts that call them, or once Intl is used.
func UsesLocaleMethods(script string) bool {
	return strings.Contains(script, "toLocale") || strings.Contains(script, "localeCompare")
}

// PatchBuiltins makes Number, BigInt and Date toLocaleString,
// toLocaleDateString, toLocaleTimeString and String localeCompare use
// Intl. It is done at most once per runtime.
func (in *Intl) PatchBuiltins() {
	if in.patched {
		return
	}
	in.patched = true
	vm := in.vm
	// patch defines ctor.prototype[name] calling helper(this, the first
	// nargs arguments, extra...).
	patch := func(ctor, name string, length, nargs int, helper string, extra ...goja.Value) {
		proto := vm.Get(ctor).ToObject(vm).Get("prototype").ToObject(vm)
		f := vm.ToValue(func(call goja.FunctionCall) goja.Value {
			if helper == "string" {
				if r, ok := in.fastCompare(call); ok {
					return r
				}
			}
			fn, _ := goja.AssertFunction(in.helper(helper))
			args := append([]goja.Value{call.This}, call.Arguments...)
			for len(args) < nargs+1 {
				args = append(args, goja.Undefined())
			}
			args = append(args[:nargs+1], extra...)
			v, err := fn(goja.Undefined(), args...)
			if err != nil {
				panic(err)
			}
			return v
		}).ToObject(vm)
		_ = f.DefineDataProperty("name", vm.ToValue(name), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
		_ = f.DefineDataProperty("length", vm.ToValue(length), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
		_ = proto.DefineDataProperty(name, f, goja.FLAG_TRUE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	patch("Number", "toLocaleString", 0, 2, "number")
	patch("BigInt", "toLocaleString", 0, 2, "bigint")
	patch("Date", "toLocaleString", 0, 2, "date", vm.ToValue("any"), vm.ToValue("all"))
	patch("Date", "toLocaleDateString", 0, 2, "date", vm.ToValue("date"), vm.ToValue("date"))
	patch("Date", "toLocaleTimeString", 0, 2, "date", vm.ToValue("time"), vm.ToValue("time"))
	patch("String", "localeCompare", 1, 3, "string")
}

// fastCompare answers a.localeCompare(b) and a.localeCompare(b, "de")
// for primitive strings without options in Go: a sort's comparisons
// must not each go through the JS layer. ok is false for the other forms.
func (in *Intl) fastCompare(call goja.FunctionCall) (goja.Value, bool) {
	primitive := func(v goja.Value) (string, bool) {
		if _, isObj := v.(*goja.Object); isObj || v == nil {
			return "", false
		}
		s, ok := v.Export().(string)
		return s, ok
	}
	a, ok1 := primitive(call.This)
	b, ok2 := primitive(call.Argument(0))
	if !ok1 || !ok2 || !goja.IsUndefined(call.Argument(2)) {
		return nil, false
	}
	key := ""
	if l := call.Argument(1); !goja.IsUndefined(l) {
		s, ok := primitive(l)
		if !ok {
			return nil, false
		}
		key = s
	}
	c := in.collators[key]
	if c == nil {
		var requested []string
		if key != "" {
			t, err := canonicalize(key)
			if err != nil {
				return nil, false // the JS layer throws the RangeError
			}
			requested = []string{t}
		}
		if len(in.collators) >= maxCachedCollators {
			clear(in.collators)
		}
		if in.collators == nil {
			in.collators = map[string]*collator{}
		}
		c = newCollator(resolve(requested), "variant", false, false)
		in.collators[key] = c
	}
	return in.vm.ToValue(c.compare(a, b)), true
}

// maxCachedCollators bounds the collators fastCompare keeps per runtime.
const maxCachedCollators = 32

// Namespace is the Intl object, built on the first call.
func (in *Intl) Namespace() goja.Value {
	in.build()
	return in.ns
}

func (in *Intl) helper(name string) goja.Value {
	in.build()
	return in.helpers.Get(name)
}

func (in *Intl) build() {
	if in.ns != nil {
		return
	}
	vm := in.vm
	f, err := vm.RunProgram(program())
	if err != nil {
		panic(err)
	}
	fn, _ := goja.AssertFunction(f)
	in.natives = in.newNatives()
	res, err := fn(goja.Undefined(), in.natives)
	if err != nil {
		panic(err)
	}
	o := res.ToObject(vm)
	in.ns = o.Get("Intl").ToObject(vm)
	h := o.Get("helpers").ToObject(vm)
	glue, err := vm.RunProgram(glueProgram())
	if err != nil {
		panic(err)
	}
	gf, _ := goja.AssertFunction(glue)
	hv, err := gf(goja.Undefined(), h)
	if err != nil {
		panic(err)
	}
	in.helpers = hv.ToObject(vm)
	in.PatchBuiltins()
}

func (in *Intl) rangeError(msg string) {
	ctor := in.vm.Get("RangeError")
	c, _ := goja.AssertConstructor(ctor)
	e, err := c(nil, in.vm.ToValue(msg))
	if err != nil {
		panic(err)
	}
	panic(e)
}

func (in *Intl) newNatives() *goja.Object {
	n := in.nativeTable()
	return in.vm.NewDynamicObject(n)
}

// natives is the object of Go functions intl.js calls (N), each made into
// a goja function on its first lookup.
type natives struct {
	vm   *goja.Runtime
	fns  map[string]func(goja.FunctionCall) goja.Value
	vals map[string]goja.Value
}

func (n *natives) Get(key string) goja.Value {
	if v, ok := n.vals[key]; ok {
		return v
	}
	f, ok := n.fns[key]
	if !ok {
		return nil
	}
	if n.vals == nil {
		n.vals = make(map[string]goja.Value, 16)
	}
	v := n.vm.ToValue(f)
	n.vals[key] = v
	return v
}

func (n *natives) Set(string, goja.Value) bool { return false }
func (n *natives) Has(key string) bool         { _, ok := n.fns[key]; return ok }
func (n *natives) Delete(string) bool          { return false }
func (n *natives) Keys() []string              { return nil }

func (in *Intl) nativeTable() *natives {
	vm := in.vm
	// The natives become goja functions only when intl.js first reads
	// them: making all of them up front was a third of Intl's first use.
	n := &natives{vm: vm, fns: make(map[string]func(goja.FunctionCall) goja.Value, 48)}
	set := func(name string, f func(call goja.FunctionCall) goja.Value) { n.fns[name] = f }
	str := func(call goja.FunctionCall, i int) string { return call.Argument(i).String() }
	strList := func(v goja.Value) []string {
		var out []string
		if err := vm.ExportTo(v, &out); err != nil {
			panic(vm.NewTypeError("intl: " + err.Error()))
		}
		return out
	}
	set("canon", func(call goja.FunctionCall) goja.Value {
		t, err := canonicalize(str(call, 0))
		if err != nil {
			in.rangeError(err.Error() + ": " + truncate(str(call, 0), 64))
		}
		return vm.ToValue(t)
	})
	set("resolve", func(call goja.FunctionCall) goja.Value { return vm.ToValue(resolve(strList(call.Argument(0)))) })
	set("supported", func(call goja.FunctionCall) goja.Value {
		s := supportedOf(strList(call.Argument(0)))
		if s == nil {
			s = []string{}
		}
		return vm.NewArray(toValues(vm, s)...)
	})
	// numberingSystem(locale, requested) is the numbering system used:
	// requested if the locale's data has it, else the locale's own.
	set("numberingSystem", func(call goja.FunctionCall) goja.Value {
		return vm.ToValue(load(str(call, 0)).withNumbering(str(call, 1)).numberingSystem)
	})
	set("extension", func(call goja.FunctionCall) goja.Value { return vm.ToValue(extension(str(call, 0), str(call, 1))) })
	set("currencyDigits", func(call goja.FunctionCall) goja.Value { return vm.ToValue(currencyDigits(str(call, 0))) })
	set("numberFormat", func(call goja.FunctionCall) goja.Value {
		o := call.Argument(1).ToObject(vm)
		g := func(k string) string { return optString(o, k) }
		gi := func(k string) int { return int(o.Get(k).ToInteger()) }
		nf := &numberFormat{loc: load(str(call, 0)).withNumbering(g("numberingSystem")), opt: numberOptions{
			Style: g("style"), Unit: g("unit"), UnitDisplay: g("unitDisplay"), Currency: g("currency"), CurrencyDisplay: g("currencyDisplay"), CurrencySign: g("currencySign"),
			Notation: g("notation"), CompactDisplay: g("compactDisplay"), SignDisplay: g("signDisplay"), UseGrouping: g("useGrouping"),
			MinInt: gi("minInt"), MinFrac: gi("minFrac"), MaxFrac: gi("maxFrac"), MinSig: gi("minSig"), MaxSig: gi("maxSig"),
			CompactRounding: o.Get("compactRounding").ToBoolean(),
		}}
		return vm.ToValue(nf)
	})
	numberArg := func(call goja.FunctionCall) (*numberFormat, goja.Value) {
		nf, ok := call.Argument(0).Export().(*numberFormat)
		if !ok {
			panic(vm.NewTypeError("intl: not a NumberFormat"))
		}
		return nf, call.Argument(1)
	}
	set("formatNumber", func(call goja.FunctionCall) goja.Value {
		nf, x := numberArg(call)
		return vm.ToValue(joinParts(nf.formatValue(x)))
	})
	set("formatNumberToParts", func(call goja.FunctionCall) goja.Value {
		nf, x := numberArg(call)
		return in.flat(nf.formatValue(x))
	})
	set("timeZone", func(call goja.FunctionCall) goja.Value {
		_, name, ok := loadZone(str(call, 0))
		if !ok {
			return vm.ToValue("")
		}
		return vm.ToValue(name)
	})
	set("hourCycles", func(call goja.FunctionCall) goja.Value {
		d := load(str(call, 0))
		return vm.NewArray(d.HourCycle, d.HourCycle12, d.HourCycle24)
	})
	set("dateTimeFormat", func(call goja.FunctionCall) goja.Value {
		o := call.Argument(1).ToObject(vm)
		g := func(k string) string { return optString(o, k) }
		df := &dateFormat{loc: load(str(call, 0)).withNumbering(g("numberingSystem")), opt: dateOptions{
			Weekday: g("weekday"), Era: g("era"), Year: g("year"), Month: g("month"), Day: g("day"),
			Hour: g("hour"), Minute: g("minute"), Second: g("second"), TimeZoneName: g("timeZoneName"),
			FractionalSecondDigits: int(o.Get("fractionalSecondDigits").ToInteger()),
			Hour12:                 g("hour12"), HourCycle: g("hourCycle"), DateStyle: g("dateStyle"), TimeStyle: g("timeStyle"), TimeZone: g("timeZone"),
		}}
		loc, _, ok := loadZone(df.opt.TimeZone)
		if !ok {
			in.rangeError("Invalid time zone specified: " + truncate(df.opt.TimeZone, 64))
		}
		df.opt.loc = loc
		df.compile()
		return vm.ToValue(df)
	})
	dateArg := func(call goja.FunctionCall) (*dateFormat, float64) {
		df, ok := call.Argument(0).Export().(*dateFormat)
		if !ok {
			panic(vm.NewTypeError("intl: not a DateTimeFormat"))
		}
		return df, call.Argument(1).ToFloat()
	}
	set("hourDigits", func(call goja.FunctionCall) goja.Value {
		df, _ := dateArg(call)
		return vm.ToValue(df.hourDigits())
	})
	set("formatDate", func(call goja.FunctionCall) goja.Value {
		df, t := dateArg(call)
		// V8 writes the narrow no-break spaces of CLDR's time patterns as
		// plain spaces in format (not in formatToParts).
		return vm.ToValue(strings.ReplaceAll(joinParts(df.format(t)), "\u202f", " "))
	})
	set("formatDateToParts", func(call goja.FunctionCall) goja.Value {
		df, t := dateArg(call)
		return in.flat(df.format(t))
	})
	set("collator", func(call goja.FunctionCall) goja.Value {
		c := newCollator(str(call, 0), str(call, 1), call.Argument(2).ToBoolean(), call.Argument(3).ToBoolean())
		return vm.ToValue(c)
	})
	set("compare", func(call goja.FunctionCall) goja.Value {
		c, ok := call.Argument(0).Export().(*collator)
		if !ok {
			panic(vm.NewTypeError("intl: not a Collator"))
		}
		return vm.ToValue(c.compare(str(call, 1), str(call, 2)))
	})
	set("pluralCategories", func(call goja.FunctionCall) goja.Value {
		d := load(str(call, 0))
		return vm.NewArray(toValues(vm, d.plurals.categories(str(call, 1) == "ordinal"))...)
	})
	set("plural", func(call goja.FunctionCall) goja.Value {
		nf, ok := call.Argument(0).Export().(*numberFormat)
		if !ok {
			panic(vm.NewTypeError("intl: not a PluralRules"))
		}
		return vm.ToValue(nf.plural(str(call, 1) == "ordinal", call.Argument(2).ToFloat()))
	})
	set("rangeSymbols", func(call goja.FunctionCall) goja.Value {
		d := load(str(call, 0))
		return vm.NewArray(d.Numbers.RangeSep, d.Numbers.Approx, d.DateRangeSep)
	})
	set("hasUnit", func(call goja.FunctionCall) goja.Value {
		_, ok := load(supported[0]).Numbers.Units[str(call, 0)]
		return vm.ToValue(ok)
	})
	set("relativeTimeFormat", func(call goja.FunctionCall) goja.Value {
		return vm.ToValue(newRelativeFormat(load(str(call, 0)).withNumbering(str(call, 3)), str(call, 1), str(call, 2)))
	})
	set("formatRelative", func(call goja.FunctionCall) goja.Value {
		rf, ok := call.Argument(0).Export().(*relativeFormat)
		if !ok {
			panic(vm.NewTypeError("intl: not a RelativeTimeFormat"))
		}
		unit := str(call, 2)
		if _, ok := relativeUnits[unit]; !ok {
			in.rangeError("Invalid unit argument for format() '" + truncate(unit, 32) + "'")
		}
		v := call.Argument(1).ToFloat()
		if math.IsNaN(v) || math.IsInf(v, 0) {
			in.rangeError("Invalid number value")
		}
		ps := rf.format(v, unit)
		if call.Argument(3).ToBoolean() {
			// formatToParts: the number's parts carry the unit.
			out := make([]any, 0, 3*len(ps))
			u := relativeUnits[unit]
			for _, p := range ps {
				unitOf := ""
				if p.Type != "literal" {
					unitOf = u
				}
				out = append(out, p.Type, p.Value, unitOf)
			}
			return vm.NewArray(out...)
		}
		return vm.ToValue(joinParts(ps))
	})
	set("formatList", func(call goja.FunctionCall) goja.Value {
		items := strList(call.Argument(2))
		ps := formatList(load(str(call, 0)), str(call, 1), items)
		if call.Argument(3).ToBoolean() {
			return in.flat(ps)
		}
		return vm.ToValue(joinParts(ps))
	})
	set("segmenter", func(call goja.FunctionCall) goja.Value {
		return vm.ToValue(newSegmenter(str(call, 0), str(call, 1)))
	})
	set("nextSegment", func(call goja.FunctionCall) goja.Value {
		sg, ok := call.Argument(0).Export().(*segmenter)
		if !ok {
			panic(vm.NewTypeError("intl: not a segment iterator"))
		}
		index, length, wordLike, ok := sg.next()
		if !ok {
			return goja.Null()
		}
		return vm.NewArray(index, length, wordLike)
	})
	set("displayName", func(call goja.FunctionCall) goja.Value {
		name, canon, ok, err := displayName(loadDisplay(str(call, 0)), str(call, 1), str(call, 2), str(call, 3), str(call, 4))
		if err != nil {
			in.rangeError(err.Error())
		}
		if ok {
			return vm.ToValue(name)
		}
		if str(call, 5) == "code" {
			return vm.ToValue(canon)
		}
		return goja.Undefined()
	})
	set("locale", func(call goja.FunctionCall) goja.Value {
		opts := map[string]string{}
		o := call.Argument(1).ToObject(vm)
		for _, k := range o.Keys() {
			opts[k] = o.Get(k).String()
		}
		info, err := parseLocale(str(call, 0), opts)
		if err != nil {
			in.rangeError(err.Error())
		}
		out := []any{info.Tag, info.BaseName, info.Language, orUndefined(info.Script), orUndefined(info.Region)}
		for _, k := range localeKeys {
			v, has := info.Keys[k[0]], info.HasKey[k[0]]
			switch {
			case !has:
				out = append(out, goja.Undefined())
			case k[0] == "kn":
				out = append(out, v == "" || v == "true")
			default:
				out = append(out, v)
			}
		}
		return vm.NewArray(out...)
	})
	set("maximize", func(call goja.FunctionCall) goja.Value { return vm.ToValue(maximize(str(call, 0))) })
	set("minimize", func(call goja.FunctionCall) goja.Value { return vm.ToValue(minimize(str(call, 0))) })
	set("supportedValues", func(call goja.FunctionCall) goja.Value {
		var vals []string
		switch str(call, 0) {
		case "calendar":
			vals = []string{"gregory"}
		case "collation":
			vals = []string{"default"}
		case "currency":
			vals = supportedCurrencies()
		case "numberingSystem":
			vals = []string{"arab", "latn"}
		case "timeZone":
			vals = []string{"UTC"}
			for k := range load(supported[0]).TZ.Zones {
				if z, ok := strings.CutPrefix(k, "short:"); ok {
					vals = append(vals, z)
				}
			}
			slices.Sort(vals)
		case "unit":
			for u := range load(supported[0]).Numbers.Units {
				if !strings.Contains(u, "-per-") {
					vals = append(vals, u)
				}
			}
			slices.Sort(vals)
		default:
			return goja.Null()
		}
		return vm.NewArray(toValues(vm, vals)...)
	})
	return n
}

// optString is o[k] as a string, "" when absent or undefined.
func optString(o *goja.Object, k string) string {
	v := o.Get(k)
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return ""
	}
	return v.String()
}

func orUndefined(s string) any {
	if s == "" {
		return goja.Undefined()
	}
	return s
}

func toValues(vm *goja.Runtime, s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// flat is parts as [type, value, type, value, ...] for intl.js.
func (in *Intl) flat(ps []part) goja.Value {
	out := make([]any, 0, 2*len(ps))
	for _, p := range ps {
		out = append(out, p.Type, p.Value)
	}
	return in.vm.NewArray(out...)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// formatValue formats a number, or a BigInt passed as its decimal string.
func (nf *numberFormat) formatValue(v goja.Value) []part {
	if s, ok := v.Export().(string); ok {
		neg := strings.HasPrefix(s, "-")
		d, ok := decimalFromInteger(strings.TrimPrefix(s, "-"))
		if ok {
			return nf.formatDecimal(d, neg)
		}
		return nf.format(math.NaN())
	}
	return nf.format(v.ToFloat())
}

// decimalFromInteger reads the digits of a BigInt.
func decimalFromInteger(s string) (decimal, bool) {
	if s == "" {
		return decimal{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return decimal{}, false
		}
	}
	return decimal{digits: []byte(s), point: len(s)}.trim(), true
}

// plural is the category of n formatted with the rules' digit options.
func (nf *numberFormat) plural(ordinal bool, n float64) string {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return "other"
	}
	d := nf.round(fromFloat(math.Abs(n)))
	is, fs := nf.digitsOf(d)
	v, _ := parseFloatDigits(is, fs)
	if ordinal {
		return nf.loc.plurals.ordinal(v, uint64(len(fs)))
	}
	return nf.loc.plurals.cardinal(v, uint64(len(fs)))
}

// collator is a compiled Intl.Collator.
type collator struct {
	c                 *collate.Collator
	ignorePunctuation bool
	// stripMarks drops combining marks before comparing: x/text's
	// IgnoreDiacritics still tells "a" from "á" at the tertiary level,
	// where sensitivity "case" must not.
	stripMarks bool
}

func newCollator(locale, sensitivity string, numeric, ignorePunctuation bool) *collator {
	var opts []collate.Option
	switch sensitivity {
	case "base":
		opts = append(opts, collate.IgnoreCase, collate.IgnoreDiacritics, collate.IgnoreWidth)
	case "accent":
		opts = append(opts, collate.IgnoreCase, collate.IgnoreWidth)
	case "case":
		opts = append(opts, collate.IgnoreDiacritics, collate.IgnoreWidth)
	}
	if numeric {
		opts = append(opts, collate.Numeric)
	}
	return &collator{c: collate.New(language.MustParse(locale), opts...), ignorePunctuation: ignorePunctuation,
		stripMarks: sensitivity == "case"}
}

func (c *collator) compare(a, b string) int {
	if c.ignorePunctuation {
		strip := func(s string) string {
			return strings.Map(func(r rune) rune {
				if unicode.IsPunct(r) || unicode.IsSpace(r) {
					return -1
				}
				return r
			}, s)
		}
		a, b = strip(a), strip(b)
	}
	if c.stripMarks {
		strip := func(s string) string {
			out, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
			if err != nil {
				return s
			}
			return out
		}
		a, b = strip(a), strip(b)
	}
	return c.c.CompareString(a, b)
}
