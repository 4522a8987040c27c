package intl

import (
	"math"
	"strings"
)

// relativeFormat is a compiled Intl.RelativeTimeFormat.
type relativeFormat struct {
	loc     *localeData
	style   string // long, short, narrow
	numeric string // always, auto
	nf      *numberFormat
}

// relativeUnits maps the units RelativeTimeFormat accepts (singular and
// plural) to the data's.
var relativeUnits = map[string]string{
	"second": "second", "seconds": "second", "minute": "minute", "minutes": "minute",
	"hour": "hour", "hours": "hour", "day": "day", "days": "day", "week": "week", "weeks": "week",
	"month": "month", "months": "month", "quarter": "quarter", "quarters": "quarter", "year": "year", "years": "year",
}

func newRelativeFormat(loc *localeData, style, numeric string) *relativeFormat {
	return &relativeFormat{loc: loc, style: style, numeric: numeric, nf: &numberFormat{loc: loc, opt: numberOptions{
		Style: "decimal", Notation: "standard", SignDisplay: "auto", UseGrouping: "auto", MinInt: 1, MaxFrac: 3,
	}}}
}

// format formats value (finite) in unit (a key of relativeUnits).
func (rf *relativeFormat) format(value float64, unit string) []part {
	u := relativeUnits[unit]
	data := rf.loc.Relative[rf.style][u]
	if rf.numeric == "auto" {
		key := ""
		if value == math.Trunc(value) && math.Abs(value) <= 2 {
			key = strings.TrimPrefix(formatInt(value), "+")
		}
		if w, ok := data.Words[key]; ok && key != "" {
			return []part{{"literal", w}}
		}
	}
	past := math.Signbit(value)
	d := rf.nf.round(fromFloat(math.Abs(value)))
	is, fs := rf.nf.digitsOf(d)
	body := rf.nf.numberParts(is, fs)
	n, v := parseFloatDigits(is, fs)
	cat := rf.loc.plurals.cardinal(n, v)
	pats := data.Future
	if past {
		pats = data.Past
	}
	tpl, ok := pats[cat]
	if !ok {
		tpl = pats["other"]
	}
	var out []part
	for _, seg := range splitTemplate(tpl) {
		switch {
		case seg == "{n}":
			out = append(out, body...)
		case seg != "":
			out = append(out, part{"literal", seg})
		}
	}
	return out
}

func formatInt(v float64) string {
	switch v {
	case -2:
		return "-2"
	case -1:
		return "-1"
	case 0:
		return "0"
	case 1:
		return "1"
	case 2:
		return "2"
	}
	return ""
}

// formatList joins items with the locale's list patterns for
// "type:style".
func formatList(loc *localeData, kind string, items []string) []part {
	g := loc.Lists[kind]
	var out []part
	lit := func(s string) {
		if s != "" {
			out = append(out, part{"literal", s})
		}
	}
	lit(g.Before)
	for i, it := range items {
		if i > 0 {
			switch {
			case len(items) == 2:
				lit(g.Pair)
			case i == 1:
				lit(g.Start)
			case i == len(items)-1:
				lit(g.End)
			default:
				lit(g.Middle)
			}
		}
		out = append(out, part{"element", it})
	}
	if len(items) > 0 {
		lit(g.After)
	}
	return out
}
