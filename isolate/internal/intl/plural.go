package intl

import (
	"math"

	"github.com/go-playground/locales"
)

// pluralRules are a language's CLDR plural rules: go-playground/locales'
// with the "many" category CLDR 38 gave French, Spanish, Italian, Catalan
// and Portuguese for exact millions (1000000 → "many"), which its data
// predates.
type pluralRules struct {
	t           locales.Translator
	millionMany bool
}

var millionMany = map[string]bool{"fr": true, "es": true, "it": true, "pt": true, "ca": true}

// cardinal is the category of n shown with v fraction digits.
func (p pluralRules) cardinal(n float64, v uint64) string {
	if p.millionMany && v == 0 && n != 0 && n == math.Trunc(n) && math.Mod(n, 1e6) == 0 {
		return "many"
	}
	return pluralName(p.t.CardinalPluralRule(n, v))
}

func (p pluralRules) ordinal(n float64, v uint64) string {
	return pluralName(p.t.OrdinalPluralRule(n, v))
}

// categories lists the categories of the cardinal or ordinal rules.
func (p pluralRules) categories(ordinal bool) []string {
	if ordinal {
		return pluralCategories(p.t.PluralsOrdinal())
	}
	rules := p.t.PluralsCardinal()
	if p.millionMany {
		rules = append(append([]locales.PluralRule(nil), rules...), locales.PluralRuleMany)
	}
	return pluralCategories(rules)
}

// pluralName is the Intl name of a CLDR plural category.
func pluralName(r locales.PluralRule) string {
	switch r {
	case locales.PluralRuleZero:
		return "zero"
	case locales.PluralRuleOne:
		return "one"
	case locales.PluralRuleTwo:
		return "two"
	case locales.PluralRuleFew:
		return "few"
	case locales.PluralRuleMany:
		return "many"
	}
	return "other"
}

// pluralCategories lists a locale's categories in ICU's order (by name,
// "other" last).
func pluralCategories(rules []locales.PluralRule) []string {
	var out []string
	for _, want := range []locales.PluralRule{locales.PluralRuleFew, locales.PluralRuleMany, locales.PluralRuleOne,
		locales.PluralRuleTwo, locales.PluralRuleZero, locales.PluralRuleOther} {
		for _, r := range rules {
			if r == want {
				out = append(out, pluralName(r))
				break
			}
		}
	}
	return out
}
