package intl

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/go-playground/locales"
	"github.com/go-playground/locales/ar"
	"github.com/go-playground/locales/de"
	"github.com/go-playground/locales/en"
	"github.com/go-playground/locales/es"
	"github.com/go-playground/locales/fr"
	"github.com/go-playground/locales/hi"
	"github.com/go-playground/locales/it"
	"github.com/go-playground/locales/ja"
	"github.com/go-playground/locales/ko"
	"github.com/go-playground/locales/nl"
	"github.com/go-playground/locales/pl"
	"github.com/go-playground/locales/pt"
	"github.com/go-playground/locales/pt_PT"
	"github.com/go-playground/locales/ru"
	"github.com/go-playground/locales/sv"
	"github.com/go-playground/locales/tr"
	"github.com/go-playground/locales/zh"
	"golang.org/x/text/language"
)

//go:generate node gen_cldr.mjs

//go:embed cldr/*.json cldr/display/*.json
var cldrFS embed.FS

// supported are the locales with data, in the order the matcher prefers
// them; the first is the default locale (as in workerd, en-US).
var supported = []string{"en-US", "en", "en-GB", "en-IN", "en-AU", "en-CA", "de", "fr", "es", "it", "nl",
	"pt-BR", "pt", "pt-PT", "ja", "zh", "zh-CN", "zh-TW", "ko", "ru", "hi", "ar", "ar-EG", "tr", "pl", "sv"}

// dataFile maps a supported locale to the file of its CLDR data (aliases
// share one).
var dataFile = map[string]string{"en-US": "en", "pt": "pt-BR", "zh-CN": "zh"}

// plurals maps a language to its plural rules (go-playground/locales holds
// CLDR's rules as code, per language).
var plurals = map[string]func() locales.Translator{
	"en": en.New, "de": de.New, "fr": fr.New, "es": es.New, "it": it.New, "nl": nl.New, "pt": pt.New, "pt-PT": pt_PT.New,
	"ja": ja.New, "zh": zh.New, "ko": ko.New, "ru": ru.New, "hi": hi.New, "ar": ar.New, "tr": tr.New,
	"pl": pl.New, "sv": sv.New,
}

var (
	supportedTags = sync.OnceValue(func() []language.Tag {
		tags := make([]language.Tag, len(supported))
		for i, s := range supported {
			tags[i] = language.MustParse(s)
		}
		return tags
	})
	matcher = sync.OnceValue(func() language.Matcher { return language.NewMatcher(supportedTags()) })
)

// canonicalize parses and canonicalizes one BCP 47 tag; an invalid tag is
// a RangeError (errRange).
func canonicalize(s string) (string, error) {
	if len(s) == 0 || len(s) > 255 {
		return "", rangeErrorf("Incorrect locale information provided")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", rangeErrorf("Incorrect locale information provided")
		}
	}
	t, err := language.Parse(s)
	var unknown language.ValueError
	if errors.As(err, &unknown) {
		// Well-formed, with subtags x/text does not know (such as "xx"):
		// valid, with no data. Canonical case only.
		return canonicalCase(s), nil
	}
	if err != nil {
		return "", rangeErrorf("Incorrect locale information provided")
	}
	return t.String(), nil
}

// resolve picks the supported locale for the requested (canonical) tags:
// the first tag the matcher finds a usable match for, else the default.
func resolve(requested []string) string {
	for _, r := range requested {
		t, err := language.Parse(r)
		if err != nil {
			continue
		}
		base := stripExtensions(t)
		// An exact supported tag wins (en-US, pt-PT, ...).
		for _, s := range supported {
			if strings.EqualFold(s, base.String()) {
				return s
			}
		}
		_, idx, conf := matcher().Match(base)
		if conf >= language.High {
			return supported[idx]
		}
	}
	return supported[0]
}

// supportedOf filters requested (canonical) tags to the ones that have
// data.
func supportedOf(requested []string) []string {
	var out []string
	for _, r := range requested {
		t, err := language.Parse(r)
		if err != nil {
			continue
		}
		if _, _, conf := matcher().Match(stripExtensions(t)); conf >= language.High {
			out = append(out, r)
		}
	}
	return out
}

func stripExtensions(t language.Tag) language.Tag {
	b, s, r := t.Raw()
	nt, err := language.Compose(b, s, r)
	if err != nil {
		return t
	}
	return nt
}

// localeData is the CLDR data of one locale.
type localeData struct {
	Tag     string
	Numbers struct {
		Decimal, Group, Minus, Plus, PercentSign, Digits string
		RangeSep, Approx                                 string
		MinGrouping                                      int
		Secondary                                        int
		Patterns                                         map[string][3]string
		Currencies                                       map[string]struct {
			Symbol, Narrow string
			Names          map[string][2]string
		}
		// Compact[display][exp-3][plural]: the pattern at a magnitude.
		Compact map[string][]map[string]compactPattern
		// Numbering: symbols for other numbering systems ("latn", "arab").
		Numbering map[string]struct {
			Decimal, Group, Minus, Plus, PercentSign, Digits string
			Patterns                                         map[string][3]string
		}
		// Units[unit][display][plural] = pattern ("{n} {u:km}")
		Units map[string]map[string]map[string]string
	}
	// Relative[style][unit]: RelativeTimeFormat patterns.
	Relative map[string]map[string]struct {
		Future, Past map[string]string
		Words        map[string]string // numeric "auto": "-1" → "yesterday"
	}
	// Lists["type:style"]: ListFormat glue.
	Lists        map[string]struct{ Pair, Start, Middle, End, Before, After string }
	Names        map[string][]string
	Dates        map[string][2]string
	Times        map[string]string
	Styles       map[string]string
	HourCycle    string
	HourCycle12  string // hour12: true ("h12", or "h11" in ja)
	HourCycle24  string // hour12: false
	DateRangeSep string
	TZ           struct {
		GMT   map[string]map[string]string
		Zones map[string][2]string
	}

	digits          []rune
	numberingSystem string // "latn" or "arab"
	plurals         pluralRules
}

func numberingSystemOf(digits []rune) string {
	if len(digits) == 10 && digits[0] == '\u0660' {
		return "arab"
	}
	return "latn"
}

// withNumbering is the locale's data with the digits and symbols of
// numbering system nu, if the data has them; else d itself.
func (d *localeData) withNumbering(nu string) *localeData {
	if nu == "" || nu == d.numberingSystem {
		return d
	}
	alt, ok := d.Numbers.Numbering[nu]
	if !ok {
		return d
	}
	key := d.Tag + "/" + nu
	dataMu.Lock()
	defer dataMu.Unlock()
	if c := dataCache[key]; c != nil {
		return c
	}
	c := *d // shallow: the maps are shared, read-only
	c.Numbers.Decimal, c.Numbers.Group, c.Numbers.Minus = alt.Decimal, alt.Group, alt.Minus
	c.Numbers.Plus, c.Numbers.PercentSign, c.Numbers.Digits = alt.Plus, alt.PercentSign, alt.Digits
	c.Numbers.Patterns = alt.Patterns
	c.digits = []rune(alt.Digits)
	c.numberingSystem = nu
	dataCache[key] = &c
	return &c
}

// extension is the value of key in tag's Unicode extension ("-u-nu-latn"
// has "latn" for "nu"), or "".
func extension(tag, key string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return ""
	}
	return t.TypeForKey(key)
}

var (
	dataMu    sync.Mutex
	dataCache = map[string]*localeData{}
)

// load returns the data of a supported locale, read once per process.
func load(tag string) *localeData {
	dataMu.Lock()
	defer dataMu.Unlock()
	if d := dataCache[tag]; d != nil {
		return d
	}
	file := tag
	if f, ok := dataFile[tag]; ok {
		file = f
	}
	raw, err := cldrFS.ReadFile("cldr/" + file + ".json")
	if err != nil {
		panic(fmt.Errorf("intl: no data for supported locale %s: %w", tag, err))
	}
	d := &localeData{Tag: tag}
	if err := json.Unmarshal(raw, d); err != nil {
		panic(fmt.Errorf("intl: data of %s: %w", tag, err))
	}
	d.digits = []rune(d.Numbers.Digits)
	d.numberingSystem = numberingSystemOf(d.digits)
	lang, _, _ := strings.Cut(tag, "-")
	if p, ok := plurals[tag]; ok {
		d.plurals.t = p()
	} else {
		d.plurals.t = plurals[lang]()
	}
	d.plurals.millionMany = millionMany[lang]
	dataCache[tag] = d
	return d
}

// canonicalCase writes a well-formed tag in BCP 47's canonical case:
// language and extensions lower-case, a script title-case, a region
// upper-case.
func canonicalCase(s string) string {
	parts := strings.Split(strings.ToLower(s), "-")
	for i := 1; i < len(parts); i++ {
		p := parts[i]
		if len(p) == 1 {
			break // an extension or private use: all lower-case
		}
		switch {
		case len(p) == 4 && p[0] >= 'a':
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		case len(p) == 2:
			parts[i] = strings.ToUpper(p)
		}
	}
	return strings.Join(parts, "-")
}

// compactPattern is a compact-notation pattern ("{n}K") and the power of
// ten the number is divided by (0: shown whole); JSON [pattern, exp].
type compactPattern struct {
	Pattern string
	Div     int
}

func (c *compactPattern) UnmarshalJSON(b []byte) error {
	var raw [2]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[0], &c.Pattern); err != nil {
		return err
	}
	return json.Unmarshal(raw[1], &c.Div)
}
