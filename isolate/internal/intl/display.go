package intl

import (
	"encoding/json"
	"fmt"
	"strings"
)

// displayData are a locale's Intl.DisplayNames names (cldr/display).
type displayData struct {
	Language, Region, Script, Currency, Calendar map[string]string
	// Dialects name tags as a whole ("en-US": "American English").
	Dialects map[string]string
	// Fields[style][field]: date-time field names.
	Fields map[string]map[string]string
	// Pattern joins a language and its qualifiers ("{0} ({1})"); Separator
	// joins the qualifiers (", ").
	Pattern, Separator string
}

// loadDisplay returns the display names of a supported locale, read once
// per process.
func loadDisplay(tag string) *displayData {
	dataMu.Lock()
	defer dataMu.Unlock()
	if d := displayCache[tag]; d != nil {
		return d
	}
	file := tag
	if f, ok := dataFile[tag]; ok {
		file = f
	}
	raw, err := cldrFS.ReadFile("cldr/display/" + file + ".json")
	if err != nil {
		panic(fmt.Errorf("intl: no display names for supported locale %s: %w", tag, err))
	}
	d := &displayData{}
	if err := json.Unmarshal(raw, d); err != nil {
		panic(fmt.Errorf("intl: display names of %s: %w", tag, err))
	}
	displayCache[tag] = d
	return d
}

var displayCache = map[string]*displayData{}

// dateTimeFields are the codes DisplayNames of type dateTimeField accepts.
var dateTimeFields = map[string]bool{"era": true, "year": true, "quarter": true, "month": true, "weekOfYear": true,
	"weekday": true, "day": true, "dayPeriod": true, "hour": true, "minute": true, "second": true, "timeZoneName": true}

// displayName is DisplayNames.of: the name of code, or ok false when there
// is none (the caller falls back to the code or undefined). A code not of
// the type's form is a RangeError.
func displayName(d *displayData, typ, style, languageDisplay, code string) (name, canonical string, ok bool, err error) {
	bad := func() (string, string, bool, error) {
		return "", "", false, rangeErrorf("invalid argument to DisplayNames.of: %s", truncate(code, 64))
	}
	switch typ {
	case "region":
		if !isAlpha(code, 2) && !isDigits(code, 3) {
			return bad()
		}
		// V8 looks regions and scripts up as written ("de" has no name),
		// though ECMA-402 would fix their case first.
		name, ok = d.Region[code]
		return name, code, ok, nil
	case "script":
		if !isAlpha(code, 4) {
			return bad()
		}
		name, ok = d.Script[code]
		return name, code, ok, nil
	case "currency":
		if !isAlpha(code, 3) {
			return bad()
		}
		code = strings.ToUpper(code)
		name, ok = d.Currency[code]
		return name, code, ok, nil
	case "calendar":
		if len(code) < 3 || len(code) > 8 || !isAlnum(code) {
			return bad()
		}
		code = strings.ToLower(code)
		if code == "gregorian" {
			code = "gregory"
		}
		name, ok = d.Calendar[code]
		return name, code, ok, nil
	case "dateTimeField":
		if !dateTimeFields[code] {
			return bad()
		}
		name, ok = d.Fields[style][code]
		return name, code, ok, nil
	}
	// language: a language identifier, named whole when the data has a
	// dialect name, else as "language (script, region)".
	canon, cerr := canonicalize(code)
	if cerr != nil || strings.Contains(canon, "-u-") || strings.Contains(canon, "-x-") || strings.HasPrefix(canon, "x-") {
		return bad()
	}
	if languageDisplay != "standard" {
		if n, ok := d.Dialects[canon]; ok {
			return n, canon, true, nil
		}
	}
	// The subtags of the canonical tag: language, then an optional script
	// and region (variants are not named).
	parts := strings.Split(canon, "-")
	base, script, region := parts[0], "", ""
	i := 1
	if i < len(parts) && isAlpha(parts[i], 4) {
		script = parts[i]
		i++
	}
	if i < len(parts) && (isAlpha(parts[i], 2) || isDigits(parts[i], 3)) {
		region = parts[i]
	}
	name, ok = d.Language[base]
	var quals []string
	if script != "" {
		if n, found := d.Script[script]; found {
			quals = append(quals, n)
		} else {
			quals = append(quals, script)
		}
	}
	if region != "" {
		if n, found := d.Region[region]; found {
			quals = append(quals, n)
		} else {
			quals = append(quals, region)
		}
	}
	compose := func(name string) string {
		if len(quals) == 0 {
			return name
		}
		return strings.Replace(strings.Replace(d.Pattern, "{0}", name, 1), "{1}", strings.Join(quals, d.Separator), 1)
	}
	if !ok {
		// The fallback names the qualifiers it knows: "xx (United States)".
		if len(quals) > 0 {
			return "", compose(base), false, nil
		}
		return "", canon, false, nil
	}
	return compose(name), canon, true, nil
}

func isAlpha(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z') {
			return false
		}
	}
	return true
}
