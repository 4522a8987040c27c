package intl

import (
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // IANA zones even where the system has no zoneinfo
)

// dateOptions are the resolved options of an Intl.DateTimeFormat.
type dateOptions struct {
	Weekday, Era, Year, Month, Day     string
	Hour, Minute, Second, TimeZoneName string
	FractionalSecondDigits             int
	Hour12                             string // "", "true", "false"
	HourCycle                          string // resolved: h11, h12, h23, h24
	DateStyle, TimeStyle               string
	TimeZone                           string
	loc                                *time.Location
}

// dateFormat is a compiled Intl.DateTimeFormat.
type dateFormat struct {
	loc     *localeData
	opt     dateOptions
	pattern string
}

// maxZoneName bounds a timeZone option before it reaches the zone loader.
const maxZoneName = 64

// loadZone resolves a timeZone option: UTC and its aliases, an IANA name
// (case-insensitive as the spec asks, through Go's zone database with the
// embedded copy as fallback) or an offset such as "+05:30".
func loadZone(name string) (*time.Location, string, bool) {
	if len(name) == 0 || len(name) > maxZoneName {
		return nil, "", false
	}
	switch strings.ToUpper(name) {
	case "UTC", "ETC/UTC", "ETC/GMT", "GMT", "ETC/UCT", "UCT", "ETC/UNIVERSAL", "UNIVERSAL", "ETC/ZULU", "ZULU":
		return time.UTC, "UTC", true
	}
	if name[0] == '+' || name[0] == '-' {
		return offsetZone(name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '_' || c == '-' || c == '+') {
			return nil, "", false
		}
	}
	if strings.Contains(name, "..") || strings.HasPrefix(name, "/") || strings.EqualFold(name, "local") {
		// Not zone names (and "Local" would be the host's zone).
		return nil, "", false
	}
	if l := cachedZone(name); l != nil {
		return l, l.String(), true
	}
	// IANA names are case-insensitive; try the usual capitalisation.
	if l := cachedZone(canonicalZoneCase(name)); l != nil {
		return l, l.String(), true
	}
	return nil, "", false
}

var (
	zoneMu    sync.Mutex
	zoneCache = map[string]*time.Location{}
)

// cachedZone loads an IANA zone once per process (time.LoadLocation reads
// and parses it on every call). Only zones that exist are kept, so the
// cache is bounded by the zone database.
func cachedZone(name string) *time.Location {
	zoneMu.Lock()
	defer zoneMu.Unlock()
	if l, ok := zoneCache[name]; ok {
		return l
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil
	}
	zoneCache[name] = l
	return l
}

func canonicalZoneCase(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		words := strings.Split(p, "_")
		for j, w := range words {
			if len(w) <= 2 && i == 0 {
				words[j] = strings.ToUpper(w)
				continue
			}
			words[j] = strings.ToUpper(w[:min(1, len(w))]) + strings.ToLower(w[min(1, len(w)):])
		}
		parts[i] = strings.Join(words, "_")
	}
	return strings.Join(parts, "/")
}

// offsetZone parses "+hh:mm", "+hhmm" or "+hh".
func offsetZone(s string) (*time.Location, string, bool) {
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	rest := strings.ReplaceAll(s[1:], ":", "")
	if len(rest) != 2 && len(rest) != 4 {
		return nil, "", false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return nil, "", false
		}
	}
	h, _ := strconv.Atoi(rest[:2])
	m := 0
	if len(rest) == 4 {
		m, _ = strconv.Atoi(rest[2:])
	}
	if h > 23 || m > 59 {
		return nil, "", false
	}
	name := string(s[0]) + rest[:2] + ":" + "00"
	if len(rest) == 4 {
		name = string(s[0]) + rest[:2] + ":" + rest[2:]
	}
	return time.FixedZone(name, sign*(h*3600+m*60)), name, true
}

// compile picks the locale's pattern for the options.
func (df *dateFormat) compile() {
	o := &df.opt
	d := df.loc
	if o.DateStyle != "" || o.TimeStyle != "" {
		k := ""
		if o.DateStyle != "" {
			k = "dateStyle=" + o.DateStyle
		}
		if o.TimeStyle != "" {
			if k != "" {
				k += ","
			}
			k += "timeStyle=" + o.TimeStyle
		}
		df.pattern = df.applyHourCycle(d.Styles[k])
		return
	}
	var date, tm string
	dk := joinKey("weekday", narrowToShort(o.Weekday), "era", o.Era, "year", o.Year, "month", narrowToShort(o.Month), "day", o.Day)
	eraAfter := ""
	if _, ok := d.Dates[dk]; !ok && o.Era != "" {
		// The data has era patterns only with a year; elsewhere the era
		// follows the date.
		dk = joinKey("weekday", narrowToShort(o.Weekday), "year", o.Year, "month", narrowToShort(o.Month), "day", o.Day)
		eraAfter = map[string]string{"short": " {G}", "long": " {GGGG}", "narrow": " {GGGGG}"}[o.Era]
	}
	glue := "{1}, {0}"
	if dk != "" {
		e := d.Dates[dk]
		date, glue = e[0]+eraAfter, e[1]
		if o.Weekday == "narrow" {
			date = strings.NewReplacer("{EEE}", "{EEEEE}", "{EEEE}", "{EEEEE}", "{ccc}", "{EEEEE}", "{cccc}", "{EEEEE}").Replace(date)
		}
		if o.Month == "narrow" {
			date = strings.NewReplacer("{MMM}", "{MMMMM}", "{LLL}", "{MMMMM}", "{MMMM}", "{MMMMM}", "{LLLL}", "{MMMMM}").Replace(date)
		}
	}
	minute, second := o.Minute, o.Second
	if o.Hour != "" || minute != "" || second != "" {
		h12 := o.Hour12
		if o.Hour == "" {
			h12 = ""
		}
		tz := ""
		if o.TimeZoneName != "" {
			tz = "short"
		}
		tm = d.Times[joinKey("hour", o.Hour, "minute", minute, "second", second, "hour12", h12, "timeZoneName", tz)]
		if o.FractionalSecondDigits > 0 {
			frac := "{S" + strconv.Itoa(o.FractionalSecondDigits) + "}"
			if strings.Contains(tm, "{ss}") {
				tm = strings.Replace(tm, "{ss}", "{ss}{.}"+frac, 1)
			} else if strings.Contains(tm, "{s}") {
				tm = strings.Replace(tm, "{s}", "{s}{.}"+frac, 1)
			} else {
				tm += " " + frac
			}
		}
	} else if o.FractionalSecondDigits > 0 {
		tm = "{S" + strconv.Itoa(o.FractionalSecondDigits) + "}"
	}
	switch {
	case date != "" && tm != "":
		df.pattern = strings.Replace(strings.Replace(glue, "{1}", date, 1), "{0}", tm, 1)
	case date != "":
		df.pattern = date
	default:
		df.pattern = tm
	}
	if o.TimeZoneName != "" && tm == "" {
		// A zone without a time joins the date as a time would.
		df.pattern = strings.Replace(strings.Replace(glue, "{1}", df.pattern, 1), "{0}", "{z}", 1)
	}
}

// applyHourCycle switches a style pattern's hours to the requested cycle.
func (df *dateFormat) applyHourCycle(p string) string {
	switch df.opt.Hour12 {
	case "true":
		if strings.Contains(p, "{H") {
			// Fall back to the locale's 12-hour medium time layout.
			p = strings.NewReplacer("{HH}", "{hh}", "{H}", "{h}").Replace(p)
			if !strings.Contains(p, "{a}") {
				p = strings.Replace(p, "{ss}", "{ss} {a}", 1)
				if !strings.Contains(p, "{a}") {
					p = strings.Replace(p, "{mm}", "{mm} {a}", 1)
				}
			}
		}
	case "false":
		if strings.Contains(p, "{h") {
			p = strings.NewReplacer("{hh}", "{HH}", "{h}", "{HH}", "\u202f{a}", "", " {a}", "", "{a}\u202f", "", "{a} ", "", "{a}", "",
				"{B}", "").Replace(p)
		}
	}
	return p
}

func narrowToShort(v string) string {
	if v == "narrow" {
		return "short"
	}
	return v
}

// joinKey builds a data key "k=v,k=v" of the non-empty values, in order.
func joinKey(kv ...string) string {
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteByte('=')
		b.WriteString(kv[i+1])
	}
	return b.String()
}

// format formats the instant t (in milliseconds since the epoch).
func (df *dateFormat) format(ms float64) []part {
	sec := int64(ms / 1000)
	msRem := int64(ms) - sec*1000
	if msRem < 0 {
		msRem += 1000
		sec--
	}
	t := time.Unix(sec, msRem*int64(time.Millisecond)).In(df.opt.loc)
	d := df.loc
	var out []part
	num := func(typ string, n int, width int) {
		s := strconv.Itoa(n)
		for len(s) < width {
			s = "0" + s
		}
		out = append(out, part{typ, df.digits(s)})
	}
	hour12 := t.Hour() % 12
	if hour12 == 0 && df.opt.HourCycle != "h11" {
		hour12 = 12
	}
	hour24 := t.Hour()
	if hour24 == 0 && df.opt.HourCycle == "h24" {
		hour24 = 24
	}
	for _, seg := range splitTemplate(df.pattern) {
		switch seg {
		case "{y}":
			y := t.Year()
			if y <= 0 {
				y = 1 - y
			}
			num("year", y, 1)
		case "{yy}":
			num("year", ((t.Year()%100)+100)%100, 2)
		case "{M}":
			num("month", int(t.Month()), 1)
		case "{MM}":
			num("month", int(t.Month()), 2)
		case "{MMM}", "{MMMM}", "{MMMMM}", "{LLL}", "{LLLL}":
			out = append(out, part{"month", nameAt(d.Names[seg[1:len(seg)-1]], int(t.Month())-1)})
		case "{d}":
			num("day", t.Day(), 1)
		case "{dd}":
			num("day", t.Day(), 2)
		case "{EEE}", "{EEEE}", "{EEEEE}", "{ccc}", "{cccc}":
			// The names start on Sunday.
			out = append(out, part{"weekday", nameAt(d.Names[seg[1:len(seg)-1]], int(t.Weekday()))})
		case "{h}":
			num("hour", hour12, 1)
		case "{hh}":
			num("hour", hour12, 2)
		case "{H}":
			num("hour", hour24, 1)
		case "{HH}":
			num("hour", hour24, 2)
		case "{m}":
			num("minute", t.Minute(), 1)
		case "{mm}":
			num("minute", t.Minute(), 2)
		case "{s}":
			num("second", t.Second(), 1)
		case "{ss}":
			num("second", t.Second(), 2)
		case "{S1}", "{S2}", "{S3}":
			n := int(seg[2] - '0')
			s := strconv.Itoa(int(msRem) + 1000)[1 : 1+n]
			out = append(out, part{"fractionalSecond", df.digits(s)})
		case "{.}":
			out = append(out, part{"literal", d.Numbers.Decimal})
		case "{a}":
			i := 0
			if t.Hour() >= 12 {
				i = 1
			}
			out = append(out, part{"dayPeriod", nameAt(d.Names["a"], i)})
		case "{B}":
			out = append(out, part{"dayPeriod", nameAt(d.Names["B"], t.Hour())})
		case "{z}":
			out = append(out, part{"timeZoneName", df.zoneName(t)})
		case "{G}", "{GGGG}", "{GGGGG}":
			i := 1
			if t.Year() <= 0 {
				i = 0
			}
			out = append(out, part{"era", nameAt(d.Names[seg[1:len(seg)-1]], i)})
		default:
			if seg != "" {
				if n := len(out); n > 0 && out[n-1].Type == "literal" {
					out[n-1].Value += seg
				} else {
					out = append(out, part{"literal", seg})
				}
			}
		}
	}
	return out
}

func nameAt(names []string, i int) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return ""
}

func (df *dateFormat) digits(s string) string {
	nf := numberFormat{loc: df.loc}
	return nf.transliterate(s)
}

// zoneName is the time zone's name in the requested style.
func (df *dateFormat) zoneName(t time.Time) string {
	o := &df.opt
	d := df.loc
	style := "short"
	switch o.TimeZoneName {
	case "long", "longGeneric":
		style = "long"
	}
	if o.TimeStyle == "full" && o.TimeZoneName == "" {
		style = "long"
	}
	if o.TimeZone == "UTC" {
		return d.TZ.GMT[style]["utc"]
	}
	if o.TimeZoneName != "shortOffset" && o.TimeZoneName != "longOffset" {
		if names, ok := d.TZ.Zones[style+":"+o.TimeZone]; ok {
			if t.IsDST() {
				return names[1]
			}
			return names[0]
		}
	}
	if o.TimeZoneName == "longOffset" {
		style = "long"
	}
	_, off := t.Zone()
	g := d.TZ.GMT[style]
	if off == 0 {
		return g["zero"]
	}
	key := "plus"
	if off < 0 {
		key = "minus"
		off = -off
	}
	h, m := off/3600, off/60%60
	if m != 0 {
		key += "HM"
	}
	hh := strconv.Itoa(h)
	if h < 10 {
		hh = "0" + hh
	}
	mm := strconv.Itoa(m)
	if m < 10 {
		mm = "0" + mm
	}
	r := strings.NewReplacer("{hh}", hh, "{h}", strconv.Itoa(h), "{m}", mm)
	return df.digits(r.Replace(g[key]))
}

// hourDigits is how the pattern writes hours: "2-digit", "numeric" or ""
// (no hour).
func (df *dateFormat) hourDigits() string {
	switch {
	case strings.Contains(df.pattern, "{HH}") || strings.Contains(df.pattern, "{hh}"):
		return "2-digit"
	case strings.Contains(df.pattern, "{H}") || strings.Contains(df.pattern, "{h}"):
		return "numeric"
	}
	return ""
}
