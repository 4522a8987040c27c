package intl

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/currency"
)

// numberOptions are the resolved options of an Intl.NumberFormat.
type numberOptions struct {
	Style            string // decimal, percent, currency, unit
	Unit             string // a unit of the data (style unit)
	UnitDisplay      string // short, long, narrow
	Currency         string // upper-case ISO 4217 code
	CurrencyDisplay  string // symbol, narrowSymbol, code, name
	CurrencySign     string // standard, accounting
	Notation         string // standard, compact, scientific, engineering
	CompactDisplay   string // short, long
	SignDisplay      string // auto, always, never, exceptZero, negative
	UseGrouping      string // auto, always, min2, false
	MinInt           int
	MinFrac, MaxFrac int
	MinSig, MaxSig   int // 0: fraction digits rule
	// CompactRounding is ICU's default for compact notation without digit
	// options: integers, but two significant digits below 100.
	CompactRounding bool
}

// part is one piece of formatted output (formatToParts).
type part struct{ Type, Value string }

// currencyDigits is the number of minor-unit digits of a currency, from
// x/text/currency (ISO 4217 data); 2 for codes it does not know.
func currencyDigits(code string) int {
	u, err := currency.ParseISO(code)
	if err != nil {
		return 2
	}
	scale, _ := currency.Standard.Rounding(u)
	return scale
}

// decimal is a non-negative decimal number: digits (no leading zeros unless
// the number is zero, then empty) with the decimal point after point digits
// (point may be negative or beyond len(digits)).
type decimal struct {
	digits []byte
	point  int
}

// fromFloat is the shortest decimal that round-trips to f (f finite, >= 0),
// as ICU uses.
func fromFloat(f float64) decimal {
	if f == 0 {
		return decimal{}
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±x
	mant, exp, _ := strings.Cut(s, "e")
	e, _ := strconv.Atoi(exp)
	digits := []byte(strings.Replace(mant, ".", "", 1))
	return decimal{digits: digits, point: e + 1}.trim()
}

func (d decimal) trim() decimal {
	i := 0
	for i < len(d.digits) && d.digits[i] == '0' {
		i++
	}
	d.digits = d.digits[i:]
	d.point -= i
	j := len(d.digits)
	for j > 0 && d.digits[j-1] == '0' {
		j--
	}
	d.digits = d.digits[:j]
	if len(d.digits) == 0 {
		d.point = 0
	}
	return d
}

func (d decimal) isZero() bool { return len(d.digits) == 0 }

// roundAt keeps the digits before index n of d.digits (n relative to the
// first digit), rounding half away from zero (ICU's halfExpand).
func (d decimal) roundAt(n int) decimal {
	if n >= len(d.digits) {
		return d
	}
	if n < 0 {
		return decimal{}
	}
	up := d.digits[n] >= '5'
	out := append([]byte(nil), d.digits[:n]...)
	point := d.point
	if up {
		i := len(out) - 1
		for i >= 0 && out[i] == '9' {
			out[i] = '0'
			i--
		}
		if i < 0 {
			out = append([]byte{'1'}, out...)
			point++
		} else {
			out[i]++
		}
	}
	return decimal{digits: out, point: point}.trim()
}

// roundFrac rounds to at most frac fraction digits.
func (d decimal) roundFrac(frac int) decimal { return d.roundAt(d.point + frac) }

// roundSig rounds to at most sig significant digits.
func (d decimal) roundSig(sig int) decimal { return d.roundAt(sig) }

// magnitude is the exponent of the leading digit (1234 → 3).
func (d decimal) magnitude() int { return d.point - 1 }

// shift multiplies by 10^n.
func (d decimal) shift(n int) decimal {
	if d.isZero() {
		return d
	}
	d.point += n
	return d
}

// intFrac splits d into integer digits (at least minInt, "0" padded) and
// fraction digits (at least minFrac).
func (d decimal) intFrac(minInt, minFrac int) (string, string) {
	var ib, fb strings.Builder
	for i := 0; i < d.point; i++ {
		if i < len(d.digits) {
			ib.WriteByte(d.digits[i])
		} else {
			ib.WriteByte('0')
		}
	}
	for i := d.point; i < len(d.digits); i++ {
		if i < 0 {
			fb.WriteByte('0')
			continue
		}
		fb.WriteByte(d.digits[i])
	}
	if d.point < 0 {
		// Leading zeros of the fraction before the first digit.
		fb.Reset()
		fb.WriteString(strings.Repeat("0", -d.point))
		fb.Write(d.digits)
	}
	is, fs := ib.String(), fb.String()
	if len(is) < minInt {
		is = strings.Repeat("0", minInt-len(is)) + is
	}
	if len(fs) < minFrac {
		fs += strings.Repeat("0", minFrac-len(fs))
	}
	return is, fs
}

// numberFormat is a compiled Intl.NumberFormat.
type numberFormat struct {
	loc *localeData
	opt numberOptions
}

func (nf *numberFormat) round(d decimal) decimal {
	o := &nf.opt
	if o.MaxSig > 0 {
		return d.roundSig(o.MaxSig)
	}
	return d.roundFrac(o.MaxFrac)
}

// digitsOf is the integer and fraction digits shown for d (rounded):
// padded to the minimum integer, fraction or significant digits.
func (nf *numberFormat) digitsOf(d decimal) (string, string) {
	o := &nf.opt
	if o.MaxSig > 0 {
		// Pad to MinSig significant digits.
		minFrac := 0
		if !d.isZero() {
			minFrac = o.MinSig - d.point
		} else {
			minFrac = o.MinSig - 1
		}
		if minFrac < 0 {
			minFrac = 0
		}
		return d.intFrac(max(o.MinInt, 1), minFrac)
	}
	return d.intFrac(max(o.MinInt, 1), o.MinFrac)
}

// format formats x (any float64, NaN and infinities included) into parts.
func (nf *numberFormat) format(x float64) []part {
	switch {
	case math.IsNaN(x):
		return nf.finish([]part{{"nan", "NaN"}}, false, true, 0, 0, "")
	case math.IsInf(x, 0):
		return nf.finish([]part{{"infinity", "∞"}}, x < 0, false, 0, 0, "")
	}
	return nf.formatDecimal(fromFloat(math.Abs(x)), math.Signbit(x))
}

// formatDecimal formats the number d, negative if neg.
func (nf *numberFormat) formatDecimal(d decimal, neg bool) []part {
	o := &nf.opt
	loc := nf.loc
	if o.Style == "percent" {
		d = d.shift(2)
	}
	var exp int
	compactTpl := ""
	switch o.Notation {
	case "scientific", "engineering":
		step := 1
		if o.Notation == "engineering" {
			step = 3
		}
		if !d.isZero() {
			exp = floorDiv(d.magnitude(), step) * step
			d = nf.round(d.shift(-exp))
			if d.magnitude() >= step {
				// Rounding carried into a new digit (9.99 → 10).
				exp += step
				d = d.shift(-step)
			}
		} else {
			d = nf.round(d)
		}
	case "compact":
		d, compactTpl = nf.compact(d)
	default:
		d = nf.round(d)
	}
	is, fs := nf.digitsOf(d)
	body := nf.numberParts(is, fs)
	if o.Notation == "scientific" || o.Notation == "engineering" {
		body = append(body, part{"exponentSeparator", "E"})
		if exp < 0 {
			body = append(body, part{"exponentMinusSign", loc.Numbers.Minus})
			exp = -exp
		}
		body = append(body, part{"exponentInteger", nf.transliterate(strconv.Itoa(exp))})
	}
	n, v := parseFloatDigits(is, fs)
	return nf.finish(body, neg, d.isZero(), n, v, compactTpl)
}

// parseFloatDigits is the value and the count of visible fraction digits
// of formatted digits, as plural rules want them.
func parseFloatDigits(is, fs string) (float64, uint64) {
	if len(is) > 30 {
		return math.Inf(1), uint64(len(fs))
	}
	n, _ := strconv.ParseFloat(is+"."+fs+"0", 64)
	return n, uint64(len(fs))
}

// finish applies the sign rule and the locale's pattern.
func (nf *numberFormat) finish(body []part, neg, zero bool, pluralNum float64, pluralV uint64, compactTpl string) []part {
	o := &nf.opt
	sign := 0 // -1 minus, 0 none, 1 plus
	switch o.SignDisplay {
	case "auto":
		if neg {
			sign = -1
		}
	case "always":
		sign = 1
		if neg {
			sign = -1
		}
	case "exceptZero":
		if !zero {
			sign = 1
			if neg {
				sign = -1
			}
		}
	case "negative":
		if neg && !zero {
			sign = -1
		}
	}
	return nf.applyPattern(body, sign, pluralNum, pluralV, compactTpl)
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// compact scales d for compact notation and returns the pattern to use.
func (nf *numberFormat) compact(d decimal) (decimal, string) {
	o := &nf.opt
	rows := nf.loc.Numbers.Compact[o.CompactDisplay]
	roundDefault := func(v decimal) decimal {
		if !o.CompactRounding {
			return nf.round(v)
		}
		// ICU: no fraction digits, but two significant digits below 100.
		if v.point <= 1 {
			return v.roundSig(2)
		}
		return v.roundFrac(0)
	}
	pick := func(mag int) (string, int) {
		if mag < 3 || len(rows) == 0 {
			return "", 0
		}
		if mag-3 >= len(rows) {
			mag = len(rows) + 2
		}
		// Every locale has "other"; its pattern fixes the divisor.
		e := rows[mag-3]["other"]
		return e.Pattern, e.Div
	}
	if d.isZero() {
		return roundDefault(d), ""
	}
	tpl, div := pick(d.magnitude())
	r := roundDefault(d.shift(-div))
	if !r.isZero() && r.shift(div).magnitude() > d.magnitude() {
		// Rounding reached the next power of ten (999999 → 1M).
		tpl2, div2 := pick(r.shift(div).magnitude())
		if div2 != div {
			tpl, div = tpl2, div2
			r = roundDefault(d.shift(-div))
		}
	}
	if div == 0 {
		return r, ""
	}
	// The plural category of the scaled number picks the pattern (long
	// names: "1 million", "2 millions").
	row := rows[min(r.shift(div).magnitude(), len(rows)+2)-3]
	is, fs := r.intFrac(1, 0)
	n, _ := strconv.ParseFloat(is+"."+fs+"0", 64)
	cat := nf.loc.plurals.cardinal(n, uint64(len(fs)))
	if e, ok := row[cat]; ok {
		tpl = e.Pattern
	}
	return r, tpl
}

// numberParts groups the integer digits and joins the fraction.
func (nf *numberFormat) numberParts(is, fs string) []part {
	loc := nf.loc
	var parts []part
	groups := nf.group(is)
	for i, g := range groups {
		if i > 0 {
			parts = append(parts, part{"group", loc.Numbers.Group})
		}
		parts = append(parts, part{"integer", nf.transliterate(g)})
	}
	if fs != "" {
		parts = append(parts, part{"decimal", loc.Numbers.Decimal}, part{"fraction", nf.transliterate(fs)})
	}
	return parts
}

// group splits integer digits into groups as the locale and useGrouping
// ask.
func (nf *numberFormat) group(is string) []string {
	minGrouping := nf.loc.Numbers.MinGrouping
	switch nf.opt.UseGrouping {
	case "false":
		return []string{is}
	case "always":
		minGrouping = 1
	case "min2":
		minGrouping = 2
	case "auto":
		if nf.opt.Notation == "compact" {
			minGrouping = 2
		}
	}
	primary, secondary := 3, nf.loc.Numbers.Secondary
	if len(is) < primary+minGrouping {
		return []string{is}
	}
	var rev []string
	rest := is
	rev = append(rev, rest[len(rest)-primary:])
	rest = rest[:len(rest)-primary]
	for len(rest) > secondary {
		rev = append(rev, rest[len(rest)-secondary:])
		rest = rest[:len(rest)-secondary]
	}
	rev = append(rev, rest)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

func (nf *numberFormat) transliterate(s string) string {
	dg := nf.loc.digits
	if len(dg) != 10 || dg[0] == '0' {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			b.WriteRune(dg[c-'0'])
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// applyPattern places the number in the locale's pattern for the style
// and sign.
func (nf *numberFormat) applyPattern(body []part, sign int, pluralNum float64, pluralV uint64, compactTpl string) []part {
	o := &nf.opt
	loc := nf.loc
	kind := "decimal"
	cur := ""
	switch o.Style {
	case "percent":
		kind = "percent"
	case "currency":
		kind = "currency"
		if o.CurrencySign == "accounting" {
			kind = "accounting"
		}
		cur = nf.currencySymbol()
		if o.CurrencyDisplay == "code" && o.CurrencySign != "accounting" {
			// (Accounting with a code uses the accounting pattern, with
			// the spacing of a letter symbol.)
			kind = "currencyCode"
		}
	}
	if compactTpl != "" {
		// The compact pattern wraps the number: "{n}K", "{n} million".
		// Spaces around the suffix are literals, the rest "compact".
		var wrapped []part
		for _, seg := range splitTemplate(compactTpl) {
			if seg == "{n}" {
				wrapped = append(wrapped, body...)
				continue
			}
			core := strings.TrimLeftFunc(seg, unicode.IsSpace)
			if lead := seg[:len(seg)-len(core)]; lead != "" {
				wrapped = append(wrapped, part{"literal", lead})
			}
			trimmed := strings.TrimRightFunc(core, unicode.IsSpace)
			if trimmed != "" {
				wrapped = append(wrapped, part{"compact", trimmed})
			}
			if trail := core[len(trimmed):]; trail != "" {
				wrapped = append(wrapped, part{"literal", trail})
			}
		}
		body = wrapped
	}
	if o.Style == "currency" && o.CurrencyDisplay == "name" {
		return nf.currencyName(body, sign, pluralNum, pluralV)
	}
	if o.Style == "unit" {
		return nf.unit(body, sign, pluralNum, pluralV)
	}
	pats := loc.Numbers.Patterns[kind]
	var tpl string
	switch sign {
	case -1:
		tpl = pats[1]
	case 1:
		tpl = pats[2]
	default:
		tpl = pats[0]
	}
	var out []part
	segs := splitTemplate(tpl)
	for i, seg := range segs {
		switch seg {
		case "{n}":
			out = append(out, body...)
		case "{c}":
			sym := cur
			// ICU's currency spacing: a symbol that ends (or begins)
			// with a letter is kept apart from the digits.
			if kind == "currency" || kind == "accounting" {
				if i+1 < len(segs) && segs[i+1] == "{n}" && needsSpace(lastRune(sym)) {
					out = append(out, part{"currency", sym}, part{"literal", "\u00a0"})
					continue
				}
				if i > 0 && segs[i-1] == "{n}" && needsSpace(firstRune(sym)) {
					out = append(out, part{"literal", "\u00a0"}, part{"currency", sym})
					continue
				}
			}
			out = append(out, part{"currency", sym})
		case "{%}":
			out = append(out, part{"percentSign", loc.Numbers.PercentSign})
		case "{-}":
			out = append(out, part{"minusSign", loc.Numbers.Minus})
		case "{+}":
			out = append(out, part{"plusSign", loc.Numbers.Plus})
		default:
			if seg != "" {
				out = append(out, part{"literal", seg})
			}
		}
	}
	return out
}

func needsSpace(r rune) bool {
	return r != utf8.RuneError && !unicode.IsSymbol(r) && !unicode.IsSpace(r)
}

func lastRune(s string) rune  { r, _ := utf8.DecodeLastRuneInString(s); return r }
func firstRune(s string) rune { r, _ := utf8.DecodeRuneInString(s); return r }

func (nf *numberFormat) currencySymbol() string {
	o := &nf.opt
	if o.CurrencyDisplay == "code" {
		return o.Currency
	}
	c, ok := nf.loc.Numbers.Currencies[o.Currency]
	if !ok {
		return o.Currency
	}
	if o.CurrencyDisplay == "narrowSymbol" {
		return c.Narrow
	}
	return c.Symbol
}

// currencyName formats with the currency's plural name ("1,234.50 euros").
func (nf *numberFormat) currencyName(body []part, sign int, n float64, v uint64) []part {
	o := &nf.opt
	loc := nf.loc
	name, tpl := o.Currency, "{n} {c}"
	if c, ok := loc.Numbers.Currencies[o.Currency]; ok {
		cat := loc.plurals.cardinal(n, v)
		nt, ok := c.Names[cat]
		if !ok {
			nt = c.Names["other"]
		}
		if nt[0] != "" {
			name, tpl = nt[0], nt[1]
		}
	}
	var out []part
	for _, seg := range splitTemplate(tpl) {
		switch seg {
		case "{n}":
			out = append(out, nf.signed(body, sign)...)
		case "{c}":
			out = append(out, part{"currency", name})
		default:
			if seg != "" {
				out = append(out, part{"literal", seg})
			}
		}
	}
	return out
}

// unit formats with the unit's pattern for the number's plural category
// ("5 km/h", "1 kilometer per hour").
func (nf *numberFormat) unit(body []part, sign int, n float64, v uint64) []part {
	o := &nf.opt
	loc := nf.loc
	cats := loc.Numbers.Units[o.Unit][o.UnitDisplay]
	tpl, ok := cats[loc.plurals.cardinal(n, v)]
	if !ok {
		tpl = cats["other"]
	}
	var out []part
	for _, seg := range splitTemplate(tpl) {
		switch {
		case seg == "{n}":
			out = append(out, nf.signed(body, sign)...)
		case strings.HasPrefix(seg, "{u:"):
			out = append(out, part{"unit", seg[3 : len(seg)-1]})
		case seg != "":
			out = append(out, part{"literal", seg})
		}
	}
	return out
}

// signed is the number with its sign as the decimal pattern places it.
func (nf *numberFormat) signed(body []part, sign int) []part {
	loc := nf.loc
	pats := loc.Numbers.Patterns["decimal"]
	st := pats[0]
	if sign == -1 {
		st = pats[1]
	} else if sign == 1 {
		st = pats[2]
	}
	var signed []part
	for _, seg := range splitTemplate(st) {
		switch seg {
		case "{n}":
			signed = append(signed, body...)
		case "{-}":
			signed = append(signed, part{"minusSign", loc.Numbers.Minus})
		case "{+}":
			signed = append(signed, part{"plusSign", loc.Numbers.Plus})
		default:
			if seg != "" {
				signed = append(signed, part{"literal", seg})
			}
		}
	}
	return signed
}

// splitTemplate splits "a{n}b{c}" into "a", "{n}", "b", "{c}".
func splitTemplate(t string) []string {
	var out []string
	for t != "" {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			out = append(out, t)
			break
		}
		if i > 0 {
			out = append(out, t[:i])
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			out = append(out, t[i:])
			break
		}
		out = append(out, t[i:i+j+1])
		t = t[i+j+1:]
	}
	return out
}

func joinParts(ps []part) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Value)
	}
	return b.String()
}

// supportedCurrencies are the currencies with symbols and names in the
// data (others format with their ISO code).
func supportedCurrencies() []string {
	d := load(supported[0])
	out := make([]string, 0, len(d.Numbers.Currencies))
	for c := range d.Numbers.Currencies {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
